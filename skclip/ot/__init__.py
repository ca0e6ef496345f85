"""Entropic optimal transport in torch, CPU or GPU.

:func:`sinkhorn` (any cost) and :func:`sinkhorn_cosine` (the cost ``1 - X Y^T``, block
by block, optionally sparse): balanced transport by L-BFGS on the semi-dual or by
log-stabilised Sinkhorn iterations, and the closed-form row softmax of
``relax_columns=True``. :func:`plan_rows` and :func:`topk_plan_rows` give the plan rows
of new points from a stored column potential.
"""

from ._plan_rows import plan_rows, topk_plan_rows
from ._result import OTResult
from ._semirelaxed import SemiRelaxedResult, semirelaxed_potential
from ._sinkhorn import sinkhorn, sinkhorn_cosine

__all__ = ["OTResult", "SemiRelaxedResult", "plan_rows", "semirelaxed_potential", "sinkhorn",
           "sinkhorn_cosine", "topk_plan_rows"]
