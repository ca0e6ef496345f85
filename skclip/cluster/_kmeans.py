"""The project's one k-means: torch Lloyd iterations, CPU or GPU, blocked distances.

Euclidean k-means minimises the sum of squared distances; ``spherical=True`` runs
cosine k-means on L2-normalised rows with renormalised centres and minimises
``sum_i (1 - cos(x_i, c_{l_i}))``. Distances come from one matrix product per block
(``||c||^2 - 2 x.c``), so memory is O(block_size * n_clusters).
"""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from .._config import resolve_device, torch_generator


# Entries of the k-means++ distance buffer (n x runs x candidates) seeded together.
_SEED_BUFFER = 2**25


@dataclass
class KMeansResult:
    """Result of :func:`kmeans`.

    Attributes
    ----------
    centers : array of shape (n_clusters, n_features)
    labels : array of shape (n_samples,), int64
    inertia : float
        Sum of squared distances to the assigned centre, or of ``1 - cos`` when
        ``spherical=True``.
    n_iter : int
        Lloyd iterations of the best run.
    """

    centers: object
    labels: object
    inertia: float
    n_iter: int


def _as_tensor(X, name, device, ndim=2):
    import torch

    if not isinstance(X, torch.Tensor):
        arr = np.asarray(X)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        X = torch.from_numpy(np.ascontiguousarray(arr))
    if X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(X.shape)}")
    dtype = X.dtype if X.dtype in (torch.float32, torch.float64) else torch.float64
    X = X.to(device=device, dtype=dtype)
    # a sum propagates NaN/inf and costs one fast pass; recheck exactly if it overflowed
    if X.numel() and not bool(torch.isfinite(X.sum())) and not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _normalise(X):
    import torch

    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    # Rows that are already unit length (CLIP features, fused features) are returned
    # as they are: at ImageNet scale a copy of X is gigabytes.
    if bool(((norms - 1.0).abs() <= 1e-6).all()):
        return X
    return X / norms.clamp_min(1e-12)


def _assign(X, x_sq, C, spherical, block_size, with_sums=False):
    """Nearest centre of every row for R centre sets at once.

    ``C`` is (R, K, d); returns labels and distances (squared Euclidean or 1 - cos),
    both (R, n). One matrix product per row block serves all R sets, which keeps the
    product wide (and fast) when K is small. With ``with_sums`` the per-cluster sums
    (R, K, d) and counts (R, K) of the new labels are accumulated on the same block
    while it is in cache: by a one-hot product for small K, else ``index_add_``.
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
        if with_sums and K <= 32:
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
    first = torch.randint(n, (R,), generator=gen, device=X.device)
    centers = X.new_empty((R, n_clusters, d))
    centers[:, 0] = X[first]
    _, closest = _assign(X, x_sq, centers[:, :1], False, block_size)  # (R, n)
    D = X.new_empty((n, R * T))
    for c in range(1, n_clusters):
        cum = torch.cumsum(closest.to(torch.float64), dim=1)
        u = torch.rand((R, T), generator=gen, device=X.device, dtype=torch.float64)
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


def _random_init(X, n_clusters, n_runs, gen):
    import torch

    idx = [torch.randperm(X.shape[0], generator=gen, device=X.device)[:n_clusters]
           for _ in range(n_runs)]
    return X[torch.stack(idx)]


def _update(X, sums, counts, dist, spherical):
    """New centres from cluster sums; empty clusters move to the farthest points."""
    import torch

    new = sums / counts.clamp_min(1)[:, None].to(X.dtype)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        new[empty] = X[torch.topk(dist, len(empty)).indices]
    return _normalise(new) if spherical else new


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


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _device_for(X, device):
    import torch

    if isinstance(X, torch.Tensor) and (device is None or device == "auto"):
        return X.device
    return resolve_device(device)


def kmeans(X, n_clusters, *, n_init=10, max_iter=300, tol=1e-4, init="k-means++",
           spherical=False, block_size=8192, device="auto", random_state=None, verbose=0):
    """k-means clustering with k-means++ seeding and restarts, in torch.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Data. float32 stays float32; other types are computed in float64.
    n_clusters : int
        Number of clusters.
    n_init : int, default=10
        Number of runs from different seeds; the lowest inertia wins. Ignored (1)
        when ``init`` is an array.
    max_iter : int, default=300
        Maximum Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance as in scikit-learn: a run stops when the squared Frobenius
        norm of the centre shift is ``<= tol * mean(var(X, axis=0))`` (computed on the
        normalised rows when ``spherical``), or when the labels stop changing.
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features)
        Seeding: greedy k-means++ (as scikit-learn), random rows, or given centres.
    spherical : bool, default=False
        Cosine k-means: rows are L2-normalised, points go to the centre of highest
        cosine, centres are renormalised means, inertia is ``sum(1 - cos)``.
    block_size : int, default=8192
        Rows per distance block; memory O(block_size * n_clusters).
    device : str or torch.device, default="auto"
        "auto": the tensor's device for torch input, else CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the torch generator (:func:`skclip._config.torch_generator`).
    verbose : int, default=0
        Progress bar over the runs when > 0.

    Returns
    -------
    result : KMeansResult
        ``centers`` (n_clusters, n_features), ``labels`` (n_samples,), ``inertia``,
        ``n_iter``. numpy in, numpy out; torch in, torch out on the input's device.

    See Also
    --------
    assign : nearest-centre labels for new points.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster._kmeans import kmeans
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> res = kmeans(X, 2, n_init=2, random_state=0)
    >>> sorted(np.bincount(res.labels).tolist()), round(res.inertia, 3)
    ([2, 2], 0.01)
    """
    import torch
    from tqdm.auto import tqdm

    like_torch = isinstance(X, torch.Tensor)
    dev = _device_for(X, device)
    Xt = _as_tensor(X, "X", dev)
    n, d = Xt.shape
    K = _check_int(n_clusters, "n_clusters")
    n_init = _check_int(n_init, "n_init")
    max_iter = _check_int(max_iter, "max_iter")
    block_size = _check_int(block_size, "block_size")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if n < K:
        raise ValueError(f"n_samples={n} should be >= n_clusters={K}")
    given = None
    if not isinstance(init, str):
        given = _as_tensor(init, "init", dev).to(Xt.dtype)
        if tuple(given.shape) != (K, d):
            raise ValueError(f"init has shape {tuple(given.shape)}, expected {(K, d)}")
        n_init = 1
    elif init not in ("k-means++", "random"):
        raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}")
    if spherical:
        Xt = _normalise(Xt)
        given = None if given is None else _normalise(given)
    x_sq = torch.einsum("ij,ij->i", Xt, Xt)  # no n-by-d temporary
    # mean of the per-feature variances, from quantities already at hand
    mean = Xt.mean(dim=0).to(torch.float64)
    tol_abs = float(x_sq.sum(dtype=torch.float64) / n - (mean * mean).sum()) / d * tol
    gen = torch_generator(check_random_state(random_state), dev)

    # runs are processed in groups whose seeding buffer (n x runs x trials) stays small
    group = max(1, min(n_init, _SEED_BUFFER // (n * (2 + int(math.log(K))))))
    best = None
    starts = range(0, n_init, group)
    for s0 in tqdm(starts, desc="k-means", leave=False) if verbose else starts:
        runs = min(group, n_init - s0)
        if given is not None:
            centers = given[None].clone()
        elif init == "random":
            centers = _random_init(Xt, K, runs, gen)
        else:
            centers = _kmeans_plusplus(Xt, x_sq, K, runs, gen, block_size)
            if spherical:
                centers = _normalise(centers.view(-1, d)).view(runs, K, d)
        centers, labels, inertia, n_iter = _lloyd(Xt, x_sq, centers, max_iter, tol_abs,
                                                  spherical, block_size)
        r = int(torch.argmin(inertia))
        if best is None or float(inertia[r]) < best[2]:
            best = (centers[r].clone(), labels[r].clone(), float(inertia[r]), n_iter[r])
    centers, labels, inertia, n_iter = best
    if like_torch:
        centers, labels = centers.to(X.device), labels.to(X.device)
    else:
        centers, labels = centers.cpu().numpy(), labels.cpu().numpy()
    return KMeansResult(centers=centers, labels=labels, inertia=inertia, n_iter=n_iter)


def assign(X, centers, *, spherical=False, block_size=8192, device="auto"):
    """Nearest centre of each row of ``X`` (Euclidean, or cosine when ``spherical``).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
    centers : array-like or torch.Tensor of shape (n_clusters, n_features)
    spherical : bool, default=False
        Highest cosine instead of smallest Euclidean distance.
    block_size : int, default=8192
        Rows per distance block.
    device : str or torch.device, default="auto"

    Returns
    -------
    labels : array of shape (n_samples,), int64
    distances : array of shape (n_samples,)
        Squared Euclidean distance, or ``1 - cos`` when ``spherical``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster._kmeans import assign
    >>> labels, dist = assign(np.array([[0.0, 1.0], [4.0, 4.0]]), np.array([[0.0, 0.0], [4.0, 5.0]]))
    >>> labels.tolist(), dist.tolist()
    ([0, 1], [1.0, 1.0])
    """
    import torch

    like_torch = isinstance(X, torch.Tensor)
    dev = _device_for(X, device)
    Xt = _as_tensor(X, "X", dev)
    C = _as_tensor(centers, "centers", dev).to(Xt.dtype)
    if C.shape[1] != Xt.shape[1]:
        raise ValueError(f"X has {Xt.shape[1]} features but centers have {C.shape[1]}")
    if C.shape[0] == 0:
        raise ValueError("centers must contain at least one centre")
    block_size = _check_int(block_size, "block_size")
    if spherical:
        Xt, C = _normalise(Xt), _normalise(C)
    labels, dist = _assign(Xt, (Xt * Xt).sum(dim=1), C[None], spherical, block_size)
    labels, dist = labels[0], dist[0]
    if like_torch:
        return labels.to(X.device), dist.to(X.device)
    return labels.cpu().numpy(), dist.cpu().numpy()
