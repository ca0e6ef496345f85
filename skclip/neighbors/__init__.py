"""Exact k-nearest-neighbour search (blocked torch matmul, or faiss when installed)."""

from ._knn import knn

__all__ = ["knn"]
