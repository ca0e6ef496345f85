"""The library's one k-means (torch Lloyd iterations, CPU or GPU, blocked distances).

``kmeans`` clusters, ``kmeans_plusplus`` seeds, ``assign`` labels new points. Used by
the estimators of :mod:`skclip.cluster`, the text selection of :mod:`skclip.semantic`
and :mod:`skclip.scale`.
"""

from ._kmeans import KMeansResult, assign, kmeans, kmeans_plusplus

__all__ = ["KMeansResult", "assign", "kmeans", "kmeans_plusplus"]
