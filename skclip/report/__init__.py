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
from ._outputs import (
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
    "OUTPUT_FILES",
    "EmbeddedImages",
    "EmbeddingCache",
    "assignment_confidence",
    "benchmark_markdown",
    "embed_images",
    "k_selection_svg",
    "map_svg",
    "naming_vocabulary",
    "prepare_output_dir",
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
