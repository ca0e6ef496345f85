"""Run the whole speed suite, each benchmark against its anchor, in one go.

    python benchmarks/run_all.py [--quick] [--only sinkhorn,cae] [--out-json FILE]

Runs every benchmark script as a subprocess (so one crash cannot take the others
down and each gets a clean peak-memory count), collects the JSON each one writes,
prints one table of skclip-vs-anchor ratios (> 1: skclip better) with the target of
each, and writes a combined JSON. A missing script, a crash, a timeout or a missing
JSON is reported as an error and makes the exit status non-zero, so CI notices.

``--quick`` runs every script with its own ``--quick`` (small sizes: proves the
scripts run; not a measurement of the targets) and finishes in under 5 minutes on
2 cores.

Needs ``pip install -e ".[benchmarks]"`` (POT, the Sinkhorn anchor; ``[test]`` has it too)
and the offline assets for ``embedding`` (CIFAR-10 JPEGs, ``SKCLIP_ASSETS``). A benchmark whose
needs are missing is skipped, its reason naming what to install; with
``SKCLIP_STRICT=1`` (CI) that is an error instead.
"""

import argparse
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR, REPO_ROOT, assets_dir, describe_machine, machine_info, markdown_table,
    print_table, write_json,
)

# name -> (script, anchor, target, how the target reads the rows)
SUITE = {
    "text_encoding": ("bench_text_encoding.py", "open_clip encode_text",
                      "texts/s >= 8x plain encode_text (CPU)", ("ratio", 8.0)),
    "sinkhorn": ("bench_sinkhorn.py", "POT numpy sinkhorn_log",
                 ">= 20x faster than POT numpy log-domain, equal or better error (CPU)",
                 ("ratio", 20.0)),
    "cae": ("bench_cae.py", "sklearn KMeans(n_init=20)",
            "CAE fit time <= 1x sklearn KMeans(n_init=20) (CPU)", ("ratio", 1.0)),
    "mca": ("bench_mca.py", "60 s budget", "full default fit <= 60 s on 2 cores, 50k x 512",
            ("seconds", 60.0)),
    "embedding": ("bench_embedding.py", "open_clip encode_image loop",
                  "images/s >= 0.9x the raw open_clip loop", ("ratio", 0.9)),
}
# What a benchmark needs beyond the core install: an optional module -> the extra that
# installs it, or "assets" (the offline CIFAR-10 JPEGs).
NEEDS = {"sinkhorn": {"ot": "benchmarks"}, "embedding": {"assets": None}}
STRICT = os.environ.get("SKCLIP_STRICT", "") not in ("", "0")
JSON_FLAGS = ("--out-json", "--json", "--output-json", "--json-out", "--output", "--out")
ID_KEYS = ("case", "name", "problem", "shape", "config", "setting", "model", "n",
           "n_samples", "n_texts", "device", "backend", "method")


def script_flags(script, timeout=60):
    """The options a script's ``--help`` mentions (we adapt to them, not the reverse)."""
    try:
        res = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return set()
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", res.stdout))


def missing_needs(name):
    """One line naming what benchmark ``name`` lacks and how to install it, else None."""
    for need, extra in NEEDS.get(name, {}).items():
        if need == "assets":
            assets = assets_dir()
            if assets is None or not (assets / "cifar10" / "cifar10-test.zip").is_file():
                return ("needs the offline assets (CIFAR-10 JPEGs): "
                        "set SKCLIP_ASSETS=/path/to/assets")
        elif importlib.util.find_spec(need) is None:
            return f"needs {need}: pip install -e '.[{extra}]'"
    return None


def run_script(name, quick, timeout, out_dir, extra=()):
    """Run one benchmark; returns a record (status ok | skipped | error, rc, wall, JSON,
    output tail)."""
    script = BENCH_DIR / SUITE[name][0]
    record = {"script": script.name, "status": "error"}
    if not script.is_file():
        record["error"] = f"script not found: benchmarks/{script.name}"
        return record
    missing = missing_needs(name)
    if missing and STRICT:
        record["error"] = f"{missing} (SKCLIP_STRICT=1: CI must not skip this)"
        return record
    if missing:
        record.update(status="skipped", reason=missing)
        return record
    flags = script_flags(script)
    cmd = [sys.executable, str(script)]
    if quick:
        if "--quick" not in flags:
            record["error"] = f"{script.name} has no --quick option"
            return record
        cmd.append("--quick")
    json_path = Path(out_dir) / f"{name}.json"
    json_flag = next((f for f in JSON_FLAGS if f in flags), None)
    if json_flag:
        cmd += [json_flag, str(json_path)]
    cmd += list(extra)
    record["command"] = " ".join(cmd)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             cwd=REPO_ROOT, env=env)
    except subprocess.TimeoutExpired as exc:
        record["wall_s"] = time.perf_counter() - t0
        record["error"] = f"timed out after {timeout} s"
        record["output_tail"] = _tail((exc.stdout or b"").decode(errors="replace")
                                      if isinstance(exc.stdout, bytes) else exc.stdout or "")
        return record
    record["wall_s"] = time.perf_counter() - t0
    record["rc"] = res.returncode
    record["output_tail"] = _tail(res.stdout + "\n" + res.stderr)
    if json_path.is_file():
        try:
            record["result"] = json.loads(json_path.read_text())
        except json.JSONDecodeError as exc:
            record["error"] = f"invalid JSON output: {exc}"
            return record
    if res.returncode != 0:
        record["error"] = f"exit status {res.returncode}"
    elif "result" not in record:
        record["error"] = ("no JSON result (expected an option among "
                           f"{', '.join(JSON_FLAGS)} in --help)")
    else:
        record["status"] = "ok"
    return record


def _tail(text, n=40):
    return "\n".join((text or "").strip().splitlines()[-n:])


def _walk(obj, path=()):
    """Yield every dict inside a JSON value, with the keys leading to it."""
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            if k != "machine":
                yield from _walk(v, path + (str(k),))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (str(i),))


def _case(path, d):
    if isinstance(d.get("case"), str):
        return d["case"]
    parts = [f"{d[k]}" for k in ID_KEYS if k in d and not isinstance(d[k], (dict, list))]
    return " ".join(parts) if parts else "/".join(path) or "-"


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _generic_cases(result, kind):
    """Cases of a JSON this script does not know: every dict with a ratio/speedup key."""
    for path, d in _walk(result):
        ratio = next((_num(v) for k, v in d.items()
                      if re.search(r"ratio|speedup", k) and _num(v) is not None), None)
        seconds = next((_num(d[k]) for k in ("total_s", "fit_s", "skclip_s", "wall_s",
                                            "seconds") if _num(d.get(k)) is not None), None)
        if ratio is not None or (kind == "seconds" and seconds is not None):
            yield {"case": _case(path, d), "ratio": ratio, "seconds": seconds}


def _finite(value):
    value = _num(value)
    return value if value is not None and math.isfinite(value) else None


def _sci(value):
    return f"{value:.1e}" if _num(value) is not None else "?"


def _text_cases(result):
    yield {"case": f"{result.get('n_texts')} prompts {result.get('model')}",
           "ratio": _num(result.get("speedup")), "seconds": _num(result.get("skclip_seconds")),
           "detail": f"max|diff| {_sci(result.get('max_abs_diff'))}"}


def _sinkhorn_cases(result):
    for res in result.get("results", []):
        solvers = res.get("solvers", {})
        for name, r in solvers.items():
            if not name.startswith("pot") or _num(r.get("time_ratio")) is None:
                continue
            ref = solvers.get(r.get("compared_with") or "", {})
            ours, theirs = _finite(ref.get("err")), _finite(r.get("err"))
            # an extrapolated POT probe has no final error: only the time is compared
            err_ok = theirs is None or (ours is not None and ours <= theirs * 1.0001)
            yield {"case": f"{res.get('n')}x{res.get('m')} vs {name}"
                           + (" (extrapolated)" if r.get("extrapolated") else ""),
                   "ratio": r["time_ratio"], "seconds": _num(ref.get("seconds")),
                   # the target is about POT numpy's log-domain solver at equal precision
                   "assess": name == "pot-numpy", "extra_ok": err_ok,
                   "detail": f"err {_sci(ref.get('err'))} vs {_sci(r.get('err'))}"}


def _cae_cases(result):
    cfg = result.get("config", {})
    yield {"case": f"n={cfg.get('n')} d={cfg.get('d')} K={cfg.get('k')} m={cfg.get('m')}",
           "ratio": _num(result.get("ratio")), "seconds": _num(result.get("skclip_s"))}
    for r in result.get("scaling", []):
        yield {"case": f"scaling n={r.get('n')}", "seconds": _num(r.get("fit_s")),
               "assess": False, "detail": f"peak {r.get('peak_rss_mb')} MB"}


def _embedding_cases(result):
    for r in result.get("results", []):
        yield {"case": r.get("case"), "ratio": _num(r.get("ratio")),
               "detail": f"{r.get('skclip_per_s', 0):.1f} vs {r.get('anchor_per_s', 0):.1f} "
                         "images/s"}


def _mca_cases(result):
    for r in result.get("results", []):
        idle = _num(r.get("idle_estimate_s"))
        yield {"case": r.get("case"), "seconds": _num(r.get("total_s")),
               "detail": (f"cpu/threads {idle:.1f} s, " if idle is not None else "")
                         + f"peak {r.get('peak_rss_mb')} MB"}


EXTRACTORS = {"text_encoding": _text_cases, "sinkhorn": _sinkhorn_cases, "cae": _cae_cases,
              "mca": _mca_cases, "embedding": _embedding_cases}


def summary_rows(name, record, quick):
    """One table row per compared case found in the script's JSON."""
    script, anchor, target, (kind, threshold) = SUITE[name]
    base = {"benchmark": name, "anchor": anchor, "target": target}
    if record["status"] == "skipped":
        return [{**base, "case": "-", "status": "SKIPPED: " + record["reason"]}]
    if record["status"] != "ok":
        return [{**base, "case": "-", "status": "ERROR: " + record.get("error", "?")}]
    result = record["result"]
    try:
        cases = list(EXTRACTORS[name](result)) if name in EXTRACTORS else []
    except (AttributeError, KeyError, TypeError, ValueError):
        cases = []  # the script changed its JSON: fall back to the generic reading
    cases = cases or list(_generic_cases(result, kind))
    rows = []
    for c in cases:
        row = {**base, "case": c["case"], "ratio": c.get("ratio"), "seconds": c.get("seconds"),
               "detail": c.get("detail", "")}
        value = c.get("ratio") if kind == "ratio" else c.get("seconds")
        if not c.get("assess", True):
            row["status"] = "info"
        elif quick or value is None:
            row["status"] = "ran (quick sizes: target not assessed)" if quick else "ran"
        else:
            met = value >= threshold if kind == "ratio" else value <= threshold
            met = met and c.get("extra_ok", True)
            row["status"] = "met" if met else "NOT MET"
        rows.append(row)
    if not rows:
        rows.append({**base, "case": "-", "status": "ran; no ratio found in its JSON"})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="CI smoke run (< 5 min on 2 cores)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {list(SUITE)}")
    p.add_argument("--timeout", type=int, default=None,
                   help="per-script timeout in s (default 300 quick, 3600 full)")
    p.add_argument("--out-json", default=None, metavar="PATH",
                   help="combined JSON (default benchmarks/out/run_all[-quick].json)")
    p.add_argument("--out-md", default=None, metavar="PATH",
                   help="also write the table as Markdown (for RESULTS.md)")
    p.add_argument("--keep-dir", default=None, help="keep each script's JSON here")
    args = p.parse_args(argv)
    args.only = list(SUITE) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = sorted(set(args.only) - set(SUITE))
    if unknown:
        p.error(f"unknown benchmarks {unknown}; choose from {list(SUITE)}")
    args.timeout = args.timeout or (300 if args.quick else 3600)
    if args.out_json is None:
        args.out_json = BENCH_DIR / "out" / f"run_all{'-quick' if args.quick else ''}.json"
    return args


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    print(f"Machine: {describe_machine(info)}", flush=True)
    records, rows = {}, []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skclip-run-all-") as tmp:
        out_dir = Path(args.keep_dir or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in args.only:
            print(f"[{name}] running {SUITE[name][0]} ...", flush=True)
            rec = run_script(name, args.quick, args.timeout, out_dir)
            records[name] = rec
            msg = {"ok": "ok", "skipped": f"SKIPPED: {rec.get('reason')}"}.get(
                rec["status"], f"ERROR: {rec.get('error')}")
            print(f"[{name}] {msg} ({rec.get('wall_s', 0):.1f} s)", flush=True)
            if rec["status"] == "error" and rec.get("output_tail"):
                print("    " + rec["output_tail"].replace("\n", "\n    "), flush=True)
            rows += summary_rows(name, rec, args.quick)
    total = time.perf_counter() - t_start
    print()
    columns = ["benchmark", "case", "ratio", "seconds", "anchor", "detail", "target", "status"]
    print_table(rows, [c for c in columns if c not in ("target", "detail")],
                title="skclip vs anchor (ratio > 1: skclip better)")
    if args.out_md:
        Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_md).write_text(
            f"Machine: {describe_machine(info)}{' (quick sizes)' if args.quick else ''}.\n\n"
            + markdown_table(rows, columns) + "\n")
    budget = ""
    if args.quick and set(args.only) == set(SUITE):
        budget = f" (quick budget 300 s: {'met' if total <= 300 else 'NOT MET'})"
    print(f"\nTotal {total:.0f} s{budget}; machine load {os.getloadavg()[0]:.1f}.")
    failed = [n for n, r in records.items() if r["status"] == "error"]
    write_json(args.out_json, {"benchmark": "run_all", "quick": args.quick,
                               "total_s": total, "rows": rows, "scripts": records,
                               "machine": info})
    print(f"Combined JSON: {args.out_json}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
