"""Datasets: synthetic CLIP-like data, features files, image folders and the benchmarks."""

from ._archives import extract_image_archive
from ._benchmark_data import BENCHMARK_DATASETS, benchmark_dataset_info, load_benchmark_dataset
from ._features import load_features, save_features
from ._folders import IMAGE_EXTENSIONS, load_image_folder
from ._synthetic import make_clip_blobs

__all__ = [
    "BENCHMARK_DATASETS",
    "IMAGE_EXTENSIONS",
    "benchmark_dataset_info",
    "extract_image_archive",
    "load_benchmark_dataset",
    "load_features",
    "load_image_folder",
    "make_clip_blobs",
    "save_features",
]
