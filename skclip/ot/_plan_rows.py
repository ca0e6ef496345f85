"""Plan rows of new points from a stored column potential: dense, or top-k certified.

A row of the row-normalised plan for a column potential ``g`` is
``P_ij = softmax_j((g_j - C_ij) / eps)`` (:func:`plan_rows`; ``g = 0`` is the softmax
retrieval). At small ``eps`` nearly all of a row's mass sits on its few columns of
largest ``g_j - C_ij``, so :func:`topk_plan_rows` keeps a row as those ``k`` columns
and their plan entries, at O(n * k) memory. One pass over a block of costs gives, for
every row,

* the top-k columns by ``g_j - C_ij`` (:func:`skclip.neighbors._topk.topk_rows`, the
  library's one top-k search, ties towards the smaller column index);
* the exact log-sum-exp of the *full* row, so the kept entries are the true plan
  entries (not renormalised over the k), and the mass outside the kept columns is
  known exactly: it is summed over the dropped entries themselves, without the
  cancellation of ``1 - sum(kept)``.

That outside mass is the certificate: rows where it exceeds ``tol`` are searched
again with four times as many columns, up to all of them (where it is 0), so every
row returned has outside mass ``<= tol``.
"""

from ..neighbors._topk import topk_rows
from ._inputs import rows_inputs
from ._kernel import flushed_exp_


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


def _rows_at_width(V, w, eps):
    """Top-``w`` columns of scores ``V`` (r, m), their plan entries and the rest's mass."""
    import torch

    # the kept set never depends on the device (ties across the boundary go to the
    # smaller column); the order inside it only changes the order of a sum
    vals, idx = topk_rows(V, w, ordered=False)
    rmax = vals[:, :1]
    E = flushed_exp_(torch.sub(V, rmax).mul_(1.0 / eps))  # one (r, m) temporary
    z = E.sum(dim=1)
    P = torch.exp((vals - rmax) * (1.0 / eps)) / z[:, None]
    E.scatter_(1, idx, 0.0)  # the dropped entries themselves: no cancellation
    return idx, P, E.sum(dim=1) / z


def plan_rows(cost_rows, g, eps):
    """Rows of the row-normalised plan for new points: ``softmax_j((g_j - C_ij) / eps)``.

    This is how points unseen by :func:`sinkhorn` are transported with the stored
    column potential ``g``; ``g = 0`` gives the softmax of ``-C / eps`` (the
    ``relax_columns`` variant).

    Parameters
    ----------
    cost_rows : array-like or torch.Tensor of shape (n_new, m)
        Costs from the new points to the m columns.
    g : array-like or torch.Tensor of shape (m,)
        Column potential (``OTResult.g``).
    eps : float
        The ``eps`` the potential was computed with.

    Returns
    -------
    P : array of shape (n_new, m)
        Non-negative rows summing to 1; the type follows ``cost_rows``.

    See Also
    --------
    topk_plan_rows : the same rows kept sparse, with a certificate.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import plan_rows
    >>> P = plan_rows(np.array([[0.0, 1.0]]), np.zeros(2), eps=0.5)
    >>> np.round(P, 3)
    array([[0.881, 0.119]])
    """
    import torch

    C, g_t, like_torch = rows_inputs(cost_rows, g, eps)
    P = torch.softmax(torch.add(g_t / eps, C, alpha=-1.0 / eps), dim=1)
    return P if like_torch else P.numpy()


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

    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    C, g_t, like_torch = rows_inputs(cost_rows, g, eps)
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
