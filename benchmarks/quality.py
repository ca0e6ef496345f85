"""Clustering quality (ACC / NMI / ARI) of every method on the same CLIP embeddings.

    python benchmarks/quality.py --features cifar10.npz stl10.npz \
        [--methods kmeans,tac,cae,mca] [--seeds 5] [--out-json q.json] [--out-md q.md]

Each features file (see ``skclip.datasets.save_features``; ``skclip embed`` writes
one) is a dataset and a column of the table; each method is a row; a cell is
``ACC / NMI / ARI`` in %, mean ± std over the seeds, as in the published tables.

Labels are used only to score, plus the number of classes K (``n_clusters``, given
to every method as in the published protocols; ``--n-clusters`` overrides it). The
text-based methods (tac, cae, mca) see the file's ``text_embeddings`` through
``skclip.semantic.SemanticSpaceBuilder(vocabulary=<embeddings>, noun_names=...)``,
which selects the texts relevant to the images without labels. A file without text
embeddings whose ``model`` names pretrained weights (``"ViT-B-32/openai"``, as
``skclip embed`` writes) gets the WordNet vocabulary encoded by that model.
"""

import argparse
import inspect
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    describe_machine, machine_info, markdown_table, print_table, set_threads, write_json,
)

ALL_METHODS = ("kmeans", "tac", "cae", "mca")
METHOD_LABELS = {"kmeans": "CLIP k-means", "tac": "TAC (no train)", "cae": "CAE",
                 "mca": "MCA"}
TEXT_METHODS = {"tac", "cae", "mca"}
METRICS = ("ACC", "NMI", "ARI")


def _supported(cls, params):
    """Keep the parameters ``cls.__init__`` accepts (the contract may grow)."""
    accepted = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in params.items() if k in accepted}


def _model_and_tag(model):
    """``"ViT-B-32/openai"`` -> ``("ViT-B-32", "openai")``; None when not a real model."""
    if not model or "/" not in model:
        return None
    name, tag = model.rsplit("/", 1)
    return None if tag in ("none", "None", "") else (name, tag)


def semantic_space(data, seed, device="auto", extra=None):
    """The text side of a features file as a semantic-space estimator.

    The file's own ``text_embeddings`` when it has some; otherwise the WordNet
    vocabulary encoded by the CLIP model named in the file (``"name/tag"``, real
    weights only: random-weight text embeddings would be unrelated to the images).
    """
    from skclip.semantic import SemanticSpaceBuilder

    if data.text_embeddings is not None:
        params = {"vocabulary": data.text_embeddings, "noun_names": data.text_names}
    else:
        model = _model_and_tag(data.model)
        if model is None:
            raise ValueError(
                "the features file has no text_embeddings and names no pretrained CLIP "
                f"model (model={data.model!r}); the text methods need one or the other."
            )
        from skclip.embed import CLIPEmbedder

        params = {"vocabulary": "wordnet",
                  "embedder": CLIPEmbedder(model=model[0], pretrained=model[1],
                                           device=device, verbose=0)}
    params.update({"random_state": seed, "device": device, "verbose": 0})
    params.update(extra or {})
    return SemanticSpaceBuilder(**_supported(SemanticSpaceBuilder, params))


def make_estimator(method, n_clusters, seed, *, data, device, params):
    """One unfitted clusterer; ``params[method]`` overrides its defaults."""
    import skclip.cluster as cluster

    own = dict(params.get(method, {}))
    common = {"n_clusters": n_clusters, "random_state": seed, "device": device}
    if method == "kmeans":
        return cluster.CLIPKMeans(**common, **own)
    space = semantic_space(data, seed, device, params.get("semantic_space"))
    cls = {"tac": "TACClustering", "cae": "CAEClustering", "mca": "MCAClustering"}[method]
    if not hasattr(cluster, cls):
        raise ImportError(f"skclip.cluster has no {cls} yet")
    return getattr(cluster, cls)(**common, semantic_space=space, **own)


def run_method(method, data, n_clusters, seeds, *, device, params, verbose=True):
    """Fit ``method`` once per seed; scores and times per seed plus mean/std."""
    from skclip.metrics import clustering_report

    runs = []
    for seed in seeds:
        est = make_estimator(method, n_clusters, seed, data=data, device=device,
                             params=params)
        t0 = time.perf_counter()
        labels = est.fit_predict(data.X)  # unsupervised: y is never passed
        elapsed = time.perf_counter() - t0
        report = clustering_report(data.y, labels)
        runs.append({"seed": seed, "fit_s": elapsed, **{m: report[m] for m in METRICS}})
        if verbose:
            print(f"    seed {seed}: " + "  ".join(f"{m} {report[m]:.1f}" for m in METRICS)
                  + f"  ({elapsed:.1f} s)", flush=True)
    summary = {}
    for key in METRICS + ("fit_s",):
        values = [r[key] for r in runs]
        summary[key] = {"mean": statistics.fmean(values),
                        "std": statistics.pstdev(values) if len(values) > 1 else 0.0}
    return {"runs": runs, "summary": summary}


def cell(summary, digits=1):
    """``ACC±std / NMI±std / ARI±std`` (std omitted when zero)."""
    parts = []
    for m in METRICS:
        mean, std = summary[m]["mean"], summary[m]["std"]
        parts.append(f"{mean:.{digits}f}" + (f"±{std:.{digits}f}" if std > 0 else ""))
    return " / ".join(parts)


def tables(results, datasets, methods):
    """Rows for the quality table (methods x datasets) and the fit-time table."""
    quality, timing = [], []
    for method in methods:
        qrow, trow = {"Method": METHOD_LABELS[method]}, {"Method": METHOD_LABELS[method]}
        for name in datasets:
            res = results[name]["methods"].get(method, {})
            if "summary" in res:
                qrow[name] = cell(res["summary"])
                trow[name] = f"{res['summary']['fit_s']['mean']:.2f}"
            else:
                qrow[name] = trow[name] = "error" if "error" in res else "-"
        quality.append(qrow)
        timing.append(trow)
    return quality, timing


def markdown_report(results, datasets, methods, n_seeds, info):
    quality, timing = tables(results, datasets, methods)
    cols = ["Method"] + list(datasets)
    lines = [
        f"ACC / NMI / ARI in %, mean ± std over {n_seeds} seed(s). Machine: "
        f"{describe_machine(info)}.", "",
        markdown_table(quality, cols), "",
        "Fit time (s, mean over seeds):", "",
        markdown_table(timing, cols),
    ]
    for name in datasets:
        for method, res in results[name]["methods"].items():
            if "error" in res:
                lines.append(f"\n- {name} / {method}: error: {res['error']}")
    return "\n".join(lines) + "\n"


def load_dataset(path, n_clusters=None):
    from skclip.datasets import load_features

    data = load_features(path)
    if data.y is None:
        raise ValueError(f"{path}: the features file has no labels (y); nothing to score.")
    if n_clusters is None:
        n_clusters = len(data.class_names) if data.class_names else len(np.unique(data.y))
    return data, n_clusters


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", nargs="+", required=True, metavar="FILE",
                   help="one or more features files (.npz); each is a dataset column")
    p.add_argument("--names", default=None,
                   help="comma-separated column names (default: file stems)")
    p.add_argument("--methods", default=",".join(ALL_METHODS),
                   help=f"comma-separated subset of {','.join(ALL_METHODS)}")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0..seeds-1)")
    p.add_argument("--n-clusters", type=int, default=None,
                   help="K (default: the number of classes of each file)")
    p.add_argument("--params", default="{}",
                   help='JSON overrides per method, e.g. \'{"mca": {"n_epochs": 5}, '
                        '"semantic_space": {"topk_nouns": 5}}\'')
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out-json", default=None, metavar="PATH")
    p.add_argument("--out-md", default=None, metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(ALL_METHODS))
    if unknown:
        p.error(f"unknown methods {unknown}; choose from {', '.join(ALL_METHODS)}")
    args.names = (args.names.split(",") if args.names
                  else [Path(f).name.removesuffix(".npz") for f in args.features])
    if len(args.names) != len(args.features) or len(set(args.names)) != len(args.names):
        p.error("--names must give one distinct name per features file")
    try:
        args.params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        p.error(f"--params is not valid JSON: {exc}")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    info = machine_info()
    seeds = list(range(args.seeds))
    results, failed = {}, False
    for name, path in zip(args.names, args.features):
        data, k = load_dataset(path, args.n_clusters)
        print(f"{name}: {data.X.shape[0]} images, d={data.X.shape[1]}, K={k}, "
              f"{0 if data.text_embeddings is None else len(data.text_embeddings)} texts, "
              f"model {data.model}", flush=True)
        entry = {"file": str(path), "n_samples": int(data.X.shape[0]),
                 "n_features": int(data.X.shape[1]), "n_clusters": int(k),
                 "model": data.model, "split": data.split, "methods": {}}
        for method in args.methods:
            print(f"  {METHOD_LABELS[method]}", flush=True)
            try:
                entry["methods"][method] = run_method(
                    method, data, k, seeds, device=args.device, params=args.params,
                    verbose=not args.quiet)
            except Exception as exc:  # report and go on: one broken method is a row
                failed = True
                entry["methods"][method] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"    ERROR {type(exc).__name__}: {exc}", file=sys.stderr)
                if not args.quiet:
                    traceback.print_exc()
        results[name] = entry

    quality, _ = tables(results, args.names, args.methods)
    print()
    print_table(quality, ["Method"] + args.names,
                title=f"ACC / NMI / ARI (%), mean ± std over {len(seeds)} seed(s)")
    payload = {"benchmark": "quality", "seeds": seeds, "methods": args.methods,
               "params": args.params, "datasets": results, "machine": info}
    write_json(args.out_json, payload)
    if args.out_md:
        Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_md).write_text(
            markdown_report(results, args.names, args.methods, len(seeds), info))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
