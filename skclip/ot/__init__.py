"""Entropic optimal transport (log-stabilised Sinkhorn) in torch, CPU or GPU."""

from ._sinkhorn import OTResult, plan_rows, sinkhorn, sinkhorn_cosine

__all__ = ["OTResult", "plan_rows", "sinkhorn", "sinkhorn_cosine"]
