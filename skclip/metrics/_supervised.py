"""Supervised evaluation of a clustering: Hungarian accuracy, NMI, ARI.

These compare predicted clusters with ground-truth classes. They are for evaluation
(tests, benchmarks); no estimator uses them inside ``fit``.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import check_consistent_length, column_or_1d

_METRIC_NAMES = ("ACC", "NMI", "ARI")


def _check_labelings(y_true, y_pred):
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; at least one sample is needed.")
    return y_true, y_pred


def _py(value):
    """A numpy scalar as the plain Python value (object labels pass through)."""
    return value.item() if isinstance(value, np.generic) else value


def _matched_counts(y_true, y_pred):
    """Contingency table (clusters x classes) and its Hungarian maximum matching."""
    counts = contingency_matrix(y_pred, y_true)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return counts, rows, cols


def hungarian_matching(y_true, y_pred):
    """Best one-to-one matching of predicted clusters to true classes.

    The matching maximises the number of samples whose cluster is mapped to their
    class (Hungarian algorithm on the contingency table). When the numbers of
    clusters and classes differ, the surplus clusters (or classes) stay unmatched.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels (any hashable, sortable values).
    y_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable, sortable values).

    Returns
    -------
    mapping : dict
        ``{cluster_label: class_label}`` for every matched cluster.

    Examples
    --------
    >>> from skclip.metrics import hungarian_matching
    >>> hungarian_matching(["cat", "cat", "dog", "dog"], [1, 1, 0, 0])
    {0: 'dog', 1: 'cat'}
    """
    y_true, y_pred = _check_labelings(y_true, y_pred)
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    _, rows, cols = _matched_counts(y_true, y_pred)
    return {_py(clusters[r]): _py(classes[c]) for r, c in zip(rows, cols, strict=True)}


def clustering_accuracy(y_true, y_pred):
    """Clustering accuracy (ACC) after the best one-to-one cluster-to-class matching.

    Clusters carry no names, so each cluster is mapped to one class (and each class
    receives at most one cluster) to maximise the number of correctly mapped samples;
    the accuracy is that number over ``n_samples``. The matching is the Hungarian
    algorithm (:func:`scipy.optimize.linear_sum_assignment`) on the contingency
    table. Any label values work, and the numbers of clusters and classes may differ:
    samples of unmatched clusters count as errors.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate.

    Returns
    -------
    accuracy : float
        In ``[0, 1]`` (like :func:`sklearn.metrics.accuracy_score`); 1.0 when the
        clustering equals the classes up to a renaming of the clusters.

    See Also
    --------
    clustering_report : ACC, NMI and ARI together, in percent.
    hungarian_matching : the cluster-to-class mapping itself.

    Examples
    --------
    >>> from skclip.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9])
    1.0
    >>> clustering_accuracy([0, 0, 1, 1], [0, 0, 0, 1])
    0.75
    """
    y_true, y_pred = _check_labelings(y_true, y_pred)
    counts, rows, cols = _matched_counts(y_true, y_pred)
    return float(counts[rows, cols].sum() / y_true.shape[0])


class ClusteringReport(dict):
    """ACC, NMI and ARI of one clustering: a dict that prints as a small table.

    Keys are ``"ACC"``, ``"NMI"`` and ``"ARI"``; values are floats in percent (or
    fractions, see :func:`clustering_report`). ``str(report)`` is a table;
    :func:`format_report` lays out several reports side by side.

    Examples
    --------
    >>> from skclip.metrics import clustering_report
    >>> report = clustering_report([0, 0, 1, 1], [1, 1, 0, 0])  # same grouping, renamed
    >>> type(report).__name__, report["ACC"]
    ('ClusteringReport', 100.0)
    >>> print(report)
    metric  value
    ACC     100.0
    NMI     100.0
    ARI     100.0
    """

    def __init__(self, *args, percent=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.percent = percent

    def __str__(self):
        return format_report(self)

    def __reduce__(self):
        return (self.__class__, (dict(self),), {"percent": self.percent})


def clustering_report(y_true, y_pred, *, percent=True):
    """Accuracy (Hungarian), NMI and ARI of a clustering against true classes.

    The three numbers published clustering papers report, in their usual order.
    NMI is :func:`sklearn.metrics.normalized_mutual_info_score` (arithmetic
    normalisation) and ARI :func:`sklearn.metrics.adjusted_rand_score`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate.
    percent : bool, default=True
        Report values in percent (as the published tables do); ``False`` gives
        fractions in ``[0, 1]`` (ARI may be negative in both cases).

    Returns
    -------
    report : ClusteringReport
        A dict ``{"ACC": ..., "NMI": ..., "ARI": ...}`` of floats whose ``str`` is a
        printable table.

    See Also
    --------
    clustering_accuracy : the accuracy alone, as a fraction.
    format_report : a table of several reports.

    Examples
    --------
    >>> from skclip.metrics import clustering_report
    >>> report = clustering_report([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 2, 2])
    >>> report["ACC"]
    100.0
    >>> print(report)
    metric  value
    ACC     100.0
    NMI     100.0
    ARI     100.0
    """
    y_true, y_pred = _check_labelings(y_true, y_pred)
    scale = 100.0 if percent else 1.0
    values = {
        "ACC": clustering_accuracy(y_true, y_pred),
        "NMI": normalized_mutual_info_score(y_true, y_pred),
        "ARI": adjusted_rand_score(y_true, y_pred),
    }
    return ClusteringReport({k: float(v) * scale for k, v in values.items()}, percent=percent)


def format_report(reports, *, digits=None):
    """Format one report, or several named ones, as a plain-text table.

    Parameters
    ----------
    reports : dict or mapping of str to dict
        A single report (``{"ACC": ..., "NMI": ..., "ARI": ...}``) or a mapping
        from a row name (a method, a dataset) to such a report.
    digits : int, default=None
        Decimals shown; ``None`` means 1 for percentages, 3 for fractions.

    Returns
    -------
    table : str
        One metric per row for a single report; one report per row (columns
        ACC, NMI, ARI) for several.

    Examples
    --------
    >>> from skclip.metrics import clustering_report, format_report
    >>> y = [0, 0, 1, 1]
    >>> print(format_report({"perfect": clustering_report(y, y),
    ...                      "one error": clustering_report(y, [0, 0, 0, 1])}))
    method       ACC    NMI    ARI
    perfect    100.0  100.0  100.0
    one error   75.0   34.4    0.0
    """
    single = all(k in reports and not isinstance(reports[k], dict) for k in _METRIC_NAMES)
    rows = {"": reports} if single else dict(reports)
    if digits is None:
        percent = all(getattr(r, "percent", True) for r in rows.values())
        digits = 1 if percent else 3

    def fmt(value):
        return f"{value:.{digits}f}" if value is not None else "-"

    if single:
        cells = [(name, fmt(reports[name])) for name in _METRIC_NAMES]
        width = max(len("metric"), *(len(n) for n, _ in cells))
        lines = [f"{'metric':<{width}}  value"]
        lines += [f"{name:<{width}}  {cell}" for name, cell in cells]
        return "\n".join(lines)
    table = [[str(name)] + [fmt(rep.get(m)) for m in _METRIC_NAMES] for name, rep in rows.items()]
    header = ["method", *_METRIC_NAMES]
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    lines = []
    for row in [header] + table:
        first = f"{row[0]:<{widths[0]}}"
        rest = [f"{cell:>{w}}" for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]))
    return "\n".join(lines)
