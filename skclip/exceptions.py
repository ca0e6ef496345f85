"""Warnings and errors specific to skclip."""

__all__ = ["InconsistentVersionWarning"]


class InconsistentVersionWarning(UserWarning):
    """A pickled estimator was fitted with other versions of skclip, torch or scikit-learn.

    Emitted on unpickling, as scikit-learn's own
    :class:`sklearn.exceptions.InconsistentVersionWarning` is for scikit-learn's
    estimators. A model fitted with other versions may load but behave differently;
    refit it when you can. A CUDA and a CPU build of the same torch version count as
    the same version.

    Parameters
    ----------
    estimator_name : str
        The class of the unpickled estimator.
    original_versions : dict
        ``{"skclip": ..., "torch": ..., "sklearn": ..., "numpy": ...}`` at fit time
        (empty for pickles written before versions were recorded).
    current_versions : dict
        The same packages in this process.

    Examples
    --------
    >>> import pickle, warnings
    >>> from skclip import CLIPKMeans
    >>> from skclip.exceptions import InconsistentVersionWarning
    >>> state = CLIPKMeans(n_clusters=2).__getstate__()
    >>> state["_skclip_versions"]["skclip"] = "0.0.1"
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     CLIPKMeans.__new__(CLIPKMeans).__setstate__(state)
    >>> w = caught[0].message
    >>> isinstance(w, InconsistentVersionWarning), w.original_versions["skclip"]
    (True, '0.0.1')
    """

    def __init__(self, *, estimator_name, original_versions, current_versions):
        self.estimator_name = estimator_name
        self.original_versions = dict(original_versions)
        self.current_versions = dict(current_versions)

    def __str__(self):
        if not self.original_versions:
            then = "an skclip version that did not record versions (before 0.1.0 final)"
        else:
            then = ", ".join(f"{k} {v}" for k, v in self.original_versions.items())
        now = ", ".join(f"{k} {v}" for k, v in self.current_versions.items())
        return (f"Trying to unpickle estimator {self.estimator_name} fitted with {then}, "
                f"when using {now}. This might lead to breaking code or invalid results. "
                "Use at your own risk; refit the estimator with these versions to be safe.")
