"""MCA's comparison space: where images meet the texts of the semantic space.

Private module of :class:`~skclip.cluster.MCAClustering`: the text set ``T`` chosen
by ``text_source``, each modality centred on its own mean (the modality gap), each
text pooled with its nearest texts (one concept, several names), and the final
semantic centres of the clusters.
"""

import numpy as np

from ._fusion import centred_unit

__all__ = ["pool_texts", "comparison_space", "semantic_centers"]


def pool_texts(texts, n_pool):
    """Each unit row of ``texts`` replaced by the mean of itself and its ``n_pool - 1``
    nearest rows (cosine), not re-normalised; ``n_pool=1`` returns ``texts``.

    An image's inner product with a pooled text is its mean cosine with the text's
    neighbourhood. A concept is named by several texts (synonyms, hyponyms, prompt
    variants) that lie close together, so its pooled texts keep a norm near 1 and stay
    on the class; a text that lies near an image by chance (a distractor aligned with
    the image's style or noise) has scattered neighbours, and its pooled text is
    shorter and points elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster._mca_space import pool_texts
    >>> T = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> pool_texts(T, 2).round(2)
    array([[0.9, 0.3],
           [0.9, 0.3],
           [0.4, 0.8]])
    """
    n_pool = min(int(n_pool), len(texts))
    if n_pool <= 1:
        return texts
    from ..neighbors import knn

    idx = knn(texts, n_neighbors=n_pool - 1, exclude_self=True, device="cpu")[1]
    pooled = (texts + texts[idx].astype(np.float64).sum(axis=1)) / n_pool
    return pooled.astype(texts.dtype)


def comparison_space(est, X, nouns, captions):
    """Texts ``T`` of ``text_source``, the modality means, and the images and texts
    as compared (centred and re-normalised; the texts then pooled): ``(texts, Xq, Tq)``; sets
    ``est.image_mean_`` and ``est.text_mean_``."""
    parts = {"nouns": [nouns], "captions": [captions], "both": [nouns, captions]}
    texts = np.vstack(parts[est.text_source])
    if texts.shape[0] == 0:
        raise ValueError(
            f"The semantic space {type(est.semantic_space_).__name__} selected no "
            f"texts for text_source={est.text_source!r}; MCA needs at least one."
        )
    d, center = X.shape[1], est.center_modalities
    est.image_mean_ = X.mean(axis=0) if center else np.zeros(d, dtype=X.dtype)
    # one text has no direction relative to its own mean
    est.text_mean_ = (texts.mean(axis=0) if center and len(texts) > 1
                      else np.zeros(d, dtype=X.dtype)).astype(X.dtype)
    Xq = centred_unit(X, est.image_mean_)
    Tq = pool_texts(centred_unit(texts.astype(X.dtype), est.text_mean_), est.text_pool)
    return texts, Xq, Tq


def semantic_centers(proba, Xq, Tq, texts, *, xi_c, xi_a):
    """Means of the ``xi_a`` texts nearest each final image centre, found in the
    comparison space (``Xq``, ``Tq``) and averaged in the input space (``texts``)."""
    import torch

    from ..neighbors import knn
    from ._mca_losses import semantic_centres

    def knn_fn(queries, base, k):
        return knn(queries, base, n_neighbors=k, exclude_self=False, device="cpu")[1]

    P, Xt, Tt = (torch.as_tensor(a, dtype=torch.float64) for a in (proba, Xq, Tq))
    _, nearest = semantic_centres(P, Xt, Tt, xi_c=xi_c, xi_a=xi_a, knn_fn=knn_fn)
    centres = texts[nearest.numpy()].astype(np.float64).mean(axis=1)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return (centres / np.maximum(norms, 1e-12)).astype(Xq.dtype)
