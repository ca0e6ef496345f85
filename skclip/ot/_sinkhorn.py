"""Entropic optimal transport: the public solvers :func:`sinkhorn` and :func:`sinkhorn_cosine`.

The plan is ``T_ij = exp((f_i + g_j - C_ij) / eps)``. The inputs are checked and
converted in :mod:`._inputs`, then one of four solvers runs:

* ``relax_columns=True`` (only the row constraint; the default of
  :class:`skclip.cluster.CAEClustering`): the closed-form row softmax
  ``diag(a) softmax_j(-C/eps)``, no iterations (:func:`._loops._solve`);
* the balanced problem, ``method="lbfgs"`` (default): L-BFGS on the semi-dual in ``g``
  (:mod:`._semidual`);
* the balanced problem, ``method="sinkhorn"``: log-stabilised Sinkhorn iterations,
  dense or streamed (:mod:`._loops`);
* ``sinkhorn_cosine(topk=...)``: the sparse top-k solver, certified on the full cost
  (:mod:`._sparse`).

Plan rows of new points from a stored ``g`` are :func:`skclip.ot.plan_rows` and
:func:`skclip.ot.topk_plan_rows` (:mod:`._plan_rows`).
"""

from .._arrays import as_tensor
from ._inputs import (check_marginals, check_method, check_params, cosine_cost_rows,
                      cosine_range, device_for, resolve_block, resolve_topk)
from ._loops import _solve
from ._result import finish
from ._semidual import dense_balanced
from ._sparse import sparse_result


def sinkhorn(cost, a=None, b=None, *, eps=0.01, max_iter=1000, tol=1e-6, relax_columns=False,
             return_plan=True, block_size=None, check_every=10, method="lbfgs", device="auto",
             verbose=0):
    """Entropic optimal transport between ``a`` and ``b`` for the cost matrix ``cost``.

    Solves ``min_T <T, C> - eps H(T)`` subject to ``T 1 = a`` and ``T^T 1 = b`` (or only
    ``T 1 = a`` with ``relax_columns=True``), numerically safe for small ``eps`` (down to
    ~1e-3 on costs in [0, 2] in float32). With ``relax_columns=True`` (what
    :class:`skclip.cluster.CAEClustering` uses by default) the plan has a closed form,
    the row softmax ``diag(a) softmax_j(-C/eps)``: no iterations. The balanced problem
    is solved by maximising the semi-dual in the column potential ``g`` by L-BFGS
    (``method="lbfgs"``, the default) or by log-stabilised Sinkhorn iterations
    (``method="sinkhorn"``). On clustered data at small ``eps`` (cluster sizes that
    differ from their columns' mass), Sinkhorn's linear rate is very slow (1,000
    iterations may end at a marginal error of 1e-2), while L-BFGS converges in a few
    hundred kernel passes.

    Parameters
    ----------
    cost : array-like or torch.Tensor of shape (n, m)
        Cost matrix. float32 input is solved in float32, float64 in float64.
    a, b : array-like of shape (n,) and (m,), default=None
        Strictly positive marginals with equal sums; None means uniform (1/n, 1/m).
    eps : float, default=0.01
        Entropic regularisation, in cost units.
    max_iter : int, default=1000
        Maximum number of kernel passes (a pass costs one Sinkhorn iteration: an
        f-update and a g-update).
    tol : float, default=1e-6
        Stop when the relative L1 error of the marginal that is not exact by
        construction is ``<= tol`` (columns for "lbfgs", rows for "sinkhorn"). float32
        reaches about 1e-7 to 1e-6; use float64 below that.
    relax_columns : bool, default=False
        Keep only the row constraint: the plan is ``diag(a) softmax_j(-C/eps)``,
        ``g = 0`` (TAC's softmax retrieval with temperature ``eps``).
    return_plan : bool, default=True
        Return the (n, m) plan; otherwise only the potentials.
    block_size : int, "auto" or None, default=None
        None solves on the full (n, m) kernel (fastest). An int streams blocks of that
        many rows, so temporary memory is O(block_size * m) (the plan itself, if asked
        for, is n x m). "auto" streams only above 2**27 entries.
    check_every : int, default=10
        ``method="sinkhorn"`` checks the tolerance every ``check_every`` iterations
        ("lbfgs" checks it after every pass, at no cost).
    method : {"lbfgs", "sinkhorn"}, default="lbfgs"
        Solver of the balanced problem (ignored with ``relax_columns=True``, which
        has a closed form). Both reach the same optimum.
    device : str or torch.device, default="auto"
        Where to compute. "auto": the tensor's device for torch input, else CUDA when
        available, else CPU.
    verbose : int, default=0
        Show a progress bar when > 0.

    Returns
    -------
    result : OTResult
        ``plan``, ``f``, ``g``, ``n_iter``, ``err``, ``converged``, ``row_err``,
        ``col_err``. numpy in, numpy out; torch in, torch out on the input's device. A
        ``ConvergenceWarning`` is issued when ``err > tol`` after ``max_iter`` passes.

    See Also
    --------
    sinkhorn_cosine : the same for the cost ``1 - X Y^T``, computed block by block.
    plan_rows : plan rows of new points from stored column potentials.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import sinkhorn
    >>> C = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    >>> res = sinkhorn(C, eps=0.1)
    >>> res.converged, res.plan.shape
    (True, (3, 2))
    >>> np.allclose(res.plan.sum(axis=0), [0.5, 0.5])
    True
    """
    import torch

    check_params(eps, max_iter, tol, check_every, block_size)
    check_method(method)
    like_torch = isinstance(cost, torch.Tensor)
    dev = device_for(cost, device)
    C = as_tensor(cost, "cost", dev, ndim=2)
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError(f"cost must be non-empty, got shape {(n, m)}")
    a_t, b_t = check_marginals(a, b, n, m, dev, C.dtype, relax_columns)
    block = resolve_block(block_size, n, m)
    out_dev = cost.device if like_torch else None
    if method == "lbfgs" and not relax_columns:

        def cost_rows(rows, out):
            out.copy_(C[rows])

        res = dense_balanced(cost_rows, n, m, a_t, b_t, eps, max_iter=max_iter, tol=tol,
                             block=block, return_plan=return_plan,
                             cost_range=lambda: float(C.max() - C.min()), verbose=verbose,
                             proto=C)
        return finish(res, tol, like_torch, out_dev, a=a_t, b=b_t, col_err=res[-1])
    scale = -1.0 / eps

    def logits(rows, beta, out):  # out = -C[rows]/eps + beta
        torch.add(beta, C[rows], alpha=scale, out=out)

    res = _solve(logits, n, m, a_t, b_t, eps, max_iter, tol, relax_columns, return_plan,
                 block, check_every, verbose, C)
    return finish(res, tol, like_torch, out_dev, a=a_t, b=None if relax_columns else b_t,
                  row_err=res[-1])


def sinkhorn_cosine(X, Y, a=None, b=None, *, eps=0.01, max_iter=1000, tol=1e-6,
                    relax_columns=False, return_plan=True, block_size=None, check_every=10,
                    method="lbfgs", topk=None, device="auto", verbose=0):
    """:func:`sinkhorn` for the cost ``C = 1 - X Y^T`` (cosine cost for unit rows).

    With ``block_size`` set, cost blocks are recomputed from the features at every
    iteration, so the (n, m) cost is never materialised (memory O(block_size * m));
    this trades a matrix product per block and iteration for memory. With
    ``block_size=None`` the cost is computed once and the dense solver is used.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d)
        Source points (usually L2-normalised rows).
    Y : array-like or torch.Tensor of shape (m, d)
        Target points.
    a, b, eps, max_iter, tol, relax_columns, return_plan, block_size, check_every, \
method, device, verbose
        As in :func:`sinkhorn`.
    topk : int, "auto" or None, default=None
        Sparse solver for the balanced problem (``relax_columns=False``): estimate
        ``g`` by the dense solver on a strided subsample of the rows (at most 2**27
        cost entries), keep the ``topk`` columns of largest ``S_ij + g_j`` of every
        row (``S = X Y^T``) plus each column's few best rows, run the semi-dual
        iterations on that O(n * topk) kernel, then certify the potentials with one
        exact pass over the full cost (``row_err``, ``col_err``, ``certified=True``).
        When the certified error is above ``tol`` (or, in float32, above 1e-5, the
        rounding floor of float32 cosines at ``eps=0.01``), the neighbourhoods are
        recomputed for the potentials found (with 4 times more columns when rows lost
        mass outside theirs) and the solve is repeated, warm-started, at most twice;
        a ``ConvergenceWarning`` reports a certified error still above that. A
        returned plan has the rows ``a_i softmax_j((g_j - C_ij) / eps)``, finite
        whatever the solve reached, and ``f`` is then their closed form given ``g`` on
        the full cost; its errors are measured on that plan.
        Memory O(n * topk + block * m). "auto": sparse with ``topk=64`` when
        ``n * m > 2**27``, else dense. None: dense (or streamed, see ``block_size``).
        ``topk >= m`` reproduces the dense solution.

    Returns
    -------
    result : OTResult
        As in :func:`sinkhorn`; the output type follows ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import sinkhorn_cosine
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(20, 4).astype(np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> res = sinkhorn_cosine(X, X[:5], eps=0.05, block_size=8, return_plan=False)
    >>> res.converged, res.g.shape
    (True, (5,))
    """
    import torch

    check_params(eps, max_iter, tol, check_every, block_size)
    check_method(method)
    like_torch = isinstance(X, torch.Tensor)
    dev = device_for(X, device)
    Xt = as_tensor(X, "X", dev, ndim=2)
    Yt = as_tensor(Y, "Y", dev, dtype=Xt.dtype, ndim=2)
    if Xt.shape[1] != Yt.shape[1]:
        raise ValueError(f"X and Y have different dimensions: {Xt.shape[1]} != {Yt.shape[1]}")
    n, m = Xt.shape[0], Yt.shape[0]
    if n == 0 or m == 0:
        raise ValueError(f"X and Y must be non-empty, got {n} and {m} rows")
    a_t, b_t = check_marginals(a, b, n, m, dev, Xt.dtype, relax_columns)
    block = resolve_block(block_size, n, m)
    inv, Yt_T = 1.0 / eps, Yt.t()
    out_dev = X.device if like_torch else None
    k = resolve_topk(topk, n, m)
    if k is not None and not relax_columns:
        return sparse_result(Xt, Yt, a_t, b_t, eps, k, max_iter, tol, return_plan, verbose,
                             like_torch, out_dev)
    cost_rows = cosine_cost_rows(Xt, Yt)
    if method == "lbfgs" and not relax_columns:
        res = dense_balanced(cost_rows, n, m, a_t, b_t, eps, max_iter=max_iter, tol=tol,
                             block=block, return_plan=return_plan,
                             cost_range=lambda: cosine_range(Xt, Yt), verbose=verbose,
                             proto=Xt)
        return finish(res, tol, like_torch, out_dev, a=a_t, b=b_t, col_err=res[-1])

    if block is None and not relax_columns:
        C = cost_rows(slice(None), Xt.new_empty((n, m)))

        def logits(rows, beta, out):
            torch.add(beta, C[rows], alpha=-inv, out=out)
    else:

        def logits(rows, beta, out):  # (X Y^T - 1)/eps + beta, one fused product
            torch.addmm(beta - inv, Xt[rows], Yt_T, alpha=inv, out=out)

    res = _solve(logits, n, m, a_t, b_t, eps, max_iter, tol, relax_columns, return_plan,
                 block, check_every, verbose, Xt)
    return finish(res, tol, like_torch, out_dev, a=a_t, b=None if relax_columns else b_t,
                  row_err=res[-1])
