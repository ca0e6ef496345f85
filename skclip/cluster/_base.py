"""Shared base of the CLIP clusterers (CAE, MCA, and the baselines that use text).

The semantic space
------------------
A clusterer takes its text embeddings from its ``semantic_space`` parameter: ``None``
(the subclass builds its default :class:`skclip.semantic.SemanticSpaceBuilder` in
``_default_semantic_space``) or any estimator that follows the protocol of
:mod:`skclip.semantic`. The clusterer ``clone``-s it and fits the clone, so the
parameter is never modified and nested parameters (``semantic_space__topk_nouns``) can
be grid-searched. A clone whose ``min_centers`` parameter is None (the builder's) gets
``min_centers=n_clusters``: at least one selection centre per cluster (TAC, MCA); CAE
asks for one centre per 30 images, at most 100, never fewer than ``n_clusters``
(``CAEClustering._min_centers_for``). With ``n_clusters="auto"`` the clusterers that
build their space before K is chosen (TAC, CAE) hint the largest candidate of
``k_range``; MCA chooses K first and gives a space left at ``n_centers="auto"``
exactly K centres (a space with its own count keeps it). A text dimension other than
the image dimension (the embedder and the space used different CLIP models) raises a
``ValueError`` that says so.

Which CLIP model encodes the texts
----------------------------------
``X`` from :meth:`CLIPEmbedder.transform <skclip.CLIPEmbedder.transform>` is a
:class:`~skclip.embed.CLIPEmbeddings` that records the embedder's model and
weights; ``fit`` reads that record before validating ``X``, and a space without an
encoder of its own (the default space, or a builder with ``embedder=None``) encodes
its texts with that model. With a plain array (a features file) it uses the
builder's default, ``CLIPEmbedder()``; if those weights cannot be obtained the
error names the clusterer that asked for them and what to pass.

Persistence
-----------
Fitted state is kept as CPU numpy wherever possible. Attributes that hold torch
tensors or modules (e.g. MCA's networks) are serialised with ``torch.save`` into
bytes when pickled and loaded back with ``map_location="cpu"`` when CUDA is not
available, so a model fitted on a GPU loads on a CPU-only machine. The pickle also
records the skclip, torch, scikit-learn and numpy versions; loading it under other
skclip, torch or scikit-learn versions warns with
:class:`skclip.exceptions.InconsistentVersionWarning`.
"""

import io
import os
import sys
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._arrays import unit_rows, validation_dtype
from .._config import resolve_device
from .._versions import VersionedPickleMixin
from ..embed._embedder import text_embedder_for
from ..exceptions import WeightsUnavailableError
from ._autok import K_SELECTIONS, candidate_ks
from ..kmeans import assign

__all__ = ["_BaseCLIPClustering"]

# rows per block of predict on large arrays
_PREDICT_ROWS = 2**16


class _TorchBlob:
    """Pickle-safe wrapper of an attribute value that contains torch objects."""

    def __init__(self, payload, devices):
        self.payload = payload
        self.devices = devices


def _torch_devices(value):
    """Device types of the torch objects inside ``value`` (empty set if none)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return set()
    if isinstance(value, torch.Tensor):
        return {value.device.type}
    if isinstance(value, torch.nn.Module):
        devs = {t.device.type for t in value.parameters()}
        devs |= {t.device.type for t in value.buffers()}
        return devs or {"cpu"}
    if isinstance(value, dict):
        return set().union(*(_torch_devices(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_torch_devices(v) for v in value))
    return set()


def _dump_torch(value, devices):
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return _TorchBlob(buffer.getvalue(), sorted(devices))


def _load_torch(blob, name):
    import torch

    map_location = None
    if not torch.cuda.is_available():
        map_location = "cpu"
        if any(d == "cuda" for d in blob.devices):
            warnings.warn(
                f"Attribute {name!r} was saved from a CUDA device but CUDA is not "
                "available here; it is loaded on the CPU.",
                UserWarning,
                stacklevel=3,
            )
    # weights_only=False: modules are pickled whole. Load pickles only from trusted
    # sources (as with any pickle).
    return torch.load(io.BytesIO(blob.payload), map_location=map_location, weights_only=False)


def _device_param_constraint():
    import torch

    return [str, torch.device, None]


def _reject_images(estimator, X):
    """A clear error for image paths (or a folder) given where embeddings are expected."""
    first = X
    if isinstance(X, (list, tuple)) and X:
        first = X[0]
    elif isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "OUS" and len(X):
        first = X[0]
    if isinstance(first, (str, bytes, os.PathLike)):
        name = type(estimator).__name__
        raise ValueError(
            f"{name} takes CLIP image embeddings (an (n_samples, d) float array), not "
            f"image paths (got {first!r}); embed the images first: "
            f"Pipeline([('embed', CLIPEmbedder(...)), ('clust', {name}(...))]), or "
            "skclip.make_clip_pipeline."
        )


class _BaseCLIPClustering(VersionedPickleMixin, ClusterMixin, BaseEstimator):
    """Base class of the CLIP clusterers: validation, semantic space, device, pickling.

    Not public. Subclasses define ``__init__`` (keyword-only, storing parameters),
    extend ``_parameter_constraints``, implement ``fit`` and, when they use text,
    ``_default_semantic_space``.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "k_range": [None, tuple, list],
        "k_selection": [StrOptions(set(K_SELECTIONS))],
        "semantic_space": [None, HasMethods(["fit"])],
        "device": _device_param_constraint(),
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- input -----------------------------------------------------------------
    def _validate_X(self, X, reset):
        """Validate image embeddings and return them L2-normalised.

        float32 and float64 are kept, float16 is computed in float32, anything else
        becomes float64. A float32/float64 array (a ``numpy.memmap`` included) whose
        rows already have unit norm is returned without a copy. NaN/inf raise a
        ``ValueError``; at fit time (``reset=True``) so does ``n_samples <
        n_clusters``. Rows of zero norm stay zero. At fit time the embedder recorded
        by a :class:`~skclip.embed.CLIPEmbeddings` ``X`` is kept for the text side.
        """
        _reject_images(self, X)
        if reset:
            self._text_embedder = text_embedder_for(X)
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=validation_dtype(X),
            ensure_all_finite=True,
            ensure_min_samples=1,
        )
        if reset and self.n_clusters != "auto" and X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}: "
                "there cannot be more clusters than images."
            )
        return unit_rows(X)

    # -- semantic space --------------------------------------------------------
    def _default_semantic_space(self):
        """The semantic space used when ``semantic_space=None`` (subclass hook)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no default semantic space; pass semantic_space=."
        )

    def _wordnet_space(self, method, **params):
        """A :class:`~skclip.semantic.SemanticSpaceBuilder` over WordNet with ``method``'s
        templates (:data:`~skclip.semantic._templates.METHOD_TEMPLATES`), this estimator's
        ``random_state`` and ``verbose``, and the method's own ``params``."""
        from ..semantic import SemanticSpaceBuilder
        from ..semantic._templates import METHOD_TEMPLATES

        return SemanticSpaceBuilder(
            vocabulary="wordnet", templates=METHOD_TEMPLATES[method],
            random_state=self.random_state, verbose=self.verbose, **params)

    def _fit_semantic_space(self, X, n_clusters=None):
        """Clone (or build) the semantic space, fit it on ``X`` and check its dims.

        Sets ``semantic_space_`` and returns ``(noun_embeddings, caption_embeddings)``
        as arrays of ``X``'s dtype with shapes ``(m, d)`` and ``(L, d)``.
        ``n_clusters`` (the K already chosen, MCA) overrides the ``min_centers`` hint.
        """
        if self.semantic_space is None:
            space = self._default_semantic_space()
        else:
            space = clone(self.semantic_space)
        self._hint_min_centers(space, len(X) if n_clusters is None else None, n_clusters)
        text_embedder = getattr(self, "_text_embedder", None)
        params = space.get_params(deep=False)
        if text_embedder is not None and "embedder" in params and params["embedder"] is None:
            space.set_params(embedder=text_embedder)  # the model that embedded X
        try:
            space.fit(X)
        except WeightsUnavailableError as exc:
            raise self._weights_error(exc, space) from exc
        self.semantic_space_ = space
        nouns = self._space_embeddings(space, "noun_embeddings_", X, required=True)
        captions = self._space_embeddings(space, "caption_embeddings_", X, required=False)
        return nouns, captions

    def _weights_error(self, exc, space):
        """``exc`` told from the clusterer's side: who asked for the weights, what to pass."""
        own = self.semantic_space is None
        where = "its default semantic space" if own else f"its semantic space {type(space).__name__}"
        advice = (
            "X is a plain array, so the model that embedded it is unknown; give X from "
            "CLIPEmbedder.transform (e.g. a Pipeline with CLIPEmbedder before the "
            "clusterer), or pass semantic_space=SemanticSpaceBuilder(embedder=CLIPEmbedder("
            "model=..., pretrained=PATH or None)) with the model of your embeddings."
            if getattr(self, "_text_embedder", None) is None else
            "Without internet access, give the embedder pretrained=/path/to/checkpoint "
            "(or pretrained=None for random weights).")
        return WeightsUnavailableError(
            exc.model, exc.pretrained, exc.reason, advice=advice,
            requested_by=f"{type(self).__name__} ({where}, to encode its texts)")

    def _hint_min_centers(self, space, n_samples, n_clusters=None):
        """At least one selection centre per cluster: ``min_centers = n_clusters``.

        Only on this clusterer's own copy of a space that has a ``min_centers``
        parameter left at None (:class:`SemanticSpaceBuilder`). An integer
        ``n_clusters`` given to the clusterer becomes ``self._min_centers_for(K,
        n_samples)`` (K itself unless a subclass asks for more). With
        ``n_clusters="auto"`` and no K chosen yet: the largest candidate K of
        ``k_range`` for ``n_samples`` rows (the space serves every K the scan can
        choose, and does not change with the choice). ``n_clusters`` (a K already
        chosen, MCA) is hinted as it is; a space left at ``n_centers="auto"`` (and
        ``min_centers=None``) then gets exactly ``n_centers=K``, one centre per cluster,
        so that changing ``n_clusters`` never leaves a stale count behind.
        """
        k = self.n_clusters if n_clusters is None else n_clusters
        params = space.get_params(deep=False)
        if (n_clusters is not None and params.get("n_centers") == "auto"
                and params.get("min_centers", 0) is None):
            # one centre per chosen cluster
            space.set_params(n_centers=int(n_clusters), min_centers=int(n_clusters))
            return
        if isinstance(k, str) and k == "auto":
            k = max(candidate_ks(self.k_range, n_samples))
        elif n_clusters is None and isinstance(k, Integral):
            k = self._min_centers_for(int(k), n_samples)
        if not isinstance(k, Integral) or "min_centers" not in space.get_params(deep=False):
            return
        if space.get_params(deep=False)["min_centers"] is None:
            space.set_params(min_centers=int(k))

    def _min_centers_for(self, n_clusters, n_samples):
        """Selection centres asked for ``n_clusters`` clusters of ``n_samples`` images.

        One per cluster here; subclasses may ask for more (CAE).
        """
        return n_clusters

    @staticmethod
    def _space_embeddings(space, attr, X, required):
        name = type(space).__name__
        emb = getattr(space, attr, None)
        if emb is None:
            if required:
                raise TypeError(
                    f"The semantic space {name} has no fitted attribute {attr!r}; a "
                    "semantic space must expose noun_embeddings_ (m, d) and "
                    "caption_embeddings_ (L, d) after fit(X)."
                )
            return np.zeros((0, X.shape[1]), dtype=X.dtype)
        emb = np.asarray(emb, dtype=X.dtype)
        if emb.ndim != 2:
            raise ValueError(f"{name}.{attr} must be 2-D, got shape {emb.shape}.")
        if emb.shape[1] != X.shape[1] and emb.shape[0] > 0:
            raise ValueError(
                f"The semantic space {name} gives {attr} of dimension {emb.shape[1]} but "
                f"the image embeddings X have {X.shape[1]} features: the image embedder "
                "and the semantic space were built with different CLIP models (e.g. "
                "ViT-B-32 gives 512-d, ViT-L-14 768-d). Use one model for both, as "
                "skclip.make_clip_pipeline does."
            )
        if emb.shape[0] == 0:
            return np.zeros((0, X.shape[1]), dtype=X.dtype)
        if required and not np.all(np.isfinite(emb)):
            raise ValueError(f"{name}.{attr} contains NaN or infinity.")
        return unit_rows(emb, tol=None, floor=np.finfo(X.dtype).tiny, summation="norm")

    # -- device ----------------------------------------------------------------
    def _device(self):
        """``torch.device`` for this call; ``self.device`` is never rewritten."""
        return resolve_device(self.device)

    # -- persistence -----------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter the instance
        for key, value in list(state.items()):
            devices = _torch_devices(value)
            if devices:
                state[key] = _dump_torch(value, devices)
        return state

    def __setstate__(self, state):
        state = dict(state)
        for key, value in state.items():
            if isinstance(value, _TorchBlob):
                state[key] = _load_torch(value, key)
        super().__setstate__(state)

    # -- tags ------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

class _NearestCentreMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """``predict`` for clusterers that run k-means in the space of their ``transform``.

    Subclasses provide ``transform``, ``cluster_centers_`` and ``spherical``.
    """

    @property
    def _n_features_out(self):
        return self.cluster_centers_.shape[1]

    def predict(self, X):
        """Assign each sample of ``X`` to the nearest stored centre in the transformed space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster index of each image.
        """
        if not isinstance(X, np.ndarray) or X.ndim != 2 or len(X) <= _PREDICT_ROWS:
            return self._predict_block(X)
        # large arrays (memory maps) in row blocks: the transformed features of all
        # rows (several times the size of X for the fused methods) are never held
        return np.concatenate([self._predict_block(X[s : s + _PREDICT_ROWS])
                               for s in range(0, len(X), _PREDICT_ROWS)])

    def _predict_block(self, X):
        F = self.transform(X)
        # a clusterer whose clusters are unions of finer ones (CAE's merged partition)
        # assigns to the finer centres; pickles without them assign to the clusters
        sub = getattr(self, "subcluster_centers_", None)
        centers = self.cluster_centers_ if sub is None else sub
        labels, _ = assign(F, centers.astype(F.dtype, copy=False), spherical=self.spherical,
                           device=self._device())
        labels = np.asarray(labels)
        return labels if sub is None else np.asarray(self.subcluster_labels_)[labels]
