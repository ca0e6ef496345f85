"""Outputs of ``skclip cluster``: per-file embedding cache, CSV/JSON files, HTML report;
and of ``skclip benchmark``: the protocol runner and its results.json / results.md.

The command line (:mod:`skclip.cli`) is a thin layer over these functions; they are
public so that a notebook can write the same report for any fitted clusterer.
"""

from ._benchmark import (
    BENCHMARK_METHODS,
    benchmark_markdown,
    run_benchmark,
    summarize_runs,
    weights_sha256,
    write_benchmark_results,
)
from ._cache import EmbeddedImages, EmbeddingCache, embed_images
from ._html import k_selection_svg, map_svg, render_report, sizes_svg, thumbnail_data_uri
from ._edit import EDIT_OPS, edit_cluster_folder, read_cluster_folder
from ._export import export_clusters
from ._hierarchy import Taxonomy, build_hierarchy
from ._model_bundle import ClusterModel, load_model, save_model
from ._outliers import OUTLIER_RULE, outlier_thresholds
from ._outputs import (
    MODEL_FILES,
    OUTPUT_FILES,
    prepare_output_dir,
    write_assignments,
    write_clusters_json,
    write_report,
)
from ._summary import (
    CONFIDENCE_DEFINITION,
    assignment_confidence,
    naming_vocabulary,
    softmax_confidence,
    summarize_clusters,
)

__all__ = [
    "BENCHMARK_METHODS",
    "CONFIDENCE_DEFINITION",
    "ClusterModel",
    "EDIT_OPS",
    "MODEL_FILES",
    "OUTLIER_RULE",
    "OUTPUT_FILES",
    "Taxonomy",
    "build_hierarchy",
    "edit_cluster_folder",
    "export_clusters",
    "load_model",
    "outlier_thresholds",
    "save_model",
    "EmbeddedImages",
    "EmbeddingCache",
    "assignment_confidence",
    "benchmark_markdown",
    "embed_images",
    "k_selection_svg",
    "map_svg",
    "naming_vocabulary",
    "prepare_output_dir",
    "read_cluster_folder",
    "render_report",
    "run_benchmark",
    "sizes_svg",
    "softmax_confidence",
    "summarize_clusters",
    "summarize_runs",
    "thumbnail_data_uri",
    "weights_sha256",
    "write_benchmark_results",
    "write_assignments",
    "write_clusters_json",
    "write_report",
]
