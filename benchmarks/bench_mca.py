"""MCAClustering fit time (per phase, per epoch, total) and peak memory on CPU.

Problem: n=50k image embeddings, d=512, K=10 (CIFAR-10 scale), synthetic CLIP-like
data (``make_clip_blobs``) with a 20k-text vocabulary given as embeddings, selected by
``SemanticSpaceBuilder(selection="mca")`` exactly as in the default semantic space
(500 nouns per k-means centre, uniqueness filter). Only the CLIP text encoding of the
WordNet vocabulary is skipped: in real use it is computed once and cached on disk.
Every training parameter is MCAClustering's default. Target: the full default fit
<= 60 s on 2 CPU cores. The load average is recorded before and after the run
(the development machine is shared; with a load above the thread count, wall
times are inflated and ``cpu_s / threads`` estimates an idle machine).

Phases are timed by wrapping the library functions (no change to the library):
semantic space fit, image self k-NN, image-to-text k-NN and the per-epoch
pseudo-label passes, training epochs. CPU seconds are reported next to wall seconds
because the development machine is shared: with a high load, wall time overstates
the cost and ``cpu_s / threads`` is the better estimate of an idle machine.

    python benchmarks/bench_mca.py                 # 50k x 512 (about a minute)
    python benchmarks/bench_mca.py --quick         # CI smoke run (5k x 512)
    python benchmarks/bench_mca.py --n 20000 --threads 2 --out benchmarks/out/bench_mca.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR, describe_machine, machine_info, print_table, write_json,
)


def _load_now():
    try:
        import os

        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _hwm_mb():
    """Peak resident memory (VmHWM) of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_hwm():
    """Reset VmHWM to the current RSS (Linux); returns False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _Clock:
    """Wall and CPU seconds since creation."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def __call__(self):
        return time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def _instrument(events, clock):
    """Wrap k-NN, the semantic space fit, training and the per-epoch pass to log times."""
    import skclip.neighbors
    from skclip.cluster import _mca, _mca_nets
    from skclip.semantic import SemanticSpaceBuilder

    inside = []  # k-NN calls made by the semantic space count as semantic space

    def timed(label_fn, fn, *, suppress=False, quiet_inside=False):
        def wrapper(*args, **kwargs):
            if quiet_inside and inside:
                return fn(*args, **kwargs)
            if suppress:
                inside.append(True)
            start = clock()
            try:
                out = fn(*args, **kwargs)
            finally:
                if suppress:
                    inside.pop()
            events.append((label_fn(*args, **kwargs), start, clock()))
            return out

        return wrapper

    knn = skclip.neighbors.knn
    skclip.neighbors.knn = timed(
        lambda X, Y=None, *a, **k: "image k-NN" if Y is None else "text k-NN", knn,
        quiet_inside=True)
    SemanticSpaceBuilder.fit = timed(lambda *a, **k: "semantic space", SemanticSpaceBuilder.fit,
                                     suppress=True)
    _mca.train_mca = timed(lambda *a, **k: "training", _mca.train_mca)
    net = _mca_nets.MCANetworks
    net.full_pass = timed(lambda *a, **k: "epoch start", net.full_pass)


def run(n, d, k, n_texts, threads, seed=0):
    import numpy as np
    import torch

    from skclip.cluster import MCAClustering
    from skclip.kmeans import kmeans
    from skclip.datasets import make_clip_blobs
    from skclip.metrics import clustering_accuracy
    from skclip.semantic import SemanticSpaceBuilder

    torch.set_num_threads(threads)
    data = make_clip_blobs(n_samples=n, n_clusters=k, n_features=d, spread=2.0,
                           center_similarity=0.3, n_texts_per_cluster=n_texts // k,
                           misaligned_fraction=0.1, random_state=seed)
    X, T = np.ascontiguousarray(data.X), data.text_embeddings
    space = SemanticSpaceBuilder(vocabulary=T, selection="mca", n_centers=k, gamma_u=0.05,
                                 gamma_r=500, hier_min_depth=6, random_state=seed)
    mca = MCAClustering(n_clusters=k, semantic_space=space, device="cpu", random_state=seed)
    events, clock = [], _Clock()
    _instrument(events, clock)
    exact_hwm = _reset_hwm()
    rss0 = _hwm_mb()
    clock.__init__()
    mca.fit(X)
    total_wall, total_cpu = clock()
    peak = _hwm_mb()

    phases, train_end = {}, (total_wall, total_cpu)
    for label, (w0, c0), (w1, c1) in events:
        if label == "training":
            train_end = (w1, c1)
        if label in ("epoch start", "training"):
            continue
        wall, cpu = phases.get(label, (0.0, 0.0))
        phases[label] = (wall + w1 - w0, cpu + c1 - c0)
    phases["after training (predict, centres)"] = (total_wall - train_end[0],
                                                   total_cpu - train_end[1])
    # full passes: one at the start of each epoch, then one after the last epoch
    # (final attention peaks); an epoch runs from its pass to the next one
    passes = [(w0, c0) for label, (w0, c0), _ in events if label == "epoch start"]
    marks = passes[-(mca.n_iter_ + 1):] if len(passes) > mca.n_iter_ else passes + [train_end]
    starts = marks[:-1]
    epochs = [{"epoch": i + 1, "wall_s": marks[i + 1][0] - marks[i][0],
               "cpu_s": marks[i + 1][1] - marks[i][1], "loss": mca.loss_curve_[i]}
              for i in range(len(starts))]
    acc = clustering_accuracy(data.y, mca.labels_)
    acc_km = clustering_accuracy(data.y, kmeans(X, k, spherical=True, random_state=seed,
                                                device="cpu").labels)
    return {
        "case": f"default fit {n}x{d} K={k}",
        "n": n, "d": d, "k": k, "n_vocabulary": len(T),
        "n_texts_selected": len(mca.semantic_space_.nouns_),
        "threads": threads,
        "total_s": total_wall,
        "total_cpu_s": total_cpu,
        "idle_estimate_s": total_cpu / threads,
        "epochs": mca.n_iter_,
        "batch_size": mca.batch_size,
        "mean_epoch_wall_s": float(np.mean([e["wall_s"] for e in epochs])),
        "mean_epoch_cpu_s": float(np.mean([e["cpu_s"] for e in epochs])),
        "phases": [{"phase": p, "wall_s": w, "cpu_s": c} for p, (w, c) in phases.items()],
        "per_epoch": epochs,
        "peak_rss_mb": peak,
        "peak_rss_increase_mb": peak - rss0 if exact_hwm else None,
        "acc_mca": acc,
        "acc_kmeans": acc_km,
        "attention_peak_first_last": [mca.attention_peak_[0], mca.attention_peak_[-1]],
        "attention_uniform": 1.0 / mca.n_txt_neighbors,
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke run: n=5000 (< 60 s)")
    p.add_argument("--n", type=int, default=None, help="number of images (default 50000)")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n-texts", type=int, default=20000, help="vocabulary size")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--out", "--out-json", dest="out",
                   default=str(BENCH_DIR / "out" / "bench_mca.json"),
                   metavar="PATH", help="JSON output (default benchmarks/out/bench_mca.json)")
    args = p.parse_args(argv)
    if args.n is None:
        args.n = 5000 if args.quick else 50000
    if args.quick:
        args.n_texts = min(args.n_texts, 2000)
    return args


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    print(f"Machine: {describe_machine(info)}", flush=True)
    res = run(args.n, args.d, args.k, args.n_texts, args.threads)
    print_table(res["phases"], title=f"\n{res['case']}: phases outside the training steps")
    print_table(res["per_epoch"], title="\nper epoch (includes its pseudo-label pass)")
    summary = {key: res[key] for key in ("case", "threads", "epochs", "batch_size", "total_s",
                                         "total_cpu_s", "idle_estimate_s", "peak_rss_mb",
                                         "acc_mca", "acc_kmeans")}
    summary["load_1m_before_after"] = f"{info.get('load_avg_1m')} / {_load_now()}"
    print_table([summary], title="\ntotal (target: <= 60 s on 2 idle cores)")
    if info.get("load_avg_1m") and info["load_avg_1m"] > args.threads:
        print(f"note: load average {info['load_avg_1m']} > {args.threads} threads; the "
              "machine is shared, wall times are inflated (see idle_estimate_s).")
    info["load_avg_1m_after"] = _load_now()
    payload = {"benchmark": "mca", "quick": args.quick, "results": [res], "machine": info,
               "target": "full default fit <= 60 s on 2 CPU cores (50k x 512, K=10)"}
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return json.dumps(summary)


if __name__ == "__main__":
    main()
