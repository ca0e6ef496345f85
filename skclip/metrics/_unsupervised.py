"""Unsupervised scorers for model selection without labels (``GridSearchCV(scoring=...)``).

A scorer is a callable ``scorer(estimator, X, y=None) -> float`` (greater is better),
the protocol scikit-learn's model-selection tools call. Ours score the clustering an
estimator assigns to the *scored* split, in the space the clusterer sees:

* for a :class:`~sklearn.pipeline.Pipeline`, ``X`` is sent through all steps but the
  last (e.g. images -> CLIP embeddings) and the last step labels the result;
* the labels come from ``predict`` on the scored split (``labels_`` belong to the
  training split); an estimator without ``predict`` is refitted with ``fit_predict``.
"""

import numbers
import os
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, resample


def _neg_davies_bouldin(X, labels):
    return -davies_bouldin_score(X, labels)


# name -> f(X, labels, **params), every one greater-is-better
_METRICS = {
    "silhouette": silhouette_score,
    "calinski_harabasz": calinski_harabasz_score,
    "davies_bouldin": _neg_davies_bouldin,
}


def _space_and_labels(estimator, X):
    """Features the final clusterer sees, and the labels it assigns to them."""
    if isinstance(estimator, Pipeline):
        clusterer = estimator.steps[-1][1]
        Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
    else:
        clusterer, Xt = estimator, X
    if hasattr(clusterer, "predict"):
        labels = clusterer.predict(Xt)
    elif hasattr(clusterer, "fit_predict"):
        labels = clusterer.fit_predict(Xt)
    else:
        raise TypeError(
            f"{type(clusterer).__name__} has neither predict nor fit_predict; "
            "an unsupervised scorer needs cluster labels."
        )
    return Xt, np.asarray(labels)


class UnsupervisedScorer:
    """Score a clustering estimator with an internal validity index.

    Build it with :func:`make_unsupervised_scorer`; see there for the parameters.
    Instances are callables ``scorer(estimator, X, y=None) -> float``; ``y`` is
    ignored.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.metrics import make_unsupervised_scorer
    >>> X = np.array([[0, 0], [0, 1], [5, 5], [5, 6]], dtype=float)
    >>> scorer = make_unsupervised_scorer("silhouette")
    >>> type(scorer).__name__
    'UnsupervisedScorer'
    >>> round(scorer(KMeans(n_clusters=2, n_init=1, random_state=0).fit(X), X), 3)
    0.859
    """

    def __init__(
        self, score_func, name, *, sample_size=None, random_state=None, metric_params=None
    ):
        self.score_func = score_func
        self.name = name
        self.sample_size = sample_size
        self.random_state = random_state
        self.metric_params = metric_params

    def __repr__(self):
        args = [repr(self.name)]
        for key in ("sample_size", "random_state", "metric_params"):
            if getattr(self, key) is not None:
                args.append(f"{key}={getattr(self, key)!r}")
        return f"make_unsupervised_scorer({', '.join(args)})"

    def _subsample(self, X):
        if self.sample_size is None:
            return X
        if isinstance(X, (str, os.PathLike)):
            raise ValueError(
                "sample_size needs the samples themselves (an array, a list of image paths...), "
                f"not a single path {os.fspath(X)!r}."
            )
        if self.sample_size >= len(X):
            return X
        rng = check_random_state(self.random_state)
        return resample(X, replace=False, n_samples=self.sample_size, random_state=rng)

    def __call__(self, estimator, X, y=None):
        Xt, labels = _space_and_labels(estimator, self._subsample(X))
        n_labels = np.unique(labels).shape[0]
        if not 2 <= n_labels <= labels.shape[0] - 1:
            warnings.warn(
                f"{self.name} score is undefined with {n_labels} cluster(s) for "
                f"{labels.shape[0]} samples (needs 2 to n_samples - 1); returning NaN.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
            return float("nan")
        return float(self.score_func(Xt, labels, **(self.metric_params or {})))


def make_unsupervised_scorer(metric, *, sample_size=None, random_state=None, metric_params=None):
    """Make a label-free scorer for ``GridSearchCV(scoring=...)`` and friends.

    The scorer labels the scored split with the fitted estimator and evaluates that
    clustering with an internal index, in the space the clusterer sees (for a
    :class:`~sklearn.pipeline.Pipeline`, after all steps but the last). Greater is
    better for every scorer (Davies-Bouldin is negated). When the estimator finds a
    single cluster (or one per sample) the index is undefined: the scorer warns
    (:class:`~sklearn.exceptions.UndefinedMetricWarning`) and returns NaN, which
    ``GridSearchCV`` ranks last.

    Parameters
    ----------
    metric : {"silhouette", "calinski_harabasz", "davies_bouldin"} or callable
        The index. A callable ``f(X, labels, **metric_params) -> float`` must be
        greater-is-better.
    sample_size : int, default=None
        Score a random subset of this many rows of the scored split (silhouette is
        quadratic in ``n``; the subset is also all that gets transformed and
        labelled). ``None`` scores every row.
    random_state : int, RandomState instance or None, default=None
        Draws the subset when ``sample_size`` is set. Pass an int for the same
        subset at every call.
    metric_params : dict, default=None
        Extra keyword arguments of the index, e.g. ``{"metric": "cosine"}`` for
        the silhouette on unit-norm CLIP features.

    Returns
    -------
    scorer : UnsupervisedScorer
        A callable ``scorer(estimator, X, y=None) -> float``.

    See Also
    --------
    sklearn.metrics.silhouette_score, sklearn.metrics.calinski_harabasz_score,
    sklearn.metrics.davies_bouldin_score

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skclip.metrics import make_unsupervised_scorer
    >>> X, _ = make_blobs(n_samples=120, centers=3, cluster_std=0.5, random_state=0)
    >>> scorer = make_unsupervised_scorer("silhouette", sample_size=60, random_state=0)
    >>> search = GridSearchCV(KMeans(n_init=3, random_state=0),
    ...                       {"n_clusters": [2, 3, 4, 5]}, scoring=scorer, cv=3)
    >>> search.fit(X).best_params_
    {'n_clusters': 3}
    """
    if callable(metric):
        score_func, name = metric, getattr(metric, "__name__", "custom")
    elif isinstance(metric, str) and metric in _METRICS:
        score_func, name = _METRICS[metric], metric
    else:
        raise ValueError(
            f"metric must be one of {sorted(_METRICS)} or a callable f(X, labels); got {metric!r}."
        )
    if sample_size is not None and (
        not isinstance(sample_size, numbers.Integral)
        or isinstance(sample_size, bool)
        or sample_size < 2
    ):
        raise ValueError(f"sample_size must be None or an int >= 2; got {sample_size!r}.")
    if metric_params is not None and not isinstance(metric_params, dict):
        raise TypeError(
            f"metric_params must be a dict or None; got {type(metric_params).__name__}."
        )
    return UnsupervisedScorer(
        score_func,
        name,
        sample_size=sample_size,
        random_state=random_state,
        metric_params=metric_params,
    )


def get_unsupervised_scorer(name):
    """The ready scorer registered under ``name``.

    Parameters
    ----------
    name : {"silhouette", "calinski_harabasz", "davies_bouldin"}
        Names of :data:`UNSUPERVISED_SCORERS`.

    Returns
    -------
    scorer : UnsupervisedScorer

    Examples
    --------
    >>> from skclip.metrics import get_unsupervised_scorer
    >>> get_unsupervised_scorer("davies_bouldin")
    make_unsupervised_scorer('davies_bouldin')
    """
    try:
        return UNSUPERVISED_SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown unsupervised scorer {name!r}; choose from {sorted(UNSUPERVISED_SCORERS)}."
        ) from None


silhouette_scorer = make_unsupervised_scorer("silhouette")
calinski_harabasz_scorer = make_unsupervised_scorer("calinski_harabasz")
davies_bouldin_scorer = make_unsupervised_scorer("davies_bouldin")

#: Ready scorers by name, for ``GridSearchCV(scoring=UNSUPERVISED_SCORERS)`` (multi-metric).
UNSUPERVISED_SCORERS = {
    "silhouette": silhouette_scorer,
    "calinski_harabasz": calinski_harabasz_scorer,
    "davies_bouldin": davies_bouldin_scorer,
}
