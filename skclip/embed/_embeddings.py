"""CLIPEmbeddings: image embeddings that remember which CLIP model made them.

``CLIPEmbedder.transform`` returns them, so that a clusterer that gets ``X`` in a
``Pipeline`` can encode its texts with the same model and weights without being told.
"""

import numpy as np

__all__ = ["CLIPEmbeddings"]

# the embedder parameters that decide which text vectors a model gives (and where)
TEXT_PARAMS = ("model", "pretrained", "device", "precision", "batch_size", "cache_dir")


class CLIPEmbeddings(np.ndarray):
    """A numpy array of CLIP embeddings that records the embedder that made it.

    What :meth:`CLIPEmbedder.transform <skclip.CLIPEmbedder.transform>` returns. It
    is an ordinary ``ndarray`` in every computation; the record, ``embedder_params``,
    follows the rows through indexing, slicing, ``copy`` and ``astype`` (a
    cross-validation split keeps it) and through pickling, but not through
    arithmetic (``X - X.mean(0)`` is a plain array) nor into files. The clusterers
    read it before validating ``X``: a default semantic space, or a
    :class:`~skclip.SemanticSpaceBuilder` with ``embedder=None``, then encodes its
    texts with the same model and weights. A plain array works as before (the text
    side then uses ``CLIPEmbedder()``'s defaults unless told otherwise).

    Parameters
    ----------
    array : array-like of shape (n_samples, d)
        The embeddings (not copied when already an ndarray).
    embedder_params : dict
        The embedder's ``model``, ``pretrained``, ``device``, ``precision``,
        ``batch_size`` and ``cache_dir``.

    Attributes
    ----------
    embedder_params : dict or None
        As given (None on an array created without a record).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.embed import CLIPEmbeddings
    >>> X = CLIPEmbeddings(np.eye(3, dtype=np.float32), {"model": "ViT-B-16",
    ...                                                  "pretrained": None})
    >>> X[:2].embedder_params["model"], type(X * 2).__name__
    ('ViT-B-16', 'ndarray')
    >>> np.asarray(X).__class__.__name__
    'ndarray'
    """

    def __new__(cls, array, embedder_params):
        obj = np.asarray(array).view(cls)
        obj.embedder_params = dict(embedder_params)
        return obj

    def __array_finalize__(self, obj):
        self.embedder_params = getattr(obj, "embedder_params", None)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # results of arithmetic are new quantities: plain arrays (and scalars)
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def __reduce__(self):
        rebuild, args, state = super().__reduce__()
        return rebuild, args, (state, self.embedder_params)

    def __setstate__(self, state):
        array_state, self.embedder_params = state
        super().__setstate__(array_state)

