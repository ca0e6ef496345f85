"""``make_clip_pipeline``: images in, clusters out, one CLIP model for image and text."""

import inspect

from sklearn.base import clone
from sklearn.pipeline import Pipeline

__all__ = ["make_clip_pipeline"]

# method name -> class name in skclip.cluster
_METHODS = {
    "cae": "CAEClustering",
    "mca": "MCAClustering",
    "tac": "TACClustering",
    "kmeans": "CLIPKMeans",
}


def make_clip_pipeline(
    method="cae",
    n_clusters=10,
    *,
    model="ViT-B-32",
    pretrained="openai",
    device="auto",
    embedder_params=None,
    semantic_space_params=None,
    **clusterer_params,
):
    """Build ``Pipeline([("embed", CLIPEmbedder), ("clust", <clusterer>)])`` on one CLIP model.

    The image embedder and the clusterer's semantic space (the text side) are
    configured with the same ``model``, ``pretrained`` and ``device``, so image and
    text embeddings live in the same space (a mismatch would raise a
    ``ValueError`` at fit time). The model is loaded once per process and shared
    by both. Every parameter stays searchable through the pipeline's nested names,
    e.g. ``clust__n_clusters``, ``clust__semantic_space__topk_nouns`` or
    ``embed__batch_size``.

    Parameters
    ----------
    method : {"cae", "mca", "tac", "kmeans"}, default="cae"
        The clusterer: :class:`~skclip.CAEClustering`,
        :class:`~skclip.MCAClustering`, :class:`~skclip.TACClustering` or the
        :class:`~skclip.CLIPKMeans` baseline (which uses no text).
    n_clusters : int or "auto", default=10
        Number of clusters (``"auto"``: chosen at fit time, see ``k_range``).
        ``"mca"`` selects one centre per cluster in its semantic space: its
        ``clust__semantic_space__n_centers`` stays ``"auto"`` and the fit uses the
        number of clusters (the chosen one with ``"auto"``), so
        ``set_params(clust__n_clusters=5)`` (a grid search) needs nothing else.
    model : str, default="ViT-B-32"
        open_clip model name, for both image and text towers.
    pretrained : str or None, default="openai"
        open_clip pretrained tag or a path to a local checkpoint; ``None`` means
        random weights (tests, speed measurements).
    device : str, default="auto"
        Device of the embedder, the semantic space and the clusterer.
    embedder_params : dict, default=None
        Further :class:`~skclip.CLIPEmbedder` parameters (``batch_size``,
        ``verbose``, ``cache_dir``...).
    semantic_space_params : dict, default=None
        Further :class:`~skclip.SemanticSpaceBuilder` parameters
        (``vocabulary``, ``captions``, ``templates``...). Ignored by ``"kmeans"``.
    **clusterer_params
        Further parameters of the clusterer (``random_state``, ``verbose``...).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; ``fit`` takes images (paths, PIL images, uint8 arrays).

    Examples
    --------
    >>> from skclip import make_clip_pipeline
    >>> pipe = make_clip_pipeline("mca", n_clusters=5, model="ViT-B-16", pretrained=None)
    >>> [name for name, _ in pipe.steps]
    ['embed', 'clust']
    >>> pipe.get_params()["clust__semantic_space__embedder__model"]
    'ViT-B-16'
    >>> pipe.set_params(clust__n_clusters=8).get_params()["clust__n_clusters"]
    8
    """
    from . import cluster
    from .embed import CLIPEmbedder

    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}; got {method!r}.")
    embedder = CLIPEmbedder(
        model=model, pretrained=pretrained, device=device, **(embedder_params or {})
    )
    clusterer_cls = getattr(cluster, _METHODS[method])
    uses_text = "semantic_space" in inspect.signature(clusterer_cls).parameters
    if semantic_space_params and (not uses_text or "semantic_space" in clusterer_params):
        raise ValueError(
            "semantic_space_params configures the semantic space make_clip_pipeline builds; "
            f"it cannot be combined with method={method!r} or an explicit semantic_space."
        )
    if uses_text and "semantic_space" not in clusterer_params:
        # the method's own default space (its templates, selection rule), with a copy
        # of the embedder's configuration: the same model, loaded once (process cache)
        default = clusterer_cls(n_clusters=n_clusters, **clusterer_params)._default_semantic_space()
        # the text stages show their own progress: no "Encoding texts" bar per template
        space_params = {"embedder": clone(embedder).set_params(verbose=0)}
        if "n_centers" in default.get_params(deep=False):
            space_params["n_centers"] = "auto"  # follows clust__n_clusters at fit time
        if "device" in default.get_params(deep=False):
            space_params["device"] = device
        default.set_params(**{**space_params, **(semantic_space_params or {})})
        clusterer_params["semantic_space"] = default
    clusterer = clusterer_cls(n_clusters=n_clusters, device=device, **clusterer_params)
    return Pipeline([("embed", embedder), ("clust", clusterer)])
