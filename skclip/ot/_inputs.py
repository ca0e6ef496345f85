"""Argument checks and conversions of :mod:`skclip.ot`, and the cosine cost.

Every public function of the package converts its arrays here (numpy or torch in,
the same out) and checks its parameters with the same messages.
"""

import math
import numbers

from .._arrays import as_tensor
from .._config import resolve_device


def check_params(eps, max_iter, tol, check_every, block_size):
    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if int(check_every) != check_every or check_every < 1:
        raise ValueError(f"check_every must be a positive integer, got {check_every!r}")
    if block_size is not None and block_size != "auto":
        if int(block_size) != block_size or block_size < 1:
            raise ValueError(f"block_size must be None, 'auto' or a positive int, got {block_size!r}")


def check_method(method):
    if method not in ("lbfgs", "sinkhorn"):
        raise ValueError(f"method must be 'lbfgs' or 'sinkhorn', got {method!r}")


def resolve_block(block_size, n, m):
    """None -> dense; 'auto' -> dense below 2**27 entries, else ~2**24-entry row blocks."""
    if block_size is None:
        return None
    if block_size == "auto":
        if n * m <= 2**27:
            return None
        block_size = max(1, 2**24 // max(m, 1))
    return None if block_size >= n else int(block_size)


def resolve_topk(topk, n, m):
    """The ``topk`` of :func:`skclip.ot.sinkhorn_cosine`: None (dense) or an int."""
    if topk is None:
        return None
    if isinstance(topk, str):
        if topk != "auto":
            raise ValueError(f"topk must be None, 'auto' or a positive int, got {topk!r}")
        return 64 if n * m > 2**27 else None
    if isinstance(topk, bool) or not isinstance(topk, numbers.Integral) or topk < 1:
        raise ValueError(f"topk must be None, 'auto' or a positive int, got {topk!r}")
    return int(topk)


def device_for(x, device):
    """"auto": the tensor's own device for torch input, else :func:`resolve_device`."""
    import torch

    if isinstance(x, torch.Tensor) and (device is None or device == "auto"):
        return x.device
    return resolve_device(device)


def _marginal(w, size, name, device, dtype):
    import torch

    if w is None:
        return torch.full((size,), 1.0 / size, device=device, dtype=dtype)
    w = as_tensor(w, name, device, dtype=dtype, ndim=1)
    if w.shape[0] != size:
        raise ValueError(f"{name} has {w.shape[0]} entries, expected {size}")
    if not bool((w > 0).all()):
        raise ValueError(f"{name} must be strictly positive")
    return w


def check_marginals(a, b, n, m, dev, dtype, relax_columns):
    """``(a, b)`` as tensors (uniform for None), positive, of equal mass when balanced."""
    a_t = _marginal(a, n, "a", dev, dtype)
    b_t = _marginal(b, m, "b", dev, dtype)
    if not relax_columns:
        sa, sb = float(a_t.sum()), float(b_t.sum())
        if abs(sa - sb) > 1e-5 * max(sa, sb):
            raise ValueError(f"a and b must have equal mass for balanced OT, got {sa:g} and {sb:g}")
    return a_t, b_t


def rows_inputs(cost_rows, g, eps):
    """Checked ``(C, g, like_torch)`` of the plan-row functions: C (n, m) and g (m,) as
    tensors on the device of ``cost_rows`` (CPU for numpy), g in C's dtype."""
    import torch

    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    like_torch = isinstance(cost_rows, torch.Tensor)
    dev = cost_rows.device if like_torch else torch.device("cpu")
    C = as_tensor(cost_rows, "cost_rows", dev, ndim=2)
    g_t = as_tensor(g, "g", dev, dtype=C.dtype, ndim=1)
    if g_t.shape[0] != C.shape[1]:
        raise ValueError(f"g has {g_t.shape[0]} entries but cost_rows has {C.shape[1]} columns")
    return C, g_t, like_torch


def cosine_cost_rows(X, Y):
    """``cost_rows(rows, out)`` writing the cost ``1 - X[rows] Y^T`` into ``out``.

    The library's one form of the cosine cost (one fused product per block), so that
    the dense, streamed and sparse solvers see the same numbers.
    """
    import torch

    Yt = Y.t()

    def cost_rows(rows, out):
        torch.addmm(X.new_ones(()), X[rows], Yt, alpha=-1.0, out=out)
        return out

    return cost_rows


def cosine_range(X, Y):
    """Upper bound of the range of ``1 - X Y^T``: ``2 max ||x_i|| max ||y_j||``."""
    import torch

    return 2.0 * float(torch.linalg.vector_norm(X, dim=1).max()) * float(
        torch.linalg.vector_norm(Y, dim=1).max()
    )
