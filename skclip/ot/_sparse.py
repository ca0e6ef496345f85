"""Sparse balanced OT for the cosine cost: top-k neighbourhoods, certified marginals.

At small ``eps`` almost all of a row's mass sits on its few cheapest columns once the
column potential is added (the largest ``g_j - C_ij``). Which columns those are
depends on ``g``: on clustered data the optimal ``g`` differs between clusters of
texts by about the gap between clusters, so neighbourhoods chosen by cost alone
(``g = 0``) can make the balanced problem infeasible (rows of an over-full cluster
never reach the texts of an under-full one). The solver therefore

0. estimates ``g`` by the dense solver on a strided subsample of the rows (at most
   2**27 cost entries), which fixes those cluster-level offsets;
1. makes one blocked pass over ``X Y^T`` keeping, for every row, the ``k`` columns of
   largest ``S_ij + g_j`` (``S = X Y^T``) and their costs, plus, for every column, its
   ``r`` best rows, ``r`` about twice its share ``n / m`` (so no column is left
   without support);
2. runs the semi-dual L-BFGS iterations (:mod:`._semidual`) on that sparse kernel:
   O(n * k) time and memory per pass instead of O(n * m);
3. certifies the result with one exact streamed pass: the true row and column
   marginal errors of the returned potentials on the full cost. The same pass
   collects the neighbourhoods for the potentials just found; when the certified
   error is above the tolerance, the solve is repeated on them, warm-started
   (``refine`` rounds at most), then certified again; when the rows lost mass
   outside their columns (the row error), ``k`` is first multiplied by 4.

Every pass over ``X Y^T`` costs ``2 n m d`` FLOP, the same as one iteration of a
streamed dense solver; the sparse solver makes 2 of them (3-4 with refinement), plus
the subsample solve.
"""

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from ..neighbors._topk import topk_rows
from ._inputs import cosine_cost_rows, cosine_range
from ._result import finish
from ._semidual import _HISTORY, _SparseKernel, dense_balanced, solve_semidual

# Rows kept per column for coverage, and refinement rounds after the first solve.
_COVER = 4
_REFINE = 2


class _Pass:
    """Accumulators of one blocked pass: column coverage and (optionally) certification."""

    def __init__(self, n, m, k, r, proto):
        import torch

        self.idx = torch.empty((n, k), dtype=torch.int64, device=proto.device)
        self.cost = proto.new_empty((n, k))
        self.col_val = proto.new_full((r, m), -math.inf)
        self.col_idx = torch.zeros((r, m), dtype=torch.int64, device=proto.device)
        self.cmax = torch.full((m,), -math.inf, dtype=torch.float64, device=proto.device)
        self.csum = torch.zeros(m, dtype=torch.float64, device=proto.device)
        self.row_abs = 0.0

    def cover(self, V, start):
        """Merge the block's best rows of every column into the running top-r."""
        import torch

        r = self.col_val.shape[0]
        vals, rows = torch.topk(V, min(r, V.shape[0]), dim=0)
        allv = torch.cat([self.col_val, vals])
        alli = torch.cat([self.col_idx, rows + start])
        best = torch.topk(allv, r, dim=0).indices
        self.col_val = torch.gather(allv, 0, best)
        self.col_idx = torch.gather(alli, 0, best)


def neighbourhood_pass(X, Y, g, eps, k, *, block, f=None, a=None, b=None, lse=None):
    """One pass over ``X Y^T``: sparse neighbourhoods for ``g``, and certification.

    Returns ``(idx, cost, cert)``; ``idx``/``cost`` of shape (n, w >= k) (padding has
    cost ``inf``). With ``f`` given (potentials of a solve with row log-sums ``lse``),
    ``cert = (row_err, col_err)`` are the exact relative L1 marginal errors of
    ``exp((f_i + g_j - C_ij) / eps)`` on the full cost; otherwise ``cert`` is None.
    """
    import torch

    n, m = X.shape[0], Y.shape[0]
    r = min(n, max(_COVER, min(32, -(-2 * n // m))))  # ~2x a column's share of rows
    acc = _Pass(n, m, k, r, X)
    gp = g.to(X.dtype)
    Yt = Y.t()
    inv = 1.0 / eps
    for s in range(0, n, block):
        rows = slice(s, min(s + block, n))
        S = X[rows] @ Yt  # cosine similarities, the cost is 1 - S
        V = S + gp[None, :]  # ranks columns by g_j - C_ij
        vals, idx = topk_rows(V, k, ordered=False)
        acc.idx[rows] = idx
        acc.cost[rows] = 1.0 - torch.gather(S, 1, idx)
        acc.cover(V, s)
        if f is not None:
            _certify_block(acc, S, gp, f[rows], a[rows], lse[rows], inv)
    idx, cost = _with_coverage(acc.idx, acc.cost, acc.col_idx, X, Y)
    cert = None
    if f is not None:
        mass = float(a.sum())
        col = torch.exp(acc.cmax + torch.log(acc.csum))  # column sums of the plan
        cert = (acc.row_abs / mass, float((col - b.double()).abs().sum()) / mass)
    return idx, cost, cert


def _certify_block(acc, S, gp, f_rows, a_rows, lse_rows, inv):
    """Exact row sums (vs the sparse ones) and column log-sums of the plan on a block."""
    import torch

    L = (S - 1.0) * inv + (gp * inv)[None, :]  # log kernel + g/eps
    lse_full = torch.logsumexp(L.double() if L.dtype != torch.float64 else L, dim=1)
    # row i of the returned plan sums to a_i * exp(lse_full_i - lse_sparse_i)
    acc.row_abs += float((a_rows.double() * torch.expm1(lse_full - lse_rows).abs()).sum())
    Z = L + (f_rows * inv).to(L.dtype)[:, None]  # log plan entries
    bmax = Z.amax(dim=0).double()
    new_max = torch.maximum(acc.cmax, bmax)
    finite = torch.isfinite(new_max)
    shift = torch.where(finite, new_max, torch.zeros_like(new_max))
    part = torch.exp(Z - shift.to(Z.dtype)[None, :]).sum(dim=0).double()
    acc.csum = acc.csum * torch.exp(torch.where(finite, acc.cmax - shift, acc.cmax)) + part
    acc.cmax = torch.where(finite, new_max, acc.cmax)


def _with_coverage(idx, cost, col_idx, X, Y):
    """Append, to each row, the columns for which it is a best row but not in its top-k."""
    import torch

    n, k = idx.shape
    r, m = col_idx.shape
    rows = col_idx.reshape(-1)
    cols = torch.arange(m, device=idx.device).repeat(r)
    present = (idx[rows] == cols[:, None]).any(dim=1)
    rows, cols = rows[~present], cols[~present]
    if rows.numel() == 0:
        return idx, cost
    # dedupe (row, col) pairs, then give each row its extra slots
    key = torch.unique(rows * m + cols)
    rows, cols = key // m, key % m
    counts = torch.bincount(rows, minlength=n)
    width = int(counts.max())
    order = torch.argsort(rows, stable=True)
    rows, cols = rows[order], cols[order]
    first = torch.cumsum(counts, 0) - counts
    slot = torch.arange(rows.numel(), device=idx.device) - first[rows]
    extra_idx = torch.zeros((n, width), dtype=idx.dtype, device=idx.device)
    extra_cost = cost.new_full((n, width), math.inf)
    extra_idx[rows, slot] = cols
    extra_cost[rows, slot] = 1.0 - (X[rows] * Y[cols]).sum(dim=1)
    return torch.cat([idx, extra_idx], dim=1), torch.cat([cost, extra_cost], dim=1)


def subsample_potential(X, Y, a, b, eps, *, max_iter, tol, cost_range, verbose):
    """``g / eps`` (float64) of the dense solve on a strided subsample of the rows.

    At most 2**27 cost entries (the dense solver's stored kernel); all rows when they
    fit. The subsample's row masses are rescaled to the column mass. Returns
    ``(x, n_pass)``.
    """
    import torch

    n, m = X.shape[0], Y.shape[0]
    n_sub = min(n, max(1, 2**27 // m))
    rows = torch.linspace(0, n - 1, n_sub, device=X.device).round().long().unique()
    Xs, a_s = X[rows], a[rows]
    a_s = a_s * (b.sum() / a_s.sum())
    _, _, g, n_pass, _ = dense_balanced(
        cosine_cost_rows(Xs, Y), len(rows), m, a_s, b, eps, max_iter=max_iter, tol=tol, block=None,
        return_plan=False, cost_range=lambda: cost_range,
        verbose=verbose, proto=X)
    return g.double() / eps, n_pass


def sparse_balanced(X, Y, a, b, eps, k, *, max_iter, tol, block, verbose):
    """Balanced OT on top-k neighbourhoods, certified on the full cost.

    Returns ``(f, g, n_pass, solver_err, (row_err, col_err), k)``: potentials in
    the dtype of ``X``; ``solver_err`` is the column error on the sparse kernel;
    ``k`` the columns kept per row in the last round (plus coverage). ``n_pass``
    counts the kernel passes of the subsample solve and of the sparse solves.
    """
    import torch

    n, m = X.shape[0], Y.shape[0]
    k = min(int(k), m)
    crange = cosine_range(X, Y)
    x, n_pass = subsample_potential(X, Y, a, b, eps, max_iter=max_iter,
                                    tol=max(tol, _SUB_TOL), cost_range=crange,
                                    verbose=verbose)
    idx, cost, _ = neighbourhood_pass(X, Y, x * eps, eps, k, block=block)
    loga = torch.log(a.double())
    floor = max(tol, _CERT_FLOOR[X.element_size()])
    for rnd in range(_REFINE + 1):
        kernel = _SparseKernel(idx, cost, m)
        # a round on poor neighbourhoods may not converge: keep passes for the next
        left = max(1, max_iter - n_pass)
        budget = left if rnd == _REFINE else max(1, left // 2)
        x, lse, used, err = solve_semidual(
            kernel, a, b, eps, max_iter=budget,
            tol=tol, history=_HISTORY, verbose=verbose, x0=x,
            cost_range=crange,
        )
        n_pass += used
        f = eps * (loga - lse)
        del kernel
        idx, cost, cert = neighbourhood_pass(
            X, Y, x * eps, eps, k, block=block, f=f, a=a, b=b, lse=lse
        )
        if max(cert) <= floor or n_pass >= max_iter or rnd == _REFINE:
            break
        if cert[0] > floor and k < m:  # rows lose mass outside their k columns: widen
            k = min(m, 4 * k)
            idx, cost, _ = neighbourhood_pass(X, Y, x * eps, eps, k, block=block)
    return f.to(X.dtype), (x * eps).to(X.dtype), n_pass, err, cert, k


# The subsample solve stops at this column error: it only places the neighbourhoods.
_SUB_TOL = 1e-5


# Below these certified errors a refinement round cannot help: rounding of the
# float32 cosines (~1e-7 absolute, i.e. ~1e-5 in log units at eps = 0.01) differs
# between the solver's kernel and the certifying pass.
_CERT_FLOOR = {4: 1e-5, 8: 1e-9}


def sparse_result(Xt, Yt, a_t, b_t, eps, k, max_iter, tol, return_plan, verbose, like_torch,
                  out_dev):
    """:func:`skclip.ot.sinkhorn_cosine` with ``topk``: the :class:`OTResult` of
    :func:`sparse_balanced`, warned about when its certified errors exceed the floor."""

    n, m = Xt.shape[0], Yt.shape[0]
    block = max(1, min(n, 2**24 // max(m, 1)))
    f, g, n_pass, err, (row_err, col_err), k = sparse_balanced(
        Xt, Yt, a_t, b_t, eps, k, max_iter=max_iter, tol=tol, block=block, verbose=verbose
    )
    floor = max(tol, _CERT_FLOOR[Xt.element_size()])
    if max(row_err, col_err) > floor:
        warnings.warn(
            f"sparse Sinkhorn (topk={k}): certified marginal errors rows {row_err:.3g}, "
            f"columns {col_err:.3g} exceed {floor:g} after {n_pass} passes; increase "
            "topk or max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )
    plan = None
    if return_plan:  # rows a_i softmax_j((g_j - C_ij) / eps): finite whatever g (a
        # failed solve may leave f_i + g_j - C_ij >> 0 off the neighbourhoods, whose
        # exp overflows); f is then the closed form given g on the full cost
        import torch

        plan = Xt.new_empty((n, m))
        cost_rows = cosine_cost_rows(Xt, Yt)
        for s in range(0, n, block):
            rows = slice(s, min(s + block, n))
            out = plan[rows]
            cost_rows(rows, out)
            out.neg_().add_(g[None, :]).mul_(1.0 / eps)
            lse = torch.logsumexp(out, dim=1)
            f[rows] = eps * (torch.log(a_t[rows]) - lse)
            out.sub_(lse[:, None]).exp_().mul_(a_t[rows, None])
    res = (plan, f, g, n_pass, max(row_err, col_err))
    out = finish(res, math.inf, like_torch, out_dev, a=a_t, b=b_t, row_err=row_err,
                 col_err=col_err, certified=True, topk=k)  # warned above
    out.converged = bool(out.err <= floor)
    return out
