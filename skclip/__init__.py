"""skclip: scikit-learn compatible image clustering with CLIP.

Public names are imported lazily so that ``import skclip`` (and ``skclip --version``)
does not pay for importing torch and open_clip.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "CLIPEmbedder": "skclip.embed",
    "SemanticSpaceBuilder": "skclip.semantic",
    "MCAClustering": "skclip.cluster",
    "CAEClustering": "skclip.cluster",
    "CLIPKMeans": "skclip.cluster",
    "TACClustering": "skclip.cluster",
    "make_clip_pipeline": "skclip._pipeline",
}

_SUBMODULES = ["cluster", "datasets", "embed", "kmeans", "metrics", "neighbors", "ot",
               "semantic"]

__all__ = list(_LAZY) + _SUBMODULES + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"skclip.{name}")
    raise AttributeError(f"module 'skclip' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
