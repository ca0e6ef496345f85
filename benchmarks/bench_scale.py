"""CAEClustering at ImageNet-1K shape: time per stage, peak memory, time per row.

``CAEClustering.fit`` with its defaults (softmax plan rows with certified top-k texts,
``topk="auto"``; weighted-sum fusion; spherical k-means with 20 restarts) on
n x 512 image embeddings, K clusters and m texts, for n in 10k, 100k, 1.28M. Each
fit runs in a fresh subprocess, so its peak RSS is its own. Stages are timed by
wrapping the functions CAE calls:

* ``X T^T + plan rows``: the one blocked pass over the image-text similarities (the
  matrix product, the top-k search with the exact row log-sum-exp, the sums over the
  kept texts), i.e. all of the counterparts;
* ``of which top-k``: the top-k search and certificate alone;
* ``fusion``: fusion weights and fused features (rest of the blocked pass);
* ``k-means``: restarts, final Lloyd run, assignment of every row.

With ``--compare-dense-max`` the same fit with dense plan rows (``topk=None``) runs
too, and the ARI between the two labelings is reported.

``--ot-check`` instead compares the sparse balanced solver with the dense one at
50k x 5k (``sinkhorn_cosine(topk=64)`` vs ``topk=None`` on the stored dense kernel):
certified marginal errors, the column potentials, and the labels of
``CAEClustering(relax_columns=False)`` fitted with each (ARI).

Data: K class centres grouped in K/10 superclasses (neighbouring classes compete for
the same texts), images around their class centre, m texts anchored at the class
centres, and a modality gap (images and texts offset along two fixed directions).
The semantic space is given (the texts), so the selection step is not timed here.

    python benchmarks/bench_scale.py --quick            # CI smoke run (seconds)
    flock /tmp/skclip-bench.lock python benchmarks/bench_scale.py   # 10k, 100k, 1.28M
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's skclip
from _common import (  # noqa: E402
    BENCH_DIR, describe_machine, machine_info, print_table, rss_mb, write_json,
)


def make_data(n, d, K, m, seed=0, gap=0.5):
    """float32 unit images (n, d) with labels, and unit texts (m, d); built in blocks."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def unit(A):
        return (A / np.linalg.norm(A, axis=1, keepdims=True)).astype(np.float32)

    sup = unit(rng.standard_normal((max(1, K // 10), d)))
    centres = unit(sup[np.arange(K) % len(sup)] + 0.8 * unit(rng.standard_normal((K, d))))
    gap_img, gap_txt = unit(rng.standard_normal((2, d)))
    y = rng.integers(0, K, size=n)
    X = np.empty((n, d), dtype=np.float32)
    scale = np.float32(0.6 / np.sqrt(d))
    for s in range(0, n, 65536):
        B = centres[y[s : s + 65536]]
        B += rng.standard_normal(B.shape, dtype=np.float32) * scale
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        X[s : s + 65536] = unit(B + gap * gap_img)
    T = centres[np.arange(m) % K] + rng.standard_normal((m, d), dtype=np.float32) * np.float32(
        0.4 / np.sqrt(d))
    return X, y, unit(unit(T) + gap * gap_txt)


class _Timers:
    """Wall and CPU time spent in wrapped module functions (nested calls counted once).

    CPU time (all threads of the process) is recorded because the machine is shared:
    under contention, wall time measures the neighbours as much as the code, while
    CPU time / threads estimates the wall time on an idle machine.
    """

    def __init__(self):
        self.seconds, self.cpu, self._depth = {}, {}, {}

    def wrap(self, module, name, key):
        fn = getattr(module, name)

        def timed(*args, **kwargs):
            depth = self._depth.get(key, 0)
            self._depth[key] = depth + 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth[key] = depth
                if depth == 0:
                    self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
                    self.cpu[key] = self.cpu.get(key, 0.0) + time.process_time() - c0

        setattr(module, name, timed)


def measure(spec):
    """Child process: build data, fit CAE once with stage timers (JSON line)."""
    import numpy as np
    import torch
    from sklearn.base import BaseEstimator
    from sklearn.metrics import adjusted_rand_score

    from skclip.cluster import CAEClustering, _cae, _fusion, _merge
    from skclip.kmeans import _kmeans

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    t0 = time.perf_counter()
    X, y, T = make_data(spec["n"], spec["d"], spec["k"], spec["m"])
    data_s = time.perf_counter() - t0

    class Texts(BaseEstimator):  # the semantic-space protocol, texts given
        def fit(self, X, y=None):
            self.noun_embeddings_ = T
            self.nouns_ = [f"t{i}" for i in range(len(T))]
            return self

    timers = _Timers()
    timers.wrap(_fusion, "fused_features", "fused")
    timers.wrap(_fusion, "counterpart", "counterparts")
    timers.wrap(_fusion, "topk_rows_block", "topk")
    timers.wrap(_cae, "merged_kmeans", "kmeans")  # k-means, and the 2K run merged
    timers.wrap(_merge, "kmeans", "kmeans_runs")
    timers.wrap(_kmeans, "_fit", "kmeans_restarts_lloyd")
    timers.wrap(_kmeans, "_assign_all", "kmeans_assign")
    timers.wrap(_cae, "centred_unit", "centring")
    est = CAEClustering(n_clusters=spec["k"], semantic_space=Texts(), topk=spec["topk"],
                        kmeans_n_init=spec["n_init"], device=spec["device"], random_state=0)
    rss_before = rss_mb("VmRSS")
    try:  # reset the peak-RSS counter so that it covers the fit only
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(X)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    st, cpu = timers.seconds, timers.cpu
    out = {
        "n": spec["n"], "d": spec["d"], "k": spec["k"], "m_texts": spec["m"],
        "topk": spec["topk"], "threads": torch.get_num_threads(),
        "fit_s": round(fit_s, 1),
        "us_per_row": round(fit_s / spec["n"] * 1e6, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "cpu_us_per_row": round(fit_cpu / spec["n"] * 1e6, 1),
        "stage_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "xt_pass_s": round(st.get("counterparts", 0.0), 1),
        "topk_s": round(st.get("topk", 0.0), 1),
        "fusion_s": round(st.get("fused", 0.0) - st.get("counterparts", 0.0), 1),
        "kmeans_s": round(st.get("kmeans", 0.0), 1),
        "kmeans_train_s": round(st.get("kmeans_restarts_lloyd", 0.0), 1),
        "kmeans_assign_s": round(st.get("kmeans_assign", 0.0), 1),
        "centring_s": round(st.get("centring", 0.0), 1),
        "kmeans_n_iter": int(est.n_iter_),
        "merge_silhouettes": est.merge_silhouettes_,
        "merged": len(est.subcluster_centers_) > len(est.cluster_centers_),
        "data_s": round(data_s, 1),
        "data_mb": round(X.nbytes / 2**20, 1),
        "peak_rss_mb": round(rss_mb("VmHWM"), 1),
        "rss_before_mb": round(rss_before, 1),
        "ari_truth": round(float(adjusted_rand_score(y, est.labels_)), 4),
        "certificate": est.ot_topk_.get("nouns"),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    if spec.get("labels_path"):
        np.save(spec["labels_path"], est.labels_)
    print("RESULT " + json.dumps(out), flush=True)


def ot_check(spec):
    """Child process: sparse vs dense balanced OT at n x m, and CAE labels with each."""
    import numpy as np
    import torch
    from sklearn.base import BaseEstimator
    from sklearn.metrics import adjusted_rand_score

    from skclip.cluster import CAEClustering
    from skclip.cluster._fusion import centred_unit
    from skclip.ot import sinkhorn_cosine

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    X, y, T = make_data(spec["n"], spec["d"], spec["k"], spec["m"])
    Xc, Tc = centred_unit(X, X.mean(axis=0)), centred_unit(T, T.mean(axis=0))
    out = {"n": spec["n"], "m_texts": spec["m"], "d": spec["d"], "k": spec["k"]}
    sols = {}
    for name, topk in (("dense", None), ("sparse", 64)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = sinkhorn_cosine(Xc, Tc, eps=0.01, tol=1e-6, max_iter=1000, topk=topk,
                              block_size=None, return_plan=False)
        out[name] = {"s": round(time.perf_counter() - t0, 1),
                     "cpu_s": round(time.process_time() - c0, 1), "passes": res.n_iter,
                     "row_err": res.row_err, "col_err": res.col_err,
                     "certified": res.certified, "topk": res.topk}
        sols[name] = res.g.astype(np.float64) - np.median(res.g)
    out["g_max_abs_diff_over_eps"] = float(np.abs(sols["dense"] - sols["sparse"]).max() / 0.01)

    class Texts(BaseEstimator):
        def fit(self, X, y=None):
            self.noun_embeddings_ = T
            self.nouns_ = [f"t{i}" for i in range(len(T))]
            return self

    labels = {}
    for name, topk in (("dense", None), ("sparse", 64)):
        est = CAEClustering(n_clusters=spec["k"], semantic_space=Texts(), topk=topk,
                            relax_columns=False, random_state=0, device="cpu").fit(X)
        labels[name] = est.labels_
    out["cae_labels_ari"] = round(float(adjusted_rand_score(labels["dense"],
                                                            labels["sparse"])), 4)
    out["cae_ari_truth"] = round(float(adjusted_rand_score(y, labels["sparse"])), 4)
    print("RESULT " + json.dumps(out), flush=True)


def run_child(spec, timeout):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    env = dict(os.environ)
    if spec.get("threads"):
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(spec["threads"])
    load = round(os.getloadavg()[0], 2)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"n": spec["n"], "topk": spec["topk"], "error": f"timeout {timeout}s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[7:]), "load_avg_1m_start": load}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"n": spec["n"], "topk": spec["topk"], "error": " | ".join(tail)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--sizes", default="10000,100000,1280000", help="comma-separated n")
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=1000, help="clusters")
    parser.add_argument("--texts", type=int, default=20000, help="texts (nouns)")
    parser.add_argument("--n-init", type=int, default=20, help="k-means restarts (CAE: 20)")
    parser.add_argument("--compare-dense-max", type=int, default=100000,
                        help="also fit with dense plan rows (topk=None) up to this n")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per fit")
    parser.add_argument("--out", "--out-json", dest="out",
                        default=str(BENCH_DIR / "out" / "bench_scale.json"))
    parser.add_argument("--ot-check", action="store_true",
                        help="sparse vs dense balanced OT at 50k x 5k (--quick: 4k x 600)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        (ot_check if spec.get("ot_check") else measure)(spec)
        return 0
    if args.ot_check:
        spec = dict(n=4000, m=600, d=64, k=20) if args.quick else dict(
            n=50_000, m=5000, d=args.d, k=100)
        print(describe_machine(machine_info()))
        res = run_child({**spec, "threads": args.threads, "ot_check": True, "topk": 64},
                        args.timeout)
        print(json.dumps(res, indent=1))
        write_json(args.out, {"benchmark": "bench_scale --ot-check", "quick": args.quick,
                              "result": res})
        print(f"wrote {args.out}")
        return 0
    if args.quick:
        args.sizes, args.d, args.k, args.texts = "2000,8000", 64, 20, 3000
        args.compare_dense_max = 8000
    sizes = [int(s) for s in args.sizes.split(",") if s]
    info = machine_info()
    print(describe_machine(info))
    common = dict(d=args.d, k=args.k, m=args.texts, n_init=args.n_init, device=args.device,
                  threads=args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            variants = ["auto"] + ([None] if n <= args.compare_dense_max else [])
            labels = {}
            for topk in variants:
                path = str(Path(tmp) / f"labels_{n}_{topk}.npy")
                res = run_child({**common, "n": n, "topk": topk, "labels_path": path},
                                args.timeout)
                if "error" not in res:
                    import numpy as np

                    labels[topk] = np.load(path)
                rows.append(res)
                print(json.dumps(res), flush=True)
            if len(labels) == 2:
                from sklearn.metrics import adjusted_rand_score

                rows[-2]["ari_vs_dense"] = round(
                    float(adjusted_rand_score(labels[None], labels["auto"])), 4)
    auto = [r for r in rows if r.get("topk") == "auto" and "us_per_row" in r]
    growth = cpu_growth = None
    if len(auto) >= 2:
        growth = round(auto[-1]["us_per_row"] / auto[-2]["us_per_row"], 2)
        cpu_growth = round(auto[-1]["cpu_us_per_row"] / auto[-2]["cpu_us_per_row"], 2)
    print_table(rows, ["n", "topk", "fit_s", "us_per_row", "fit_cpu_s", "cpu_us_per_row",
                       "xt_pass_s", "topk_s", "fusion_s",
                       "kmeans_s", "kmeans_train_s", "kmeans_assign_s", "kmeans_n_iter",
                       "peak_rss_mb", "ari_truth", "ari_vs_dense", "load_avg_1m_start",
                       "error"],
                title=f"\nCAEClustering fit, d={args.d}, K={args.k}, m={args.texts} texts, "
                      f"kmeans_n_init={args.n_init}; time per row, last two sizes: x{growth} "
                      f"(CPU time per row: x{cpu_growth})")
    payload = {"benchmark": "bench_scale", "quick": args.quick, "config": common,
               "sizes": sizes, "results": rows, "time_per_row_growth_last_two": growth,
               "cpu_time_per_row_growth_last_two": cpu_growth,
               "machine": info}
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
