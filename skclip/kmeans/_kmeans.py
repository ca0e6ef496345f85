"""The project's one k-means: torch Lloyd iterations, CPU or GPU, blocked distances.

Euclidean k-means minimises the sum of squared distances; ``spherical=True`` runs
cosine k-means on L2-normalised rows with renormalised centres and minimises
``sum_i (1 - cos(x_i, c_{l_i}))``. Distances come from one matrix product per block
(``||c||^2 - 2 x.c``), so memory is O(block_size * n_clusters).
"""

import math
from dataclasses import dataclass

from sklearn.utils import check_random_state

from .._arrays import as_tensor, compute_dtype, numeric_2d, unit_rows
from .._config import resolve_device, torch_generator
from ._lloyd import _assign, _kmeans_plusplus, _lloyd


# Entries of the k-means++ distance buffer (n x runs x candidates) seeded together.
_SEED_BUFFER = 2**25

# Restarts at large K (see kmeans): above this many point-centre distances per Lloyd
# iteration over all restarts (n_init * n_train * K), the restarts run on a subsample
# of _RESTART_POINTS_PER_CENTROID * K rows and only the best continues on every
# training row (as MiniBatchKMeans picks the best of its n_init initialisations on
# init_size rows).
_RESTART_BUDGET = 2**28
_RESTART_POINTS_PER_CENTROID = 16


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

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.kmeans import kmeans
    >>> res = kmeans(np.array([[0.0], [0.2], [4.0]]), 2, random_state=0)
    >>> res.labels.tolist(), res.centers.shape, res.n_iter >= 1
    ([0, 0, 1], (2, 1), True)
    """

    centers: object
    labels: object
    inertia: float
    n_iter: int


def _torch_dtype(dtype):
    """Compute dtype (torch) of data of ``dtype`` (torch or numpy), see skclip._arrays."""
    import torch

    return getattr(torch, compute_dtype(dtype).name)


def _unit(X):
    """Unit rows of a tensor; rows already of unit length (CLIP features, fused
    features) are returned as they are: at ImageNet scale a copy of X is gigabytes."""
    return unit_rows(X, tol=1e-6, floor=1e-12)


def _chunks(X, device, chunk_rows, name="X"):
    """Row chunks of ``X`` as checked tensors on ``device``: ``(rows, tensor)``."""
    for start in range(0, X.shape[0], chunk_rows):
        rows = slice(start, min(start + chunk_rows, X.shape[0]))
        yield rows, as_tensor(X[rows], name, device, ndim=2)


def _chunk_rows(d, block_size):
    # rows read per chunk: a few blocks, at most ~2**24 values (64 MiB in float32)
    return max(block_size, min(8 * block_size, 2**24 // max(d, 1)))


def _assign_all(X, C, spherical, block_size, device, verbose=0):
    """Labels and distances of every row of ``X`` (numpy or tensor) to centres ``C``.

    ``X`` is read in chunks, so a memory map is never loaded whole. Returns CPU
    tensors (labels int64, distances in the compute dtype).
    """
    import torch

    n = X.shape[0]
    labels = torch.empty(n, dtype=torch.int64)
    dist = torch.empty(n, dtype=C.dtype)
    chunks = _chunks(X, device, _chunk_rows(X.shape[1], block_size))
    if verbose and n > _chunk_rows(X.shape[1], block_size):  # no bar for one step
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="k-means assign", unit="chunk", leave=False,
                      total=-(-n // _chunk_rows(X.shape[1], block_size)))
    for rows, Xb in chunks:
        Xb = Xb.to(C.dtype)
        if spherical:
            Xb = _unit(Xb)
        lab, dst = _assign(Xb, torch.einsum("ij,ij->i", Xb, Xb), C[None], spherical,
                           block_size)
        labels[rows], dist[rows] = lab[0].cpu(), dst[0].cpu()
    return labels, dist


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
           spherical=False, max_points_per_centroid=256, block_size=8192, device="auto",
           random_state=None, verbose=0, refine_max_iter=None):
    """k-means clustering with k-means++ seeding and restarts, in torch.

    Large data are handled as faiss does: when there are more than
    ``max_points_per_centroid * n_clusters`` rows, the seeding, the restarts and the
    Lloyd iterations run on a uniform random subsample of that many rows, and every
    row is then assigned to the nearest centre, block by block. Smaller data are
    clustered whole.

    Restarts scale with K too. k-means++ seeding and Lloyd iterations both cost
    O(n_train * K * d), i.e. O(K^2 * d) once the training rows are capped at
    ``max_points_per_centroid * K``, so ``n_init`` full restarts at K = 1,000 would
    cost ~20 full fits. When ``n_init * n_train * K`` exceeds 2**28 and there are more
    than 16 training rows per cluster, the ``n_init`` restarts (seeding and Lloyd
    iterations) run on a random subsample of ``16 * K`` training rows, and only the
    best of them (lowest inertia there) continues on all the training rows, as
    scikit-learn's ``MiniBatchKMeans`` picks the best of its ``n_init``
    initialisations on ``init_size`` rows. With many clusters the restarts differ
    little in quality (the inertia is a sum over many clusters), so this buys most
    of their benefit at the cost of ~1 fit. When even the restarts on the subsample
    would exceed that budget (``n_init * 16 * K^2 > 2**28``, i.e. K > 1,295 at
    ``n_init=10``), only ``max(1, 2**28 // (16 * K^2))`` of them run, so that their
    cost stays bounded. Below that budget, nothing changes.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Data. float32 and float64 are kept; float16 (and bfloat16) are computed in
        float32, other types in float64. A ``numpy.memmap`` is read block by block
        when it is subsampled, else wrapped without a copy.
    n_clusters : int
        Number of clusters.
    n_init : int, default=10
        Number of runs from different seeds; the lowest inertia wins (on a subsample
        at large K, see above). Ignored (1) when ``init`` is an array.
    max_iter : int, default=300
        Maximum Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance as in scikit-learn: a run stops when the squared Frobenius
        norm of the centre shift is ``<= tol * mean(var(X, axis=0))`` (computed on the
        normalised rows when ``spherical``), or when the labels stop changing.
    init : "k-means++" or array of shape (n_clusters, n_features)
        Seeding: greedy k-means++ (as scikit-learn), or given centres.
    spherical : bool, default=False
        Cosine k-means: rows are L2-normalised, points go to the centre of highest
        cosine, centres are renormalised means, inertia is ``sum(1 - cos)``.
    max_points_per_centroid : int or None, default=256
        Train on at most this many rows per cluster (faiss's default, 256); ``None``
        always trains on every row.
    block_size : int, default=8192
        Rows per distance block; memory O(block_size * n_clusters).
    device : str or torch.device, default="auto"
        "auto": the tensor's device for torch input, else CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds a CPU torch generator (:func:`skclip._config.torch_generator`): the
        subsample, seeds and restarts are the same on every device.
    verbose : int, default=0
        Progress bars over the runs and the final assignment when > 0.
    refine_max_iter : int or None, default=None
        When the restarts ran on a subsample (large K, see above): at most this many
        Lloyd iterations for the best run on all the training rows, which starts
        from centres already converged on 16 rows per cluster. ``None``: ``max_iter``.
        Lloyd's tail is long at large K (the tolerance bounds the centre shift summed
        over all K centres): at 170,752 x 64 training rows and K = 667 the refinement
        took 113 iterations, while after 10 the inertia was within 0.4 % of the
        converged one. Meant for centres that only summarise the data (e.g. the
        centres that select texts in :class:`skclip.semantic.SemanticSpaceBuilder`).

    Returns
    -------
    result : KMeansResult
        ``centers`` (n_clusters, n_features), ``labels`` (n_samples,), ``inertia``
        (over all rows), ``n_iter``. numpy in, numpy out; torch in, torch out on the
        input's device.

    See Also
    --------
    assign : nearest-centre labels for new points.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.kmeans import kmeans
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> res = kmeans(X, 2, n_init=2, random_state=0)
    >>> sorted(np.bincount(res.labels).tolist()), round(res.inertia, 3)
    ([2, 2], 0.01)
    """
    import torch

    like_torch = isinstance(X, torch.Tensor)
    dev = _device_for(X, device)
    data = numeric_2d(X)
    n, d = data.shape
    K = _check_int(n_clusters, "n_clusters")
    n_init = _check_int(n_init, "n_init")
    max_iter = _check_int(max_iter, "max_iter")
    block_size = _check_int(block_size, "block_size")
    if max_points_per_centroid is not None:
        max_points_per_centroid = _check_int(max_points_per_centroid,
                                             "max_points_per_centroid")
    if refine_max_iter is not None:
        refine_max_iter = _check_int(refine_max_iter, "refine_max_iter")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if n < K:
        raise ValueError(f"n_samples={n} should be >= n_clusters={K}")
    if not isinstance(init, str):
        init = as_tensor(init, "init", dev, ndim=2)
        if tuple(init.shape) != (K, d):
            raise ValueError(f"init has shape {tuple(init.shape)}, expected {(K, d)}")
        n_init = 1
    elif init != "k-means++":
        raise ValueError(f"init must be 'k-means++' or an array, got {init!r}")
    gen = torch_generator(check_random_state(random_state))

    subsample = max_points_per_centroid is not None and n > max_points_per_centroid * K
    if subsample:  # drawn on the CPU, sorted so that a memory map is read in order
        idx = torch.randperm(n, generator=gen)[: max_points_per_centroid * K].sort().values
        train = data[idx.to(data.device)] if like_torch else data[idx.numpy()]
    else:
        train = data
    train = as_tensor(train, "X", dev, ndim=2)
    n_train = train.shape[0]
    few = _RESTART_POINTS_PER_CENTROID * K
    if isinstance(init, str) and n_init > 1 and n_train > few and (
            n_init * n_train * K > _RESTART_BUDGET):
        r_idx = torch.randperm(n_train, generator=gen)[:few].sort().values
        runs = min(n_init, max(1, _RESTART_BUDGET // (few * K)))
        init = _fit(train[r_idx.to(train.device)], K, runs, max_iter, tol, init,
                    spherical, block_size, gen, verbose)[0]
        n_init = 1
        if refine_max_iter is not None:
            max_iter = min(max_iter, refine_max_iter)
    centers, labels, inertia, n_iter = _fit(
        train, K, n_init, max_iter, tol, init, spherical, block_size, gen, verbose)
    if subsample:
        labels, dist = _assign_all(data, centers, spherical, block_size, dev, verbose)
        inertia = float(dist.sum(dtype=torch.float64))
    if like_torch:
        return KMeansResult(centers=centers.to(X.device), labels=labels.to(X.device),
                            inertia=inertia, n_iter=n_iter)
    return KMeansResult(centers=centers.cpu().numpy(), labels=labels.cpu().numpy(),
                        inertia=inertia, n_iter=n_iter)


def _fit(Xt, K, n_init, max_iter, tol, init, spherical, block_size, gen, verbose):
    """Restarts on the training rows ``Xt``; the best (centres, labels, inertia, n_iter)."""
    import torch
    from tqdm.auto import tqdm

    n, d = Xt.shape
    given = None if isinstance(init, str) else init.to(Xt.dtype)
    if spherical:
        Xt = _unit(Xt)
        given = None if given is None else _unit(given)
    x_sq = torch.einsum("ij,ij->i", Xt, Xt)  # no n-by-d temporary
    # mean of the per-feature variances, from quantities already at hand
    mean = Xt.mean(dim=0).to(torch.float64)
    tol_abs = float(x_sq.sum(dtype=torch.float64) / n - (mean * mean).sum()) / d * tol

    # runs are processed in groups whose seeding buffer (n x runs x trials) stays small
    group = max(1, min(n_init, _SEED_BUFFER // (n * (2 + int(math.log(K))))))
    best = None
    starts = range(0, n_init, group)
    show = verbose and len(starts) > 1  # no bar for one step
    for s0 in tqdm(starts, desc="k-means", leave=False) if show else starts:
        runs = min(group, n_init - s0)
        if given is not None:
            centers = given[None].clone()
        else:
            centers = _kmeans_plusplus(Xt, x_sq, K, runs, gen, block_size)
            if spherical:
                centers = _unit(centers.view(-1, d)).view(runs, K, d)
        centers, labels, inertia, n_iter = _lloyd(Xt, x_sq, centers, max_iter, tol_abs,
                                                  spherical, block_size)
        r = int(torch.argmin(inertia))
        if best is None or float(inertia[r]) < best[2]:
            best = (centers[r].clone(), labels[r].clone(), float(inertia[r]), n_iter[r])
    return best


def assign(X, centers, *, spherical=False, block_size=8192, device="auto"):
    """Nearest centre of each row of ``X`` (Euclidean, or cosine when ``spherical``).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Read in blocks (a ``numpy.memmap`` is never loaded whole).
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
        Squared Euclidean distance, or ``1 - cos`` when ``spherical``; in the compute
        dtype of ``X`` (float16 gives float32).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.kmeans import assign
    >>> labels, dist = assign(np.array([[0.0, 1.0], [4.0, 4.0]]), np.array([[0.0, 0.0], [4.0, 5.0]]))
    >>> labels.tolist(), dist.tolist()
    ([0, 1], [1.0, 1.0])
    """
    import torch

    like_torch = isinstance(X, torch.Tensor)
    dev = _device_for(X, device)
    data = numeric_2d(X)
    C = as_tensor(centers, "centers", dev, ndim=2)
    if C.shape[1] != data.shape[1]:
        raise ValueError(f"X has {data.shape[1]} features but centers have {C.shape[1]}")
    if C.shape[0] == 0:
        raise ValueError("centers must contain at least one centre")
    block_size = _check_int(block_size, "block_size")
    C = C.to(_torch_dtype(data.dtype))
    if spherical:
        C = _unit(C)
    labels, dist = _assign_all(data, C, spherical, block_size, dev)
    if like_torch:
        return labels.to(X.device), dist.to(X.device)
    return labels.numpy(), dist.numpy()


def kmeans_plusplus(X, n_clusters, *, spherical=False, block_size=8192, device="auto",
                    random_state=None):
    """One greedy k-means++ seeding of ``n_clusters`` centres (rows of ``X``).

    The seeding of :func:`kmeans`: greedy k-means++ with ``T = 2 + int(log(n_clusters))``
    candidates per step, the best of which (lowest potential) is kept. Its first
    ``k`` centres are a greedy k-means++ seeding of ``k`` centres too (each step
    depends only on the centres before it), so one call with the largest K seeds a
    whole scan over K (:mod:`skclip.cluster._autok`). That prefix uses the trial count
    of the largest K, ``2 + int(log(K_max))``, not ``2 + int(log(k))``: it is not
    distributed as ``kmeans_plusplus(X, k)`` (with as many or more trials per step,
    each step's potential is as low or lower in expectation). For a given
    ``random_state`` the prefix equals ``kmeans_plusplus(X, k)`` when the two trial
    counts agree (e.g. every ``k`` in 8..20 uses 4), and in general differs otherwise.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    spherical : bool, default=False
        Seed on the L2-normalised rows (as ``kmeans(spherical=True)``).
    block_size : int, default=8192
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.kmeans import kmeans, kmeans_plusplus
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> C = kmeans_plusplus(X, 2, random_state=0)
    >>> kmeans(X, 2, init=C).inertia < 0.02
    True
    """
    import torch

    dev = _device_for(X, device)
    Xt = as_tensor(numeric_2d(X), "X", dev, ndim=2)
    K = _check_int(n_clusters, "n_clusters")
    if Xt.shape[0] < K:
        raise ValueError(f"n_samples={Xt.shape[0]} should be >= n_clusters={K}")
    if spherical:
        Xt = _unit(Xt)
    x_sq = torch.einsum("ij,ij->i", Xt, Xt)
    gen = torch_generator(check_random_state(random_state))
    centers = _kmeans_plusplus(Xt, x_sq, K, 1, gen, _check_int(block_size, "block_size"))[0]
    return centers.cpu().numpy()
