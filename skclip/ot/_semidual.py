"""Quasi-Newton (L-BFGS) on the semi-dual: the default solver of balanced transport.

Why not plain Sinkhorn iterations: on clustered data at small ``eps`` (images in
clusters whose sizes differ from their texts' share of the column mass), the optimal
column potential differs between text clusters by about the inter-cluster cost gap,
i.e. ~80 log units at ``eps = 0.01``. Sinkhorn moves it by ``log(b / colsum)`` per
iteration (a few hundredths), and its linear rate is set by the thin cross-cluster
flows: 1,000 iterations end at a marginal error of ~1e-2. Maximising the semi-dual

    Phi(g) = <b, g> + sum_i a_i f_i(g),   f_i(g) = eps log a_i - eps LSE_j((g_j - C_ij) / eps)

with L-BFGS (the few slow cluster directions are exactly what its memory captures)
converges in a few hundred kernel passes on such data, at the target ``eps`` directly
(warm starts along a decreasing ``eps``, eps-scaling, took as many passes or more).
The first step is a Sinkhorn g-update, and a step that does not increase ``Phi`` falls
back to one, so the solver is never worse than Sinkhorn. Rows of the returned plan are
exact (``f`` is the closed form given ``g``); the reported error is the column one.

Kernels (all in the dtype of the problem, potentials kept in float64):

* dense: the (n, m) kernel ``exp(-C/eps + beta - rowmax)`` stored once and re-used while ``g / eps`` stays within ``e^+-tau`` of ``beta`` (log-stabilised
  scaling: a kernel pass is two matrix-vector products, no ``exp``);
* streamed: the same kernel rebuilt block by block on every pass (memory O(block * m));
* sparse: only the ``k`` lowest costs of every row (``idx``, ``cost``), O(n * k).

References: Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized
transport problems", SIAM J. Sci. Comput. 2019 (log-stabilisation);
Cuturi & Peyre, "A smoothed dual approach for variational Wasserstein problems", SIAM J.
Imaging Sci. 2016 (semi-dual, quasi-Newton); Nocedal & Wright, Numerical Optimization,
Alg. 7.4 (L-BFGS two-loop recursion).
"""

from ._kernel import TAU, colsum, flushed_exp_, progress


class _DenseKernel:
    """Stored (n, m) kernel; a pass is two matrix-vector products."""

    def __init__(self, cost_rows, n, m, proto, block=None):
        self.cost_rows, self.n, self.m, self.proto = cost_rows, n, m, proto
        self.block = block
        if block is None:
            self.K = proto.new_empty((n, m))
        else:
            self.blocks = [slice(i, min(i + block, n)) for i in range(0, n, block)]
            self.buf = proto.new_empty((min(block, n), m))
        self.beta = None

    def _fill(self, rows, out):
        """``out = exp(-C/eps + beta - rowmax)``; returns rowmax (log units)."""
        import torch

        self.cost_rows(rows, out)
        torch.add(self.beta_p[None, :], out, alpha=-self.inv_eps, out=out)
        rmax = out.amax(dim=1)
        flushed_exp_(out.sub_(rmax[:, None]))
        return rmax

    def rebuild(self, beta, inv_eps):
        self.beta, self.inv_eps = beta.clone(), inv_eps
        self.beta_p = beta.to(self.proto.dtype)
        if self.block is None:
            self.rmax = self._fill(slice(None), self.K)

    def apply(self, v, a):
        """Row log-sums ``lse`` (n,) and column sums ``s`` (m,) of the row-exact plan."""
        import torch

        vp = v.to(self.proto.dtype)
        if self.block is None:
            rs = torch.mv(self.K, vp)
            u = a / rs
            s = colsum(self.K, u, chunk=256).double() * v
            return self.rmax.double() + torch.log(rs).double(), s
        lse = torch.empty(self.n, dtype=torch.float64, device=v.device)
        s = torch.zeros(self.m, dtype=torch.float64, device=v.device)
        for rows in self.blocks:
            out = self.buf[: rows.stop - rows.start]
            rmax = self._fill(rows, out)
            rs = torch.mv(out, vp)
            s += colsum(out, a[rows] / rs, chunk=256).double()
            lse[rows] = rmax.double() + torch.log(rs).double()
        return lse, s * v


class _SparseKernel:
    """The ``k`` cheapest columns of every row: ``idx`` (n, k) and their costs."""

    def __init__(self, idx, cost, m):
        self.idx, self.cost, self.m = idx, cost, m
        self.flat = idx.reshape(-1)
        self.beta = None

    def rebuild(self, beta, inv_eps):
        import torch

        self.beta = beta.clone()
        L = torch.add(beta.to(self.cost.dtype)[self.idx], self.cost, alpha=-inv_eps)
        self.rmax = L.amax(dim=1)
        self.E = flushed_exp_(L.sub_(self.rmax[:, None]))

    def apply(self, v, a):
        import torch

        vp = v.to(self.E.dtype)
        W = self.E * vp[self.idx]
        rs = W.sum(dim=1)
        W.mul_((a / rs)[:, None])
        return self.rmax.double() + torch.log(rs).double(), _scatter_columns(
            self.flat, W.reshape(-1), self.m
        )


def _scatter_columns(flat_idx, values, m, chunk=2**16):
    """Column sums of sparse entries: float32 scatter per chunk, float64 across chunks."""
    import torch

    if values.dtype == torch.float64:
        return torch.zeros(m, dtype=torch.float64, device=values.device).index_add_(
            0, flat_idx, values
        )
    acc = torch.zeros(m, dtype=torch.float64, device=values.device)
    part = values.new_empty(m)
    for i in range(0, values.shape[0], chunk):
        part.zero_()
        part.index_add_(0, flat_idx[i : i + chunk], values[i : i + chunk])
        acc += part
    return acc


class _Stage:
    """Semi-dual value/gradient at ``eps`` on a kernel (potentials in log units)."""

    def __init__(self, kernel, a, b, eps, tau):
        self.kernel, self.a, self.b, self.inv_eps, self.tau = kernel, a, b, 1.0 / eps, tau
        self.a64, self.b64 = a.double(), b.double()
        self.const = float((self.a64 * self.a64.log()).sum())
        self.mass = float(self.b64.sum())
        self.stale = True

    def evaluate(self, x):
        """``(phi, s, lse, err)`` at column potential ``x = g / eps`` (float64)."""
        import torch

        k = self.kernel
        if self.stale or k.beta is None or float((x - k.beta).abs().max()) > self.tau:
            k.rebuild(x, self.inv_eps)
            self.stale = False
        v = torch.exp(x - k.beta)
        lse, s = k.apply(v, self.a)
        phi = float(self.b64 @ x) + self.const - float(self.a64 @ lse)
        err = float((s - self.b64).abs().sum()) / self.mass
        return phi, s, lse, err


def _two_loop(grad, S, Y, rho):
    """L-BFGS direction ``-H grad`` (minimisation convention)."""
    q = grad.clone()
    alphas = []
    for s, y, r in zip(reversed(S), reversed(Y), reversed(rho)):
        al = r * float(s @ q)
        alphas.append(al)
        q -= al * y
    gamma = float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
    q *= gamma
    for (s, y, r), al in zip(zip(S, Y, rho), reversed(alphas)):
        be = r * float(y @ q)
        q += (al - be) * s
    return -q


def solve_semidual(kernel, a, b, eps, *, max_iter, tol, history, verbose, x0=None,
                   cost_range=None):
    """Maximise the semi-dual; returns ``(x, lse, n_pass, err)``.

    ``x`` is ``g / eps`` and ``lse`` the row log-sums (both float64), so
    ``f = eps * (log a - lse)``. ``n_pass`` counts kernel passes (one pass is the cost
    of one Sinkhorn iteration). With ``cost_range`` (an upper bound of
    ``max C - min C``), every iterate is kept in the box where the optimum lies:
    ``|g_j - median(g)| <= cost_range + eps * log(max b / min b)``. Without it a column
    whose kernel entries all underflow (zero column sum, hence a constant gradient)
    could be pushed without bound.
    """
    import torch

    tau = TAU[8 if kernel_dtype(kernel) == torch.float64 else 4]
    m = b.shape[0]
    # the iterate is x = g / eps, started from g (and returned through g: the same
    # floating-point steps as when the solver ran along several eps)
    g = torch.zeros(m, dtype=torch.float64, device=b.device) if x0 is None else x0 * eps
    w = b.double().sqrt()
    b_spread = float(torch.log(b.max() / b.min()))
    e = float(eps)
    with progress(verbose, max_iter) as bar:
        stage = _Stage(kernel, a, b, e, tau)
        x = g / e
        phi, s, lse, err = stage.evaluate(x)
        n_pass = 1
        bar.update(1)
        S, Y, rho = [], [], []
        while err > tol and n_pass < max_iter:
            gz = -(b.double() - s) / w  # gradient of -phi in z = x * w
            if S:
                p = _two_loop(gz, S, Y, rho)
                if float(p @ gz) >= 0:  # not a descent direction: restart
                    S, Y, rho = [], [], []
            if not S:  # a Sinkhorn g-update, capped to the stabilisation range
                step_x = torch.clamp(torch.log(b.double() / torch.clamp(s, min=1e-300)),
                                     -tau, tau)
                p = step_x * w
            t, accepted = 1.0, False
            for _ in range(8):
                xn = x + t * p / w
                xn -= xn.median()  # g is defined up to a constant: keep it centred
                if cost_range is not None:
                    half = cost_range / e + b_spread + 1.0
                    xn = torch.clamp(xn, -half, half)
                phin, sn, lsen, errn = stage.evaluate(xn)
                n_pass += 1
                bar.update(1)
                # Armijo, or a smaller marginal error (near the optimum, float32
                # rounding of phi exceeds its increase)
                if phin >= phi + 1e-4 * t * float(-(p @ gz)) or errn < err:
                    accepted = True
                    break
                if n_pass >= max_iter:
                    break
                t *= 0.5
            if not accepted:
                if S:  # drop the history and retry from a Sinkhorn step
                    S, Y, rho = [], [], []
                    continue
                if errn >= err:
                    break  # no progress possible at this precision
            sz = (xn - x) * w
            yz = (sn - s) / w  # change of the gradient of -phi
            sy = float(sz @ yz)
            if sy > 1e-12 * float(sz @ sz) ** 0.5 * float(yz @ yz) ** 0.5 and sy > 0:
                S.append(sz)
                Y.append(yz)
                rho.append(1.0 / sy)
                if len(S) > history:
                    S.pop(0)
                    Y.pop(0)
                    rho.pop(0)
            x, phi, s, lse, err = xn, phin, sn, lsen, errn
            bar.set_postfix(eps=f"{e:.3g}", err=f"{err:.2e}")
    g = x * e
    return g / eps, lse, n_pass, err


def kernel_dtype(kernel):
    return kernel.proto.dtype if hasattr(kernel, "proto") else kernel.cost.dtype


def dense_balanced(cost_rows, n, m, a, b, eps, *, max_iter, tol, block, return_plan,
                   cost_range, verbose, proto):
    """Balanced OT on the full cost (stored kernel, or rebuilt in row blocks).

    Returns ``(plan, f, g, n_pass, col_err)``; rows of the plan are exact.
    """
    import torch

    kernel = _DenseKernel(cost_rows, n, m, proto, block)
    crange = cost_range()
    x, lse, n_pass, err = solve_semidual(
        kernel, a, b, eps, max_iter=max_iter, tol=tol, history=_HISTORY, verbose=verbose,
        cost_range=crange,
    )
    f64 = eps * (torch.log(a.double()) - lse)
    plan = None
    if return_plan:  # u_i K_ij v_j from the kernel (potentials in float32 would lose
        # ~C/eps * 1e-7 relative accuracy: 2e-4 at eps = 1e-3)
        if kernel.beta is None or float((x - kernel.beta).abs().max()) > 1.0:
            kernel.rebuild(x, 1.0 / eps)
        v = torch.exp(x - kernel.beta).to(proto.dtype)
        plan = kernel.K if block is None else proto.new_empty((n, m))
        for rows in [slice(None)] if block is None else kernel.blocks:
            out = plan[rows]
            if block is not None:
                kernel._fill(rows, out)
            out.mul_(v[None, :])
            out.mul_((a[rows] / out.sum(dim=1))[:, None])
    return plan, f64.to(proto.dtype), (x * eps).to(proto.dtype), n_pass, err


# L-BFGS keeps this many correction pairs (the slow directions are few: one per
# cluster of texts, roughly).
_HISTORY = 20
