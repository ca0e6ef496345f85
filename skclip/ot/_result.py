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
        Relative L1 marginal error of the returned potentials: the larger of
        ``row_err`` and ``col_err`` (those not measured count as 0).
    converged : bool
        Whether ``err <= tol`` was reached within ``max_iter`` passes.
    row_err, col_err : float or None
        Relative L1 errors ``||T 1 - a||_1 / ||a||_1`` and ``||T^T 1 - b||_1 / ||b||_1``
        of the plan ``exp((f_i + g_j - C_ij) / eps)``. ``None`` for the marginal that
        is exact by construction and was not measured: the rows for
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
    >>> res.row_err is None, res.col_err <= 1e-6, res.certified, res.topk
    (True, True, False, None)
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


def finish(res_tuple, tol, like_torch, out_device, **extra):
    """The :class:`OTResult` of ``(plan, f, g, n_iter, err)``; warns when ``err > tol``."""
    plan, f, g, it, err = res_tuple
    if not math.isfinite(float(err)):  # never hand back a NaN plan as if it were one
        raise ValueError(
            "Sinkhorn overflowed (NaN potentials): the cost divided by eps exceeds the "
            "range of the float type; rescale the cost or increase eps.")
    converged = bool(err <= tol)
    if not converged:
        warnings.warn(
            f"Sinkhorn did not converge: marginal error {err:.3g} > tol={tol:g} after "
            f"{it} iterations; increase max_iter or eps.",
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
