"""Image and text embeddings with open_clip models."""

from ._embedder import CLIPEmbedder
from ._embeddings import CLIPEmbeddings
from ._images import DroppedImage
from ._model import clear_model_cache, load_clip

__all__ = ["CLIPEmbedder", "CLIPEmbeddings", "DroppedImage", "clear_model_cache", "load_clip"]
