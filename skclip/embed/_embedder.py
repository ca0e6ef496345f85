"""CLIPEmbedder: images (and texts) to L2-normalised CLIP embeddings."""

import os
import warnings
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from .._config import resolve_device
from .._versions import VersionedPickleMixin
from ._embeddings import TEXT_PARAMS, CLIPEmbeddings
from ._images import DroppedImage, as_image_inputs
from ._model import embedding_dim, load_clip
from ._notices import (
    RANDOM_WEIGHTS_WARNED,
    caller_stacklevel,
    check_reload,
    stamp,
    warn_random_weights,
)
from ._pixels import PixelDataset, PixelFinisher, collate_pixels
from ._text import encode_texts

__all__ = ["CLIPEmbedder", "text_embedder_for"]

_RANDOM_WEIGHTS_WARNED = RANDOM_WEIGHTS_WARNED  # tests reset it


class CLIPEmbedder(VersionedPickleMixin, TransformerMixin, BaseEstimator):
    """Embed images with an open_clip model into L2-normalised CLIP vectors.

    ``fit`` only checks the parameters and loads the model; ``transform`` reads,
    preprocesses and encodes images in batches. The model itself lives in a
    process-wide cache (:func:`skclip.embed.load_clip`), shared by every estimator
    naming the same ``(model, pretrained, device, precision)``, and is never pickled
    with the estimator: an unpickled embedder reloads it on first use.

    Parameters
    ----------
    model : str or path-like, default="ViT-B-32"
        An open_clip model name, or the path of an open_clip JSON model config (keys
        ``embed_dim``, ``vision_cfg``, ``text_cfg``; its file stem becomes the name).
    pretrained : str, path-like or None, default="openai"
        An open_clip pretrained tag, a local checkpoint file (e.g. a
        ``torch.save(model.state_dict())``), or None for random weights (a
        :class:`~skclip.exceptions.RandomWeightsWarning` says so, once per model and
        process; for tests and speed measurements). Random weights are not pickled:
        an embedder unpickled in another process draws new ones, and warns.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; resolved at each call and
        never written back.
    batch_size : int, default=64
        Images per forward pass. Text batches hold as many tokens as ``batch_size``
        texts at full context.
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        ``"auto"``: fp32 on CPU, bf16 (else fp16) on GPU. Outputs are float32 either
        way. On a CPU with native bfloat16 a vocabulary's ranking stages still run in
        bf16 and re-score in fp32 where a selection could change
        (:doc:`/user_guide/vocabulary`); images stay fp32 under ``"auto"`` (bf16 image
        embeddings move the clusters: :doc:`/user_guide/gpu_memory`).
    num_workers : int, default=0
        DataLoader worker processes decoding images (0 decodes in this process).
    decoder : {"pil", "torchvision"}, default="pil"
        Who decodes JPEG files. ``"pil"``: Pillow in the workers (every format; the
        reference). ``"torchvision"``: the workers only read the files, and
        ``torchvision.io.decode_jpeg`` decodes, resizes and crops them on ``device``
        (nvJPEG on CUDA: on a GPU, CPU decoding is usually the bottleneck). Its pixels
        are close to, not identical with, Pillow's (another JPEG decoder and bicubic
        kernel; embeddings agree to a cosine of about 0.99). Other formats, in-memory
        images and JPEGs it cannot decode go through Pillow. Either way the workers
        send uint8 pixels and the final scaling and normalisation run on ``device``.
    on_error : {"raise", "skip", "warn"}, default="raise"
        What to do with an unreadable or corrupt image: raise a ``ValueError`` naming
        it (and that ``on_error="skip"`` drops it), or drop it (silently, or with one
        ``UserWarning`` per call). Dropped
        inputs are listed in ``dropped_``.
    cache_dir : str or path-like, default=None
        Where open_clip downloads pretrained weights; None keeps open_clip's default.
    verbose : int, default=1
        Show tqdm progress bars when > 0.

    Attributes
    ----------
    embedding_dim_ : int
        Dimension ``d`` of the embeddings (set by ``fit``, or by the first
        ``transform`` / ``encode_text`` of an unfitted embedder).
    dropped_ : list of DroppedImage
        Inputs of the most recent ``transform`` that could not be read (with
        ``on_error="skip"`` or ``"warn"``): ``(index, source, reason)`` named tuples,
        ``index`` being the position in that call's input list.
    kept_indices_ : ndarray of shape (n_out,), dtype int64
        For the most recent ``transform``: the input position of each output row.
    sources_ : list of str
        For the most recent ``transform``: where each output row came from (the file
        path, or ``"<PIL image i>"`` / ``"<array[i]>"``). With a folder as input this
        is the sorted list of its images.

    See Also
    --------
    skclip.embed.load_clip : The cached model loader.
    skclip.SemanticSpaceBuilder : Encodes the noun vocabulary with ``encode_text``.

    Notes
    -----
    ``encode_text`` gives the same vectors as open_clip's ``model.encode_text``
    (within float rounding) several times faster: CLIP's causal text tower pools at
    the end-of-text token, so each batch is cut to its longest real token sequence,
    and a prefix shared by the batch (a prompt template) is encoded once. Models with
    another text tower use ``model.encode_text`` as is.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip import CLIPEmbedder
    >>> images = np.random.RandomState(0).randint(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    >>> emb = CLIPEmbedder(pretrained=None, device="cpu", verbose=0)  # random weights
    >>> X = emb.fit_transform(images)
    >>> X.shape, X.dtype, bool(np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5))
    ((2, 512), dtype('float32'), True)
    >>> emb.encode_text(["a photo of a dog.", "a photo of a cat."]).shape
    (2, 512)
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "pretrained": [str, os.PathLike, None],
        "device": [str, torch.device],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions({"auto", "fp32", "fp16", "bf16"})],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "decoder": [StrOptions({"pil", "torchvision"})],
        "on_error": [StrOptions({"raise", "skip", "warn"})],
        "cache_dir": [str, os.PathLike, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        model="ViT-B-32",
        pretrained="openai",
        device="auto",
        batch_size=64,
        precision="auto",
        num_workers=0,
        decoder="pil",
        on_error="raise",
        cache_dir=None,
        verbose=1,
    ):
        self.model = model
        self.pretrained = pretrained
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.num_workers = num_workers
        self.decoder = decoder
        self.on_error = on_error
        self.cache_dir = cache_dir
        self.verbose = verbose

    # -- model access (never stored on self: see the class docstring) ---------------
    def _load(self):
        device = resolve_device(self.device)
        loaded = load_clip(
            self.model, self.pretrained, device, self.precision, cache_dir=self.cache_dir
        )
        return loaded, device

    def _fit_model(self):
        if self.pretrained is None:
            warn_random_weights(self.model)
        loaded, _ = self._load()
        self.embedding_dim_ = embedding_dim(loaded)
        return loaded

    def _ensure_fitted(self):
        """No fit is required: an unfitted embedder checks its params and loads now."""
        if not hasattr(self, "embedding_dim_"):
            self._validate_params()
            self._fit_model()

    # -- estimator API ----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Check the inputs (without reading the images) and load the model.

        Parameters
        ----------
        X : folder path, sequence of paths / PIL images / uint8 arrays, \
uint8 ndarray of shape (n_images, H, W, 3), image-folder dataset, or None
            The images; only their kind and shape are checked here.
        y : None
            Ignored.

        Returns
        -------
        self : CLIPEmbedder
            The fitted embedder.
        """
        if X is not None:
            as_image_inputs(X)
        self._fit_model()
        return self

    def transform(self, X):
        """Embed images.

        Parameters
        ----------
        X : folder path, sequence of paths / PIL images / uint8 arrays, \
uint8 ndarray of shape (n_images, H, W, 3), or image-folder dataset
            The images. A folder is searched recursively for image files (by
            extension, hidden entries skipped), in sorted order.

        Returns
        -------
        X_new : CLIPEmbeddings of shape (n_readable, `embedding_dim_`), dtype float32
            L2-normalised image embeddings, one row per readable input, in input order
            (``kept_indices_`` maps rows to inputs; ``dropped_`` lists the others). An
            ndarray that records this embedder's model and weights, so that a
            clusterer after it in a ``Pipeline`` encodes its texts with the same model
            (see :class:`~skclip.embed.CLIPEmbeddings`).
        """
        items, sources = as_image_inputs(X)
        self._ensure_fitted()
        loaded, device = self._load()
        embeddings, kept, dropped = self._embed_images(items, sources, loaded, device)
        self.dropped_ = dropped
        self.kept_indices_ = kept
        self.sources_ = [sources[i] for i in kept]
        if dropped and self.on_error == "warn":
            shown = "; ".join(f"{d.source} ({d.reason})" for d in dropped[:5])
            more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
            warnings.warn(
                f"{len(dropped)} of {len(items)} images could not be read and were dropped "
                f"(see dropped_): {shown}{more}",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        params = self.get_params(deep=False)
        return CLIPEmbeddings(embeddings, {k: params[k] for k in TEXT_PARAMS})

    def fit_transform(self, X, y=None):
        """Load the model and embed ``X`` (reading the inputs once).

        Parameters
        ----------
        X : folder path, sequence of paths / PIL images / uint8 arrays, \
uint8 ndarray of shape (n_images, H, W, 3), or image-folder dataset
            The images, as for :meth:`transform`.
        y : None
            Ignored.

        Returns
        -------
        X_new : CLIPEmbeddings of shape (n_readable, `embedding_dim_`), dtype float32
            L2-normalised image embeddings, as :meth:`transform` returns them.
        """
        # transform validates X, so fit need not list a folder (or consume an iterator) too
        return self.fit().transform(X)

    def _embed_images(self, items, sources, loaded, device):
        model, preprocess, _ = loaded
        visual = model.visual
        dtype = getattr(getattr(visual, "conv1", None), "weight", next(visual.parameters())).dtype
        dataset = PixelDataset(items, preprocess, self.decoder)
        finish = PixelFinisher(dataset, device, dtype)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_pixels,
            pin_memory=device.type == "cuda",
        )
        out = np.empty((len(items), self.embedding_dim_), dtype=np.float32)
        ok = np.zeros(len(items), dtype=bool)
        dropped = []
        with torch.inference_mode(), tqdm(
            total=len(items), desc="Embedding images", unit="img", disable=not self.verbose
        ) as bar:
            for batch in loader:
                idx, pixels, failed = finish(batch)
                for i, reason in failed:
                    if self.on_error == "raise":
                        raise ValueError(
                            f"cannot read image {sources[i]!r}: {reason} (on_error='skip' "
                            "drops unreadable images and lists them in dropped_)")
                    dropped.append(DroppedImage(int(i), sources[i], reason))
                if pixels is not None:
                    emb = model.encode_image(pixels)
                    out[idx] = F.normalize(emb.float(), dim=-1).cpu().numpy()
                    ok[idx] = True
                bar.update(len(idx) + len(failed))
        if not ok.any():
            raise ValueError(
                f"none of the {len(items)} images could be read; first: "
                f"{dropped[0].source} ({dropped[0].reason})"
            )
        kept = np.flatnonzero(ok)
        return (out if ok.all() else out[kept]), kept, dropped

    def encode_text(self, texts):
        """Embed texts with the model's text tower.

        Parameters
        ----------
        texts : list of str
            The texts (e.g. ``"a photo of a dog."``); longer ones are cut at the
            model's context length, as open_clip's tokenizer does.

        Returns
        -------
        embeddings : ndarray of shape (len(texts), `embedding_dim_`), dtype float32
            L2-normalised rows, in the order of ``texts``; ``(0, d)`` for no texts.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a list of strings, not a single string; use [text].")
        texts = list(texts)
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"texts must all be str; got a {type(bad).__name__}: {bad!r}")
        self._ensure_fitted()
        (model, _, tokenizer), device = self._load()
        return encode_texts(
            model, tokenizer, texts, device=device, batch_size=self.batch_size,
            verbose=self.verbose,
        )

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``clipembedder0`` ... ``clipembedder{d-1}``.

        Parameters
        ----------
        input_features : None
            Ignored (the inputs are images, which have no feature names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per embedding dimension.
        """
        self._ensure_fitted()
        prefix = self.__class__.__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.embedding_dim_)], dtype=object)

    # -- persistence: random weights do not survive a trip to another process ------
    def __getstate__(self):
        return stamp(dict(super().__getstate__()))

    def __setstate__(self, state):
        super().__setstate__(check_reload(dict(state)))

    def __sklearn_is_fitted__(self):
        # Stateless with respect to the data: transform loads the model when needed.
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images (paths, PIL, uint8 arrays), not features
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags


def text_embedder_for(X):
    """A :class:`~skclip.CLIPEmbedder` for the texts of ``X``'s model, or None.

    Parameters
    ----------
    X : array-like
        Image embeddings; a :class:`CLIPEmbeddings` names its embedder.

    Returns
    -------
    embedder : CLIPEmbedder or None
        Same model, weights, device, precision and batch size, ``verbose=0`` (the
        text stages show their own progress); None when ``X`` records no embedder.
    """
    params = getattr(X, "embedder_params", None)
    if not isinstance(X, CLIPEmbeddings) or not params:
        return None
    return CLIPEmbedder(**{k: v for k, v in params.items() if k in TEXT_PARAMS}, verbose=0)
