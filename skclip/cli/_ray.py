"""``skclip cluster|embed --engine ray``: the command line's Ray Data engine.

The commands (``_cluster.py``, ``_embed.py``) check the arguments and build the method's
pipeline as for the local engine; this module only replaces "embed, fit" by
:func:`skclip.scale.embed`, :func:`skclip.scale.fit` on a sample and
:func:`skclip.scale.predict`, then writes the local engine's three files plus Parquet.
"""

import copy
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._atomic import atomic_directory, atomic_write
from ..scale import embed, fit, image_dataset, predict
from ..scale._ray import embedding_column, embedding_matrix, require_ray
from ._common import CLIError, _check_k, _embedder_settings, _say

__all__ = ["cluster_with_ray", "embed_with_ray", "ray_session", "write_embeddings_parquet"]

PARQUET_DIR = "assignments.parquet"


@contextmanager
def ray_session(address=None, *, quiet=False):
    """Connect to ``address`` (or start a local Ray), and shut down only what we started."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=not quiet,
                 logging_level="warning" if quiet else "info")
    ctx = ray.data.DataContext.get_current()
    bars = ctx.enable_progress_bars
    ctx.enable_progress_bars = not quiet
    data_logger = logging.getLogger("ray.data")  # execution plans, progress lines
    level = data_logger.level
    if quiet:
        data_logger.setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        ctx.enable_progress_bars = bars
        data_logger.setLevel(level)
        if started:
            ray.shutdown()


def _num_gpus(device):
    device = str(device)
    if device == "auto":
        return "auto"
    return 1 if device.startswith("cuda") else 0


def _embed_paths(args, model, paths):
    res = embed(image_dataset(paths), model=model, pretrained=args.pretrained,
                batch_size=args.batch_size, num_gpus=_num_gpus(args.device), on_error="skip")
    for path, error in res.dropped:
        print(f"skclip: skipped unreadable image {path}: {error}", file=sys.stderr)
    return res


def _collect(ds, columns):
    """Columns of a (small enough) dataset on the driver, in order."""
    out = {c: [] for c in columns}
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        for c in columns:
            out[c].append(embedding_matrix(batch, c) if c == "embedding"
                          else batch.column(c).to_numpy(zero_copy_only=False))
    return {c: np.concatenate(v) if v else np.zeros(0) for c, v in out.items()}


def _write_parquet(ds, target):
    # whole or absent: the shards go to a temporary folder that then replaces our own
    # output folder of an earlier run (--overwrite)
    target = Path(target)
    with atomic_directory(target) as tmp:
        ds.write_parquet(str(tmp))
    return target


def cluster_with_ray(args, clusterer, model, paths, features, out):
    """Embed (or read ``features``), fit on a sample, predict, write the outputs."""
    from ..report import write_report

    with ray_session(args.ray_address, quiet=args.quiet) as ray:
        skipped, stats = [], None
        if features is None:
            res = _embed_paths(args, model, paths)
            ds, skipped = res.dataset, res.dropped
            n = res.n_images - len(skipped)
            stats = {"n_found": len(paths), "n_cached": 0, "n_embedded": n,
                     "n_skipped": len(skipped)}
            if n == 0:
                raise CLIError(f"none of the {len(paths)} images under {args.path} "
                               "could be read")
        else:
            import pyarrow as pa

            n = len(features.X)
            names = features.paths if features.paths is not None else \
                [f"#{i}" for i in range(n)]
            ds = ray.data.from_arrow(pa.table({
                "path": pa.array([str(p) for p in names], type=pa.string()),
                "embedding": embedding_column(features.X)}))
        _check_k(args.n_clusters, n)
        sample = min(n, args.fit_sample)
        _say(args, f"clustering {n} images into {args.n_clusters} clusters ({args.method}), "
                   f"fitted on {'all' if sample == n else f'a sample of {sample}'} (ray)")
        fitted = fit(clusterer, ds, sample_size=args.fit_sample, random_state=args.seed)
        pred = predict(fitted, ds, keep_embedding=True).materialize()
        parquet = _write_parquet(pred.drop_columns(["embedding"]), Path(out) / PARQUET_DIR)
        cols = _collect(pred, ["path", "embedding", "cluster"])
    report_clusterer = fitted
    if sample < n:  # fitted on a sample: the report describes every row's predicted cluster
        report_clusterer = copy.copy(fitted)
        report_clusterer.labels_ = cols["cluster"].astype(np.int64)
    run = {"input": str(args.features or args.path), "method": args.method, "model": model,
           "pretrained": None if args.pretrained is None else str(args.pretrained),
           "seed": args.seed, "embedding": stats, "engine": "ray",
           "ray_address": args.ray_address, "fit_sample": int(sample)}
    files = write_report(out, report_clusterer, cols["embedding"],
                         paths=[str(p) for p in cols["path"]], skipped=skipped, run=run,
                         embedder=_embedder_settings(args, model), save_model=True)
    return files + [parquet]


def embed_with_ray(args, model, paths):
    """Embeddings of ``paths`` (in order) and the unreadable files; writes nothing."""
    with ray_session(args.ray_address, quiet=args.quiet):
        res = _embed_paths(args, model, paths)
        cols = _collect(res.dataset, ["path", "embedding"])
    return cols["embedding"], [str(p) for p in cols["path"]], res.dropped


def write_embeddings_parquet(X, paths, target):
    """``path``, ``embedding`` as one Parquet file (the ``--engine ray`` companion of .npz)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"path": pa.array(paths, type=pa.string()),
                      "embedding": embedding_column(X)})
    with atomic_write(target, "wb") as fh:  # whole or absent, even if interrupted
        pq.write_table(table, fh)
    return Path(target)
