"""Image and text embeddings with open_clip models."""

from ._embedder import CLIPEmbedder
from ._images import DroppedImage
from ._model import clear_model_cache, load_clip

__all__ = ["CLIPEmbedder", "DroppedImage", "clear_model_cache", "load_clip"]
