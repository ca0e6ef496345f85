"""Exact inner-product k-nearest neighbours: blocked torch matmul + top-k, or faiss.

A search of a set in itself (self excluded) computes each pair once
(``_self_knn.py``); both use the one top-k of ``_topk.py``.

The project's one k-NN. Callers L2-normalise rows for cosine neighbours.
Ties are broken towards the smaller index (torch backend), so results do not depend
on the block size or the number of threads.
"""

import numpy as np

from .._arrays import as_tensor, check_finite, numeric_2d
from .._config import resolve_device
from ._self_knn import knn_self_symmetric
from ._topk import topk_rows


def _faiss_available():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _float_dtype(dtype):
    """float32/float64 kept, anything else (float16, integers) in float32."""
    return dtype if str(dtype).endswith(("float32", "float64")) else "float32"


def _as_float32(x, name):
    """C-contiguous float32 numpy (faiss's input); a copy only for another dtype."""
    arr = x.cpu().numpy() if not isinstance(x, np.ndarray) else x
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, name)
    return arr


def _valid(sims, inds):
    import torch

    return bool((inds >= 0).all()) and not bool(torch.isnan(sims).any())


def _knn_torch(X, Y, k, block_size):
    """k-NN of the rows of ``X`` among the rows of ``Y`` (blocks of query rows)."""
    import torch

    n = X.shape[0]
    sims = torch.empty((n, k), dtype=X.dtype, device=X.device)
    inds = torch.empty((n, k), dtype=torch.int64, device=X.device)
    Yt = Y.t()
    block_size = max(1, min(block_size, 2**26 // max(Y.shape[0], 1)))  # <= 2**26 scores
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        S = X[start:stop] @ Yt
        sims[start:stop], inds[start:stop] = topk_rows(S, k)
    return sims, inds


def _knn_faiss(X, Y, k, self_search):
    import faiss

    Xn = np.ascontiguousarray(X, dtype=np.float32)
    Yn = Xn if Y is None else np.ascontiguousarray(Y, dtype=np.float32)
    index = faiss.IndexFlatIP(Yn.shape[1])
    index.add(Yn)
    kk = k + 1 if self_search else k
    D, I = index.search(Xn, kk)
    if not self_search:
        return D, I.astype(np.int64)
    # Drop i from its own list; where i is absent (many exact ties), drop the last.
    own = I == np.arange(len(Xn))[:, None]
    own[~own.any(axis=1), -1] = True
    keep = ~own
    # keep exactly k per row even if i appears twice (cannot happen, but be safe)
    keep &= np.cumsum(keep, axis=1) <= k
    return D[keep].reshape(len(Xn), k), I[keep].reshape(len(Xn), k).astype(np.int64)


def knn(X, Y=None, n_neighbors=10, *, exclude_self=True, block_size=4096, device="auto",
        backend="auto"):
    """Exact k nearest neighbours by inner product (cosine for unit rows).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d)
        Query points.
    Y : array-like or torch.Tensor of shape (m, d), default=None
        Database points; None searches ``X`` in itself.
    n_neighbors : int, default=10
        Number of neighbours k.
    exclude_self : bool, default=True
        With ``Y=None``, drop each point from its own list.
    block_size : int, default=4096
        Query rows per block (torch backend), lowered so a block holds at most 2**26
        scores; memory O(block_size * m). A search of ``X`` in itself uses square
        blocks of about ``block_size`` rows (at least 64): memory O(block_size**2).
    device : str or torch.device, default="auto"
        Where the torch backend computes. "auto": the tensor's device for torch input,
        else CUDA when available, else CPU.
    backend : {"auto", "torch", "faiss"}, default="auto"
        "auto" uses faiss (``IndexFlatIP``) when installed and computing on the CPU,
        else torch. The torch backend searches ``X`` in itself (``Y=None``,
        ``exclude_self=True``) computing each pair's product once for both of its
        points (half the products of a plain search).
    Returns
    -------
    similarities : array of shape (n, k), float32
        Inner products, in decreasing order.
    indices : array of shape (n, k), int64
        Row indices into ``Y`` (or ``X``). numpy in, numpy out; torch in, torch out.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.neighbors import knn
    >>> X = np.eye(3, dtype=np.float32) + 0.1
    >>> sims, idx = knn(X, n_neighbors=1, backend="torch")
    >>> idx.ravel().tolist()
    [1, 0, 0]
    """
    import torch

    if backend not in ("auto", "torch", "faiss"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'faiss', got {backend!r}")
    if int(n_neighbors) != n_neighbors or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}")
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    like_torch = isinstance(X, torch.Tensor)
    if like_torch and (device is None or device == "auto"):
        dev = X.device
    else:
        dev = resolve_device(device)
    X = numeric_2d(X, "X")
    Y = None if Y is None else numeric_2d(Y, "Y")
    if Y is not None and X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y have different dimensions: {X.shape[1]} != {Y.shape[1]}")
    self_search = Y is None and exclude_self
    available = (X if Y is None else Y).shape[0] - int(self_search)
    k = int(n_neighbors)
    if k > available:
        raise ValueError(
            f"n_neighbors={k} exceeds the {available} candidate points"
            + (" (self excluded)" if self_search else "")
        )
    if backend == "faiss" and not _faiss_available():
        raise ImportError("backend='faiss' requires faiss (pip install faiss-cpu)")
    use_faiss = backend == "faiss" or (
        backend == "auto" and dev.type == "cpu" and _faiss_available()
    )
    sims = inds = None
    if use_faiss:  # faiss reads numpy: no tensor, and no copy of float32 input
        D, I = _knn_faiss(_as_float32(X, "X"), None if Y is None else _as_float32(Y, "Y"),
                          k, self_search)
        sims, inds = torch.from_numpy(D), torch.from_numpy(I)
    if sims is None or (backend == "auto" and not _valid(sims, inds)):
        Xt = as_tensor(X, "X", dev, dtype=_float_dtype(X.dtype))
        Yt = Xt if Y is None else as_tensor(Y, "Y", dev, dtype=_float_dtype(Y.dtype)).to(Xt.dtype)
        if self_search:
            sims, inds = knn_self_symmetric(Xt, k, int(block_size))
        else:
            sims, inds = _knn_torch(Xt, Yt, k, int(block_size))
    if not _valid(sims, inds):  # never hand back index -1 or NaN scores as neighbours
        raise ValueError(
            "the inner products of X and Y overflow the float type (NaN similarities); "
            "normalise the rows first")
    sims = sims.to(torch.float32)
    if like_torch:
        return sims.to(X.device), inds.to(X.device)
    return sims.cpu().numpy(), inds.cpu().numpy()
