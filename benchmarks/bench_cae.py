"""CAEClustering fit time and peak memory, against scikit-learn's KMeans(n_init=20).

Two parts, each measurement in a fresh subprocess so that peak memory is its own:

1. comparison at n=50k, d=512, K=10, m=1k texts (500 nouns + 500 captions):
   ``CAEClustering.fit`` (OT alignment + fusion + k-means with 20 restarts) vs
   ``sklearn.cluster.KMeans(n_init=20)`` and our ``CLIPKMeans`` on the same image
   features;
2. scaling of ``CAEClustering.fit`` with n in {10k, 100k, 1M} (capped by --max-n).

Data: random unit vectors around K class centres, text anchors near the centres
(generated in float32 blocks, so 1M x 512 costs 2 GB and no float64 copy).

    python benchmarks/bench_cae.py               # full run (minutes)
    python benchmarks/bench_cae.py --quick       # CI smoke run (seconds)
    python benchmarks/bench_cae.py --max-n 100000 --out benchmarks/out/bench_cae.json
    python benchmarks/bench_cae.py --fusion-check  # CAE's fusion weightings, same run

``--fusion-check`` fits only CAE at the comparison size, with its defaults
(``weighting="neighbourhood"``, ``text_pool=3``, ``overclustering=2``), with them but
k-means alone (``overclustering=1``) and with the defaults before issue 24
(``weighting="prototype"``, ``text_pool=1``, ``overclustering=1``), back to back, and
reports wall and CPU seconds and their ratios to the last (CPU seconds are the fairer
figure on a shared machine).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    BENCH_DIR, describe_machine, machine_info, print_table, rss_mb, unit_blobs, write_json,
)


def make_data(n, d, k, m, seed=0):
    """Unit image rows around k centres (noise norm ~0.6) and m text anchors, float32."""
    import numpy as np

    X, y, centers, rng = unit_blobs(n, d, k, 0.6, seed)
    noise = rng.standard_normal((m, d), dtype=np.float32) * np.float32(0.4 / np.sqrt(d))
    T = centers[np.arange(m) % k] + noise
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X, y, T[: m // 2], T[m // 2 :]


def measure(spec):
    """Child process: build data, fit one method, report time and memory (JSON line)."""
    import warnings

    import torch
    from sklearn.base import BaseEstimator
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    from skclip.cluster import CAEClustering, CLIPKMeans
    from skclip.metrics import clustering_accuracy

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    X, y, U, V = make_data(spec["n"], spec["d"], spec["k"], spec["m"])

    class Texts(BaseEstimator):  # the semantic-space protocol, texts given
        def fit(self, X, y=None):
            self.noun_embeddings_, self.caption_embeddings_ = U, V
            self.nouns_ = [f"n{i}" for i in range(len(U))]
            self.captions_ = [f"c{i}" for i in range(len(V))]
            return self

    method, k, seed = spec["method"], spec["k"], 0
    if method == "sklearn_kmeans":
        est = KMeans(n_clusters=k, n_init=20, random_state=seed)
    elif method == "clip_kmeans":
        est = CLIPKMeans(n_clusters=k, device=spec["device"], random_state=seed)
    else:  # "cae" (the default), "cae_kmeans" (k-means alone) or "cae_prototype"
        # (the defaults before issue 24)
        variant = {"cae": {}, "cae_kmeans": {"overclustering": 1},
                   "cae_prototype": {"weighting": "prototype", "text_pool": 1,
                                     "overclustering": 1}}[method]
        est = CAEClustering(n_clusters=k, semantic_space=Texts(), device=spec["device"],
                            random_state=seed, ot_iters=spec.get("ot_iters", 1000),
                            kmeans_n_init=spec.get("n_init", 20), **variant)
    rss_before = rss_mb("VmRSS")
    try:  # reset the peak-RSS counter so that it covers the fit only
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = est.fit(X).labels_
    if spec["device"] != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "method": method, "threads": torch.get_num_threads(), "n": spec["n"], "d": spec["d"],
        "k": k, "m_texts": spec["m"],
        "fit_s": round(seconds, 3),
        "cpu_s": round(cpu_seconds, 3),
        "data_mb": round(X.nbytes / 2**20, 1),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(rss_mb("VmHWM"), 1),
        "acc": round(float(clustering_accuracy(y, labels)), 4),
    }
    out["fit_extra_mb"] = round(out["peak_rss_mb"] - rss_before, 1)
    out["convergence_warnings"] = sum(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    if method.startswith("cae"):  # Sinkhorn passes and the column-marginal error of each potential
        out["ot_n_iter"] = dict(getattr(est, "ot_n_iter_", {}))
        out["ot_col_err"] = {
            name: _col_err(X, T, g, est.ot_eps)
            for name, T, g in (("nouns", est.noun_embeddings_, est.g_u_),
                               ("captions", est.caption_embeddings_, est.g_v_)) if len(T)
        }
    if torch.cuda.is_available() and spec["device"] != "cpu":
        out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print("RESULT " + json.dumps(out), flush=True)


def _col_err(X, T, g, eps, block=8192):
    """Relative L1 column-marginal error of the row-exact plan for potential ``g``."""
    import numpy as np

    from skclip.ot import plan_rows

    s = np.zeros(len(T))
    for i in range(0, len(X), block):
        s += plan_rows(1.0 - X[i : i + block] @ T.T, g, eps).sum(axis=0, dtype=np.float64)
    s /= len(X)
    return float(np.abs(s - 1.0 / len(T)).sum())


def run_child(spec, timeout):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    env = dict(os.environ)
    if spec.get("threads"):  # the same thread count for torch and for sklearn's OpenMP/BLAS
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(spec["threads"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": spec["method"], "n": spec["n"], "error": f"timeout {timeout}s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"method": spec["method"], "n": spec["n"], "error": " | ".join(tail)}


def fusion_check(base, common, args):
    """CAE with each fusion weighting at the comparison size, in one run."""
    runs = [run_child({**base, **common, "method": meth}, args.timeout)
            for meth in ("cae_prototype", "cae_kmeans", "cae")]
    by = {r["method"]: r for r in runs}
    ratio = {f"{meth}_{key}": round(by[meth][key] / by["cae_prototype"][key], 3)
             for meth in ("cae_kmeans", "cae") for key in ("fit_s", "cpu_s")
             if all(key in r for r in runs)}
    print_table(runs, ["method", "n", "d", "k", "m_texts", "fit_s", "cpu_s", "peak_rss_mb",
                       "acc", "error"],
                title=f"\nCAE fit, time over the defaults before issue 24: {ratio}")
    payload = {"benchmark": "bench_cae_fusion", "quick": args.quick, "config": base,
               "device": args.device, "runs": runs, "over_before_issue24": ratio,
               "note": "machine shared with other jobs: see machine.load_avg_1m"}
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0 if all("error" not in r for r in runs) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--max-n", type=int, default=1_000_000, help="largest n of the scaling run")
    parser.add_argument("--out", "--out-json", dest="out",
                        default=str(BENCH_DIR / "out" / "bench_cae.json"), help="JSON output path")
    parser.add_argument("--device", default="cpu", help="torch device for skclip (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--ot-iters", type=int, default=1000,
                        help="Sinkhorn iterations of the scaling runs (CAE default 1000)")
    parser.add_argument("--n-init", type=int, default=20,
                        help="k-means restarts of the scaling runs (CAE default 20)")
    parser.add_argument("--skip-compare", action="store_true", help="only the scaling run")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument("--fusion-check", action="store_true",
                        help="only CAE: defaults, k-means alone, defaults before issue 24 (time ratios)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        measure(json.loads(args.child))
        return 0

    if args.quick:
        base = dict(n=5000, d=64, k=10, m=200)
        sizes = [1000, 5000, 10000]
    else:
        base = dict(n=50_000, d=512, k=10, m=1000)
        sizes = [10_000, 100_000, 1_000_000]
    sizes = [n for n in sizes if n <= args.max_n]
    common = dict(device=args.device, threads=args.threads)
    print(describe_machine(machine_info()))

    if args.fusion_check:
        return fusion_check(base, common, args)
    methods = () if args.skip_compare else ("sklearn_kmeans", "clip_kmeans", "cae")
    compare = [run_child({**base, **common, "method": meth}, args.timeout) for meth in methods]
    by = {r["method"]: r for r in compare}
    ratio = None
    if "fit_s" in by.get("cae", {}) and "fit_s" in by.get("sklearn_kmeans", {}):
        ratio = round(by["cae"]["fit_s"] / by["sklearn_kmeans"]["fit_s"], 3)
    print_table(compare, ["method", "n", "d", "k", "m_texts", "fit_s", "peak_rss_mb",
                          "fit_extra_mb", "acc", "ot_n_iter", "ot_col_err",
                          "convergence_warnings", "error"],
                title=f"\nFit at n={base['n']}, d={base['d']}: CAE / sklearn KMeans(n_init=20) "
                      f"time = {ratio}")

    overrides = dict(ot_iters=args.ot_iters, n_init=args.n_init)
    scaling = [run_child({**base, **common, **overrides, "n": n, "method": "cae"}, args.timeout)
               for n in sizes]
    print_table(scaling, ["method", "n", "fit_s", "data_mb", "peak_rss_mb", "fit_extra_mb",
                          "gpu_peak_mb", "acc", "ot_n_iter", "ot_col_err",
                          "convergence_warnings", "error"],
                title=f"\nCAEClustering scaling (ot_iters={args.ot_iters}, "
                      f"kmeans_n_init={args.n_init})")

    payload = {
        "benchmark": "bench_cae", "quick": args.quick, "config": base, "device": args.device,
        "compare": compare, "cae_over_sklearn_kmeans_time": ratio,
        # suite convention: skclip_s / anchor_s / ratio (> 1 means skclip is faster)
        "skclip_s": by.get("cae", {}).get("fit_s"),
        "anchor_s": by.get("sklearn_kmeans", {}).get("fit_s"),
        "ratio": round(1 / ratio, 3) if ratio else None,
        "scaling": scaling, "scaling_params": overrides,
        "note": "machine shared with other jobs: see machine.load_avg_1m",
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0 if all("error" not in r for r in compare + scaling) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    sys.exit(main())
