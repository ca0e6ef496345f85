"""The Sinkhorn iterations behind :func:`skclip.ot.sinkhorn` (dense and streamed loops).

The plan is ``T_ij = exp((f_i + g_j - C_ij) / eps)``. Internally the potentials are kept
in log units (``alpha = f / eps``, ``beta = g / eps``). Two loops share the same exact
log-domain half-steps (:func:`_row_normalise`, :func:`_col_normalise`):

* dense (all rows at once): log-stabilised scaling (Schmitzer, 2019). The kernel
  ``K = exp(-C/eps + alpha + beta)`` is built once by an exact log-domain half-step,
  after which each iteration is two matrix-vector products ``u = a / K v``,
  ``v = b / K^T u``. As soon as a scaling leaves ``[e^-tau, e^tau]`` of its value at the
  last rebuild, or a sum under/overflows, the scalings are absorbed into the
  potentials and the kernel is rebuilt by an exact log-domain half-step. This is what
  makes small ``eps`` safe while keeping each iteration at two BLAS passes.
* streamed (``block_size`` rows at a time): the row potential has a closed form given
  the column potential, so each iteration rebuilds kernel blocks by the exact row
  half-step and accumulates the column update over blocks; memory O(block_size * m).
  Small column updates live in a scaling ``v`` and are absorbed like above.

Column sums over many rows are accumulated in float64 (:func:`._kernel.colsum`), otherwise
float32 rounding would put a floor of ~1e-6 under the reachable marginal error.

Both loops perform the same Sinkhorn iterations (f-update, then g-update), so they give
the same result up to rounding.
"""

import math

from ._kernel import TAU, colsum, flushed_exp_, progress


def _row_normalise(logits, rows, beta, out):
    """``out = exp(-C/eps + beta - rowmax)`` on ``rows``; returns ``(-rowmax, rowsum)``."""
    logits(rows, beta, out)
    rmax = out.amax(dim=1)
    flushed_exp_(out.sub_(rmax[:, None]))
    return -rmax, out.sum(dim=1)


def _col_normalise(logits, alpha, out):
    """``out = exp(-C/eps + alpha - colmax)`` on all rows; returns ``(-colmax, colsum)``."""
    logits(slice(None), out.new_zeros(out.shape[1]), out)
    out.add_(alpha[:, None])
    cmax = out.amax(dim=0)
    flushed_exp_(out.sub_(cmax[None, :]))
    return -cmax, out.sum(dim=0)


def _stable(new, ref, tau):
    """True when every ratio new/ref is finite and within [e^-tau, e^tau]."""
    lo, hi = (new / ref).aminmax()
    return bool((lo > math.exp(-tau)) & (hi < math.exp(tau)))


# ---------------------------------------------------------------------------------------
# solver loops


def _dense_loop(logits, n, m, a, b, max_iter, tol, check_every, verbose, proto):
    """Log-stabilised scaling iterations on the full kernel; returns state and kernel."""
    import torch

    tau = TAU[proto.element_size()]
    K = proto.new_empty((n, m))
    beta = proto.new_zeros(m)
    alpha, s = _row_normalise(logits, slice(None), beta, K)
    u, v = a / s, proto.new_ones(m)
    u_ref, v_ref = u, v
    mass = float(a.sum())
    it, err = 0, math.inf
    with progress(verbose, max_iter) as bar:
        while True:
            v_new = b / colsum(K, u)
            if _stable(v_new, v_ref, tau):
                v = v_new
            else:  # absorb u, rebuild K by an exact column half-step
                alpha = alpha + torch.log(u)
                beta, cs = _col_normalise(logits, alpha, K)
                u, v = torch.ones_like(u), b / cs
                u_ref, v_ref = u, v
            it += 1
            bar.update(1)
            Kv = torch.mv(K, v)
            if it % check_every == 0 or it >= max_iter:
                err = float((u * Kv - a).abs().sum()) / mass
                bar.set_postfix(err=f"{err:.2e}")
                if err <= tol or it >= max_iter:
                    break
            u_new = a / Kv
            if _stable(u_new, u_ref, tau):
                u = u_new
            else:  # absorb v, rebuild K by an exact row half-step
                beta = beta + torch.log(v)
                alpha, s = _row_normalise(logits, slice(None), beta, K)
                u, v = a / s, torch.ones_like(v)
                u_ref, v_ref = u, v
    return alpha + torch.log(u), beta + torch.log(v), it, err, (K, u, v)


def _exact_columns(logits, blocks, alpha, cols, m, proto):
    """``log sum_i exp(-C_ij/eps + alpha_i)`` for columns ``cols``, streamed over blocks."""
    import torch

    run_max = proto.new_full((len(cols),), -math.inf)
    run_sum = proto.new_zeros(len(cols))
    buf = proto.new_empty((blocks[0].stop - blocks[0].start, m))
    zero = proto.new_zeros(m)
    for rows in blocks:
        out = buf[: rows.stop - rows.start]
        logits(rows, zero, out)
        Z = out[:, cols] + alpha[rows, None]
        new_max = torch.maximum(run_max, Z.amax(dim=0))
        run_sum = run_sum * torch.exp(run_max - new_max) + torch.exp(Z - new_max).sum(dim=0)
        run_max = new_max
    return run_max + torch.log(run_sum)


def _streamed_loop(logits, n, m, a, b, block, max_iter, tol, check_every, verbose, proto):
    """The dense loop's iterations over row blocks; memory O(block * m).

    The column potential is split as ``beta + log v``: the kernel blocks
    ``exp(-C/eps + beta - rowmax)`` are rebuilt from ``beta`` (unchanged between
    absorptions, so rebuilt identically) and the small updates live in ``v``. Updating
    ``beta`` itself every iteration would lose them to rounding in float32.
    """
    import torch

    tau = TAU[proto.element_size()]
    blocks = [slice(i, min(i + block, n)) for i in range(0, n, block)]
    buf = proto.new_empty((block, m))
    tiny = torch.finfo(proto.dtype).tiny * 1e6
    mass = float(a.sum())
    beta, v = proto.new_zeros(m), proto.new_ones(m)
    rmax, logw = proto.new_empty(n), proto.new_empty(n)
    prev = None
    it, err = 0, math.inf
    with progress(verbose, max_iter) as bar:
        while True:
            col_mass = proto.new_zeros(m, dtype=torch.float64)
            for rows in blocks:  # f-update: row i of the plan is w_i E_i. v
                out = buf[: rows.stop - rows.start]
                ralpha, _ = _row_normalise(logits, rows, beta, out)
                w = a[rows] / torch.mv(out, v)
                rmax[rows], logw[rows] = ralpha, torch.log(w)
                col_mass += colsum(out, w)
            if prev is not None and (it % check_every == 0 or it >= max_iter):
                # row sums of the previous plan are a * exp(alpha_prev - alpha_new)
                diff = (prev[0] - rmax) + (prev[1] - logw)
                err = float((a * torch.expm1(diff)).abs().sum()) / mass
                bar.set_postfix(err=f"{err:.2e}")
                if err <= tol or it >= max_iter:
                    rmax, logw = prev
                    break
            prev = (rmax.clone(), logw.clone())
            col_mass = col_mass.to(proto.dtype)
            bad = ~((col_mass > tiny) & torch.isfinite(col_mass))
            v_new = b / col_mass  # g-update
            if bool(bad.any()) or not _stable(v_new, 1.0, tau):
                beta = beta + torch.log(torch.where(bad, 1.0, v_new))
                v = torch.ones_like(v)
                if bool(bad.any()):  # mass underflowed: exact log-sum-exp columns
                    cols = torch.nonzero(bad).flatten()
                    beta[cols] = torch.log(b[cols]) - _exact_columns(
                        logits, blocks, rmax + logw, cols, m, proto
                    )
            else:
                v = v_new
            it += 1
            bar.update(1)
    return (rmax, logw, beta, v), it, err, blocks


def _solve(logits, n, m, a, b, eps, max_iter, tol, relax_columns, return_plan, block,
           check_every, verbose, proto):
    """Run the selected loop; returns ``(plan, f, g, n_iter, err)`` as tensors/floats."""
    import torch

    if relax_columns:  # row constraint only: T = diag(a) softmax(-C/eps)
        rows_blocks = [slice(i, min(i + (block or n), n)) for i in range(0, n, block or n)]
        plan = proto.new_empty((n, m)) if return_plan else None
        buf = None if return_plan else proto.new_empty((block or n, m))
        f = proto.new_empty(n)
        err = 0.0
        for rows in rows_blocks:
            out = plan[rows] if return_plan else buf[: rows.stop - rows.start]
            ralpha, s = _row_normalise(logits, rows, proto.new_zeros(m), out)
            w = a[rows] / s
            f[rows] = eps * (ralpha + torch.log(w))
            if return_plan:
                out.mul_(w[:, None])
                err += float((out.sum(dim=1) - a[rows]).abs().sum())
        return plan, f, proto.new_zeros(m), 1, err / float(a.sum())

    if block is None:
        alpha, beta, it, err, (K, u, v) = _dense_loop(
            logits, n, m, a, b, max_iter, tol, check_every, verbose, proto
        )
        plan = K.mul_(u[:, None]).mul_(v[None, :]) if return_plan else None
        return plan, eps * alpha, eps * beta, it, err

    (rmax, logw, beta, v), it, err, blocks = _streamed_loop(
        logits, n, m, a, b, block, max_iter, tol, check_every, verbose, proto
    )
    plan = None
    if return_plan:  # exp(-C/eps + beta + f/eps) v, from the potentials returned
        plan = proto.new_empty((n, m))
        for rows in blocks:
            out = plan[rows]
            logits(rows, beta, out)
            out.add_((rmax[rows] + logw[rows])[:, None])
            flushed_exp_(out).mul_(v[None, :])
    return plan, eps * (rmax + logw), eps * (beta + torch.log(v)), it, err
