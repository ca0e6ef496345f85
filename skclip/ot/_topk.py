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


from ._loops import _flushed_exp_


def topk_rows_block(V, eps, k, tol):
    """Certified top-k plan rows of one block of scores, in groups of equal width.

    ``V`` (b, m) holds the scores ``g_j - C_ij`` (any constant per row may be added:
    with the cosine cost, ``S_ij + g_j``); the plan row is ``softmax(V_i / eps)``.
    ``V`` is not modified. Returns a list of ``(rows, idx, P, outside)``: ``rows``
    indexes the block's rows (int64), and for them ``idx`` (r, w) the kept columns,
    ``P`` (r, w) their plan entries (normalised by the full row, so a row sums to
    ``1 - outside``) and ``outside`` (r,) the exact mass of the dropped columns,
    ``<= tol``. The width ``w`` is ``k`` for the first group and four times the
    previous one for each later group (rows whose outside mass was above ``tol``).
    Rows that would need more than a quarter of the columns (or ``k >= m``) come
    last as dense rows: ``idx`` is None, ``P`` is (r, m) and ``outside`` is 0 (a
    matrix product is then cheaper than gathering columns).
    """
    import torch

    b, m = V.shape
    rows = torch.arange(b, device=V.device)
    groups = []
    w = min(int(k), m)
    while rows.numel():
        Vr = V if len(groups) == 0 else V[rows]
        if w >= m or (groups and 4 * w > m):
            P = torch.softmax(Vr * (1.0 / eps), dim=1)
            groups.append((rows, None, P, P.new_zeros(len(rows))))
            break
        idx, P, outside = _rows_at_width(Vr, w, eps)
        ok = outside <= tol
        keep = torch.nonzero(ok).flatten()
        groups.append((rows[keep], idx[keep], P[keep], outside[keep]))
        rows = rows[~ok]
        w = min(4 * w, m)
    return groups


def _topk(V, w):
    """The ``w`` largest scores of each row; ties at the boundary by the project's rule.

    ``torch.topk`` with one extra column shows which rows have a tie across the
    boundary (the w-th and (w+1)-th values equal); only those rows go through
    :func:`skclip.neighbors._knn._topk_block` (ties towards the smaller column), so
    the kept set never depends on the device. The order inside the kept set only
    changes the order of a sum.
    """
    import torch

    from ..neighbors._knn import _topk_block

    m = V.shape[1]
    vals, idx = torch.topk(V, min(w + 1, m), dim=1)
    if w < m:
        tie = torch.nonzero(vals[:, w - 1] == vals[:, w]).flatten()
        vals, idx = vals[:, :w], idx[:, :w]
        if len(tie):
            vals[tie], idx[tie] = _topk_block(V[tie], w)
    return vals, idx


def _rows_at_width(V, w, eps):
    """Top-``w`` columns of scores ``V`` (r, m), their plan entries and the rest's mass."""
    import torch

    vals, idx = _topk(V, w)
    rmax = vals[:, :1]
    E = _flushed_exp_(torch.sub(V, rmax).mul_(1.0 / eps))  # one (r, m) temporary
    z = E.sum(dim=1)
    P = torch.exp((vals - rmax) * (1.0 / eps)) / z[:, None]
    E.scatter_(1, idx, 0.0)  # the dropped entries themselves: no cancellation
    return idx, P, E.sum(dim=1) / z


def topk_plan_rows(cost_rows, g, eps, k, *, tol=1e-6):
    """Sparse rows of the row-normalised plan, with the exact mass left out of each.

    The top-k form of :func:`plan_rows`: row ``i`` keeps the ``k`` columns of largest
    ``g_j - C_ij`` and their entries of ``softmax_j((g_j - C_ij) / eps)``, normalised
    over the *full* row. The mass of the dropped columns is computed exactly; rows
    where it exceeds ``tol`` are recomputed with 4, 16, ... times as many columns (all
    of them once more than a quarter would be needed), so every returned row misses
    at most ``tol`` of its mass.

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

    from ._sinkhorn import _rows_inputs

    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    C, g_t, like_torch = _rows_inputs(cost_rows, g, eps)
    dev = C.device
    n = C.shape[0]
    groups = topk_rows_block(g_t[None, :] - C, eps, k, tol) if n else []
    m = C.shape[1]
    w = max([grp[2].shape[1] for grp in groups], default=min(int(k), m))
    idx = torch.zeros((n, w), dtype=torch.int64, device=dev)
    P = C.new_zeros((n, w))
    outside = C.new_zeros(n)
    for rows, gi, gp, go in groups:
        if gi is None:  # dense rows: every column
            gi = torch.arange(m, device=dev).expand(len(rows), m)
        idx[rows, : gi.shape[1]] = gi
        P[rows, : gp.shape[1]] = gp
        outside[rows] = go
    if like_torch:
        return idx, P, outside
    return idx.numpy(), P.numpy(), outside.numpy()


def update_certificate(stats, groups):
    """Add one block's groups to ``stats``: rows, rows widened, widest row, worst mass."""
    for j, (rows, _, P, outside) in enumerate(groups):
        r = int(rows.numel())
        if not r:
            continue
        stats["n_rows"] = stats.get("n_rows", 0) + r
        stats["n_widened"] = stats.get("n_widened", 0) + (r if j else 0)
        stats["max_width"] = max(stats.get("max_width", 0), int(P.shape[1]))
        stats["max_outside_mass"] = max(stats.get("max_outside_mass", 0.0),
                                        float(outside.max()))
    return stats
