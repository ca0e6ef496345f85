"""``n_clusters="auto"`` on data without clusters: does the null reference say so?

    python benchmarks/bench_nostructure.py [--seeds 2] [--n-samples 1500] [--n-features 64]
        [--criteria silhouette,davies_bouldin] [--out-json FILE]

Structureless collections (no planted cluster): one ``make_clip_blobs`` cluster, an
isotropic Gaussian and an anisotropic one (axis scales 0.2 .. 3), L2-normalised as CLIP
embeddings are. For each, :func:`skclip.cluster._autok.select_n_clusters` scans the
default range (``2 .. min(100, n // 10)``); reported: the K the scan's criterion
prefers (what ``"auto"`` returned before the null reference), the K returned now, the
relative gain over the null reference (structure when > ``NULL_MARGIN``) and the time.
The planted-K side (no loss of hits) is ``bench_autok.py``.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe_machine, print_table, write_json  # noqa: E402


def datasets(n, d, seed):
    from skclip.datasets import make_clip_blobs

    rng = np.random.default_rng(seed)
    return {
        "one-blob": make_clip_blobs(n_samples=n, n_clusters=1, n_features=d,
                                    random_state=seed).X,
        "gaussian": rng.standard_normal((n, d)),
        "anisotropic": rng.standard_normal((n, d)) * np.linspace(0.2, 3.0, d) + 1.0,
    }


def main(argv=None):
    from skclip.cluster._autok import candidate_ks, select_n_clusters
    from skclip.cluster._nullref import NULL_MARGIN

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--n-samples", type=int, default=1500)
    p.add_argument("--n-features", type=int, default=64)
    p.add_argument("--criteria", default="silhouette,davies_bouldin")
    p.add_argument("--out-json", default="benchmarks/out/bench_nostructure.json")
    args = p.parse_args(argv)
    rows = []
    for seed in range(args.seeds):
        for name, X in datasets(args.n_samples, args.n_features, seed).items():
            X = np.asarray(X, dtype=np.float32)
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            ks = candidate_ks(None, len(X))
            for crit in args.criteria.split(","):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    k, scores, null = select_n_clusters(X, ks, criterion=crit, device="cpu",
                                                        random_state=seed, return_null=True)
                row = dict(data=name, seed=seed, criterion=crit, k_range=f"{ks[0]}..{ks[-1]}",
                           best_K=null["k"], chosen_K=k, gain=round(null["gain"], 4),
                           no_structure=not null["structure"],
                           seconds=round(time.perf_counter() - t0, 1))
                rows.append(row)
                print(row, flush=True)
    detected = sum(r["no_structure"] for r in rows)
    summary = dict(runs=len(rows), detected=detected, margin=NULL_MARGIN,
                   max_gain=max(r["gain"] for r in rows),
                   mean_best_K=float(np.mean([r["best_K"] for r in rows])),
                   mean_chosen_K=float(np.mean([r["chosen_K"] for r in rows])))
    print_table(rows)
    print(summary)
    print(describe_machine())
    write_json(args.out_json, {"args": vars(args), "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
