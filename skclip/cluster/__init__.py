"""Clustering of CLIP image embeddings: CAE, MCA and the reference baselines."""

from ._baselines import CLIPKMeans, TACClustering
from ._cae import CAEClustering
from ._mca import MCAClustering

__all__ = ["CAEClustering", "CLIPKMeans", "MCAClustering", "TACClustering"]
