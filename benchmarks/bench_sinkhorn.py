"""Sinkhorn speed, memory and accuracy: skclip.ot against POT's log-domain solver.

Problems: X (n, 512) and Y (m, 512) random unit vectors (float32, fixed seed), cost
``C = 1 - X Y^T``, uniform marginals, eps = 0.01, the same tolerance for every solver.

Solvers (on the CPU, ``--threads`` threads each, one after the other):

* ``skclip``          ``skclip.ot.sinkhorn(C)``, dense path, float32, plan returned.
* ``skclip-f64``      the same on the float64 cost.
* ``skclip-stream``   ``skclip.ot.sinkhorn_cosine(X, Y, block_size=4096, return_plan=False)``:
                      cost blocks recomputed from the features each iteration, O(block*m).
* ``pot-numpy``       ``ot.sinkhorn(a, b, C, eps, method="sinkhorn_log")`` on the float64
                      numpy cost (POT's usual input); compared with ``skclip-f64``.
* ``pot-numpy-f32``   the same on the float32 cost; compared with ``skclip``.
* ``pot-torch``       the same call on CPU float32 torch tensors (POT's torch backend);
                      compared with ``skclip``.

The ``ratio`` column is the solver's time over the time of the skclip row it is
compared with (``compared_with`` in the JSON, see ``_reference``): for POT, the fastest
skclip row with an equal or better measured error, else the skclip row of the same
precision; ``time_ratio_same_precision`` is always against the same precision. Inputs are converted (float64 copies, tensors) before the clock starts.

Stopping: skclip stops when the relative L1 row-marginal error is <= tol; POT when the
L2 norm of its column-marginal error is <= tol (checked every 10 iterations). The
L1 criterion is the stricter one. Every solver is then scored the same way:
``err = max(||T1 - a||_1, ||T^T 1 - b||_1)`` computed in float64 from its plan (for
``skclip-stream``, from its potentials, block by block, after the timing).

Time: wall time of the solver call (inputs already in memory). Peak memory: the
increase of the process's resident-set high-water mark during the call, i.e. memory
beyond the inputs, including the returned plan. ``VmHWM`` is reset through
``/proc/self/clear_refs`` before each call, so all solvers run in this process; where
that is not possible each solver runs in a fresh spawned process and ``ru_maxrss`` is
used. Freed memory is returned first (``gc.collect``, ``malloc_trim``). glibc serves
arrays above 32 MiB by mmap, so peaks are exact on the full-size problems; on the
``--quick`` sizes, arrays may reuse freed heap pages and peaks can be under-reported.
(Forcing mmap for all sizes would add page faults to the timings, mostly to POT's.)

POT runs at most ``max(50, 5 * n_iter_skclip)`` iterations (rounded as below): in
float32 it may never reach the tolerance (its error floor), and the ``converged``
field says whether it did. POT is slow on the large problems: a POT run whose estimated time exceeds
``--max-pot-seconds`` is not run in full. Instead it runs ``--pot-probe-iters``
iterations and its time is extrapolated linearly to ``10 * ceil(n_iter_skclip / 10)``
iterations (the same Sinkhorn iterations; POT checks every 10), marked
``extrapolated`` in the table and JSON; its error is then the one after the probe.
The probe includes POT's marginal check of iteration 0 (about half an iteration), so
a short probe overstates POT's per-iteration time slightly: by at most
``0.5 / probe_iters`` relative (~25% for a 2-iteration probe).

Above ``--pot-max-entries`` cost entries (default 6e7), POT would need ~5 float64
(n, m) arrays at once (10+ GiB on 50k x 5k), more than a shared machine can give: it is
then timed on a row subset and scaled (see ``_bench_pot_rows``), marked ``subsampled``;
its peak memory is the subset's, scaled linearly.

The machine these numbers came from is shared by several engineers: see ``load``
(1-minute load average before each run) in the JSON.

Usage::

    python benchmarks/bench_sinkhorn.py --quick            # < 60 s, CI
    python benchmarks/bench_sinkhorn.py --out results.json  # 50kx500, 50kx5k, 200kx1k
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FULL_SIZES = [(50_000, 500), (50_000, 5_000), (200_000, 1_000)]
QUICK_SIZES = [(2_000, 100), (5_000, 200), (10_000, 100)]
SOLVERS = ["skclip", "skclip-f64", "skclip-stream", "pot-numpy", "pot-numpy-f32", "pot-torch"]
DIM = 512
# Run only up to --max-entries-slow: the streamed solver recomputes the (n, m) cost product
# every iteration, and POT in float32 stalls above its tolerance (see `converged`).
SLOW = ("skclip-stream", "pot-numpy-f32")


def _unit(rng, n):
    X = rng.standard_normal((n, DIM), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _rss_status():
    try:
        with open("/proc/self/status") as fh:
            fields = dict(line.split(":", 1) for line in fh)
        return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def _vmhwm_resettable():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _rss_status() is not None


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def _reset_peak():
    """Reset VmHWM to the current RSS; returns the baseline in KiB and the method."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        status = _rss_status()
        if status is not None:
            return status[1], "VmHWM"
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"


def _peak_since(baseline, method):
    if method == "VmHWM":
        return max(0, _rss_status()[0] - baseline)
    import resource

    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline)


def _plan_errors(P, n, m):
    rows = P.sum(axis=1, dtype=np.float64)
    cols = P.sum(axis=0, dtype=np.float64)
    return float(np.abs(rows - 1.0 / n).sum()), float(np.abs(cols - 1.0 / m).sum())


def _potential_errors(X, Y, f, g, eps, block=4096):
    """Marginal errors of exp((f_i + g_j - C_ij)/eps) for C = 1 - X Y^T, in float64."""
    n, m = len(X), len(Y)
    Y64 = Y.astype(np.float64)
    cols = np.zeros(m)
    row_err = 0.0
    for i in range(0, n, block):
        C = 1.0 - X[i : i + block].astype(np.float64) @ Y64.T
        T = np.exp((f[i : i + block, None] + g[None, :] - C) / eps)
        row_err += np.abs(T.sum(axis=1) - 1.0 / n).sum()
        cols += T.sum(axis=0)
    return float(row_err), float(np.abs(cols - 1.0 / m).sum())


def _prepare(solver, data, cfg):
    """Solver inputs, converted before the measurement starts."""
    if solver == "skclip-stream":
        return data["X"], data["Y"]
    if solver in ("skclip-f64", "pot-numpy"):
        return data["C"].astype(np.float64)
    return data["C"]


def _measure(solver, data, n, m, cfg, max_iter):
    """Run one solver and report time, iterations, marginal error and peak memory."""
    import warnings

    import ot  # noqa: F401  (imports stay outside the timed region)
    import torch

    import skclip.ot  # noqa: F401

    torch.set_num_threads(cfg["threads"])
    eps, tol = cfg["eps"], cfg["tol"]
    inputs = _prepare(solver, data, cfg)
    baseline, method = _reset_peak()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        P, res, n_iter, converged = _call(solver, inputs, n, m, eps, tol, max_iter)
        seconds = time.perf_counter() - t0
    peak_mb = _peak_since(baseline, method) / 1024.0
    if P is None:
        f = np.asarray(res.f, dtype=np.float64)
        g = np.asarray(res.g, dtype=np.float64)
        err_row, err_col = _potential_errors(data["X"], data["Y"], f, g, eps)
    else:
        err_row, err_col = _plan_errors(P, n, m)
    del P, res, inputs
    return dict(seconds=seconds, n_iter=n_iter, converged=converged, err_row=err_row,
                err_col=err_col,
                err=max(err_row, err_col), peak_mb=peak_mb, memory_method=method,
                load=os.getloadavg()[0], max_iter=max_iter)


def _call(solver, inputs, n, m, eps, tol, max_iter):
    import ot
    import torch

    from skclip.ot import sinkhorn, sinkhorn_cosine

    if solver in ("skclip", "skclip-f64"):
        res = sinkhorn(inputs, eps=eps, tol=tol, max_iter=max_iter, device="cpu")
        return res.plan, res, res.n_iter, res.converged
    if solver == "skclip-stream":
        X, Y = inputs
        res = sinkhorn_cosine(X, Y, eps=eps, tol=tol, max_iter=max_iter, block_size=4096,
                              return_plan=False, device="cpu")
        return None, res, res.n_iter, res.converged
    if solver == "pot-torch":
        M = torch.from_numpy(inputs)
        a, b = torch.full((n,), 1.0 / n), torch.full((m,), 1.0 / m)
    else:
        M = inputs
        a = np.full(n, 1.0 / n, dtype=M.dtype)
        b = np.full(m, 1.0 / m, dtype=M.dtype)
    P, log = ot.sinkhorn(a, b, M, eps, method="sinkhorn_log", numItermax=max_iter,
                         stopThr=tol, log=True)
    P = P.numpy() if isinstance(P, torch.Tensor) else P
    return P, None, int(log["niter"]) + 1, bool(float(log["err"][-1]) < tol)


def _child(solver, paths, n, m, cfg, max_iter, queue):
    data = {k: np.load(p) for k, p in paths.items()}
    queue.put(_measure(solver, data, n, m, cfg, max_iter))


def _run(solver, data, paths, n, m, cfg, max_iter):
    """In this process when VmHWM can be reset, else in a fresh spawned process."""
    if cfg["in_process"]:
        return _measure(solver, data, n, m, cfg, max_iter)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(solver, paths, n, m, cfg, max_iter, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _bench_size(n, m, cfg, tmpdir):
    rng = np.random.default_rng(0)
    X, Y = _unit(rng, n), _unit(rng, m)
    C = X @ Y.T
    np.subtract(1.0, C, out=C)
    data = dict(X=X, Y=Y, C=C)
    paths = {}
    if not cfg["in_process"]:
        paths = {k: str(Path(tmpdir) / f"{k}.npy") for k in data}
        for k, arr in data.items():
            np.save(paths[k], arr)
        data = None
    rows = {}
    for solver in cfg["solvers"]:
        if solver in SLOW and n * m > cfg["max_entries_slow"]:
            continue
        if solver.startswith("pot"):
            ref = rows.get("skclip-f64" if solver == "pot-numpy" else "skclip")
            if n * m > cfg["pot_max_entries"]:
                rows[solver] = _bench_pot_rows(solver, data, paths, n, m, cfg, ref, tmpdir)
            else:
                rows[solver] = _bench_pot(solver, data, paths, n, m, cfg, ref)
        else:
            rows[solver] = _run(solver, data, paths, n, m, cfg, cfg["max_iter"])
        rows[solver]["extrapolated"] = rows[solver].get("extrapolated", False)
        _print_row(n, m, solver, rows[solver], rows)
    return rows


def _bench_pot_rows(solver, data, paths, n, m, cfg, ours, tmpdir):
    """POT on the first ``n_sub`` rows only, time and memory scaled to n rows.

    POT's log-domain solver holds ~5 float64 (n, m) arrays at once; on the full-size
    problems that would exhaust the shared machine's memory. Its per-iteration time
    and memory are linear in n*m, so ``--pot-probe-iters`` iterations are timed on the
    sub-problem (n_sub = pot_max_entries // m rows, same columns, uniform marginals)
    and scaled by ``n / n_sub`` and by the iteration count skclip needed on the full
    problem (rounded up to POT's check period of 10). Its error is not comparable
    and is reported as NaN.
    """
    n_sub = max(1, int(cfg["pot_max_entries"] // m))
    sub = None if data is None else dict(C=np.ascontiguousarray(data["C"][:n_sub]))
    sub_paths = {}
    if data is None:
        sub_paths = {"C": str(Path(tmpdir) / "C_sub.npy")}
        np.save(sub_paths["C"], np.load(paths["C"], mmap_mode="r")[:n_sub])
    target = 10 * math.ceil(ours["n_iter"] / 10) if ours else cfg["max_iter"]
    probe = _run(solver, sub, sub_paths, n_sub, m, cfg, cfg["pot_probe_iters"])
    scale = n / n_sub
    probe.update(seconds=probe["seconds"] * scale * target / cfg["pot_probe_iters"],
                 probe_seconds=probe["seconds"], probe_iters=cfg["pot_probe_iters"],
                 probe_rows=n_sub, peak_mb=probe["peak_mb"] * scale, n_iter=target,
                 err=float("nan"), err_row=float("nan"), err_col=float("nan"),
                 extrapolated=True, subsampled=True)
    return probe


def _bench_pot(solver, data, paths, n, m, cfg, ours):
    """Full POT run, or a probe of a few iterations extrapolated (see module docstring)."""
    target = cfg["max_iter"]
    if ours is not None:
        target = min(cfg["max_iter"], 10 * math.ceil(ours["n_iter"] / 10))
    probe_iters = cfg["pot_probe_iters"]
    if cfg["max_pot_seconds"] is not None and target > probe_iters:
        probe = _run(solver, data, paths, n, m, cfg, probe_iters)
        estimate = probe["seconds"] * target / probe_iters
        if estimate > cfg["max_pot_seconds"]:
            probe.update(seconds=estimate, probe_seconds=probe["seconds"],
                         probe_iters=probe_iters, n_iter=target, extrapolated=True)
            return probe
    return _run(solver, data, paths, n, m, cfg, min(cfg["max_iter"], max(50, 5 * target)))


# Which skclip row each solver is compared with (same precision).
REFERENCE = {"skclip-f64": "skclip", "skclip-stream": "skclip", "pot-numpy": "skclip-f64",
             "pot-numpy-f32": "skclip", "pot-torch": "skclip"}


def _reference(name, rows):
    """The skclip row a solver is compared with.

    POT rows: the fastest dense skclip row (float32 or float64) whose measured error is
    equal or better than POT's, which is the issue's criterion ("at equal or better
    marginal error"). Where POT's error is unknown (extrapolated) or no skclip row is
    as accurate, the skclip row of the same precision (``REFERENCE``).
    """
    err = rows[name].get("err")
    if name.startswith("pot") and err is not None and math.isfinite(err):
        ok = [k for k in ("skclip", "skclip-f64") if k in rows and rows[k]["err"] <= err]
        if ok:
            return min(ok, key=lambda k: rows[k]["seconds"])
    ref = REFERENCE.get(name)
    return ref if ref in rows else None


def _score(results):
    """Add ``compared_with``, ``time_ratio`` and ``time_ratio_same_precision`` to rows."""
    for res in results:
        rows = res["solvers"]
        for name, r in rows.items():
            ref, same = _reference(name, rows), REFERENCE.get(name)
            r["compared_with"] = ref
            r["time_ratio"] = r["seconds"] / rows[ref]["seconds"] if ref else None
            r["time_ratio_same_precision"] = (
                r["seconds"] / rows[same]["seconds"] if same in rows else None
            )
    return results


def _print_row(n, m, solver, r, rows):
    ref = rows.get(_reference(solver, rows))
    speed = f"{r['seconds'] / ref['seconds']:8.1f}x" if ref else ""
    flag = "*" if r["extrapolated"] else (" " if r["converged"] else "!")
    print(f"{n:>7d} x {m:<6d} {solver:<14s} {r['seconds']:9.2f}{flag} {r['n_iter']:6d} "
          f"{r['err']:10.2e} {r['peak_mb']:9.0f} {speed:>9s} {r['load']:5.1f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI, < 60 s)")
    parser.add_argument("--out", default="benchmarks/out/bench_sinkhorn.json")
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/BLAS threads per solver (default 1: the machine is shared)")
    parser.add_argument("--max-pot-seconds", type=float, default=300.0,
                        help="extrapolate POT runs estimated above this (<= 0: always run)")
    parser.add_argument("--pot-probe-iters", type=int, default=10)
    parser.add_argument("--pot-max-entries", type=float, default=6e7,
                        help="above this many entries POT runs on a row subset, scaled")
    parser.add_argument("--max-entries-slow", type=float, default=5e7,
                        help=f"run {', '.join(SLOW)} only up to this many cost entries")
    parser.add_argument("--solvers", nargs="+", default=SOLVERS, choices=SOLVERS)
    parser.add_argument("--sizes", nargs="+", default=None, help="e.g. 50000x500 (overrides)")
    args = parser.parse_args(argv)

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # inherited by the spawned solvers
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    solvers = [s for s in SOLVERS if s in set(args.solvers) | {"skclip"}]
    cfg = dict(eps=args.eps, tol=args.tol, max_iter=args.max_iter, threads=args.threads,
               max_pot_seconds=args.max_pot_seconds if args.max_pot_seconds > 0 else None,
               pot_probe_iters=args.pot_probe_iters, in_process=_vmhwm_resettable(),
               max_entries_slow=args.max_entries_slow, pot_max_entries=args.pot_max_entries,
               solvers=solvers)
    print(f"eps={args.eps} tol={args.tol} threads={args.threads} d={DIM}; "
          "time in s (* = extrapolated, ! = not converged), peak = extra MiB during the call")
    print(f"{'problem':>16s} {'solver':<14s} {'time':>10s} {'iters':>6s} {'err':>10s} "
          f"{'peak':>9s} {'ratio':>9s} {'load':>5s}")
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for n, m in sizes:
            rows = _bench_size(n, m, cfg, tmpdir)
            results.append(dict(n=n, m=m, solvers=rows))
    _score(results)
    report = dict(config={k: v for k, v in cfg.items()}, dim=DIM, quick=args.quick,
                  machine=dict(platform=platform.platform(), cpus=os.cpu_count(),
                               python=sys.version.split()[0]),
                  results=results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
