"""The benchmark protocol: fit each method once per seed, score it, write results.json/.md.

The same code serves ``skclip benchmark`` and ``benchmarks/quality.py``. The caller
supplies the embeddings (computed once) and a factory of unfitted clusterers; this module
fits, scores with :func:`skclip.metrics.clustering_report` (ACC by Hungarian matching, NMI,
ARI, in %) and writes ``results.json`` (every run) and ``results.md`` (skclip's numbers
beside the published ones, marked as the papers').
"""

import hashlib
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from ._published import PUBLISHED, PUBLISHED_BACKBONE, PUBLISHED_SOURCE, ROWS, SPLIT_NOTES

__all__ = ["BENCHMARK_METHODS", "benchmark_markdown", "run_benchmark", "summarize_runs",
           "weights_sha256", "write_benchmark_results"]

BENCHMARK_METHODS = ("kmeans", "tac", "cae", "mca")
_METRICS = ("ACC", "NMI", "ARI")


def run_benchmark(X, y, methods, seeds, make_estimator, *, record=None, verbose=True):
    """Fit every method once per seed on ``X`` and score the clustering against ``y``.

    Labels are used only to score: ``make_estimator`` gets the method and the seed, and
    the estimator sees ``X`` alone. A method that fails is recorded with its error and
    the others go on.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Image embeddings.
    y : array-like of shape (n_samples,)
        True classes.
    methods : sequence of str
        Names passed to ``make_estimator`` (e.g. ``BENCHMARK_METHODS``).
    seeds : sequence of int
        One fit per seed.
    make_estimator : callable
        ``make_estimator(method, seed)`` -> an unfitted clusterer with ``fit_predict``.
    record : dict, default=None
        Fields copied into every run (dataset, split, model...).
    verbose : bool, default=True
        A progress bar over the fits and one line per fit on stderr.

    Returns
    -------
    runs : list of dict
        One per (method, seed): ``record``'s fields, ``method``, ``seed``, ``n``,
        ``ACC``, ``NMI``, ``ARI`` (in %), ``seconds`` (the fit); or ``error``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import run_benchmark
    >>> X = np.repeat(np.eye(3), 4, axis=0)
    >>> y = np.repeat([0, 1, 2], 4)
    >>> make = lambda method, seed: KMeans(3, n_init=1, random_state=seed)
    >>> runs = run_benchmark(X, y, ["kmeans"], [0, 1], make, verbose=False)
    >>> [(r["seed"], r["ACC"]) for r in runs]
    [(0, 100.0), (1, 100.0)]
    """
    from tqdm.auto import tqdm

    from ..metrics import clustering_report

    y = np.asarray(y)
    runs, failed = [], set()
    jobs = [(m, s) for m in methods for s in seeds]
    for method, seed in tqdm(jobs, desc="fitting", unit="fit", disable=not verbose):
        run = {**(record or {}), "method": method, "seed": int(seed), "n": int(len(y))}
        if method in failed:
            run["error"] = "skipped: an earlier seed failed"
            runs.append(run)
            continue
        try:
            est = make_estimator(method, seed)
            t0 = time.perf_counter()
            labels = est.fit_predict(X)
            run["seconds"] = time.perf_counter() - t0
            run.update(clustering_report(y, labels))
        except Exception as exc:  # one broken method is one row of errors, not a crash
            failed.add(method)
            run["error"] = f"{type(exc).__name__}: {exc}"
            if os.environ.get("SKCLIP_DEBUG", "") not in ("", "0"):
                traceback.print_exc()
        runs.append(run)
        if verbose:
            scores = ("  ".join(f"{m} {run[m]:.1f}" for m in _METRICS)
                      + f"  ({run['seconds']:.1f} s)" if "error" not in run
                      else f"ERROR {run['error']}")
            tqdm.write(f"  {method} seed {seed}: {scores}", file=sys.stderr)
    return runs


def summarize_runs(runs):
    """Mean and (population) standard deviation over seeds per (dataset, method).

    Parameters
    ----------
    runs : list of dict
        From :func:`run_benchmark`.

    Returns
    -------
    summary : dict
        ``(dataset, method)`` -> ``{"ACC": (mean, std), "NMI": ..., "ARI": ...,
        "seconds": (mean, std), "n_seeds": int}``, or ``{"error": str}`` when a run
        failed.

    Examples
    --------
    >>> from skclip.report import summarize_runs
    >>> runs = [{"dataset": "d", "method": "kmeans", "ACC": a, "NMI": 50.0, "ARI": 40.0,
    ...          "seconds": 1.0} for a in (70.0, 80.0)]
    >>> summarize_runs(runs)[("d", "kmeans")]["ACC"]
    (75.0, 5.0)
    """
    groups = {}
    for run in runs:
        groups.setdefault((run.get("dataset"), run["method"]), []).append(run)
    summary = {}
    for key, group in groups.items():
        errors = [r["error"] for r in group if "error" in r]
        if errors:
            summary[key] = {"error": errors[0]}
            continue
        entry = {"n_seeds": len(group)}
        for m in (*_METRICS, "seconds"):
            values = [float(r[m]) for r in group]
            entry[m] = (statistics.fmean(values),
                        statistics.pstdev(values) if len(values) > 1 else 0.0)
        summary[key] = entry
    return summary


def _cell(mean_std):
    mean, std = mean_std
    return f"{mean:.1f} ± {std:.1f}"


def _weights_line(p):
    weights = p.get("pretrained") or "random weights"
    digest = p.get("weights_sha256")
    return f"{p.get('model')} / {weights}" + (f" (weights sha256 {digest[:12]}…)"
                                              if digest else "")


def _published_for(p):
    """The papers' numbers for this dataset, and a note when the backbone differs."""
    table = PUBLISHED.get(p.get("dataset"), {})
    if not table:
        return {}, None
    model, weights = PUBLISHED_BACKBONE
    if p.get("model") != model:
        return {}, (f"The papers' numbers are for {model} / {weights}; this run used "
                    f"{p.get('model')}, so they are not shown.")
    if p.get("pretrained") != weights:
        return table, (f"The papers' numbers are for {model} / {weights} weights; this run "
                       f"used {p.get('pretrained') or 'random weights'}: compare the "
                       "layout, not the numbers.")
    return table, None


def _split_note(p):
    from ..datasets import BENCHMARK_DATASETS, benchmark_dataset_info

    dataset, note = p.get("dataset"), SPLIT_NOTES.get(p.get("dataset"), "as given")
    if dataset in BENCHMARK_DATASETS and p.get("split") != benchmark_dataset_info(dataset).split:
        return f"not the published protocol's split, which is {note}"
    return note


def _section(p, summary, methods):
    title = p.get("title") or p.get("dataset")
    seeds = p.get("seeds", [])
    lines = [f"## {title}", "", f"- split: {p.get('split')}: {_split_note(p)}",
             f"- images: {p.get('n')} ({p.get('n_classes')} classes); K = {p.get('n_clusters')}"
             " (the number of classes)" + (f"; at most {p['limit']} images per class (--limit)"
                                           if p.get("limit") else ""),
             f"- backbone: {_weights_line(p)}",
             f"- seeds: {', '.join(map(str, seeds))} (mean ± std over seeds)",
             "- metrics in %: ACC (Hungarian matching of clusters to classes), NMI, ARI; "
             "each method is fitted on the clustered images alone, labels only score it",
             "- fit s: seconds per fit, mean over seeds (the first fit of a text method "
             "also encodes the vocabulary)",
             ""]
    published, note = _published_for(p)
    head = ["Method", "skclip ACC", "skclip NMI", "skclip ARI", "fit s",
            "published ACC / NMI / ARI (the paper's)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, method in ROWS:
        ours = summary.get((p.get("dataset"), method)) if method in methods else None
        theirs = published.get(key)
        if ours is None and theirs is None:
            continue
        if ours is None:
            cells = ["–"] * 4
        elif "error" in ours:
            cells = ["error"] * 3 + ["–"]
        else:
            cells = [_cell(ours[m]) for m in _METRICS] + [f"{ours['seconds'][0]:.2f}"]
        paper = " / ".join(f"{v:.1f}" for v in theirs) if theirs else "–"
        lines.append("| " + " | ".join([label, *cells, paper]) + " |")
    lines.append("")
    if published:
        lines.append(f"Published numbers: the papers' own, not measured by skclip. Source: "
                     f"{PUBLISHED_SOURCE}.")
    if note:
        lines.append(note)
    for (dataset, method), s in summary.items():
        if dataset == p.get("dataset") and "error" in s:
            lines.append(f"- {method}: error: {s['error']}")
    return lines


def benchmark_markdown(protocols, runs):
    """``results.md``: one section per dataset, skclip's rows beside the published ones.

    Parameters
    ----------
    protocols : list of dict
        Per dataset: ``dataset``, ``title``, ``split``, ``n``, ``n_classes``,
        ``n_clusters``, ``model``, ``pretrained``, ``weights_sha256``, ``seeds``,
        ``limit``.
    runs : list of dict
        From :func:`run_benchmark`.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from skclip.report import benchmark_markdown
    >>> p = {"dataset": "cifar10", "title": "CIFAR-10", "split": "test", "n": 10,
    ...      "n_classes": 10, "n_clusters": 10, "model": "ViT-B-32", "pretrained": "openai",
    ...      "seeds": [0]}
    >>> runs = [{"dataset": "cifar10", "method": "kmeans", "seed": 0, "ACC": 70.0,
    ...          "NMI": 60.0, "ARI": 50.0, "seconds": 0.5}]
    >>> [ln for ln in benchmark_markdown([p], runs).splitlines() if "| CLIP k-means" in ln]
    ['| CLIP k-means | 70.0 ± 0.0 | 60.0 ± 0.0 | 50.0 ± 0.0 | 0.50 | 74.2 / 70.3 / 61.6 |']
    """
    summary = summarize_runs(runs)
    methods = {r["method"] for r in runs}
    lines = ["# skclip benchmark results", ""]
    for p in protocols:
        lines += _section(p, summary, methods) + [""]
    versions = next((r.get("versions") for r in runs if r.get("versions")), None)
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def write_benchmark_results(out, protocols, runs):
    """Write ``out/results.json`` (protocols and every run) and ``out/results.md``.

    Parameters
    ----------
    out : str or Path
        The output folder (created when missing).
    protocols : list of dict
        Per dataset, as for :func:`benchmark_markdown`.
    runs : list of dict
        From :func:`run_benchmark`.

    Returns
    -------
    files : list of Path

    Examples
    --------
    >>> import tempfile, json
    >>> from skclip.report import write_benchmark_results
    >>> p = {"dataset": "folder", "split": "all", "n": 4, "seeds": [0]}
    >>> runs = [{"dataset": "folder", "method": "kmeans", "seed": 0, "ACC": 100.0,
    ...          "NMI": 100.0, "ARI": 100.0, "seconds": 0.1}]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_benchmark_results(tmp, [p], runs)
    ...     payload = json.loads(files[0].read_text())
    >>> [f.name for f in files], payload["runs"][0]["ACC"]
    (['results.json', 'results.md'], 100.0)
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"format": "skclip-benchmark", "format_version": 1, "protocols": protocols,
               "runs": runs, "published_source": PUBLISHED_SOURCE,
               "published_backbone": "/".join(PUBLISHED_BACKBONE)}
    files = []
    for name, text in (("results.json", json.dumps(payload, indent=2, default=_jsonable)),
                       ("results.md", benchmark_markdown(protocols, runs))):
        with atomic_write(out / name, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        files.append(out / name)
    return files


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, np.ndarray)):
        return str(value) if isinstance(value, Path) else value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def weights_sha256(model, pretrained):
    """SHA-256 of the weights file of ``(model, pretrained)``; None for random weights.

    A local checkpoint is hashed as it is; an open_clip tag is hashed through the file
    open_clip downloaded (found in its cache; None when it cannot be found).

    Parameters
    ----------
    model : str
        open_clip model name.
    pretrained : str, path-like or None
        open_clip tag, checkpoint path, or None (random weights).

    Returns
    -------
    digest : str or None
        Hex SHA-256 of the weights file.

    Examples
    --------
    >>> from skclip.report import weights_sha256
    >>> weights_sha256("ViT-B-32", None) is None
    True
    """
    if pretrained is None:
        return None
    path = Path(os.fspath(pretrained)).expanduser()
    if not path.is_file():
        path = _cached_weights_file(str(model), str(pretrained))
        if path is None:
            return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_weights_file(model, tag):
    """The file open_clip keeps for a pretrained tag, looked up without downloading."""
    try:
        from open_clip.pretrained import download_pretrained, get_pretrained_cfg

        cfg = get_pretrained_cfg(model, tag)
        if not cfg:
            return None
        if cfg.get("hf_hub"):
            from huggingface_hub import constants

            offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
            try:  # offline: the cached file, or an error (never a download)
                found = download_pretrained({"hf_hub": cfg["hf_hub"]})
            finally:
                constants.HF_HUB_OFFLINE = offline
        else:
            found = Path("~/.cache/clip").expanduser() / os.path.basename(cfg.get("url", ""))
    except Exception:  # not in the cache, no hub client: nothing to hash
        return None
    return Path(found) if found and Path(found).is_file() else None
