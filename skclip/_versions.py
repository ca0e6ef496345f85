"""Pickles that say where they came from: package versions recorded and checked on load.

:class:`VersionedPickleMixin` adds ``_skclip_versions`` (skclip, torch, scikit-learn and
numpy versions) to the pickled state and, on loading, warns with
:class:`skclip.exceptions.InconsistentVersionWarning` when skclip's or torch's version
differs from this process, and so does scikit-learn's (``BaseEstimator`` checks
``_sklearn_version`` only for classes of scikit-learn's own modules). numpy is
recorded for diagnosis only.
"""

import sys
import warnings

STATE_KEY = "_skclip_versions"
CHECKED = ("skclip", "torch", "sklearn")


def _public(version):
    """``"2.3.1+cu121"`` -> ``"2.3.1"``: a CUDA build and a CPU build are the same torch."""
    return str(version).split("+", 1)[0]


def running_versions():
    """The versions that matter for a pickle, in this process."""
    import numpy
    import sklearn

    from . import __version__

    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    return {"skclip": __version__, "torch": _public(torch.__version__),
            "sklearn": sklearn.__version__, "numpy": numpy.__version__}


def check_versions(estimator_name, recorded):
    """Warn when ``recorded`` (the pickle's versions, None if absent) differ from now."""
    from .exceptions import InconsistentVersionWarning

    now = running_versions()
    recorded = dict(recorded or {})
    if recorded and all(_public(recorded.get(k)) == now[k] for k in CHECKED):
        return
    warnings.warn(InconsistentVersionWarning(
        estimator_name=estimator_name, original_versions=recorded,
        current_versions=now), stacklevel=3)


class VersionedPickleMixin:
    """Record the package versions when pickled; warn on load when they differ.

    Place it before ``BaseEstimator`` in the bases.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        state[STATE_KEY] = running_versions()
        return state

    def __setstate__(self, state):
        state = dict(state)
        check_versions(type(self).__name__, state.pop(STATE_KEY, None))
        super().__setstate__(state)
