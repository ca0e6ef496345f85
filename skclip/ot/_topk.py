"""Top-k plan rows with an exact certificate: :func:`plan_rows` at O(n * k) memory.

A row of the row-normalised plan for a column potential ``g`` is
``P_ij = softmax_j((g_j - C_ij) / eps)``. At small ``eps`` nearly all of a row's mass
sits on its few columns of largest ``g_j - C_ij``, so a row is kept as those ``k``
columns and their plan entries. One pass over a block of costs gives, for every row,

* the top-k columns by ``g_j - C_ij`` (:func:`skclip.neighbors._knn._topk_block`, the
  project's one top-k search, ties towards the smaller column index);
* the exact log-sum-exp of the *full* row, so the kept entries are the true plan
  entries (not renormalised over the k), and the mass outside the kept columns is
  known exactly: it is summed over the dropped entries themselves, without the
  cancellation of ``1 - sum(kept)``.

That outside mass is the certificate: rows where it exceeds ``tol`` are searched
again with four times as many columns, up to all of them (where it is 0), so every
row returned has outside mass ``<= tol``.
"""

import math
import numbers

from ._loops import _flushed_exp_


def topk_rows_block(cost_rows, g, eps, k, tol):
    """Certified top-k plan rows of one block of costs, in groups of equal width.

    Parameters are tensors ``cost_rows`` (b, m) and ``g`` (m,) on one device. Returns a
    list of ``(rows, idx, P, outside)``: ``rows`` indexes the block's rows (int64), and
    for them ``idx`` (r, w) the kept columns, ``P`` (r, w) their plan entries
    (normalised by the full row, so a row sums to ``1 - outside``) and ``outside``
    (r,) the exact mass of the dropped columns, ``<= tol``. The width ``w`` is ``k``
    for the first group and four times the previous one for each later group (rows
    whose outside mass was above ``tol``), at most ``m``.
    """
    import torch

    b, m = cost_rows.shape
    rows = torch.arange(b, device=cost_rows.device)
    L = torch.add(g.to(cost_rows.dtype)[None, :], cost_rows, alpha=-1.0).mul_(1.0 / eps)
    groups = []
    w = min(int(k), m)
    while rows.numel():
        idx, P, outside = _rows_at_width(L if len(groups) == 0 else L[rows], w)
        ok = (outside <= tol) | (w >= m)
        keep = torch.nonzero(ok).flatten()
        groups.append((rows[keep], idx[keep], P[keep], outside[keep]))
        rows = rows[~ok]
        w = min(4 * w, m)
    return groups


def _rows_at_width(L, w):
    """Top-``w`` columns of logits ``L`` (r, m), their plan entries and the rest's mass.

    ``L`` is left unchanged: rows that need a larger width are searched in it again.
    """
    import torch

    from ..neighbors._knn import _topk_block

    vals, idx = _topk_block(L, w)
    rmax = vals[:, :1]
    E = _flushed_exp_((L - rmax))  # a fresh (r, m) buffer: L stays for larger widths
    z = E.sum(dim=1, dtype=torch.float64)
    P = (torch.exp(vals - rmax).double() / z[:, None]).to(L.dtype)
    E.scatter_(1, idx, 0.0)
    outside = (E.sum(dim=1, dtype=torch.float64) / z).to(L.dtype)
    return idx, P, outside


def topk_plan_rows(cost_rows, g, eps, k, *, tol=1e-6):
    """Sparse rows of the row-normalised plan, with the exact mass left out of each.

    The top-k form of :func:`plan_rows`: row ``i`` keeps the ``k`` columns of largest
    ``g_j - C_ij`` and their entries of ``softmax_j((g_j - C_ij) / eps)``, normalised
    over the *full* row. The mass of the dropped columns is computed exactly; rows
    where it exceeds ``tol`` are recomputed with 4, 16, ... times as many columns (up
    to all of them), so every returned row misses at most ``tol`` of its mass.

    Parameters
    ----------
    cost_rows : array-like or torch.Tensor of shape (n_rows, m)
        Costs from the points to the m columns.
    g : array-like or torch.Tensor of shape (m,)
        Column potential (``OTResult.g``; zeros give the softmax retrieval).
    eps : float
        Entropic regularisation the potential was computed with.
    k : int
        Columns kept per row at first (``k >= m`` keeps every column).
    tol : float, default=1e-6
        Largest mass a row may leave out of its kept columns.

    Returns
    -------
    indices : array of shape (n_rows, w), int64
        Kept columns, ``w`` the widest row; narrower rows are padded with column 0 and
        plan entry 0.
    P : array of shape (n_rows, w)
        Plan entries of the kept columns; row ``i`` sums to ``1 - outside[i]``.
    outside : array of shape (n_rows,)
        Exact plan mass of the columns each row left out, ``<= tol``.

    See Also
    --------
    plan_rows : the dense rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import topk_plan_rows
    >>> C = np.array([[0.0, 0.05, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    >>> idx, P, outside = topk_plan_rows(C, np.zeros(4), eps=0.1, k=2, tol=1e-3)
    >>> idx[0].tolist(), np.round(P[0], 3).tolist(), bool(outside.max() <= 1e-3)
    ([0, 1], [0.622, 0.378], True)
    """
    import torch

    from ._sinkhorn import _to_tensor

    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    like_torch = isinstance(cost_rows, torch.Tensor)
    dev = cost_rows.device if like_torch else torch.device("cpu")
    C = _to_tensor(cost_rows, "cost_rows", dev, ndim=2)
    g_t = _to_tensor(g, "g", dev, dtype=C.dtype, ndim=1)
    if g_t.shape[0] != C.shape[1]:
        raise ValueError(f"g has {g_t.shape[0]} entries but cost_rows has {C.shape[1]} columns")
    n = C.shape[0]
    groups = topk_rows_block(C, g_t, eps, k, tol) if n else []
    w = max([grp[1].shape[1] for grp in groups], default=min(int(k), C.shape[1]))
    idx = torch.zeros((n, w), dtype=torch.int64, device=dev)
    P = C.new_zeros((n, w))
    outside = C.new_zeros(n)
    for rows, gi, gp, go in groups:
        idx[rows, : gi.shape[1]] = gi
        P[rows, : gp.shape[1]] = gp
        outside[rows] = go
    if like_torch:
        return idx, P, outside
    return idx.numpy(), P.numpy(), outside.numpy()


def update_certificate(stats, groups):
    """Add one block's groups to ``stats``: rows, rows widened, widest row, worst mass."""
    for j, (rows, idx, _, outside) in enumerate(groups):
        r = int(rows.numel())
        if not r:
            continue
        stats["n_rows"] = stats.get("n_rows", 0) + r
        stats["n_widened"] = stats.get("n_widened", 0) + (r if j else 0)
        stats["max_width"] = max(stats.get("max_width", 0), int(idx.shape[1]))
        stats["max_outside_mass"] = max(stats.get("max_outside_mass", 0.0),
                                        float(outside.max()))
    return stats
