"""Helpers shared by the benchmark scripts: machine info, timing, tables, JSON.

Usable from any script in ``benchmarks/`` with ``from _common import ...`` (the
script's folder is on ``sys.path`` when it runs as ``python benchmarks/x.py``).

A script that follows the suite's convention accepts ``--quick`` and ``--out-json
PATH`` (see :func:`add_common_args`) and writes its results with
:func:`write_json`; ``run_all.py`` then collects them. Results that compare skclip
with an anchor should carry ``skclip_s``/``anchor_s`` (seconds, lower is better) or
``skclip_per_s``/``anchor_per_s`` (throughput, higher is better) and ``ratio``
(how many times better skclip is: ``anchor_s / skclip_s`` or
``skclip_per_s / anchor_per_s``; > 1 means skclip wins).
"""

import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent

__all__ = [
    "REPO_ROOT", "add_common_args", "rss_mb", "assets_dir", "git_commit", "machine_info",
    "markdown_table", "peak_rss_mb", "print_table", "set_threads", "speed_ratio",
    "time_call", "utc_now", "write_json",
]


def utc_now():
    """The current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def git_commit(short=False):
    """``git rev-parse HEAD`` of the repository, or ``"unknown"``; ``+dirty`` if modified."""
    args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
    try:
        sha = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        # code that differs from the commit (new files included) makes the numbers "+dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skclip", "benchmarks"],
                               cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    return None


def _gpu():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_gb": round(props.total_memory / 1024**3, 1),
            "count": torch.cuda.device_count(), "cuda": torch.version.cuda}


def _versions():
    """Installed versions, read from package metadata (nothing is imported)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for key, dist in (("numpy", "numpy"), ("scipy", "scipy"), ("sklearn", "scikit-learn"),
                      ("torch", "torch"), ("open_clip", "open_clip_torch"), ("ot", "pot"),
                      ("faiss", "faiss-cpu"), ("skclip", "skclip")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def machine_info():
    """What the numbers were measured on: CPU, cores, GPU, memory, versions, commit, date.

    ``load_avg_1m`` is recorded because the development machine is shared: a high
    load means noisy timings.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    try:
        import torch
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    return {
        "date": utc_now(),
        "commit": git_commit(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch_threads,
        "memory_gb": _memory_gb(),
        "gpu": _gpu(),
        "platform": platform.platform(),
        "load_avg_1m": load,
        "versions": _versions(),
    }


def describe_machine(info=None):
    """One line for a report header."""
    info = info or machine_info()
    gpu = info["gpu"]["name"] if info.get("gpu") else "no GPU"
    return (f"{info['cpu']}, {info['usable_cores']} usable cores, {info['memory_gb']} GB RAM, "
            f"{gpu}; load {info['load_avg_1m']}; commit {info['commit']}; {info['date']}")


def peak_rss_mb(children=False):
    """Peak resident memory of this process (or of its finished children) in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    kb = resource.getrusage(who).ru_maxrss
    return round(kb / 1024 if sys.platform != "darwin" else kb / 1024**2, 1)


def set_threads(n=None):
    """Limit torch's CPU threads (``None``: leave as is); returns the count in use."""
    import torch

    if n:
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def time_call(fn, *, repeat=3, warmup=1, sync=None):
    """Run ``fn()`` ``warmup`` + ``repeat`` times; return timing statistics in seconds.

    ``sync`` is called before reading the clock (pass ``torch.cuda.synchronize`` for
    GPU work). The result of the last call is returned under ``"result"``.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeat)):
        if sync:
            sync()
        t0 = time.perf_counter()
        result = fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return {"best": min(times), "median": statistics.median(times), "times": times,
            "result": result}


def speed_ratio(skclip, anchor, *, higher_is_better=False):
    """How many times better skclip is than the anchor (> 1: skclip wins)."""
    if not skclip or not anchor:
        return None
    return anchor / skclip if not higher_is_better else skclip / anchor


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        mag = abs(value)
        return f"{value:.3g}" if mag < 0.01 or mag >= 1e5 else f"{value:.{max(0, 3 - len(str(int(mag))))}f}"
    return str(value)


def _columns(rows, columns):
    if columns:
        return list(columns)
    cols = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def print_table(rows, columns=None, *, title=None, file=None):
    """Print a list of dicts as an aligned plain-text table (missing cells: ``-``)."""
    rows = list(rows)
    cols = _columns(rows, columns)
    cells = [[_fmt(row.get(c)) for c in cols] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    out = file or sys.stdout
    if title:
        print(title, file=out)
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=out)
    out.flush()


def markdown_table(rows, columns=None):
    """A list of dicts as a GitHub Markdown table (string)."""
    rows = list(rows)
    cols = _columns(rows, columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def _clean(obj):
    """Replace non-finite floats (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _jsonable(obj):
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None:
        if isinstance(obj, (np.ndarray, np.generic)):
            return _clean(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path, payload, *, add_machine=True):
    """Write ``payload`` (a dict) as indented JSON; adds ``machine`` unless present."""
    if path is None:
        return None
    payload = dict(payload)
    if add_machine and "machine" not in payload:
        payload["machine"] = machine_info()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(payload), indent=2, default=_jsonable, allow_nan=False)
    path.write_text(text + "\n")
    return path


def add_common_args(parser):
    """Add the suite's shared options: ``--quick``, ``--out-json``, ``--threads``."""
    parser.add_argument("--quick", action="store_true",
                        help="small problem sizes (the CI smoke run, seconds not minutes)")
    parser.add_argument("--out-json", default=None, metavar="PATH",
                        help="write the results as JSON to PATH")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    return parser


def assets_dir(explicit=None):
    """The offline assets folder: argument, $SKCLIP_ASSETS, or an ``assets`` folder found
    beside the repository."""
    for cand in (explicit, os.environ.get("SKCLIP_ASSETS"), REPO_ROOT.parent / "shared" / "assets"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def rss_mb(field="VmHWM"):
    """A memory field of this process from /proc/self/status, in MiB (NaN elsewhere):
    ``"VmHWM"`` is the peak resident set, ``"VmRSS"`` the current one."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def unit_blobs(n, d, k, noise, seed=0):
    """Unit float32 rows around ``k`` random unit centres (noise norm about ``noise``).

    Built in blocks of 65,536 rows, so ImageNet-size inputs need no float64 copy.
    Returns ``X, y, centers, rng`` (the generator, for further draws by the caller).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    y = rng.integers(0, k, size=n)
    X = np.empty((n, d), dtype=np.float32)
    scale = np.float32(noise / np.sqrt(d))
    for s in range(0, n, 65536):
        block = centers[y[s : s + 65536]]
        block += rng.standard_normal(block.shape, dtype=np.float32) * scale
        X[s : s + 65536] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return X, y, centers, rng
