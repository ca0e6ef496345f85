"""Datasets: synthetic CLIP-like data, features files and image folders."""

from ._features import load_features, save_features
from ._folders import IMAGE_EXTENSIONS, load_image_folder
from ._synthetic import make_clip_blobs

__all__ = [
    "IMAGE_EXTENSIONS",
    "load_features",
    "load_image_folder",
    "make_clip_blobs",
    "save_features",
]
