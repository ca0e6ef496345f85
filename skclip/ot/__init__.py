"""Entropic optimal transport (log-stabilised Sinkhorn) in torch, CPU or GPU."""

from ._sinkhorn import OTResult, plan_rows, sinkhorn, sinkhorn_cosine
from ._semirelaxed import SemiRelaxedResult, semirelaxed_potential
from ._topk import topk_plan_rows

__all__ = ["OTResult", "SemiRelaxedResult", "plan_rows", "semirelaxed_potential", "sinkhorn",
           "sinkhorn_cosine", "topk_plan_rows"]
