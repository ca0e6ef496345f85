"""The Ray Data engine (``skclip.scale`` / ``--engine ray``): its cost, and fit-on-a-sample.

Two parts (``--part engine|sample|all``):

engine
    Wall time of ``skclip embed FOLDER --engine ray`` against the local engine
    (``skclip embed FOLDER``) on the same images, in this process, one after the other
    (local first, then Ray; ``--repeats`` alternates them). The Ray time includes
    starting a local Ray (``ray.init``), the actor pool (one model per actor) and
    collecting the embeddings: the whole overhead of the engine. Images: the first
    ``--n-images`` JPEGs of CIFAR-10 test (from the shared assets zip, extracted to a
    temporary folder); random weights (``--pretrained none``: the cost of the
    pretrained model). Target: Ray <= 1.3x local on 2,000 images.

sample
    How well a clusterer fitted on a uniform random sample (``skclip.scale.fit``, the
    sample drawn by ``skclip.scale.sample_embeddings`` from a Ray dataset) and then
    applied to every row (``predict``) agrees with the same clusterer fitted on all rows:
    ARI(sample-fit + predict, full fit), for CAE and MCA, sample sizes 10k/50k/200k, on
    ``make_clip_blobs`` data with and without a CLIP-like modality gap (when the
    generator offers ``modality_gap``), d=64 to keep the full fits affordable on 2
    cores. Target: ARI >= 0.95 at the default ``--fit-sample``. ``--floor`` adds a
    second full fit under another seed (the seed-to-seed agreement of full fits: what
    a sample fit can be expected to reach at most); ``--spread 0.6`` gives "easy" data
    on which full fits are stable. The default semantic space has round(n/300) centres,
    so a sample fit selects its texts with fewer centres than the full fit;
    ``--sample-centers collection|both`` also fits the samples with the full fit's
    round(N/300) centres (at most m). Fit times are wall and CPU seconds of this
    process (the CPU time is the fairer one on a loaded machine).

    python benchmarks/bench_ray.py --part engine --n-images 2000 --model ViT-B-32
    python benchmarks/bench_ray.py --part sample --methods cae --n-full 1000000 --floor \
        --sample-centers both
    python benchmarks/bench_ray.py --part sample --methods mca --mca-n-full 100000 \
        --sizes 10000,50000 --floor
    python benchmarks/bench_ray.py --quick          # CI smoke run (tiny model, 64 images, 20k rows)
"""

import argparse
import inspect
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR, add_common_args, assets_dir, describe_machine, machine_info, print_table,
    write_json,
)

TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8,
                       "head_width": 32},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2,
                     "layers": 2}}


# --------------------------------------------------------------------------- engine
def _cifar_images(n, folder):
    from skclip.datasets import extract_image_archive

    root = assets_dir()
    if root is None:
        raise SystemExit("bench_ray: shared assets not found (set SKCLIP_ASSETS)")
    extract_image_archive(Path(root) / "cifar10" / "cifar10-test.zip", folder, n_images=n)
    return folder


def _run_embed(folder, out, model, engine, batch_size):
    from skclip.cli import main

    args = ["embed", str(folder), "--out", str(out), "--model", model, "--pretrained", "none",
            "--device", "cpu", "--batch-size", str(batch_size), "--quiet", "--overwrite"]
    if engine == "ray":
        args += ["--engine", "ray"]
    t0 = time.perf_counter()
    status = main(args)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"skclip embed --engine {engine} failed ({status})")
    return wall


def part_engine(args, tmp):
    import numpy as np

    from skclip.datasets import load_features

    model = args.model
    if model == "tiny":
        model = str(Path(tmp) / "skclip-tiny-bench.json")
        Path(model).write_text(json.dumps(TINY))
    folder = _cifar_images(args.n_images, Path(tmp) / "images")
    rows = []
    for rep in range(args.repeats):
        t_local = _run_embed(folder, Path(tmp) / "local.npz", model, "local", args.batch_size)
        t_ray = _run_embed(folder, Path(tmp) / "ray.npz", model, "ray", args.batch_size)
        a, b = load_features(Path(tmp) / "local.npz"), load_features(Path(tmp) / "ray.npz")
        same = list(a.paths) == list(b.paths) and np.allclose(a.X, b.X, atol=1e-4)
        rows.append({"repeat": rep, "images": len(a.X), "local_s": round(t_local, 1),
                     "ray_s": round(t_ray, 1), "ray/local": round(t_ray / t_local, 3),
                     "local_img_s": round(len(a.X) / t_local, 1),
                     "ray_img_s": round(len(a.X) / t_ray, 1), "same_embeddings": same})
    print_table(rows, title=f"skclip embed, {args.n_images} CIFAR-10 JPEGs, model {args.model}"
                            f" (random weights), local vs --engine ray (local Ray)")
    best = min(r["ray/local"] for r in rows)
    return {"model": args.model, "n_images": args.n_images, "batch_size": args.batch_size,
            "rows": rows, "ratio_best": best, "target": 1.3, "met": best <= 1.3}


# --------------------------------------------------------------------------- sample
def _data(n, gap, seed, spread=1.0):
    from skclip.datasets import make_clip_blobs

    params = dict(n_samples=n, n_clusters=10, n_features=64, spread=spread,
                  center_similarity=0.7, anisotropy=1.0, imbalance=3.0,
                  n_texts_per_cluster=5, n_distractor_texts=200, n_hub_texts=10,
                  n_polysemous_texts=5, misaligned_fraction=0.1, random_state=seed)
    if gap is not None:
        params["modality_gap"] = gap
    d = make_clip_blobs(**params)
    return d, params


def _estimator(method, data, seed, n_centers="auto"):
    from skclip.cluster import CAEClustering, MCAClustering
    from skclip.semantic import SemanticSpaceBuilder

    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, noun_names=data.text_names,
                                 n_centers=n_centers, random_state=seed)
    cls = {"cae": CAEClustering, "mca": MCAClustering}[method]
    return cls(n_clusters=10, semantic_space=space, device="cpu", random_state=seed)


def _predict_blocks(est, X, block=65536):
    import numpy as np

    return np.concatenate([est.predict(X[s:s + block]) for s in range(0, len(X), block)])


def _dataset(ray, X):
    import pyarrow as pa

    from skclip.scale._ray import embedding_column

    step = 65536
    return ray.data.from_arrow([pa.table({"embedding": embedding_column(X[s:s + step])})
                                for s in range(0, len(X), step)])


def _timed_fit(fn):
    """``fn()`` with warnings silenced; (result, wall s, CPU s of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
    return out, round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)


def _auto_centers(n):
    """``SemanticSpaceBuilder(n_centers="auto")`` at ``n`` images: round(n / 300)."""
    return max(1, int(n / 300 + 0.5))


def part_sample(args):
    import numpy as np
    import ray
    from sklearn.base import clone
    from sklearn.metrics import adjusted_rand_score as ari

    from skclip.datasets import make_clip_blobs
    from skclip.scale import fit as scale_fit

    has_gap = "modality_gap" in inspect.signature(make_clip_blobs).parameters
    variants = [("no gap", 0.0 if has_gap else None)]
    if has_gap:
        variants.append(("modality gap", args.gap))
    variants = [v for v in variants if args.variants in ("both", "gap" if v[1] else "nogap")]
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
    ray.data.DataContext.get_current().enable_progress_bars = False
    rows = []

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    # method by method, so that an interrupted run has both data variants of the first
    for method in args.methods:
        for vname, gap in variants:
            n_full = args.mca_n_full if method == "mca" else args.n_full
            data, params = _data(n_full, gap, args.seed, spread=args.spread)
            X = np.ascontiguousarray(data.X, dtype=np.float32)
            est = _estimator(method, data, args.seed)
            base = {"data": vname, "spread": args.spread, "method": method, "n": n_full}
            full, wall, cpu = _timed_fit(lambda: clone(est).fit(X))
            ref = np.asarray(full.labels_)
            emit(dict(base, sample="full", centers=_auto_centers(n_full), fit_s=wall,
                      fit_cpu_s=cpu, ari_vs_full=1.0, ari_vs_truth=round(ari(data.y, ref), 4)))
            if args.floor:
                # the same full fit under another seed: how much two full fits agree is the
                # most any sample fit can be expected to agree with one of them
                other, wall, cpu = _timed_fit(
                    lambda: clone(est).set_params(random_state=args.seed + 1).fit(X))
                emit(dict(base, sample="full, seed+1", centers=_auto_centers(n_full),
                          fit_s=wall, fit_cpu_s=cpu,
                          ari_vs_full=round(ari(ref, other.labels_), 4),
                          ari_vs_truth=round(ari(data.y, other.labels_), 4)))
            ds = _dataset(ray, X).materialize()
            for m in args.sizes:
                if m >= n_full:
                    continue
                # the semantic space of a sample fit has round(m / 300) centres (its own
                # size); "collection" gives it the full fit's round(N / 300) (at most m)
                centres = []
                if args.sample_centers in ("sample", "both"):
                    centres.append(_auto_centers(m))
                if args.sample_centers in ("collection", "both") and (
                        args.collection_sizes is None or m in args.collection_sizes):
                    centres.append(min(m, _auto_centers(n_full)))
                for c in dict.fromkeys(centres):
                    est_m = est if c == _auto_centers(m) else _estimator(
                        method, data, args.seed, n_centers=c)
                    fitted, wall, cpu = _timed_fit(lambda: scale_fit(
                        est_m, ds, sample_size=m, random_state=args.seed))
                    t0 = time.perf_counter()
                    labels = _predict_blocks(fitted, X)
                    emit(dict(base, sample=m, centers=c, fit_s=wall, fit_cpu_s=cpu,
                              predict_s=round(time.perf_counter() - t0, 1),
                              ari_vs_full=round(ari(ref, labels), 4),
                              ari_vs_truth=round(ari(data.y, labels), 4)))
            del ds
    print_table(rows, title="fit on a uniform sample + predict vs a full fit "
                            f"(make_clip_blobs, d=64, K=10, spread {args.spread})")
    return {"rows": rows, "params": {k: v for k, v in params.items()
                                     if k not in ("n_samples", "modality_gap")},
            "modality_gap_available": has_gap, "gap": args.gap if has_gap else None,
            "seed": args.seed}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--part", choices=["engine", "sample", "all"], default="all")
    p.add_argument("--n-images", type=int, default=2000)
    p.add_argument("--model", default="ViT-B-32", help="open_clip model, or 'tiny'")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--n-full", type=int, default=1_000_000)
    p.add_argument("--mca-n-full", type=int, default=200_000)
    p.add_argument("--sizes", default="10000,50000,200000")
    p.add_argument("--methods", default="cae,mca")
    p.add_argument("--gap", type=float, default=0.65, help="modality_gap of the gap variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spread", type=float, default=1.0,
                   help="make_clip_blobs spread (1.0: 'medium'; 0.6: 'easy')")
    p.add_argument("--variants", choices=["both", "nogap", "gap"], default="both")
    p.add_argument("--sample-centers", choices=["sample", "collection", "both"],
                   default="sample",
                   help="semantic-space centres of a sample fit: round(m/300) of the "
                        "sample (the default builder), round(N/300) of the collection, "
                        "or both")
    p.add_argument("--collection-sizes", default=None,
                   help="with --sample-centers collection|both: only these sample sizes "
                        "get the collection's centre count (default: all)")
    p.add_argument("--floor", action="store_true",
                   help="also fit every method on all rows under seed+1 (seed-to-seed ARI)")
    args = p.parse_args(argv)
    if args.quick:
        args.n_images, args.model, args.n_full, args.mca_n_full = 64, "tiny", 20000, 6000
        args.sizes = "2000"
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.collection_sizes is not None:
        args.collection_sizes = [int(s) for s in args.collection_sizes.split(",")]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    return args


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    print(describe_machine(info))
    out = {"machine": info, "args": {k: v for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("engine", "all"):
            out["engine"] = part_engine(args, tmp)
        if args.part in ("sample", "all"):
            out["sample"] = part_sample(args)
    out["machine_after"] = {"load_avg_1m": os.getloadavg()[0]}
    path = args.out_json or (None if args.quick else BENCH_DIR / "out" / "bench_ray.json")
    write_json(path, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
