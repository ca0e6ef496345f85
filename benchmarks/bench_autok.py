"""``n_clusters="auto"``: chosen K vs planted K per scenario, and the cost of the scan.

    flock /tmp/skclip-bench.lock python benchmarks/bench_autok.py [--quick]
        [--scenarios medium,k50-gap] [--methods kmeans,cae] [--criteria silhouette]
        [--seeds 1] [--spaces auto,iterate,base] [--scan-n-init 1] [--n-samples N]
        [--no-quality] [--scan-n 50000] [--scan-d 512] [--no-scan] [--out-json FILE]
        [--out-md FILE]

THIS IS PLANTED DATA, NOT A QUALITY CLAIM ABOUT REAL CLIP FEATURES.

Quality: for every scenario of ``_scenarios.py`` (plus K=4 and K=20 variants and an
imbalanced one without the gap), seed and method, the features the method clusters
are computed (CLIP k-means: the unit images; TAC and CAE: their fused features,
``transform(X)``), each criterion chooses K on them with
:func:`skclip.cluster._autok.select_n_clusters` (exactly what ``n_clusters="auto"``
runs), and the method's own final k-means (its ``n_init``, ``spherical``) is run at the
chosen and at the planted K on the same features. TAC and CAE build a semantic space
whose selection-centre count follows K (``min_centers``); ``--spaces`` says how it
is built before K is known:

* ``auto`` (what ``n_clusters="auto"`` does): ``min_centers`` = the largest candidate K;
* ``iterate``: ``round(n / 300)`` centres, then rebuilt with ``min_centers`` = the chosen
  K and rescanned until K is stable (at most 3 scans);
* ``base``: ``round(n / 300)`` centres, one scan (the first implementation).

Reported: chosen K, hit (within 10% of the planted K, within 1 below K=10), dACC =
ACC at the chosen K minus ACC at the planted K on the same features (the cost of
choosing K), and dACC_given = ACC of ``n_clusters="auto"`` minus ACC of the method
fitted with the planted K (its space then has ``min_centers=K``). The candidate range
is the default ``2 .. min(100, n // 10)``, and ``(2, 300)`` where the planted K is
above 100 (the default cannot reach K=200).

Cost: on ``--scan-n`` x ``--scan-d`` planted data (K=50), the default scan of
``2 .. 100`` against one ``CLIPKMeans`` fit at the chosen K (its defaults: n_init=20,
Euclidean k-means), in the same run.
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios as sc  # noqa: E402
from _common import (  # noqa: E402
    describe_machine, machine_info, markdown_table, print_table, set_threads, write_json,
)

EXTRA = {
    "k4": sc._scenario("medium", False, n_clusters=4, note="K=4"),
    "k4-gap": sc._scenario("medium", True, n_clusters=4, note="K=4"),
    "k20": sc._scenario("medium", False, n_clusters=20, note="K=20"),
    "k20-gap": sc._scenario("medium", True, n_clusters=20, note="K=20"),
    "imbalance": sc._scenario("medium", False, imbalance=10.0, note="largest/smallest 10"),
}
QUICK = dict(scenarios=["medium", "medium-gap", "k4-gap"], methods=["kmeans"],
             criteria=["davies_bouldin"], scan_n=5000, scan_d=64)
# method -> (estimator settings of its final k-means: n_init, spherical)
METHODS = {"kmeans": (20, False), "tac": (20, True), "cae": (20, True)}
SPACES = ("auto", "iterate", "base")
_MAX_PASSES = 3  # scans of --spaces iterate


def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv=None):
    from skclip.cluster._autok import K_SELECTIONS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small run: proves the script works")
    p.add_argument("--scenarios", type=_csv, default=None)
    p.add_argument("--methods", type=_csv, default=list(METHODS))
    p.add_argument("--criteria", type=_csv, default=list(K_SELECTIONS))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--spaces", type=_csv, default=["auto"],
                   help=f"how TAC/CAE build the space before K is known: {SPACES}")
    p.add_argument("--scan-n-init", type=int, default=None,
                   help="k-means restarts per scanned K (default: the library's)")
    p.add_argument("--n-samples", type=int, default=None,
                   help="images per scenario instead of its own size (captions: a third)")
    p.add_argument("--scan-rows", type=int, default=None,
                   help="rows the scan's k-means sees (a measurement knob; default: the library's)")
    p.add_argument("--refine-grid", type=int, default=None,
                   help="K per refinement pass (a measurement knob; default: the library's)")
    p.add_argument("--repeats", type=int, default=3,
                   help="scan and fit timings: median of this many runs")
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--no-scan", action="store_true")
    p.add_argument("--scan-n", type=int, default=50_000)
    p.add_argument("--scan-d", type=int, default=512)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-json", default="benchmarks/out/bench_autok.json")
    p.add_argument("--out-md", default=None)
    args = p.parse_args(argv)
    if args.quick:  # options left at their default take the quick values
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    if args.scenarios is None:
        args.scenarios = list(sc.SCENARIOS) + list(EXTRA)
    return args


def scenario_data(name, seed, n_samples=None):
    from skclip.datasets import make_clip_blobs

    if name in EXTRA:
        params = dict(EXTRA[name]["params"])
        if n_samples is not None:  # as _scenarios.scenario_data: captions follow
            params.update(n_samples=n_samples, n_captions=n_samples // 3)
        return make_clip_blobs(random_state=seed, **params)
    return sc.scenario_data(name, seed, n_samples=n_samples)


def features(method, data, k, seed, min_centers):
    """The features ``method`` clusters, its semantic space built with ``min_centers``."""
    if method == "kmeans":
        X = np.asarray(data.X, dtype=np.float64)
        return X / np.linalg.norm(X, axis=1, keepdims=True)
    est = sc.make_method(method, k, seed, data,
                         params={"semantic_space": {"min_centers": min_centers}})
    return est.fit(data.X).transform(data.X)


def choose(space, method, ks, scan, n):
    """Chosen K, its features' key (min_centers) and the K of every scan."""
    if method == "kmeans" or space == "auto":
        hint = ks[-1]  # kmeans: no space; auto: a centre per cluster for every candidate
        return scan(hint), hint, 1
    base = max(1, int(n / 300 + 0.5))  # the builder's round(n / 300)
    hint, k, passes = 1, scan(1), 1
    while space == "iterate" and passes < _MAX_PASSES and max(base, k) != max(base, hint):
        hint, previous = k, k
        k, passes = scan(hint), passes + 1
        if k == previous:
            break
    return k, hint, passes


def is_hit(chosen, planted):
    return abs(chosen - planted) <= (1 if planted < 10 else 0.1 * planted)


def quality_rows(args):
    from skclip.cluster._autok import candidate_ks, select_n_clusters
    from skclip.kmeans import kmeans
    from skclip.metrics import clustering_accuracy

    rows = []
    for name in args.scenarios:
        for seed in range(args.seeds):
            data = scenario_data(name, seed, args.n_samples)
            K = int(data.y.max()) + 1
            ks = candidate_ks((2, 300) if K > 100 else None, len(data.X))
            for method in args.methods:
                n_init, spherical = METHODS[method]
                feats, acc = {}, {}

                def F_of(hint):
                    if hint not in feats:
                        feats[hint] = features(method, data, K, seed, hint)
                    return feats[hint]

                def acc_at(hint, k):
                    if (hint, k) not in acc:
                        res = kmeans(F_of(hint), k, n_init=n_init, spherical=spherical,
                                     device="cpu", random_state=seed)
                        acc[hint, k] = 100 * clustering_accuracy(data.y, res.labels)
                    return acc[hint, k]

                for crit, space in itertools.product(args.criteria, args.spaces):
                    if method == "kmeans" and space != args.spaces[0]:
                        continue  # no semantic space
                    scanned, nulls = [], []

                    def scan(hint):
                        k, scores, null = select_n_clusters(
                            F_of(hint), ks, criterion=crit, spherical=spherical,
                            device="cpu", random_state=seed, return_null=True)
                        scanned.append(len(scores))
                        nulls.append(null)
                        return k

                    t0 = time.perf_counter()
                    k, hint, passes = choose(space, method, ks, scan, len(data.X))
                    scan_s = time.perf_counter() - t0
                    row = dict(scenario=name, seed=seed, method=method, criterion=crit,
                               space=space if method != "kmeans" else "-", planted_K=K,
                               chosen_K=k, hit=bool(is_hit(k, K)), passes=passes,
                               acc_chosen=acc_at(hint, k), acc_planted=acc_at(hint, K),
                               acc_given=acc_at(K, K), scanned=sum(scanned), scan_s=scan_s,
                               null_gain=nulls[-1]["gain"], best_K=nulls[-1]["k"],
                               hit_without_null=bool(is_hit(nulls[-1]["k"], K)))
                    row["acc_delta"] = row["acc_chosen"] - row["acc_planted"]
                    row["acc_delta_given"] = row["acc_chosen"] - row["acc_given"]
                    rows.append(row)
                    print(f"{name:16s} s{seed} {method:6s} {crit:14s} {row['space']:7s} "
                          f"K={K:3d} chosen={k:3d} hit={row['hit']!s:5s} "
                          f"dACC={row['acc_delta']:+6.1f} given={row['acc_delta_given']:+6.1f}"
                          f" ({passes} scans, {sum(scanned)} K, {scan_s:.1f} s, null gain "
                          f"{row['null_gain']:.2f})", flush=True)
    return rows


def summary_rows(rows):
    out = []
    keys = dict.fromkeys((r["method"], r["criterion"], r["space"]) for r in rows)
    for method, crit, space in keys:
        sel = [r for r in rows
               if (r["method"], r["criterion"], r["space"]) == (method, crit, space)]
        misses = sorted(f"{r['scenario']}/s{r['seed']}({r['chosen_K']}/{r['planted_K']})"
                        for r in sel if not r["hit"])
        out.append(dict(method=method, criterion=crit, space=space, runs=len(sel),
                        hit_rate=100 * np.mean([r["hit"] for r in sel]),
                        hit_rate_without_null=100 * np.mean([r["hit_without_null"]
                                                             for r in sel]),
                        min_null_gain=float(min(r["null_gain"] for r in sel)),
                        mean_acc_delta=float(np.mean([r["acc_delta"] for r in sel])),
                        mean_acc_delta_given=float(np.mean([r["acc_delta_given"]
                                                            for r in sel])),
                        mean_scan_s=float(np.mean([r["scan_s"] for r in sel])),
                        misses=", ".join(misses)))
    return out


def scan_cost(args):
    from skclip.cluster import CLIPKMeans
    from skclip.cluster import _autok
    from skclip.cluster._autok import candidate_ks, select_n_clusters
    from skclip.datasets import make_clip_blobs

    data = make_clip_blobs(n_samples=args.scan_n, n_clusters=50, n_features=args.scan_d,
                           spread=0.6, random_state=0)
    X = data.X / np.linalg.norm(data.X, axis=1, keepdims=True)
    ks = candidate_ks(None, len(X))
    load_before = os.getloadavg()[0]
    scan_times, fit_times = [], []
    for _ in range(max(1, args.repeats)):  # median of a few runs: single runs of ~1 s are noisy
        t0 = time.perf_counter()
        k, scores = select_n_clusters(X, ks, spherical=False, device="cpu", random_state=0)
        scan_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        CLIPKMeans(k, device="cpu", random_state=0).fit(X)
        fit_times.append(time.perf_counter() - t0)
    scan_s, fit_s = float(np.median(scan_times)), float(np.median(fit_times))
    return dict(n=args.scan_n, d=args.scan_d, planted_K=50, k_range=f"{ks[0]}..{ks[-1]}",
                chosen_K=k, scanned=len(scores), scan_n_init=_autok._SCAN_N_INIT,
                scan_rows=_autok._SCAN_ROWS, refine_grid=_autok._REFINE_GRID,
                repeats=len(scan_times), scan_s=scan_s,
                fit_s=fit_s, ratio=scan_s / fit_s, target="<= 3x one fit",
                load_1m=f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}")


def main(argv=None):
    args = parse_args(argv)
    import skclip.cluster._autok as autok

    knobs = {"scan_n_init": "_SCAN_N_INIT", "scan_rows": "_SCAN_ROWS", "refine_grid": "_REFINE_GRID"}
    for arg, constant in knobs.items():  # measurement knobs, not user parameters
        if getattr(args, arg) is not None:
            setattr(autok, constant, getattr(args, arg))
    threads = set_threads(args.threads)
    info = machine_info()
    print(describe_machine(info), f"torch threads={threads}")
    print("Planted data (make_clip_blobs): NOT a measure of quality on real CLIP features.")
    result = {"machine": info, "args": vars(args)}
    if not args.no_quality:
        rows = quality_rows(args)
        summary = summary_rows(rows)
        print_table(summary, title="n_clusters='auto': hits (target >= 80%) and ACC at "
                    "chosen K minus ACC at planted K (target >= -3)")
        result.update(rows=rows, summary=summary)
    if not args.no_scan:
        cost = scan_cost(args)
        print_table([cost], title="scan cost vs one CLIPKMeans fit at the chosen K")
        result["scan_cost"] = cost
    write_json(args.out_json, result)
    if args.out_md:
        parts = [markdown_table(result.get("summary", [])), markdown_table(
            [result["scan_cost"]] if "scan_cost" in result else [])]
        Path(args.out_md).write_text("\n\n".join(p for p in parts if p) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
