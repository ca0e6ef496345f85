"""Over-cluster and merge: the final clustering of CAE when classes differ in size.

k-means minimises the spread of its clusters, not their number of members: on a
collection whose classes differ in size by x10 to x30, its best partition often cuts a
large class in two and puts two small classes together, even when every class is a
tight group (measured on planted long tails: 9 to 10 ACC points below zero-shot with
the true nouns, whatever the restarts). Clustering into ``factor * K`` groups first
cuts large classes into several parts but leaves small classes apart; merging the
parts by average linkage of their centres (cosine distance) gives back K clusters
whose sizes follow the data.

Merging can also join parts of *different* classes that share a nuisance (a style or
background that splits each class when it is cut finer). Which of the two partitions
describes the data is therefore decided by their silhouette, computed on the same
random rows (:mod:`._silhouette`): a mean over points, in which a cluster counts by
its members and not by its spread. The merged partition is kept only when its
silhouette is higher; otherwise the result is k-means' own, bit for bit.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from .._config import torch_generator
from ..kmeans import kmeans
from ._silhouette import cosine_distances, score_rows, silhouette

__all__ = ["MergedKMeansResult", "merged_kmeans"]


@dataclass
class MergedKMeansResult:
    """Outcome of :func:`merged_kmeans` (numpy arrays)."""

    centers: np.ndarray  # (K, d): k-means' centres, or the means of the merged groups
    labels: np.ndarray  # (n,) in 0 .. K-1
    inertia: float  # k-means objective of ``labels`` around ``centers``
    n_iter: int  # Lloyd iterations of the kept run
    sub_centers: np.ndarray  # (K', d): the centres rows are assigned to (K' = K unmerged)
    sub_labels: np.ndarray  # (K',): the cluster of each of them
    silhouettes: dict  # {"kmeans": s, "merged": s}; empty when no merge was tried


def merged_kmeans(F, n_clusters, *, factor=2, n_init=20, max_iter=300, tol=1e-4,
                  spherical=True, max_points_per_centroid=256, device="auto",
                  random_state=None, verbose=0):
    """k-means, and the merged ``factor * n_clusters``-means when its silhouette is higher.

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_features)
        The features to cluster.
    n_clusters : int
        Number of clusters K.
    factor : int, default=2
        Over-clustering factor; 1 (or fewer than ``factor * K + 1`` rows) runs plain
        k-means.
    n_init, max_iter, tol, spherical, device, verbose
        Passed to :func:`skclip.kmeans.kmeans` (both runs).
    max_points_per_centroid : int or None, default=256
        Training rows per centre of the K-run (:func:`skclip.kmeans.kmeans`); the
        ``factor * K``-run gets ``1 / factor`` of it per centre, so both train on as
        many rows.
    random_state : int, RandomState instance or None
        Seeds both runs and the silhouette rows; the k-means run draws first, so its
        result does not depend on ``factor``.

    Returns
    -------
    MergedKMeansResult
    """
    K = int(n_clusters)
    n = F.shape[0]
    random_state = check_random_state(random_state)
    common = dict(n_init=n_init, max_iter=max_iter, tol=tol, spherical=spherical,
                  device=device, random_state=random_state, verbose=verbose)
    base = kmeans(F, K, max_points_per_centroid=max_points_per_centroid, **common)
    out = MergedKMeansResult(
        centers=np.asarray(base.centers), labels=np.asarray(base.labels),
        inertia=float(base.inertia), n_iter=int(base.n_iter),
        sub_centers=np.asarray(base.centers), sub_labels=np.arange(K), silhouettes={})
    if factor < 2 or K < 2 or factor * K >= n:
        return out
    per_centre = (None if max_points_per_centroid is None
                  else max(1, max_points_per_centroid // factor))
    fine = kmeans(F, factor * K, max_points_per_centroid=per_centre, **common)
    sub_centers = np.asarray(fine.centers)
    groups = _merge_centres(sub_centers, K)
    labels = groups[np.asarray(fine.labels)]
    if len(np.unique(labels)) < K:  # a group of empty parts: not a K-partition
        return out
    rows = score_rows(n, torch_generator(random_state))
    D = cosine_distances(F[rows], device)
    scores = {"kmeans": silhouette(D, out.labels[rows], K),
              "merged": silhouette(D, labels[rows], K)}
    del D
    out.silhouettes = scores
    if not scores["merged"] > scores["kmeans"]:
        return out
    centers, inertia = _group_centres(F, labels, K, spherical)
    out.centers, out.labels, out.inertia = centers, labels, inertia
    out.n_iter = int(fine.n_iter)
    out.sub_centers, out.sub_labels = sub_centers, groups
    return out


def _merge_centres(C, K):
    """Group of each centre of ``C`` after average-linkage merging (cosine) down to ``K``."""
    from scipy.cluster.hierarchy import cut_tree, linkage

    C = np.asarray(C, dtype=np.float64)
    C = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    tree = linkage(C, method="average", metric="cosine")
    return np.asarray(cut_tree(tree, n_clusters=K)).ravel().astype(np.int64)


def _group_centres(F, labels, K, spherical, block=65_536):
    """Centres of the groups (unit means when ``spherical``) and their k-means objective.

    From per-group sums (float32 within a row block, float64 across blocks):
    ``sum_i (1 - cos(f_i, c))`` is ``sum_c (n_c - |s_c|)`` for unit rows,
    ``sum_i |f_i - c|^2`` is ``sum_i |f_i|^2 - sum_c |s_c|^2 / n_c``.
    """
    import torch

    d = F.shape[1]
    sums = torch.zeros((K, d), dtype=torch.float64)
    sq = 0.0
    for s in range(0, F.shape[0], block):
        rows = torch.as_tensor(np.asarray(F[s : s + block], dtype=np.float32))
        if spherical:
            rows = torch.nn.functional.normalize(rows, dim=1)
        lab = torch.as_tensor(labels[s : s + block], dtype=torch.int64)
        sums += torch.zeros((K, d), dtype=rows.dtype).index_add_(0, lab, rows).double()
        sq += float(torch.einsum("ij,ij->", rows, rows))
    sums = sums.numpy()
    counts = np.bincount(labels, minlength=K).astype(np.float64)
    norms = np.linalg.norm(sums, axis=1)
    if spherical:
        centers = sums / np.maximum(norms, 1e-12)[:, None]
        inertia = float((counts - norms).sum())
    else:
        centers = sums / np.maximum(counts, 1.0)[:, None]
        inertia = sq - float((norms**2 / np.maximum(counts, 1.0)).sum())
    return centers.astype(F.dtype, copy=False), max(inertia, 0.0)
