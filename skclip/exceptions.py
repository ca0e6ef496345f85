"""Warnings and errors specific to skclip."""

__all__ = [
    "InconsistentVersionWarning",
    "RandomWeightsWarning",
    "UnknownModelError",
    "UnknownWeightsError",
    "WeightsUnavailableError",
]


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


class RandomWeightsWarning(UserWarning):
    """A CLIP model runs with random weights (``pretrained=None``).

    Given once per model and process when such a model is first used, and when an
    estimator holding one is unpickled in another process: random weights are not
    stored in the pickle, so new ones are drawn there and its embeddings no longer
    match what the fitted steps saw. Pass a checkpoint file as ``pretrained`` to
    round-trip exactly.

    Examples
    --------
    >>> import warnings
    >>> from skclip.exceptions import RandomWeightsWarning
    >>> warnings.filterwarnings("ignore", category=RandomWeightsWarning)  # a test suite
    """


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights of a CLIP model could not be obtained (no download).

    The message names the model, the weights, which component asked for them
    (``requested_by``, when known) and what to pass instead; the command line
    renders the same advice as options (:attr:`model`, :attr:`pretrained` and
    :attr:`reason` hold the parts).

    Parameters
    ----------
    model : str
        The open_clip model name.
    pretrained : str
        The open_clip pretrained tag that could not be fetched.
    reason : str
        Why (the download error).
    requested_by : str, default=None
        The component that asked for these weights, e.g. ``"the semantic space of
        MCAClustering"``.

    Examples
    --------
    >>> from skclip.exceptions import WeightsUnavailableError
    >>> print(WeightsUnavailableError("ViT-B-32", "openai", "no network"))
    ... # doctest: +NORMALIZE_WHITESPACE
    could not get the pretrained weights 'openai' of 'ViT-B-32': no network. Without
    internet access, pass pretrained=/path/to/checkpoint (or pretrained=None for random
    weights).
    """

    def __init__(self, model, pretrained, reason, *, requested_by=None, advice=None):
        super().__init__(model, pretrained, reason)
        self.model = model
        self.pretrained = pretrained
        self.reason = str(reason).rstrip(".")
        self.requested_by = requested_by
        self.advice = advice

    def __str__(self):
        who = f"{self.requested_by} asked for " if self.requested_by else "could not get "
        head = (f"{who}the pretrained weights {self.pretrained!r} of {self.model!r}"
                + (", which could not be obtained" if self.requested_by else ""))
        advice = self.advice or (
            "Without internet access, pass pretrained=/path/to/checkpoint (or "
            "pretrained=None for random weights).")
        return f"{head}: {self.reason}. {advice}"


class UnknownWeightsError(ValueError):
    """``pretrained`` is neither a checkpoint file nor a known tag of the model.

    Parameters
    ----------
    model : str
        The open_clip model name.
    pretrained : str
        The value given.
    known_tags : list of str
        The model's known open_clip pretrained tags.

    Examples
    --------
    >>> from skclip.exceptions import UnknownWeightsError
    >>> print(UnknownWeightsError("ViT-B-32", "opnai", ["openai"]))
    ... # doctest: +NORMALIZE_WHITESPACE
    pretrained='opnai' is neither a checkpoint file nor a known open_clip tag for
    'ViT-B-32' (known tags: ['openai']); use pretrained=None for random weights.
    """

    def __init__(self, model, pretrained, known_tags):
        super().__init__(model, pretrained, known_tags)
        self.model = model
        self.pretrained = pretrained
        self.known_tags = list(known_tags)

    def __str__(self):
        return (f"pretrained={self.pretrained!r} is neither a checkpoint file nor a known "
                f"open_clip tag for {self.model!r} (known tags: {self.known_tags or 'none'}); "
                "use pretrained=None for random weights.")


class UnknownModelError(ValueError):
    """``model`` is neither an open_clip model name nor an open_clip JSON config file.

    The message suggests the known name closest to it (``"vit-b-32"``: did you mean
    ``"ViT-B-32"``?).

    Examples
    --------
    >>> from skclip.embed import load_clip
    >>> from skclip.exceptions import UnknownModelError
    >>> try:
    ...     load_clip("vit-b-32", pretrained=None, device="cpu")
    ... except UnknownModelError as exc:
    ...     print(exc.suggestion)
    ViT-B-32
    """

    def __init__(self, message, *, suggestion=None):
        super().__init__(message)
        self.suggestion = suggestion
