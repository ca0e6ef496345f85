"""Choosing the number of clusters without labels (``n_clusters="auto"``).

The clusterers call :func:`resolve_n_clusters` with the features they are about to
cluster (CLIP k-means: the unit image rows; TAC and CAE: their fused features,
computed once; MCA: its centred image space). With an integer ``n_clusters`` it only
records it. With ``"auto"`` it scans the candidate K of ``k_range``: k-means (the
project's one, :func:`skclip.kmeans.kmeans`, one run per K, seeded by the
first K centres of a single k-means++ seeding to the largest K) on a random
subsample of the rows, each partition scored by the ``k_selection`` criterion
(greater is better), coarse-to-fine: a geometric grid over the range first, then the
candidates between the neighbours of the best K, until every K near the best has
been scored. The best K wins; ties go to the smaller K, unless the best score does not
beat a structureless null reference (``_nullref.py``): then the data have no cluster
structure, the smallest candidate is chosen and a
:class:`~skclip.cluster._nullref.NoClusterStructureWarning` says so.
"""

import math
import warnings
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._config import torch_generator
from ..kmeans import assign, kmeans, kmeans_plusplus
from ._nullref import NoClusterStructureWarning, null_reference, null_sample
from ._silhouette import cosine_distances, score_rows, silhouette

__all__ = ["K_SELECTIONS", "candidate_ks", "resolve_n_clusters", "select_n_clusters"]

K_SELECTIONS = ("davies_bouldin", "silhouette", "calinski_harabasz", "stability")
_DEFAULT_HIGH = 100  # default k_range: 2 .. min(100, n_samples // 10)
_SCAN_ROWS = 10_000  # rows the scan's k-means sees (more when K is large)
_ROWS_PER_K = 25  # ... at least this many per cluster of the largest candidate
_SCAN_N_INIT = 1  # one k-means++ run per K (bench_autok: 3 restarts, as many hits, 3x the cost)
_SCAN_MAX_ITER = 100  # Lloyd iterations per restart (a partition to score, not a result)
_GRID = 12  # points of the coarse pass over the range
_REFINE_GRID = 6  # points per refinement pass (passes repeat until the best K's neighbours are scored)


def candidate_ks(k_range, n_samples):
    """The candidate numbers of clusters, sorted.

    Parameters
    ----------
    k_range : None, tuple (low, high) or list of int
        ``None``: ``2 .. min(100, n_samples // 10)``; a tuple: every K from ``low`` to
        ``high`` inclusive; a list: exactly those K.
    n_samples : int
        Rows to cluster; candidates above ``n_samples - 1`` are dropped (a silhouette
        needs at least one cluster with two points).

    Returns
    -------
    ks : list of int
        At least one candidate, each ``>= 2``.

    Examples
    --------
    >>> from skclip.cluster._autok import candidate_ks
    >>> candidate_ks(None, 100), candidate_ks((3, 6), 100), candidate_ks([9, 4], 100)
    ([2, 3, 4, 5, 6, 7, 8, 9, 10], [3, 4, 5, 6], [4, 9])
    """
    if n_samples < 3:
        raise ValueError(
            f"n_clusters='auto' needs at least 3 samples, got n_samples={n_samples}."
        )
    if k_range is None:
        ks = range(2, max(2, min(_DEFAULT_HIGH, n_samples // 10)) + 1)
    elif isinstance(k_range, tuple):
        if len(k_range) != 2 or not all(_is_int(k) for k in k_range):
            raise ValueError(f"k_range as a tuple must be (low, high) integers, got {k_range!r}.")
        low, high = int(k_range[0]), int(k_range[1])
        if low < 2 or high < low:
            raise ValueError(f"k_range=(low, high) needs 2 <= low <= high, got {k_range!r}.")
        ks = range(low, high + 1)
    else:
        if len(k_range) == 0 or not all(_is_int(k) and k >= 2 for k in k_range):
            raise ValueError(
                f"k_range as a list must hold integers >= 2, got {list(k_range)!r}."
            )
        ks = sorted({int(k) for k in k_range})
    kept = [k for k in ks if k <= n_samples - 1]
    if not kept:
        raise ValueError(
            f"No candidate of k_range={k_range!r} is below n_samples={n_samples}: "
            "there cannot be as many clusters as images."
        )
    return kept


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def resolve_n_clusters(est, F, *, spherical, device):
    """Set ``est.n_clusters_`` and ``est.k_selection_scores_``; return the K to fit.

    ``F`` are the features ``est`` clusters; ``est`` provides ``n_clusters``,
    ``k_range``, ``k_selection``, ``random_state`` and ``verbose``. With an integer
    ``n_clusters`` nothing is scanned (the scores are an empty dict).
    """
    if not (isinstance(est.n_clusters, str) and est.n_clusters == "auto"):
        est.n_clusters_, est.k_selection_scores_ = int(est.n_clusters), {}
        est.k_selection_null_ = None
        return est.n_clusters_
    ks = candidate_ks(est.k_range, len(F))
    est.n_clusters_, est.k_selection_scores_, est.k_selection_null_ = select_n_clusters(
        F, ks, criterion=est.k_selection, spherical=spherical, device=device,
        random_state=est.random_state, verbose=est.verbose, return_null=True)
    return est.n_clusters_


def select_n_clusters(F, ks, *, criterion="davies_bouldin", spherical=True, device="auto",
                      random_state=None, verbose=0, return_null=False):
    """Scan candidate numbers of clusters coarse-to-fine and return the best one.

    Parameters
    ----------
    F : array-like of shape (n_samples, n_features)
        The features to cluster (a memory map is read only on the sampled rows).
    ks : list of int
        Sorted candidates (:func:`candidate_ks`).
    criterion : {"davies_bouldin", "silhouette", "calinski_harabasz", "stability"}
        Score of a partition, greater is better (Davies-Bouldin is negated).
    spherical : bool, default=True
        Cosine k-means (as the clusterer's own).
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None
        Seeds the subsample and the k-means runs; every K gets the same seed.
    verbose : int, default=0
        Progress bar over the scanned K when > 0.
    return_null : bool, default=False
        Also return the comparison with the null reference.

    Returns
    -------
    n_clusters : int
        The best candidate; the smallest one when the best score does not beat the
        null reference (no cluster structure; a ``NoClusterStructureWarning``).
    scores : dict of int to float
        Score of every scanned K, in increasing K.
    null : dict
        Only with ``return_null``: :func:`skclip.cluster._nullref.null_reference` at
        the best-scoring K (its ``k``), or None when there was a single candidate.

    Examples
    --------
    >>> from skclip.cluster._autok import select_n_clusters
    >>> from skclip.datasets import make_clip_blobs
    >>> X = make_clip_blobs(n_samples=300, n_clusters=5, n_features=16, spread=0.3,
    ...                     random_state=0).X
    >>> k, scores = select_n_clusters(X, list(range(2, 11)), random_state=0)
    >>> k, len(scores)
    (5, 9)
    """
    from tqdm.auto import tqdm

    if criterion not in K_SELECTIONS:
        raise ValueError(f"criterion must be one of {K_SELECTIONS}, got {criterion!r}.")
    rng = check_random_state(random_state)
    gen = torch_generator(rng)
    Z = _scan_rows(F, max(ks), gen)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    score = _make_scorer(criterion, Z, spherical, device, gen, seed, max(ks))
    scores = {}
    todo = _grid(ks)
    # a total that grows with each refinement: the bar moves from the first K on
    bar = tqdm(total=len(todo), desc="choosing K", unit="K", disable=not verbose, leave=False)
    while todo:
        for k in todo:
            scores[k] = score(k)
            bar.update()
        todo = _refine(ks, scores)
        bar.total += len(todo)
        bar.refresh()
    bar.close()
    best = max(scores, key=lambda k: (scores[k], -k))
    null = None
    if len(ks) > 1:
        null_score = _make_scorer(criterion, null_sample(Z, seed), spherical, device,
                                  torch_generator(seed), seed, best)(best)
        null = {"k": int(best), **null_reference(scores[best], null_score, criterion)}
        if not null["structure"]:
            warnings.warn(
                f"n_clusters='auto': no cluster structure found. The best {criterion} "
                f"({scores[best]:.4g} at K={best}) does not beat the same criterion on one "
                f"Gaussian blob shaped like the data ({null_score:.4g}); K={ks[0]}, the "
                "smallest candidate, is used. Give n_clusters=K to force a partition.",
                NoClusterStructureWarning, stacklevel=2)
            best = ks[0]
    scores = {k: scores[k] for k in sorted(scores)}
    return (best, scores, null) if return_null else (best, scores)


def _scan_rows(F, k_max, gen):
    """A uniform random subsample of the rows of ``F`` (all of them when few)."""
    import torch

    n = F.shape[0]
    m = max(_SCAN_ROWS, _ROWS_PER_K * k_max)
    if n <= m:
        return np.asarray(F)
    idx = torch.randperm(n, generator=gen)[:m].sort().values.numpy()
    return np.asarray(F[idx])


def _grid(ks, points=None):
    """At most ``points`` (``_GRID``) candidates spread geometrically over ``ks`` (ends included)."""
    points = _GRID if points is None else points
    if len(ks) <= points:
        return list(ks)
    targets = np.geomspace(ks[0], ks[-1], points)
    picks = {ks[int(np.argmin(np.abs(np.asarray(ks) - t)))] for t in targets}
    return sorted(picks)


def _refine(ks, scores):
    """Unscored candidates strictly between the scored neighbours of the best K."""
    done = sorted(scores)
    best = max(done, key=lambda k: (scores[k], -k))
    i = done.index(best)
    low = done[i - 1] if i > 0 else ks[0] - 1
    high = done[i + 1] if i + 1 < len(done) else ks[-1] + 1
    between = [k for k in ks if low < k < high and k not in scores]
    return _grid(between, _REFINE_GRID)


# -- criteria -----------------------------------------------------------------------
def _make_scorer(criterion, Z, spherical, device, gen, seed, k_max):
    """``score(k) -> float`` for one criterion on the scan rows ``Z``."""
    # one k-means++ seeding to the largest K: its first k centres seed the run at k
    # (k-means++ is sequential), so the scan seeds once instead of once per K
    seeds = None
    if _SCAN_N_INIT == 1 and criterion != "stability":
        seeds = kmeans_plusplus(Z, k_max, spherical=spherical, device=device,
                                random_state=seed)

    def labels_of(k, rows=Z):
        init = "k-means++" if seeds is None else seeds[:k]  # an array: n_init is ignored
        return np.asarray(kmeans(rows, k, n_init=_SCAN_N_INIT, init=init,
                                 max_iter=_SCAN_MAX_ITER, spherical=spherical, device=device,
                                 random_state=seed).labels)

    if criterion == "silhouette":
        pick = score_rows(len(Z), gen)
        D = cosine_distances(Z[pick], device)
        return lambda k: silhouette(D, labels_of(k)[pick], k)
    if criterion == "stability":
        return lambda k: _stability(Z, k, spherical, device, seed)
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    index = calinski_harabasz_score if criterion == "calinski_harabasz" else davies_bouldin_score
    sign = 1.0 if criterion == "calinski_harabasz" else -1.0

    def score(k):
        labels = labels_of(k)
        if not 2 <= len(np.unique(labels)) <= len(Z) - 1:
            return -math.inf  # k-means found fewer distinct groups (repeated rows)
        return sign * float(index(Z, labels))

    return score


def _stability(Z, k, spherical, device, seed):
    """Agreement (adjusted Rand) of k-means fitted on two disjoint halves of ``Z``."""
    from sklearn.metrics import adjusted_rand_score

    halves = np.random.default_rng(seed).permutation(len(Z))
    half = len(Z) // 2
    if half < k:
        return -1.0  # a half cannot hold k clusters: the lowest adjusted Rand
    labels = []
    for rows in (halves[:half], halves[half:]):
        res = kmeans(Z[np.sort(rows)], k, n_init=_SCAN_N_INIT, max_iter=_SCAN_MAX_ITER,
                     spherical=spherical, device=device, random_state=seed)
        labels.append(np.asarray(assign(Z, res.centers, spherical=spherical,
                                        device=device)[0]))
    return float(adjusted_rand_score(*labels))
