"""``skclip benchmark``: the published tables' protocol on a dataset, in one command.

Loads the dataset (:func:`skclip.datasets.load_benchmark_dataset`), embeds it once through
the per-file cache of ``skclip cluster``, fits every method once per seed with K = the
number of classes, and writes DIR/results.json (every run) and DIR/results.md (skclip's
numbers beside the papers'), with :mod:`skclip.report`'s benchmark functions.
"""

import argparse
import sys
import time

from ._common import (
    EXIT_ERROR,
    EXIT_OK,
    CLIError,
    _add_model_args,
    _add_text_args,
    _check_text_args,
    _embed_folder,
    _embedder_params,
    _pretrained,
    _say,
)

_METHODS = ("kmeans", "tac", "cae", "mca")  # skclip.report.BENCHMARK_METHODS (not imported: --help)
_DATASETS = ("cifar10", "cifar20", "stl10", "imagenet10", "imagenet-dogs", "tiny-imagenet",
             "imagenet", "folder")  # skclip.datasets.BENCHMARK_DATASETS


def _methods(value):
    names = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in names if m not in _METHODS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(_METHODS)}, got {value!r}")
    return list(dict.fromkeys(names))


def _seeds(value):
    """``--seeds N`` (the seeds 0..N-1) or ``--seeds 0,3,7``."""
    try:
        if "," in value:
            seeds = [int(s) for s in value.split(",") if s.strip()]
        else:
            seeds = list(range(int(value)))
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"expected a number of seeds N >= 1 or distinct seeds like 0,1,2, got {value!r}")
    return seeds


def _positive(value):
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def add_benchmark_parser(sub):
    """Add ``skclip benchmark`` to the ``skclip`` sub-command parsers."""
    b = sub.add_parser(
        "benchmark", help="reproduce the published tables: ACC/NMI/ARI of every method on "
                          "a dataset, beside the papers' numbers",
        description="Cluster a benchmark dataset with every method (K = the number of "
                    "classes, each method fitted once per seed on embeddings computed once "
                    "and cached) and write DIR/results.json (every run) and DIR/results.md "
                    "(skclip's ACC/NMI/ARI beside the published numbers for the same "
                    "backbone). CIFAR-10/100 and STL-10 are downloaded into the cache on "
                    "first use; the ImageNet datasets read a local ImageNet folder (--data); "
                    "offline, --data may name a class-folder tree for every dataset.")
    b.add_argument("dataset", metavar="DATASET",
                   help=f"one of {', '.join(_DATASETS)} ('folder': any DIR/<class>/<image> "
                        "tree given with --data)")
    b.add_argument("--data", metavar="DIR",
                   help="where the dataset is: the extracted torchvision archive, a local "
                        "ImageNet folder (DIR/<split>/<wnid>/...) or a class-folder tree "
                        "named after the dataset's classes (default: download CIFAR-10/100 "
                        "and STL-10 into the cache)")
    b.add_argument("--split", default=None,
                   help="split to cluster (default: the published protocol's: test for "
                        "CIFAR and STL-10, train for ImageNet-10/-Dogs and Tiny-ImageNet, "
                        "val for ImageNet)")
    b.add_argument("--features", metavar="FILE.npz",
                   help="use the embeddings, labels (and text embeddings) of a features "
                        "file from 'skclip embed' instead of embedding --data")
    b.add_argument("--methods", type=_methods, default=list(_METHODS), metavar="LIST",
                   help=f"comma-separated methods (default: {','.join(_METHODS)})")
    b.add_argument("--seeds", type=_seeds, default=list(range(5)), metavar="N|S,S,...",
                   help="number of seeds (0..N-1) or a list of seeds; results are mean ± "
                        "std over them (default: 5)")
    b.add_argument("--limit", type=_positive, default=None, metavar="N",
                   help="a quick run on the first N images of each class")
    b.add_argument("--no-download", action="store_true",
                   help="never download; fail when the dataset is not in the cache")
    t = b.add_argument_group("text (as in 'skclip cluster'; used by tac, cae, mca)")
    _add_text_args(t, vocabulary_default="wordnet")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty output folder")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bars, no summary")
    _add_model_args(b)
    b.set_defaults(run=cmd_benchmark)


def estimator_factory(args, model, features, n_clusters):
    """``make(method, seed)`` -> the clusterer ``skclip cluster`` would build (quiet)."""
    from ._cluster import _pipeline

    no_text = {"vocabulary": "wordnet", "vocabulary_cache": None, "exact_vocabulary": False,
               "captions": None}

    def make(method, seed):
        text = method != "kmeans"  # CLIP k-means reads no text: no text options for it
        ns = argparse.Namespace(**{**vars(args), **({} if text else no_text), "method": method,
                                   "seed": int(seed), "n_clusters": n_clusters, "quiet": True})
        return _pipeline(ns, model, features if text else None).named_steps["clust"]

    return make


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    from .._versions import running_versions

    found = running_versions()
    try:
        found["open_clip"] = version("open_clip_torch")
    except PackageNotFoundError:
        pass
    return found


def _from_features(args):
    """X, y, class names, model and split of a features file."""
    from ..datasets import load_features

    features = load_features(args.features)
    if features.y is None:
        raise CLIError(f"features file {args.features} has no labels (y): nothing to score "
                       "(write it with 'skclip embed' on a DIR/<class>/<image> tree)")
    return features


def _from_dataset(args, model):
    """Load and embed the dataset; X, y aligned on the readable images."""
    import numpy as np

    from ..datasets import load_benchmark_dataset
    from ..embed import CLIPEmbedder

    data = load_benchmark_dataset(args.dataset, args.data, split=args.split, limit=args.limit,
                                  download=not args.no_download, verbose=not args.quiet)
    _say(args, f"{data.title}, {data.split} split: {len(data.paths)} images, "
               f"{len(data.class_names)} classes, from {data.root}"
         + (f" ({len(data.ignored_classes)} other folder(s) ignored)"
            if data.ignored_classes else ""))
    embedder = CLIPEmbedder(model=model, pretrained=args.pretrained, device=args.device,
                            **_embedder_params(args))
    t0 = time.perf_counter()
    emb = _embed_folder(args, embedder, model, data.paths)
    label = dict(zip(data.paths, data.y))
    y = np.asarray([label[p] for p in emb.paths], dtype=np.int64)
    if len(emb.paths) < len(data.class_names):
        raise CLIError(f"{len(emb.paths)} readable image(s) for {len(data.class_names)} "
                       "classes: fewer images than classes")
    stats = {"n_found": len(data.paths), "n_cached": emb.n_cached,
             "n_embedded": emb.n_embedded, "n_skipped": len(emb.skipped),
             "seconds": time.perf_counter() - t0}
    return data, emb.X, y, stats


def cmd_benchmark(args):
    """Run ``skclip benchmark``; returns the exit status."""
    import numpy as np

    from ..datasets import benchmark_dataset_info
    from ..report import prepare_output_dir, run_benchmark, weights_sha256, write_benchmark_results

    info = benchmark_dataset_info(args.dataset)  # unknown names fail here, before any work
    _check_text_args(args)
    if args.features is not None and (args.data is not None or args.limit is not None):
        raise CLIError("--features replaces --data and --limit (the file holds the images' "
                       "embeddings)")
    out = prepare_output_dir(args.out, overwrite=args.overwrite)
    features = None
    if args.features is not None:
        from ._cluster import _model_from_features

        features = _from_features(args)
        model, args.pretrained = _model_from_features(args, features)
        X, y = features.X, features.y
        names = features.class_names or sorted(set(np.asarray(y).tolist()))
        split, n_classes = features.split or args.split or "as recorded", len(names)
        title, stats, root = info.title, None, str(args.features)
        digest = None  # the file does not say which weights file made it
    else:
        model, args.pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
        data, X, y, stats = _from_dataset(args, model)
        split, n_classes, title, root = data.split, len(data.class_names), data.title, data.root
        digest = weights_sha256(model, args.pretrained)
    pretrained = None if args.pretrained is None else str(args.pretrained)
    versions = _versions()
    common = {"dataset": args.dataset, "split": split, "model": model, "pretrained": pretrained,
              "weights_sha256": digest, "n_clusters": n_classes}
    protocol = {**common, "title": title, "n": int(len(X)), "n_classes": n_classes,
                "seeds": args.seeds, "limit": args.limit, "methods": args.methods,
                "data": root, "embedding": stats, "vocabulary": args.vocabulary,
                "captions": args.captions, "versions": versions}
    _say(args, f"protocol: K = {n_classes}, seeds {', '.join(map(str, args.seeds))}, "
               f"backbone {model} / {pretrained or 'random weights'}; methods "
               f"{', '.join(args.methods)}")
    make = estimator_factory(args, model, features, n_classes)
    runs = run_benchmark(X, y, args.methods, args.seeds, make,
                         record={**common, "versions": versions}, verbose=not args.quiet)
    files = write_benchmark_results(out, [protocol], runs)
    failed = sorted({r["method"] for r in runs if "error" in r})
    if not args.quiet:
        print(files[1].read_text(encoding="utf-8"), file=sys.stderr)
    _say(args, f"wrote {', '.join(str(f) for f in files)}")
    if failed:
        print(f"skclip: error: method(s) {', '.join(failed)} failed (see {files[1]})",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
