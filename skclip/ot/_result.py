"""The result type of :mod:`skclip.ot`'s solvers and its assembly."""

import math
import warnings
from dataclasses import dataclass

from sklearn.exceptions import ConvergenceWarning


@dataclass
class OTResult:
    """Result of :func:`sinkhorn` / :func:`sinkhorn_cosine`.

    Attributes
    ----------
    plan : array of shape (n, m) or None
        Transport plan ``exp((f_i + g_j - C_ij) / eps)``; None unless requested.
    f, g : arrays of shape (n,) and (m,)
        Dual potentials (cost units). With ``relax_columns=True``, ``g`` is zero.
    n_iter : int
        Kernel passes performed (one pass costs one Sinkhorn iteration: an
        f-update and a g-update).
    err : float
        Relative L1 marginal error: the larger of ``row_err`` and ``col_err`` (those
        not measured count as 0). When ``plan`` is returned, both are measured on that
        array itself (sums in float64), after the solver stopped: a float32 plan
        rebuilt from the potentials differs from the solver's last kernel by
        rounding (~1e-7 to 1e-6), and ``err`` says so.
    converged : bool
        Whether ``err <= tol`` (the ``err`` above, so with a plan: whether the
        returned plan meets the tolerance).
    row_err, col_err : float or None
        Relative L1 errors ``||T 1 - a||_1 / ||a||_1`` and ``||T^T 1 - b||_1 / ||b||_1``.
        With a returned plan: of that plan (``col_err`` is None for
        ``relax_columns=True``). Without one: of the plan
        ``exp((f_i + g_j - C_ij) / eps)`` on the solver's kernel, and ``None`` for the
        marginal that is exact by construction and was not measured: the rows for
        ``method="lbfgs"`` (``f`` is the closed form given ``g``), the columns for
        ``method="sinkhorn"`` (every iteration ends with the g-update).
    certified : bool
        True when both errors were measured on the full cost after the solve (the
        sparse solver's exact pass), rather than on the kernel the solver iterated on.
    topk : int or None
        Texts kept per row by the sparse solver; None for the dense solver.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import sinkhorn
    >>> res = sinkhorn(np.array([[0.0, 1.0], [1.0, 0.0]]), eps=0.1)
    >>> res.converged, res.err <= 1e-6, res.plan.shape
    (True, True, (2, 2))
    >>> res.row_err <= 1e-12, res.col_err <= 1e-6, res.certified, res.topk
    (True, True, False, None)
    >>> sinkhorn(np.array([[0.0, 1.0], [1.0, 0.0]]), eps=0.1, return_plan=False).row_err is None
    True
    """

    plan: object
    f: object
    g: object
    n_iter: int
    err: float
    converged: bool
    row_err: object = None
    col_err: object = None
    certified: bool = False
    topk: object = None


def _out(x, like_torch, out_device):
    if x is None:
        return None
    if like_torch:
        return x.to(out_device)
    return x.cpu().numpy()


def plan_errors(plan, a, b, chunk=4096):
    """Relative L1 row and column errors of ``plan`` (sums in float64; ``b=None``: rows only)."""
    import torch

    n, m = plan.shape
    rows = torch.empty(n, dtype=torch.float64, device=plan.device)
    cols = torch.zeros(m, dtype=torch.float64, device=plan.device)
    for s in range(0, n, chunk):
        blk = plan[s : s + chunk].double()
        rows[s : s + chunk] = blk.sum(dim=1)
        cols += blk.sum(dim=0)
    mass = float(a.double().sum())
    row_err = float((rows - a.double()).abs().sum()) / mass
    col_err = None if b is None else float((cols - b.double()).abs().sum()) / mass
    return row_err, col_err


def finish(res_tuple, tol, like_torch, out_device, *, a=None, b=None, **extra):
    """The :class:`OTResult` of ``(plan, f, g, n_iter, err)``; warns when ``err > tol``.

    With ``a`` given and a plan returned, ``row_err``/``col_err`` (``b=None``: rows
    only) and ``err`` are measured on that plan, replacing the solver's own.
    """
    plan, f, g, it, err = res_tuple
    if plan is not None and a is not None and math.isfinite(float(err)):
        if not bool(plan.isfinite().all()):
            raise ValueError("the transport plan has non-finite entries (overflow of "
                             "exp((f + g - C) / eps)); rescale the cost or increase eps.")
        row_err, col_err = plan_errors(plan, a, b)
        extra.update(row_err=row_err, col_err=col_err)
        err = max(row_err, col_err or 0.0)
    if not math.isfinite(float(err)):  # never hand back a NaN plan as if it were one
        raise ValueError(
            "Sinkhorn overflowed (NaN potentials): the cost divided by eps exceeds the "
            "range of the float type; rescale the cost or increase eps.")
    converged = bool(err <= tol)
    if not converged:
        warnings.warn(
            f"Sinkhorn did not converge: marginal error {err:.3g} > tol={tol:g} after "
            f"{it} iterations (measured on the returned plan when there is one); "
            "increase max_iter or eps (or use float64 below ~1e-6).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return OTResult(
        plan=_out(plan, like_torch, out_device),
        f=_out(f, like_torch, out_device),
        g=_out(g, like_torch, out_device),
        n_iter=int(it),
        err=float(err),
        converged=converged,
        **extra,
    )
