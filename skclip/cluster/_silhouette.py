"""The silhouette of a partition on a few thousand rows, in torch (any device).

One implementation for the two places that compare partitions by their silhouette:
the scan of ``n_clusters="auto"`` (``_autok.py``) and the choice between k-means and
its over-clustered, merged partition (``_merge.py``). The distances are cosine
distances between the rows, computed once and shared by every partition scored on
the same rows; the reduction is a matrix product with one-hot labels (deterministic
on every device).
"""

import math

import numpy as np

__all__ = ["cosine_distances", "score_rows", "silhouette"]

SCORE_ROWS = 3_000  # rows a silhouette is computed on (memory O(rows^2))


def score_rows(n_samples, gen, rows=SCORE_ROWS):
    """Sorted indices of a uniform random subset of ``rows`` rows (all when fewer).

    ``gen`` is a CPU ``torch.Generator`` (one permutation is drawn either way): the
    same seed gives the same rows everywhere.
    """
    import torch

    return torch.randperm(n_samples, generator=gen)[:rows].sort().values.numpy()


def cosine_distances(Z, device):
    """``1 - cos`` between all rows of ``Z`` (a torch matrix on ``device``)."""
    import torch

    from .._config import resolve_device

    S = torch.as_tensor(np.asarray(Z, dtype=np.float32)).to(resolve_device(device))
    S = torch.nn.functional.normalize(S, dim=1)
    return (1.0 - S @ S.T).clamp_(min=0.0)


def silhouette(D, labels, k):
    """Mean silhouette of ``labels`` (values in ``0 .. k-1``) given distances ``D``.

    A row alone in its cluster scores 0 (scikit-learn's convention).
    """
    import torch

    lab = torch.as_tensor(np.asarray(labels), device=D.device, dtype=torch.int64)
    onehot = torch.zeros(len(lab), k, device=D.device, dtype=D.dtype)
    onehot[torch.arange(len(lab), device=D.device), lab] = 1.0
    sums = D @ onehot  # (rows, k): total distance of each row to each cluster
    counts = onehot.sum(dim=0)
    own = counts[lab]
    a = sums.gather(1, lab[:, None])[:, 0] / (own - 1).clamp(min=1)
    other = sums / counts.clamp(min=1)
    other[torch.arange(len(lab), device=D.device), lab] = math.inf
    other[:, counts == 0] = math.inf
    b = other.min(dim=1).values
    s = (b - a) / torch.maximum(a, b).clamp(min=1e-12)
    s = torch.where((own > 1) & torch.isfinite(b), s, torch.zeros_like(s))
    return float(s.double().mean())
