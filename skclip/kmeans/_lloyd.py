"""Lloyd iterations and k-means++ seeding of the project's k-means (torch, any device).

Internal to :mod:`skclip.kmeans`. Every function works on tensors already on
the compute device; random draws come from a CPU ``torch.Generator`` and are moved
to the device, so that the same seed gives the same draws everywhere. Per-cluster
sums are accumulated by one-hot matrix products (deterministic on every device);
only on the CPU with many clusters, where ``index_add_`` is sequential and therefore
deterministic too, is ``index_add_`` used because it is cheaper.
"""

import math

from .._arrays import unit_rows


def _assign(X, x_sq, C, spherical, block_size, with_sums=False):
    """Nearest centre of every row for R centre sets at once.

    ``C`` is (R, K, d); returns labels and distances (squared Euclidean or 1 - cos),
    both (R, n). One matrix product per row block serves all R sets, which keeps the
    product wide (and fast) when K is small. With ``with_sums`` the per-cluster sums
    (R, K, d) and counts (R, K) of the new labels are accumulated on the same block
    while it is in cache: by a one-hot product (deterministic on every device), or by
    ``index_add_`` on the CPU when K > 32 (sequential there, hence deterministic too,
    and cheaper than the product).
    """
    import torch

    R, K, d = C.shape
    n = X.shape[0]
    labels = torch.empty((R, n), dtype=torch.int64, device=X.device)
    dist = torch.empty((R, n), dtype=X.dtype, device=X.device)
    Cf = C.reshape(R * K, d)
    Ct = Cf.t()
    c_sq = (Cf * Cf).sum(dim=1)
    block = max(1, min(block_size, 2**24 // (R * K)))
    sums = X.new_zeros((R * K, d)) if with_sums else None
    offset = torch.arange(R, device=X.device) * K
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        if spherical:
            val, lab = torch.max((X[rows] @ Ct).view(-1, R, K), dim=2)
            dist[:, rows] = (1.0 - val).t()
        else:
            D = torch.addmm(c_sq, X[rows], Ct, alpha=-2.0).view(-1, R, K)
            val, lab = torch.min(D, dim=2)
            dist[:, rows] = (val + x_sq[rows, None]).clamp_min_(0.0).t()
        labels[:, rows] = lab.t()
        if with_sums and (K <= 32 or X.device.type != "cpu"):
            onehot = X.new_zeros((lab.shape[0], R * K)).scatter_(1, lab + offset, 1.0)
            sums.addmm_(onehot.t(), X[rows])
        elif with_sums:
            flat = (lab + offset).t()
            for r in range(R):
                sums.index_add_(0, flat[r], X[rows])
    if not with_sums:
        return labels, dist
    counts = torch.bincount((labels + offset[:, None]).flatten(), minlength=R * K)
    return labels, dist, sums.view(R, K, d), counts.view(R, K)


def _kmeans_plusplus(X, x_sq, n_clusters, n_runs, gen, block_size):
    """Greedy k-means++ (as scikit-learn, 2 + log(k) candidates) for ``n_runs`` seeds.

    The runs are seeded together: the distances of all points to the candidates of
    every run come from one product, so X is read once per new centre, not per run.
    """
    import torch

    n, d = X.shape
    R, T = n_runs, 2 + int(math.log(n_clusters))
    first = torch.randint(n, (R,), generator=gen).to(X.device)
    centers = X.new_empty((R, n_clusters, d))
    centers[:, 0] = X[first]
    _, closest = _assign(X, x_sq, centers[:, :1], False, block_size)  # (R, n)
    D = X.new_empty((n, R * T))
    for c in range(1, n_clusters):
        cum = torch.cumsum(closest.to(torch.float64), dim=1)
        u = torch.rand((R, T), generator=gen, dtype=torch.float64).to(X.device)
        cand = torch.searchsorted(cum, u * cum[:, -1:]).clamp_(max=n - 1).flatten()
        Xc, xc_sq = X[cand], x_sq[cand][None, :]
        for start in range(0, n, block_size):
            rows = slice(start, min(start + block_size, n))
            torch.addmm(xc_sq, X[rows], Xc.t(), alpha=-2.0, out=D[rows])
        D.add_(x_sq[:, None]).clamp_(min=0.0)
        Dv = D.view(n, R, T)
        torch.minimum(Dv, closest.t()[:, :, None], out=Dv)
        best = torch.argmin(Dv.sum(dim=0), dim=1)  # (R,)
        run = torch.arange(R, device=X.device)
        centers[:, c] = Xc.view(R, T, d)[run, best]
        closest = Dv[:, run, best].t().contiguous()
    return centers


def _update(X, sums, counts, dist, spherical):
    """New centres from cluster sums; empty clusters move to the farthest points."""
    import torch

    new = sums / counts.clamp_min(1)[:, None].to(X.dtype)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        new[empty] = X[torch.topk(dist, len(empty)).indices]
    return unit_rows(new, tol=1e-6, floor=1e-12) if spherical else new


def _lloyd(X, x_sq, centers, max_iter, tol, spherical, block_size):
    """Lloyd iterations for R runs together (converged runs drop out).

    Returns per run: centres (R, K, d), labels (R, n), inertia (R,), n_iter (R,).
    """
    import torch

    R = centers.shape[0]
    centers = centers.clone()
    labels_out = torch.empty((R, X.shape[0]), dtype=torch.int64, device=X.device)
    inertia = torch.zeros(R, dtype=torch.float64)
    n_iter = [0] * R
    labels_old = [None] * R
    active, finals = list(range(R)), []
    for it in range(1, max_iter + 1):
        if not active:
            break
        labels, dist, sums, counts = _assign(X, x_sq, centers[active], spherical,
                                             block_size, with_sums=True)
        still = []
        for j, r in enumerate(active):
            n_iter[r] = it
            if labels_old[r] is not None and torch.equal(labels[j], labels_old[r]):
                labels_out[r] = labels[j]  # strict convergence: labels match centres
                inertia[r] = float(dist[j].sum(dtype=torch.float64))
                continue
            new = _update(X, sums[j], counts[j], dist[j], spherical)
            shift = float(((new - centers[r]) ** 2).sum())
            centers[r], labels_old[r] = new, labels[j]
            (finals if shift <= tol else still).append(r)
        active = still
    finals += active  # runs stopped by tol or max_iter: label them with their centres
    if finals:
        labels, dist = _assign(X, x_sq, centers[finals], spherical, block_size)
        for j, r in enumerate(finals):
            labels_out[r] = labels[j]
            inertia[r] = float(dist[j].sum(dtype=torch.float64))
    return centers, labels_out, inertia, n_iter
