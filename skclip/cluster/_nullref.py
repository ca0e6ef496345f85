""""No structure" is an answer: the scan's best K against a structureless null reference.

A criterion that is maximised over K always has a maximum, even on data without any
cluster: one Gaussian blob gets a silhouette of about 0.04 at every K, and the best of
those flat scores may be any K of the range. :func:`null_reference` asks whether the
best score beats what the same criterion gives on data that has no clusters but
otherwise looks like the collection: the *null reference* is a sample of as many rows
from one Gaussian with the collection's mean and covariance (a rotation of its
principal axes, so it keeps the collection's spread and anisotropy, only the clusters
are gone). The scan's own scorer (same criterion, k-means settings and seed) scores the
null sample at the chosen K; the collection has structure when

    ``(score - null_score) / max(|null_score|, NULL_FLOOR[criterion]) > NULL_MARGIN``

i.e. the chosen partition beats the null by more than ``NULL_MARGIN`` (relative; the
floor keeps the ratio finite where the null score is near zero). Otherwise
:func:`skclip.cluster._autok.select_n_clusters` falls back to the smallest candidate and
warns with :class:`NoClusterStructureWarning`.

``benchmarks/bench_autok.py`` (the planted-K suite, where every scenario has
structure) and ``benchmarks/bench_nostructure.py`` (blobs without clusters) measure
the rule; ``benchmarks/RESULTS.md`` has the numbers.
"""

import numpy as np

__all__ = ["NULL_MARGIN", "NoClusterStructureWarning", "null_reference", "null_sample"]

#: relative improvement over the null score that counts as cluster structure
NULL_MARGIN = 0.1
#: smallest |null score| the improvement is divided by, per criterion (greater is better)
NULL_FLOOR = {"silhouette": 0.02, "davies_bouldin": 0.1, "calinski_harabasz": 1.0,
              "stability": 0.05}


class NoClusterStructureWarning(UserWarning):
    """``n_clusters="auto"`` found no K that beats a structureless null reference.

    The data look like one blob: the clusterer used the smallest candidate K and says
    so; a larger K would split the blob arbitrarily.

    Examples
    --------
    >>> from skclip.cluster._nullref import NoClusterStructureWarning
    >>> issubclass(NoClusterStructureWarning, UserWarning)
    True
    """


def null_sample(Z, random_state=0):
    """Rows drawn from one Gaussian with the mean and covariance of ``Z``.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
    random_state : int, default=0

    Returns
    -------
    Z0 : ndarray of shape (n_samples, n_features), dtype of ``Z`` (float32 or float64)

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster._nullref import null_sample
    >>> Z = np.random.RandomState(0).normal(size=(2000, 3)) * [1.0, 2.0, 3.0] + 5.0
    >>> Z0 = null_sample(Z)
    >>> Z0.shape, np.round(Z0.std(axis=0)).tolist(), np.round(Z0.mean(axis=0)).tolist()
    ((2000, 3), [1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    """
    Z = np.asarray(Z)
    dtype = Z.dtype if Z.dtype in (np.float32, np.float64) else np.float64
    Z = Z.astype(np.float64, copy=False)
    mu = Z.mean(axis=0)
    _, s, Vt = np.linalg.svd(Z - mu, full_matrices=False)
    scale = s / np.sqrt(max(len(Z) - 1, 1))
    rng = np.random.default_rng(random_state)
    G = rng.standard_normal((len(Z), len(s)))
    return (mu + (G * scale) @ Vt).astype(dtype)


def null_reference(score, null_score, criterion):
    """Compare the chosen partition's score with the null reference's.

    Parameters
    ----------
    score, null_score : float
        The criterion (greater is better) on the data and on :func:`null_sample`, at
        the same K.
    criterion : str
        One of ``skclip.cluster._autok.K_SELECTIONS``.

    Returns
    -------
    result : dict
        ``score``, ``null_score``, ``gain`` (the relative improvement) and
        ``structure`` (``gain > NULL_MARGIN``).

    Examples
    --------
    >>> from skclip.cluster._nullref import null_reference
    >>> null_reference(0.30, 0.04, "silhouette")["structure"]
    True
    >>> null_reference(0.041, 0.040, "silhouette")["structure"]
    False
    """
    gain = (score - null_score) / max(abs(null_score), NULL_FLOOR[criterion])
    return {"score": float(score), "null_score": float(null_score), "gain": float(gain),
            "structure": bool(gain > NULL_MARGIN)}
