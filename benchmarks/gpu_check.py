"""One-shot check of a CUDA machine: GPU tests, embedding images/s from JPEGs, CAE/MCA fits.

    python benchmarks/gpu_check.py [--out-json benchmarks/out/gpu_check.json] [--budget-s 480]

Made to run once, unattended, on a lent accelerator, within ``--budget-s`` (8 minutes
by default; every step is skipped, with a note in the JSON, when the remaining budget
cannot hold it). Without CUDA it prints why and exits with status 2.

Steps (each recorded in the JSON, with its wall time and any error):

1. ``pytest -m gpu`` (the GPU-marked tests), in a subprocess with a time limit.
2. ViT-B-32 image embedding throughput from CIFAR-10 JPEG files (random weights: the
   pretrained model's cost), fp16:

   * ``model``: the model alone on device-resident random pixels (upper bound);
   * ``cpu_decode``: JPEG decode + open_clip preprocessing in DataLoader workers, no
     model (can the CPUs feed the GPU?);
   * ``clip_embedder``: :class:`skclip.CLIPEmbedder` end to end (the library's path:
     PIL decode and preprocessing in ``--workers`` processes, fp16 model);
   * ``clip_embedder_torchvision``: the same with ``decoder="torchvision"`` (workers read
     the files; nvJPEG decoding, resize and crop on the GPU: CPU decoding is the usual
     bottleneck of small-model inference);
   * ``gpu_decode``: that on-device path + the model without DataLoader workers (file
     bytes read before the clock starts): its upper bound.

   Target (issue 16): >= 4,000 images/s through CLIPEmbedder (either decoder).
3. ``CAEClustering`` and ``MCAClustering`` fit times on the GPU (synthetic 100k x 512,
   K=10, ``make_clip_blobs``), with ACC, and the CPU's CAE time at 20k for scale.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR, REPO_ROOT, assets_dir, describe_machine, machine_info, print_table, write_json,
)

NO_CUDA_STATUS = 2


class Budget:
    """Seconds left of the whole run; a step runs only when its estimate fits."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def allows(self, estimate_s):
        return self.left() > estimate_s


def run_step(results, name, budget, estimate_s, fn, *args, **kwargs):
    """Run ``fn`` and store its result (or its error, or why it was skipped) under ``name``."""
    if not budget.allows(estimate_s):
        results[name] = {"skipped": f"not enough budget left ({budget.left():.0f} s < "
                                    f"{estimate_s} s)"}
        print(f"[{name}] skipped: budget", flush=True)
        return None
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
        results[name] = {**out, "wall_s": round(time.perf_counter() - t0, 2)}
    except Exception as exc:  # a failed step must not cost the others
        results[name] = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-2000:],
                         "wall_s": round(time.perf_counter() - t0, 2)}
    shown = {k: (f"<{len(v)} items>" if isinstance(v, list) else v)
             for k, v in results[name].items()}
    print(f"[{name}] {shown}", flush=True)
    return results[name]


# --------------------------------------------------------------------------- 1. tests
GPU_TEST_FILES = ["tests/embed/test_pixels.py", "tests/test_device_draws.py", "tests/test_persistence.py",
                  "tests/ot/test_sinkhorn.py", "tests/cluster/test_mca.py",
                  "tests/kmeans/test_kmeans.py", "tests/neighbors/test_knn.py"]


def gpu_tests(timeout_s):
    """``pytest -m gpu`` on the files that hold GPU tests (Ray's, under tests/scale, only
    when Ray is installed: a GPU box without the ``[scale]`` extra still runs the rest)."""
    import importlib.util

    files = list(GPU_TEST_FILES)
    if importlib.util.find_spec("ray") is not None:
        files.append("tests/scale/test_engine.py")
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
           "-o", "addopts=--strict-markers", *files]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        return {"status": "timeout", "timeout_s": timeout_s,
                "tail": (exc.stdout or "")[-1500:] if isinstance(exc.stdout, str) else ""}
    lines = proc.stdout.strip().splitlines()
    return {"status": "passed" if proc.returncode == 0 else f"failed ({proc.returncode})",
            "summary": lines[-1] if lines else "", "tail": proc.stdout[-1500:]}


# --------------------------------------------------------------------------- 2. images
def jpeg_paths(n, folder):
    """``n`` CIFAR-10 JPEGs (train split, then test), extracted to ``folder``."""
    from skclip.datasets import extract_image_archive

    root = assets_dir()
    if root is None:
        raise FileNotFoundError("shared assets not found (set SKCLIP_ASSETS)")
    zips = [Path(root) / "cifar10" / z for z in ("cifar10-train.zip", "cifar10-test.zip")]
    paths = []
    for z in zips:
        if len(paths) < n and z.is_file():
            paths += extract_image_archive(z, Path(folder) / z.stem, n_images=n - len(paths))
    if not paths:
        raise FileNotFoundError("no CIFAR-10 zip in the shared assets")
    return paths


def _sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def model_throughput(model, device, dtype, batch_size, seconds):
    """Images/s of ``encode_image`` alone on random pixels already on ``device``."""
    import torch

    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    x = torch.randn(batch_size, 3, size, size, device=device, dtype=dtype)
    with torch.inference_mode():
        model.encode_image(x)
        _sync(device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model.encode_image(x)
            n += batch_size
        _sync(device)
    return {"images_per_s": round(n / (time.perf_counter() - t0), 1), "batch_size": batch_size}


def cpu_decode_throughput(paths, preprocess, batch_size, workers):
    """Images/s of decode + preprocessing in DataLoader workers (no model)."""
    import torch

    from skclip.embed._pixels import PixelDataset, collate_pixels

    loader = torch.utils.data.DataLoader(PixelDataset(paths, preprocess), batch_size=batch_size,
                                         num_workers=workers, collate_fn=collate_pixels,
                                         persistent_workers=False)
    t0, n = time.perf_counter(), 0
    for batch in loader:
        n += sum(len(batch[k][0]) for k in ("u8", "float") if batch[k]) + len(batch["failed"])
    return {"images_per_s": round(n / (time.perf_counter() - t0), 1), "workers": workers,
            "n_images": n}


def embedder_throughput(paths, model_name, device, batch_size, workers, precision,
                        decoder="pil"):
    """Images/s of ``CLIPEmbedder.transform`` end to end (after a warm-up call)."""
    import warnings

    from skclip import CLIPEmbedder

    emb = CLIPEmbedder(model=model_name, pretrained=None, device=device, batch_size=batch_size,
                       num_workers=workers, precision=precision, decoder=decoder, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        emb.fit()
    emb.transform(paths[: min(len(paths), 2 * batch_size)])  # warm-up: kernels, workers
    _sync(device)
    t0 = time.perf_counter()
    X = emb.transform(paths)
    _sync(device)
    wall = time.perf_counter() - t0
    return {"images_per_s": round(len(X) / wall, 1), "n_images": len(X), "workers": workers,
            "batch_size": batch_size, "precision": precision, "decoder": decoder}


def gpu_decode_throughput(paths, preprocess, model, device, dtype, batch_size):
    """Images/s of skclip's on-device JPEG path (``decoder="torchvision"``) + the model,
    without DataLoader workers: the file bytes are read before the clock starts."""
    import torch

    from skclip.embed._pixels import PixelDataset, PixelFinisher, collate_pixels

    dataset = PixelDataset(paths, preprocess, "torchvision")
    finish = PixelFinisher(dataset, torch.device(device), dtype)
    batches = [collate_pixels([dataset[i] for i in range(s, min(s + batch_size, len(paths)))])
               for s in range(0, len(paths), batch_size)]
    with torch.inference_mode():
        model.encode_image(finish(batches[0])[1])
        _sync(device)
        t0 = time.perf_counter()
        for batch in batches:
            model.encode_image(finish(batch)[1])
        _sync(device)
    return {"images_per_s": round(len(paths) / (time.perf_counter() - t0), 1),
            "n_images": len(paths), "batch_size": batch_size}


def text_throughput(model, tokenizer, device, n_texts, batch_size):
    """Texts/s of :func:`skclip.embed.encode_texts` on WordNet-like prompts (the cost of
    ``skclip vocab build`` on this machine: ~119k nouns x 7 templates by default)."""
    from skclip.embed._text import encode_texts

    rng = np.random.RandomState(0)
    syllables = ["ka", "lo", "mer", "tin", "sa", "ro", "vel", "du", "pan", "ex", "or", "ith"]
    nouns = ["".join(rng.choice(syllables, size=rng.randint(1, 4))) for _ in range(n_texts)]
    templates = ["a photo of a {}.", "a bad photo of the {}.", "a origami {}.",
                 "a photo of the large {}.", "a {} in a video game.", "art of the {}.",
                 "a photo of the small {}."]
    texts = [templates[i % len(templates)].format(w) for i, w in enumerate(nouns)]
    encode_texts(model, tokenizer, texts[:batch_size], device=device, batch_size=batch_size)
    _sync(device)
    t0 = time.perf_counter()
    out = encode_texts(model, tokenizer, texts, device=device, batch_size=batch_size)
    _sync(device)
    wall = time.perf_counter() - t0
    return {"texts_per_s": round(len(out) / wall, 1), "n_texts": len(out),
            "batch_size": batch_size,
            "default_vocabulary_minutes": round(119034 * 7 / (len(out) / wall) / 60, 2)}


def embedding_steps(results, budget, args, device):
    import torch

    from skclip.embed import load_clip

    with tempfile.TemporaryDirectory() as tmp:
        paths = run_step(results, "jpeg_files", budget, 30,
                         lambda: {"paths": jpeg_paths(args.n_images, tmp)})
        if not paths or "paths" not in paths:
            return
        paths = results["jpeg_files"].pop("paths")
        results["jpeg_files"]["n_images"] = len(paths)
        precision = "fp32" if args.cpu_dry_run else "fp16"
        model, preprocess, tokenizer = load_clip(args.model, None, device, precision)
        dtype = torch.float32 if args.cpu_dry_run else torch.float16
        run_step(results, "model", budget, 20, model_throughput, model, device, dtype,
                 args.batch_size, 5.0)
        run_step(results, "cpu_decode", budget, 40, cpu_decode_throughput, paths, preprocess,
                 args.batch_size, args.workers)
        run_step(results, "clip_embedder", budget, 60, embedder_throughput, paths, args.model,
                 device, args.batch_size, args.workers, precision)
        run_step(results, "clip_embedder_torchvision", budget, 60, embedder_throughput, paths,
                 args.model, device, args.batch_size, args.workers, precision, "torchvision")
        run_step(results, "gpu_decode", budget, 60, gpu_decode_throughput, paths, preprocess,
                 model, device, dtype, args.batch_size)
        run_step(results, "text_encoding", budget, 60, text_throughput, model, tokenizer,
                 device, args.n_texts, args.batch_size)


# --------------------------------------------------------------------------- 3. fits
def fit_times(method, n, device, seed=0):
    import warnings

    from skclip.cluster import CAEClustering, MCAClustering
    from skclip.datasets import make_clip_blobs
    from skclip.metrics import clustering_accuracy
    from skclip.semantic import SemanticSpaceBuilder

    data = make_clip_blobs(n_samples=n, n_clusters=10, n_features=512, spread=0.6,
                           center_similarity=0.7, anisotropy=1.0, n_texts_per_cluster=5,
                           n_distractor_texts=1000, random_state=seed)
    device = str(device)  # the estimators take a device name
    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, noun_names=data.text_names,
                                 device=device, random_state=seed)
    cls = {"cae": CAEClustering, "mca": MCAClustering}[method]
    est = cls(n_clusters=10, semantic_space=space, device=device, random_state=seed)
    _sync(device)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data.X)
    _sync(device)
    return {"fit_s": round(time.perf_counter() - t0, 2), "n": n, "d": 512, "K": 10,
            "device": str(device),
            "acc": round(float(clustering_accuracy(data.y, est.labels_)), 4)}


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-json", default=str(BENCH_DIR / "out" / "gpu_check.json"))
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="wall-clock budget of the whole run (default: 480 s = 8 min)")
    p.add_argument("--tests-timeout-s", type=float, default=150.0)
    p.add_argument("--n-images", type=int, default=20000)
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--workers", type=int, default=None,
                   help="image decoding processes (default: usable cores, at most 32)")
    p.add_argument("--fit-n", type=int, default=100000)
    p.add_argument("--n-texts", type=int, default=50000)
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="run every step on the CPU at the sizes given (to check the script "
                        "before spending accelerator time; no GPU numbers)")
    args = p.parse_args(argv)
    if args.workers is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        args.workers = max(1, min(32, cores))
    return args


def main(argv=None):
    args = parse_args(argv)
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")

    if not torch.cuda.is_available() and not args.cpu_dry_run:
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False); this script "
              "only runs on a machine with an NVIDIA GPU. Nothing was measured.",
              file=sys.stderr)
        return NO_CUDA_STATUS
    budget = Budget(args.budget_s)
    device = torch.device("cpu" if args.cpu_dry_run else "cuda")
    info = machine_info()
    print(describe_machine(info), flush=True)
    results = {"args": vars(args)}
    if not args.skip_tests:
        # the tests get their own limit; the later steps skip themselves when short
        run_step(results, "gpu_tests", budget, 30, gpu_tests,
                 min(args.tests_timeout_s, max(30.0, budget.left() - 120)))
    embedding_steps(results, budget, args, device)
    for method in ("cae", "mca"):
        run_step(results, f"fit_{method}", budget, 60, fit_times, method, args.fit_n, device)
    rows = [{"step": k, **{c: v.get(c) for c in ("images_per_s", "texts_per_s", "fit_s", "acc", "status",
                                                 "wall_s", "error", "skipped")}}
            for k, v in results.items() if isinstance(v, dict) and k != "args"]
    print_table(rows, title=f"gpu_check ({args.model}, fp16, {args.n_images} JPEGs)")
    best = max((v.get("images_per_s", 0) for k, v in results.items()
                if k.startswith("clip_embedder") and isinstance(v, dict)), default=0)
    results["target"] = {"images_per_s": 4000, "best_from_jpeg": best, "met": best >= 4000}
    results["budget_left_s"] = round(budget.left(), 1)
    write_json(args.out_json, {**results, "machine": info})
    print(f"wrote {args.out_json}; {budget.left():.0f} s of the budget left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
