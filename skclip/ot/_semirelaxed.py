"""Semi-relaxed entropic OT between unit rows: exact row masses, KL-penalised column masses.

Between the softmax retrieval (no column constraint) and balanced transport (every
text receives the same mass) lies the transport whose column masses pay a KL
penalty ``rho * KL(T^T 1 | b)`` instead of being imposed (unbalanced OT; Chizat et
al., "Scaling algorithms for unbalanced optimal transport problems", 2018, with the
row marginal kept exact, as in Séjourné et al.'s semi-relaxed form). The Sinkhorn
column update is damped by ``tau = rho / (rho + eps)``::

    f_i = eps log a_i - eps LSE_j((g_j - C_ij) / eps)
    g_j = tau * (eps log b_j - eps LSE_i((f_i - C_ij) / eps))

``rho -> 0`` gives ``g = 0`` (the softmax retrieval), ``rho -> inf`` the balanced
plan. The update is a contraction of rate ``tau``, so a few tens of passes reach
float precision. A text that the images do not want receives mass below ``b_j``
at a price that grows with ``rho`` only logarithmically, which is what lets a
long-tailed class or an irrelevant text keep little mass, while a generic text that
the softmax would flood (a hub) is taxed.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class SemiRelaxedResult:
    """Column potential of :func:`semirelaxed_potential` and its residual.

    Attributes
    ----------
    g : ndarray of shape (m,)
        Column potential (cost units); the plan row of image ``i`` is
        ``softmax_j((g_j - C_ij) / eps)``.
    n_iter : int
        Passes over the cost (one f-update and one g-update each).
    err : float
        Optimality residual of the returned ``g``:
        ``max_j |g_j - rho * log(b_j / col_j)|`` with ``col_j`` the column mass of
        the plan built from this very ``g`` (cost units).
    converged : bool
        ``err <= tol``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import semirelaxed_potential
    >>> X = np.eye(3)[[0, 0, 0, 1, 2]]  # three images on text 0, one on each other
    >>> res = semirelaxed_potential(X, np.eye(3), eps=0.05, rho=0.05)
    >>> res.converged, bool(res.g[0] < res.g[1])  # the crowded text is made dearer
    (True, True)
    """

    g: object
    n_iter: int
    err: float
    converged: bool


def _column_lse(X, T, f, eps, block):
    """``LSE_i((f_i - C_ij) / eps)`` over all rows, accumulated by row blocks, (m,)."""
    import torch

    out = torch.full((T.shape[0],), -torch.inf, dtype=X.dtype, device=X.device)
    for s in range(0, X.shape[0], block):
        L = (f[s : s + block, None] - 1.0 + X[s : s + block] @ T.T) / eps
        out = torch.logaddexp(out, torch.logsumexp(L, dim=0))
    return out


def _row_potential(X, T, g, eps, log_a, block):
    import torch

    f = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for s in range(0, X.shape[0], block):
        L = (g[None, :] - 1.0 + X[s : s + block] @ T.T) / eps
        f[s : s + block] = eps * log_a - eps * torch.logsumexp(L, dim=1)
    return f


def semirelaxed_potential(X, T, *, eps=0.01, rho=0.01, max_iter=200, tol=1e-6,
                          block=8192, device="cpu"):
    """Column potential of the semi-relaxed entropic OT of unit rows ``X`` to ``T``.

    Cost ``C = 1 - X T^T``; uniform row masses ``a = 1/n`` (exact) and column
    targets ``b = 1/m`` penalised by ``rho * KL``. Memory is O(block x m).

    Parameters
    ----------
    X : array-like of shape (n, d)
        Unit rows (the images, centred or not).
    T : array-like of shape (m, d)
        Unit rows (the texts).
    eps : float, default=0.01
        Entropic regularisation (the temperature of the plan rows).
    rho : float, default=0.01
        Weight of the KL penalty on the column masses; 0 gives ``g = 0``.
    max_iter : int, default=200
        Maximum passes.
    tol : float, default=1e-6
        Stop when the residual (see :class:`SemiRelaxedResult`) is below ``tol``.
    block : int, default=8192
        Rows per block.
    device : str or torch.device, default="cpu"
        Torch device; computations in float64 on CPU, float32 elsewhere.

    Returns
    -------
    result : SemiRelaxedResult
        ``g`` as a numpy array of X's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.ot import semirelaxed_potential
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8)); X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> T = X[:5] + 0.1; T /= np.linalg.norm(T, axis=1, keepdims=True)
    >>> res = semirelaxed_potential(X, T, eps=0.05, rho=0.05)
    >>> res.g.shape, res.converged
    ((5,), True)
    >>> bool(np.all(semirelaxed_potential(X, T, rho=0.0).g == 0))
    True
    """
    import torch

    X, T = np.asarray(X), np.asarray(T)
    if X.ndim != 2 or T.ndim != 2 or X.shape[1] != T.shape[1]:
        raise ValueError(f"X and T must be 2-d with the same width, got {X.shape} and "
                         f"{T.shape}")
    if eps <= 0 or rho < 0 or max_iter < 1 or block < 1:
        raise ValueError(f"need eps > 0, rho >= 0, max_iter >= 1 and block >= 1; got "
                         f"eps={eps}, rho={rho}, max_iter={max_iter}, block={block}")
    out_dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    n, m = X.shape[0], T.shape[0]
    if rho == 0 or m == 0 or n == 0:
        return SemiRelaxedResult(np.zeros(m, dtype=out_dtype), 0, 0.0, True)
    dtype = torch.float64 if torch.device(device).type == "cpu" else torch.float32
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    Tt = torch.as_tensor(T, dtype=dtype, device=device)
    tau = rho / (rho + eps)
    log_a, log_b = -float(np.log(n)), -float(np.log(m))
    g = torch.zeros(m, dtype=dtype, device=device)
    err, it = float("inf"), 0
    with torch.no_grad():
        for it in range(1, max_iter + 1):
            f = _row_potential(Xt, Tt, g, eps, log_a, block)
            lse = _column_lse(Xt, Tt, f, eps, block)
            # residual of this g: its plan's column masses are log col = g / eps + lse
            err = float((g - rho * (log_b - (g / eps + lse))).abs().max())
            if err <= tol:
                break
            g = tau * (eps * log_b - eps * lse)
        else:  # the last update was not measured: measure the g that is returned
            f = _row_potential(Xt, Tt, g, eps, log_a, block)
            lse = _column_lse(Xt, Tt, f, eps, block)
            err = float((g - rho * (log_b - (g / eps + lse))).abs().max())
    return SemiRelaxedResult(g.cpu().numpy().astype(out_dtype), it, err, err <= tol)
