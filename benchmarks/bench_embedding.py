"""CLIP image-embedding throughput: skclip.embed.CLIPEmbedder vs raw open_clip.

    python benchmarks/bench_embedding.py [--quick] [--n-images 512] [--model ViT-B-32]
        [--devices cpu,cuda] [--batch-size 32] [--out-json FILE]

Both paths start from the same JPEG files (a class-balanced subset of the CIFAR-10
test split in ``$SKCLIP_ASSETS/cifar10/cifar10-test.zip``, extracted to a temporary
folder) and end with L2-normalised float32 numpy embeddings:

* anchor: ``open_clip.create_model_and_transforms`` + ``PIL.Image.open`` +
  ``preprocess`` + ``model.encode_image`` on batches, the loop every open_clip user
  writes;
* skclip: ``CLIPEmbedder(pretrained=None).transform(paths)``.

Weights are random (``pretrained=None``): the cost is the pretrained model's.
Reported: images/s of each, ``ratio`` = skclip / anchor (> 1: skclip faster), and
the largest absolute difference between the two embeddings (same weights are
copied into the anchor, so the outputs should agree). Model creation is excluded;
one warm-up batch runs first. CUDA is measured when present (``--devices``).

``--precision-check`` (CPU): the same images embedded in float32 and in bfloat16 by
two ``CLIPEmbedder`` (``precision="fp32"`` / ``"bf16"``) loading one saved
random-weight checkpoint, in interleaved chunks (so a shared machine's load hits
both alike): the minimum and median cosine between the two embeddings of each image
and the bf16 / fp32 images/s ratio: the measurement behind the CPU choice of
``precision="auto"`` (bfloat16 images only if the drift is below 1e-3 in cosine; see
``benchmarks/RESULTS.md`` for why they stay float32). Random weights: a trained
tower's activations (large-magnitude outlier features) may round differently.

    python benchmarks/bench_embedding.py --precision-check --n-images 1000 \
        --out-json benchmarks/out/image_precision.json
"""

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_common_args, assets_dir, machine_info, peak_rss_mb, print_table, set_threads,
    speed_ratio, write_json,
)

from skclip.datasets import extract_image_archive  # noqa: E402

TARGET_RATIO = 0.9  # skclip's own target: at most 10% overhead over the raw loop


def save_random_checkpoint(model, path, seed=0):
    """Save a random-weight ``model`` (name or JSON config) as a loadable checkpoint."""
    import open_clip
    import torch

    from skclip.embed._model import _model_name  # registers a JSON model config

    torch.manual_seed(seed)
    name, _ = _model_name(model)
    torch.save(open_clip.create_model(name, pretrained=None).state_dict(), path)
    return path


def image_precision_check(paths, *, model_name, batch_size, ckpt, chunks=4):
    """bf16 vs fp32 image embeddings of the same images on the CPU: cosines and speed."""
    from skclip.embed import CLIPEmbedder

    encs = {p: CLIPEmbedder(model=model_name, pretrained=str(ckpt), device="cpu",
                            batch_size=batch_size, precision=p, verbose=0)
            for p in ("fp32", "bf16")}
    for enc in encs.values():  # load and warm up outside the timed passes
        enc.fit().transform(paths[:batch_size])
    seconds, out = {"fp32": 0.0, "bf16": 0.0}, {"fp32": [], "bf16": []}
    per = -(-len(paths) // chunks)
    for k in range(chunks):
        part = paths[k * per:(k + 1) * per]
        for p in (("fp32", "bf16") if k % 2 == 0 else ("bf16", "fp32")):
            t0 = time.perf_counter()
            out[p].append(np.asarray(encs[p].transform(part)))
            seconds[p] += time.perf_counter() - t0
    cos = np.sum(np.concatenate(out["fp32"]) * np.concatenate(out["bf16"]), axis=1)
    return {
        "case": f"{model_name} cpu bf16 vs fp32 bs={batch_size}", "n_images": len(cos),
        "fp32_per_s": len(cos) / seconds["fp32"], "bf16_per_s": len(cos) / seconds["bf16"],
        "bf16_speedup": seconds["fp32"] / seconds["bf16"],
        "min_cosine": float(cos.min()), "median_cosine": float(np.median(cos)),
        "max_drift": float(1 - cos.min()), "drift_below_1e-3": bool(1 - cos.min() < 1e-3),
    }


def anchor_embed(model, preprocess, paths, batch_size, device):
    """The plain open_clip loop: decode, preprocess, encode_image, normalise."""
    import torch
    from PIL import Image

    dtype = next(model.parameters()).dtype
    out = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = []
            for p in paths[start:start + batch_size]:
                with Image.open(p) as im:
                    batch.append(preprocess(im.convert("RGB")))
            images = torch.stack(batch).to(device=device, dtype=dtype)
            feats = model.encode_image(images).float()
            feats = feats / feats.norm(dim=-1, keepdim=True)
            out.append(feats.cpu().numpy())
    return np.concatenate(out)


def bench_device(paths, *, model_name, device, batch_size, repeat):
    """Time anchor and skclip on one device; returns a result row."""
    import open_clip
    import torch

    from skclip.embed import CLIPEmbedder
    from skclip.embed._model import load_clip, resolve_precision

    dev = torch.device(device)
    precision = resolve_precision("auto", dev)
    embedder = CLIPEmbedder(model=model_name, pretrained=None, device=device,
                            batch_size=batch_size, precision=precision, verbose=0)
    embedder.fit(paths[:batch_size])
    loaded = load_clip(model_name, None, device, precision)
    anchor_model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=None, device=dev, precision=precision)
    anchor_model.load_state_dict(loaded.model.state_dict())  # same weights: comparable outputs
    anchor_model.eval()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    # warm-up (allocator, kernels, first-batch lazy init)
    anchor_embed(anchor_model, preprocess, paths[:batch_size], batch_size, dev)
    embedder.transform(paths[:batch_size])
    times = {"anchor": [], "skclip": []}
    for _ in range(repeat):  # interleaved, so machine-load drift hits both alike
        for name in ("anchor", "skclip"):
            sync()
            t0 = time.perf_counter()
            if name == "anchor":
                emb_anchor = anchor_embed(anchor_model, preprocess, paths, batch_size, dev)
            else:
                emb_skclip = embedder.transform(paths)
            sync()
            times[name].append(time.perf_counter() - t0)
    anchor_ips = len(paths) / min(times["anchor"])
    skclip_ips = len(paths) / min(times["skclip"])
    return {
        "case": f"{model_name} {dev.type} {precision} bs={batch_size}",
        "device": dev.type,
        "precision": precision,
        "n_images": len(paths),
        "anchor_per_s": anchor_ips,
        "skclip_per_s": skclip_ips,
        "ratio": speed_ratio(skclip_ips, anchor_ips, higher_is_better=True),
        "max_abs_diff": float(np.abs(np.asarray(emb_skclip) - emb_anchor).max()),
        "anchor_times_s": times["anchor"],
        "skclip_times_s": times["skclip"],
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--n-images", type=int, default=None, help="default 512 (quick: 64)")
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeat", type=int, default=None, help="timed passes (default 2; quick 1)")
    p.add_argument("--devices", default="auto",
                   help="comma-separated devices; 'auto' = cpu, plus cuda when present")
    p.add_argument("--assets", default=None, help="assets folder (default: $SKCLIP_ASSETS)")
    p.add_argument("--precision-check", action="store_true",
                   help="CPU only: bf16 vs fp32 embeddings of the same images (cosines, speed)")
    args = p.parse_args(argv)
    args.n_images = args.n_images or (64 if args.quick else 512)
    args.repeat = args.repeat or (1 if args.quick else 2)
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch

    # random weights are the point here: silence open_clip's and skclip's notices
    warnings.filterwarnings("ignore", message=".*random weights.*")
    logging.getLogger().setLevel(logging.ERROR)

    threads = set_threads(args.threads)
    assets = assets_dir(args.assets)
    zip_path = assets / "cifar10" / "cifar10-test.zip" if assets else None
    if zip_path is None or not zip_path.is_file():
        print("CIFAR-10 assets not found: set SKCLIP_ASSETS=/path/to/assets",
              file=sys.stderr)
        return 2
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    rows = []
    if args.precision_check:
        with tempfile.TemporaryDirectory(prefix="skclip-bench-prec-") as tmp:
            paths = extract_image_archive(zip_path, Path(tmp) / "img", n_images=args.n_images)
            ckpt = save_random_checkpoint(args.model, Path(tmp) / "weights.pt")
            row = image_precision_check(paths, model_name=args.model,
                                        batch_size=args.batch_size, ckpt=ckpt)
        print_table([row], ["case", "n_images", "fp32_per_s", "bf16_per_s", "bf16_speedup",
                            "min_cosine", "median_cosine"],
                    title=f"CLIP image embedding on the CPU, bf16 vs fp32 (random weights), "
                          f"torch threads {threads}")
        write_json(args.out_json, {"benchmark": "embedding_precision", "quick": args.quick,
                                   "results": [row], "machine": machine_info()})
        return 0
    with tempfile.TemporaryDirectory(prefix="skclip-bench-embed-") as tmp:
        paths = extract_image_archive(zip_path, tmp, n_images=args.n_images)
        for device in devices:
            # the CPU pass would take minutes on 2 cores with a full-size GPU run
            n = len(paths) if device != "cpu" or args.quick else min(len(paths), 512)
            rows.append(bench_device(paths[:n], model_name=args.model, device=device,
                                     batch_size=args.batch_size, repeat=args.repeat))
    print_table(rows, ["case", "n_images", "anchor_per_s", "skclip_per_s", "ratio",
                       "max_abs_diff"],
                title=f"CLIP image embedding, images/s (JPEG -> unit vectors), "
                      f"torch threads {threads}; ratio = skclip / open_clip loop")
    for row in rows:
        if not args.quick:
            row["target"] = f"ratio >= {TARGET_RATIO}"
            row["met"] = row["ratio"] >= TARGET_RATIO
    write_json(args.out_json, {"benchmark": "embedding", "quick": args.quick,
                               "anchor": "open_clip encode_image loop",
                               "results": rows, "peak_rss_mb": peak_rss_mb(),
                               "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
