"""Scenario suite: every method on planted CLIP-like data, with and without the modality gap.

    python benchmarks/synthetic.py [--quick] [--scenarios easy,medium-gap]
        [--methods kmeans,tac,cae] [--seeds 3 | --seed-list 0,4] [--n-samples N]
        [--params JSON] [--blobs G1|G2|JSON] [--out-json FILE] [--out-md FILE] [--list]

THIS IS PLANTED DATA, NOT A QUALITY CLAIM ABOUT REAL CLIP FEATURES. The scenarios
(``_scenarios.py``, ``--list``) are calls of ``skclip.datasets.make_clip_blobs``
(64-d): easy / medium / hard image noise, each with and without CLIP's modality gap,
then generic hub texts, polysemous texts, misaligned anchors, class imbalance and
K in {10, 50, 200}. Methods: CLIP k-means, TAC (no train), CAE default and its
ablations (fusion variants, softmax instead of balanced OT, without captions or
nouns), MCA default. Scores: ACC / NMI / ARI in % (``skclip.metrics``), mean ± std
over seeds. ``--params`` overrides method parameters, e.g.
``'{"cae": {"fusion": "weighted_sum"}}'``, or defines a variant:
``'{"cae-x": {"class": "CAEClustering", "gamma": 1.0}}'`` with ``--methods cae-x``;
``'{"semantic_space": {"min_centers": 10}}'`` fixes the text methods' selection
centres. ``--blobs G1`` (or ``G2``) runs a held-out generator setting (never used to
choose a default), ``--blobs JSON`` any ``make_clip_blobs`` overrides.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios as sc  # noqa: E402
from _common import (  # noqa: E402
    describe_machine, machine_info, markdown_table, print_table, set_threads, write_json,
)

BANNER = ("Planted data (make_clip_blobs, 64-d): a check against known structure, "
          "NOT a measure of quality on real CLIP features.")
QUICK_METHODS = ("kmeans", "tac", "cae", "cae-paper")


def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _json_object(parser, option, text):
    """``text`` parsed as a JSON object, or a parser error naming ``option``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{option} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        parser.error(f"{option} must be a JSON object")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"scenarios {','.join(sc.QUICK_SCENARIOS)}, methods "
                        f"{','.join(QUICK_METHODS)}, 1 seed (CI smoke run)")
    p.add_argument("--scenarios", default=None, help="comma-separated names, or 'all'")
    p.add_argument("--methods", default=None, help="comma-separated names, or 'all'")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3, quick 1)")
    p.add_argument("--seed-list", default=None, help="explicit seeds, e.g. 3,4")
    p.add_argument("--n-samples", type=int, default=None,
                   help="images per scenario (default: the scenario's own); at least "
                        "20 per class")
    p.add_argument("--params", default="{}", help="JSON overrides per method (see above)")
    p.add_argument("--blobs", default=None,
                   help="held-out setting (G1, G2) or JSON make_clip_blobs overrides")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out-json", default=None, metavar="PATH")
    p.add_argument("--out-md", default=None, metavar="PATH")
    p.add_argument("--list", action="store_true", help="list scenarios and methods, then exit")
    p.add_argument("--quiet", action="store_true", help="no per-run lines")
    args = p.parse_args(argv)
    args.params = _json_object(p, "--params", args.params)
    if args.blobs and args.blobs not in sc.HELD_OUT:
        args.blobs = _json_object(p, f"--blobs (or one of {sorted(sc.HELD_OUT)})", args.blobs)
    scenarios = args.scenarios or ("all" if not args.quick else ",".join(sc.QUICK_SCENARIOS))
    args.scenarios = list(sc.SCENARIOS) if scenarios == "all" else _csv(scenarios)
    unknown = sorted(set(args.scenarios) - set(sc.SCENARIOS))
    if unknown:
        p.error(f"unknown scenarios {unknown}; choose from {list(sc.SCENARIOS)}")
    methods = args.methods or ("all" if not args.quick else ",".join(QUICK_METHODS))
    args.methods = list(sc.METHODS) + list(sc.REFERENCES) if methods == "all" else _csv(methods)
    defined = set(sc.METHODS) | set(sc.REFERENCES) | {k for k, v in args.params.items()
                                 if isinstance(v, dict) and "class" in v}
    unknown = sorted(set(args.methods) - defined)
    if unknown:
        p.error(f"unknown methods {unknown}; choose from {list(sc.METHODS)} or define "
                "one in --params with a 'class' key")
    if args.seed_list:
        args.seeds = [int(s) for s in _csv(args.seed_list)]
    else:
        n = args.seeds or (1 if args.quick else 3)
        if n < 1:
            p.error("--seeds must be >= 1")
        args.seeds = list(range(n))
    return args


def label(method):
    if method in sc.REFERENCES:
        return sc.REFERENCES[method]
    return sc.METHODS[method][0] if method in sc.METHODS else method


def run(args):
    """``{scenario: {method: {"runs": [...], "summary": {...}} or {"error": ...}}}``."""
    results = {}
    for name in args.scenarios:
        print(f"{name}: {sc.describe(name)}", flush=True)
        per_method = {m: [] for m in args.methods}
        for seed in args.seeds:
            t0 = time.perf_counter()
            scores = sc.run_scenario(name, seed, args.methods, n_samples=args.n_samples,
                                     params=args.params, device=args.device,
                                     errors="record", blobs=args.blobs)
            for m, s in scores.items():
                per_method[m].append({"seed": seed, **s})
            if not args.quiet:
                cells = "  ".join(f"{m} {s['ACC']:.1f}" if "ACC" in s else f"{m} ERROR"
                                  for m, s in scores.items())
                print(f"  seed {seed} ({time.perf_counter() - t0:.0f} s): ACC {cells}",
                      flush=True)
        results[name] = {}
        for m, runs in per_method.items():
            errors = [r["error"] for r in runs if "error" in r]
            if errors:
                results[name][m] = {"error": errors[0], "runs": runs}
                print(f"  {m}: ERROR {errors[0]}", file=sys.stderr)
                continue
            summary = {k: sc.summarise([r[k] for r in runs]) for k in sc.METRICS + ("fit_s",)}
            results[name][m] = {"runs": runs, "summary": summary,
                                "warnings": sorted({w for r in runs for w in r["warnings"]})}
    return results


def table(results, metric, methods):
    """Rows = scenarios, columns = methods, cells = mean±std of ``metric``."""
    rows = []
    for name, per_method in results.items():
        row = {"scenario": name}
        for m in methods:
            res = per_method[m]
            if "summary" not in res:
                row[label(m)] = "error"
                continue
            s = res["summary"][metric]
            digits = 2 if metric == "fit_s" else 1
            row[label(m)] = f"{s['mean']:.{digits}f}" + (
                f"±{s['std']:.{digits}f}" if s["std"] > 0 and metric != "fit_s" else "")
        rows.append(row)
    return rows


def markdown(results, args, info, elapsed):
    cols = ["scenario"] + [label(m) for m in args.methods]
    lines = [f"{BANNER}", "",
             f"Seeds {args.seeds}; mean ± std in %. Machine: {describe_machine(info)}; "
             f"{elapsed / 60:.1f} min in all.", "", "Scenarios:", ""]
    lines += [f"- **{n}**: {sc.describe(n)}" for n in results]
    for metric in sc.METRICS + ("fit_s",):
        title = "Fit time (s, mean over seeds)" if metric == "fit_s" else metric
        lines += ["", f"{title}:", "", markdown_table(table(results, metric, args.methods), cols)]
    notes = [f"- {n} / {label(m)}: {res['error']}" for n, pm in results.items()
             for m, res in pm.items() if "error" in res]
    for m in args.methods:  # one line per method: how many fits warned, and one example
        runs = [r for pm in results.values() for r in pm[m].get("runs", []) if "error" not in r]
        warned = [r["warnings"][0] for r in runs if r.get("warnings")]
        if warned:
            notes.append(f"- {label(m)}: warnings in {len(warned)}/{len(runs)} fits, "
                         f"e.g. {warned[0]}")
    if notes:
        lines += ["", "Errors and warnings:", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name in sc.SCENARIOS:
            print(f"{name:16s} {sc.describe(name)}")
        print()
        for m, (lab, cls, params) in sc.METHODS.items():
            print(f"{m:12s} {lab} ({cls}{', ' + json.dumps(params) if params else ''})")
        return 0
    set_threads(args.threads)
    info = machine_info()
    print(BANNER, flush=True)
    t0 = time.perf_counter()
    results = run(args)
    elapsed = time.perf_counter() - t0
    cols = ["scenario"] + [label(m) for m in args.methods]
    for metric in sc.METRICS:
        print()
        print_table(table(results, metric, args.methods), cols,
                    title=f"{metric} (%), mean ± std over seeds {args.seeds}")
    print(f"\n{elapsed / 60:.1f} min. {BANNER}")
    payload = {"benchmark": "synthetic-scenarios", "seeds": args.seeds,
               "methods": args.methods, "params": args.params,
               "n_samples": args.n_samples, "blobs": args.blobs, "elapsed_s": elapsed,
               "scenarios": {n: {"make_clip_blobs": sc.SCENARIOS[n]["params"],
                                 "methods": results[n]} for n in results},
               "machine": info}
    write_json(args.out_json, payload)
    if args.out_md:
        Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_md).write_text(markdown(results, args, info, elapsed))
    failed = any("error" in res for pm in results.values() for res in pm.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
