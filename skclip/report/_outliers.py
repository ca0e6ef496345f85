"""Images that fit no cluster: beyond their cluster's own far tail of distances.

The rule (the same at fit time, after an edit and for ``skclip assign``): an image is an
*outlier* when its cosine distance to its cluster's centre, in the space the clusterer
clustered (CAE: its fused features; otherwise the unit image embeddings), is above the
cluster's upper Tukey fence ``Q3 + 1.5 * (Q3 - Q1)``, where Q1 and Q3 are the quartiles
of the distances of the cluster's own members at fit time. A cluster of fewer than
``MIN_MEMBERS`` images has too few distances for quartiles and uses the fence of all
fitted images' distances. On a Gaussian-shaped cluster the fence flags about 0.7% of
the members; clusters with a long tail get more.
"""

import numpy as np

__all__ = ["MIN_MEMBERS", "OUTLIER_RULE", "OUTLIER_WHISKER", "centre_distances",
           "outlier_thresholds"]

#: Tukey's whisker: the fence is this many inter-quartile ranges above Q3
OUTLIER_WHISKER = 1.5
#: clusters smaller than this use the fence of all distances
MIN_MEMBERS = 8

OUTLIER_RULE = (
    "outlier = 1 when the image's cosine distance to its cluster's centre (in the space "
    "the clusterer clustered) is above the cluster's upper Tukey fence Q3 + "
    f"{OUTLIER_WHISKER} x (Q3 - Q1) of its own members' distances at fit time (clusters of "
    f"fewer than {MIN_MEMBERS} images: the fence of all fitted images)"
)


def _unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=-1, keepdims=True), 1e-12)


def centre_distances(F, labels, centres):
    """Cosine distance of each row of ``F`` to the centre of its cluster.

    Parameters
    ----------
    F : array-like of shape (n_samples, n_features)
        Features in the clustered space.
    labels : array-like of shape (n_samples,)
        Cluster id of each row.
    centres : dict of int to array of shape (n_features,)
        Centre of each cluster id.

    Returns
    -------
    distances : ndarray of shape (n_samples,)
        ``1 - cos`` in ``[0, 2]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report._outliers import centre_distances
    >>> centre_distances([[1.0, 0.0], [0.0, 2.0]], [5, 5], {5: np.array([1.0, 0.0])}).tolist()
    [0.0, 1.0]
    """
    F = _unit(F)
    labels = np.asarray(labels)
    out = np.zeros(len(F))
    for k, c in centres.items():
        rows = labels == k
        out[rows] = 1.0 - F[rows] @ _unit(c)
    return np.clip(out, 0.0, 2.0)


def _fence(d, whisker):
    q1, q3 = np.percentile(d, [25, 75])
    return float(q3 + whisker * (q3 - q1))


def outlier_thresholds(distances, labels, *, whisker=OUTLIER_WHISKER, min_members=MIN_MEMBERS):
    """The distance above which an image of each cluster is an outlier (its fence).

    Parameters
    ----------
    distances : array-like of shape (n_samples,)
        :func:`centre_distances` of the fitted images.
    labels : array-like of shape (n_samples,)
        Their cluster ids.
    whisker : float, default=1.5
        Inter-quartile ranges above the third quartile.
    min_members : int, default=8
        Smaller clusters use the fence of all distances.

    Returns
    -------
    thresholds : dict of int to float

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report._outliers import outlier_thresholds
    >>> d = np.r_[np.linspace(0.1, 0.2, 20), 0.15]
    >>> t = outlier_thresholds(d, [0] * 20 + [1])
    >>> round(t[0], 3), round(t[1], 3)  # cluster 1 is too small: the fence of all
    (0.25, 0.245)
    """
    d = np.asarray(distances, dtype=np.float64)
    labels = np.asarray(labels)
    pooled = _fence(d, whisker) if len(d) else 2.0
    out = {}
    for k in np.unique(labels):
        own = d[labels == k]
        out[int(k)] = _fence(own, whisker) if len(own) >= min_members else pooled
    return out
