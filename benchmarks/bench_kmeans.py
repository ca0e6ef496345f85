"""k-means that scales with K and n: subsample training, blocked assignment, faiss.

    python benchmarks/bench_kmeans.py                 # all parts (long: K=1000, 1.28M rows)
    python benchmarks/bench_kmeans.py --quick         # CI smoke run (seconds)
    python benchmarks/bench_kmeans.py --parts scale --n 1280000 --k 1000

Parts (each prints a table; all go to one JSON):

* ``same``: on small data (n <= 256 K) the default equals ``max_points_per_centroid=None``
  (the k-means before subsampling existed): same labels, centres, inertia.
* ``quality``: subsampled training (256 rows per centre, faiss's default) against
  training on every row, same seeds: inertia ratio, ARI between the two, time ratio.
* ``scale``: one k-means run at ImageNet shape (default n = 1.28M, d = 512, K = 1000),
  time per stage: k-means++ seeding and Lloyd iterations on the subsample, then the
  blocked assignment of every row. The cost of training on every row (the previous
  behaviour) is the measured time per Lloyd iteration and seeding on the subsample,
  scaled by n / subsample (both are linear in the rows): a projection, marked so.
* ``faiss``: nearest-centre assignment by faiss ``IndexFlatL2`` against skclip's torch
  blocks on the same rows (the only step where faiss has the same semantics: faiss's
  own k-means seeds at random, not k-means++).

Data: unit rows around K centres, generated in float32 blocks.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import (  # noqa: E402
    describe_machine, machine_info, peak_rss_mb, print_table, unit_blobs, write_json,
)


def make_data(n, d, k, seed=0, noise=1.0):
    X, y, _, _ = unit_blobs(n, d, k, noise, seed)
    return X, y


def part_same(args):
    import numpy as np

    from skclip.kmeans import kmeans

    rows = []
    for n, d, k, sph in [(2000, 64, 10, False), (5000, 64, 20, True)][: 1 if args.quick else 2]:
        X, _ = make_data(n, d, k)
        t0 = time.perf_counter()
        a = kmeans(X, k, n_init=args.n_init, spherical=sph, random_state=0)
        t1 = time.perf_counter()
        b = kmeans(X, k, n_init=args.n_init, spherical=sph, random_state=0,
                   max_points_per_centroid=None)
        t2 = time.perf_counter()
        rows.append({"n": n, "d": d, "K": k, "spherical": sph,
                     "same_labels": bool(np.array_equal(a.labels, b.labels)),
                     "same_centers": bool(np.array_equal(a.centers, b.centers)),
                     "same_inertia": a.inertia == b.inertia,
                     "default_s": t1 - t0, "whole_s": t2 - t1})
    print_table(rows, title="\n[same] n <= 256 K: default == max_points_per_centroid=None")
    return rows


def part_quality(args):
    from sklearn.metrics import adjusted_rand_score

    from skclip.kmeans import kmeans

    n, d, k = (6000, 32, 10) if args.quick else (100_000, 128, 100)
    X, y = make_data(n, d, k, noise=2.0)
    rows = []
    for mppc in (256, 64, None):
        t0 = time.perf_counter()
        r = kmeans(X, k, n_init=args.n_init, max_iter=args.max_iter, spherical=True,
                   random_state=0, max_points_per_centroid=mppc)
        rows.append({"n": n, "d": d, "K": k, "points_per_centroid": mppc or "all",
                     "seconds": time.perf_counter() - t0, "inertia": r.inertia,
                     "n_iter": r.n_iter, "ari_truth": adjusted_rand_score(y, r.labels),
                     "labels": r.labels})
    full = rows[-1]
    for row in rows:
        row["inertia_vs_all"] = row["inertia"] / full["inertia"]
        row["ari_vs_all"] = adjusted_rand_score(full["labels"], row.pop("labels"))
        row["speedup_vs_all"] = full["seconds"] / row["seconds"]
    print_table(rows, title=f"\n[quality] subsample vs every row (spherical, n_init="
                            f"{args.n_init}, max_iter={args.max_iter})")
    return rows


def part_scale(args):
    import torch

    from skclip.kmeans import _kmeans
    from skclip.kmeans import kmeans

    n, d, k = (20_000, 64, 20) if args.quick else (args.n, args.d, args.k)
    t0 = time.perf_counter()
    X, _ = make_data(n, d, k)
    gen_s = time.perf_counter() - t0
    stages = {"seeding": 0.0, "lloyd": 0.0, "assign": 0.0, "lloyd_iters": 0}
    timed = {}

    def wrap(mod, name, key):
        real = getattr(mod, name)

        def inner(*a, **kw):
            s = time.perf_counter()
            out = real(*a, **kw)
            stages[key] += time.perf_counter() - s
            if key == "lloyd":
                stages["lloyd_iters"] += sum(out[3])
            return out
        timed[(mod, name)] = real
        setattr(mod, name, inner)

    wrap(_kmeans, "_kmeans_plusplus", "seeding")
    wrap(_kmeans, "_lloyd", "lloyd")
    wrap(_kmeans, "_assign_all", "assign")
    try:
        t0 = time.perf_counter()
        res = kmeans(X, k, n_init=args.n_init, max_iter=args.max_iter, spherical=True,
                     random_state=0, verbose=args.verbose)
        total = time.perf_counter() - t0
    finally:
        for (mod, name), real in timed.items():
            setattr(mod, name, real)
    sub = min(n, 256 * k)
    per_iter = stages["lloyd"] / max(stages["lloyd_iters"], 1)
    row = {"n": n, "d": d, "K": k, "train_rows": sub, "n_init": args.n_init,
           "max_iter": args.max_iter, "lloyd_iters": stages["lloyd_iters"],
           "n_iter_best": res.n_iter, "seeding_s": stages["seeding"],
           "lloyd_s": stages["lloyd"], "s_per_iter": per_iter,
           "assign_s": stages["assign"], "total_s": total, "datagen_s": gen_s,
           "threads": torch.get_num_threads(), "peak_rss_mb": peak_rss_mb()}
    # projection for training on every row (previous behaviour): linear in the rows
    scale = n / sub
    row["all_rows_projected_s"] = (stages["seeding"] + stages["lloyd"]) * scale
    print_table([row], title=f"\n[scale] one k-means at n={n}, d={d}, K={k} (spherical)")
    print(f"  training on every row (previous behaviour), same settings: "
          f"~{row['all_rows_projected_s']:.0f} s (projected: seeding and iterations are "
          f"linear in the rows, x{scale:.1f})")
    return [row]


def part_faiss(args):
    import numpy as np

    from skclip.kmeans import assign

    try:
        import faiss
    except ImportError:
        print("\n[faiss] not installed: skipped")
        return []
    n, d, k = (20_000, 64, 50) if args.quick else (200_000, 512, 1000)
    X, _ = make_data(n, d, k)
    C = X[np.random.default_rng(1).choice(n, k, replace=False)]
    rows = []
    for rep in range(2):
        t0 = time.perf_counter()
        lab, _ = assign(X, C, device="cpu")
        t1 = time.perf_counter()
        index = faiss.IndexFlatL2(d)
        index.add(C)
        _, I = index.search(X, 1)
        t2 = time.perf_counter()
        rows.append({"n": n, "d": d, "K": k, "rep": rep, "skclip_s": t1 - t0,
                     "faiss_s": t2 - t1, "faiss_speedup": (t1 - t0) / (t2 - t1),
                     "label_agreement": float((I[:, 0] == lab).mean()),
                     "faiss_threads": faiss.omp_get_max_threads()})
    print_table(rows, title="\n[faiss] nearest-centre assignment: torch blocks vs IndexFlatL2")
    return rows


PARTS = {"same": part_same, "quality": part_quality, "scale": part_scale,
         "faiss": part_faiss}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts")
    p.add_argument("--n", type=int, default=1_280_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--n-init", type=int, default=1, help="restarts (default 1)")
    p.add_argument("--max-iter", type=int, default=20, help="Lloyd iterations (default 20)")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--out-json", default=str(Path(__file__).parent / "out" / "bench_kmeans.json"))
    args = p.parse_args(argv)
    info = machine_info()
    print(describe_machine(info))
    print(f"load average: {os.getloadavg()}")
    results = {}
    for name in args.parts.split(","):
        results[name] = PARTS[name](args)
    print(f"load average after: {os.getloadavg()}")
    write_json(args.out_json, {"machine": info, "load_avg_end": os.getloadavg(),
                               "args": vars(args), "results": results})
    print(f"wrote {args.out_json}")


if __name__ == "__main__":
    main()
