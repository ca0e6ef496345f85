"""The ``skclip`` command line: ``skclip cluster`` (the main job), ``skclip embed`` and
``skclip vocab build``.

Kept thin: argument parsing and calls into the library. Importing this module does not
import torch, so ``skclip --help`` and ``skclip --version`` answer at once.

Exit status: 0 on success, 1 for a problem with the inputs, the model or the output
folder (one line says which; ``SKCLIP_DEBUG=1`` shows the traceback), 2 for a malformed
command line.
"""

import argparse
import os
import sys
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_ERROR = 0, 1


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 1."""


def _pretrained(value):
    """``--pretrained`` as open_clip wants it: None for random weights."""
    return None if value.lower() in ("none", "random") else value


def _n_clusters(value):
    """``--n-clusters``: a positive integer or ``auto``."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {value!r}") from None


def _k_range(value):
    """``--k-range LOW:HIGH`` as the estimators' ``k_range=(low, high)``."""
    low, sep, high = value.partition(":")
    try:
        low, high = int(low), int(high)
    except ValueError:
        low = None
    if not sep or low is None or not 2 <= low <= high:
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH with 2 <= LOW <= HIGH (e.g. 2:60), got {value!r}")
    return (low, high)


def _add_model_args(p):
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None,
                   help="open_clip model name (default: ViT-B-32, or the model recorded "
                        "in --features)")
    g.add_argument("--pretrained", default=None,
                   help="open_clip pretrained tag (downloads once, then cached), a local "
                        "checkpoint PATH (offline), or 'none' for random weights "
                        "(default: openai)")
    g.add_argument("--device", default="auto", help="'auto' (GPU when present), 'cpu', 'cuda:0'...")
    g.add_argument("--batch-size", type=int, default=64, metavar="N",
                   help="images per batch (default: 64)")
    g.add_argument("--num-workers", type=int, default=0, metavar="N",
                   help="image decoding worker processes (default: 0)")
    g.add_argument("--decoder", choices=["pil", "torchvision"], default="pil",
                   help="who decodes JPEGs: 'pil' in the workers (default), or "
                        "'torchvision' on --device (nvJPEG on a GPU: much faster there; "
                        "pixels close to, not identical with, Pillow's)")


def _add_engine_args(p, *, fit_sample):
    # --engine ray: skclip.scale (Ray Data); the local engine is the default
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="'local' (this process) or 'ray' (Ray Data: an actor pool embeds, "
                        "the method is fitted on a sample; needs skclip[scale])")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to use with --engine ray, e.g. 'auto' or "
                        "'ray://head:10001' (default: start a local Ray)")
    if fit_sample:
        g.add_argument("--fit-sample", type=int, default=None, metavar="N",
                       help="with --engine ray, fit on a uniform random sample of at most N "
                            "images, then predict every image (default: 50000; N >= the "
                            "number of images gives the local engine's clustering)")


def build_parser():
    """The argument parser of the ``skclip`` command."""
    parser = argparse.ArgumentParser(
        prog="skclip", description="Cluster images with CLIP, the scikit-learn way.",
        epilog="Run 'skclip COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"skclip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser(
        "cluster", help="cluster a folder of images; write assignments.csv, clusters.json, "
                        "report.html",
        description="Embed every image under PATH (cached per file), cluster the images and "
                    "write DIR/assignments.csv (path, cluster, confidence), DIR/clusters.json "
                    "(per cluster: size, naming nouns, representative images) and "
                    "DIR/report.html (a self-contained page to browse the clusters).")
    c.add_argument("path", nargs="?", help="folder of images (searched recursively)")
    c.add_argument("--features", metavar="FILE.npz|FILE.npy",
                   help="cluster the embeddings of a features file (from 'skclip embed') "
                        "instead of a folder; a .npy array (n_images x dim) is memory-mapped, "
                        "not loaded, so it may be larger than the memory")
    c.add_argument("--n-clusters", "-k", type=_n_clusters, required=True, metavar="K|auto",
                   help="number of clusters, or 'auto' to choose it (a scan scored by the "
                        "method's criterion: silhouette for cae, Davies-Bouldin for mca; the "
                        "score curve goes into clusters.json and report.html)")
    c.add_argument("--k-range", type=_k_range, default=None, metavar="LOW:HIGH",
                   help="candidates of --n-clusters auto (default: 2:min(100, images/10))")
    c.add_argument("--method", choices=["cae", "mca"], default="cae",
                   help="clustering method (default: cae, training-free)")
    c.add_argument("--vocabulary", default="wordnet", metavar="wordnet|FILE",
                   help="the nouns of the semantic space, used both to cluster and to name "
                        "the clusters: 'wordnet' (WordNet 3.0, fetched on first use when "
                        "missing), 'wordnet-tac' / 'wordnet-sic' (the predecessors' exact "
                        "lists) or a text file with one noun per line")
    c.add_argument("--vocabulary-cache", metavar="FILE.npz",
                   help="vocabulary embeddings written by 'skclip vocab build --out' (same "
                        "model, weights, templates and vocabulary): nothing to encode")
    c.add_argument("--exact-vocabulary", action="store_true",
                   help="encode every noun with every template instead of ranking all "
                        "nouns with one prompt and re-encoding the best candidates (slow on "
                        "a CPU the first time; the result is cached)")
    c.add_argument("--captions", metavar="FILE",
                   help="captions for CAE's caption view: a text file (one per line), a "
                        "Flickr8k token file or a COCO caption JSON")
    c.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    c.add_argument("--out", required=True, metavar="DIR", help="output folder")
    c.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty output folder")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bars, no summary")
    _add_model_args(c)
    _add_engine_args(c, fit_sample=True)
    c.set_defaults(run=_cmd_cluster)

    e = sub.add_parser(
        "embed", help="embed a folder of images into a features file (.npz)",
        description="Embed every image under PATH into FILE.npz (embeddings and paths; "
                    "labels and class names when PATH has one sub-folder per class). "
                    "Cluster it later with 'skclip cluster --features FILE.npz'.")
    e.add_argument("path", help="folder of images")
    e.add_argument("--out", required=True, metavar="FILE.npz", help="features file to write")
    e.add_argument("--overwrite", action="store_true", help="replace an existing FILE.npz")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    _add_model_args(e)
    _add_engine_args(e, fit_sample=False)
    e.set_defaults(run=_cmd_embed)

    from ._cli_vocab import add_vocab_parser

    add_vocab_parser(sub, _add_model_args)
    return parser


def _say(args, *lines):
    if not args.quiet:
        print(*lines, sep="\n", file=sys.stderr)


def _list_images(path, *, labelled=False):
    """The image files under ``path``; with ``labelled``, a ``class/xxx.jpg`` folder's labels."""
    from sklearn.utils import Bunch

    root = Path(path)
    if not root.exists():
        raise CLIError(f"path not found: {path}")
    if not root.is_dir():
        raise CLIError(f"not a folder: {path}")
    if labelled:
        from .datasets import load_image_folder

        try:
            return load_image_folder(root)
        except ValueError:  # no images, or images both at the top and in sub-folders
            pass  # then no labels; the listing below says when there are no images
    from .datasets import IMAGE_EXTENSIONS
    from .embed._images import list_images  # the package's one folder walk

    paths = list_images(root)
    if not paths:
        raise CLIError(f"no images found under {path} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return Bunch(paths=paths, y=None, class_names=None)


def _embedder_params(args):
    # "skip": one unreadable file never aborts the run; embed_images lists the dropped files
    return {"batch_size": args.batch_size, "num_workers": args.num_workers,
            "decoder": args.decoder, "on_error": "skip", "verbose": 0}


def _embed_folder(args, embedder, model, images):
    """Embed the listed images through the per-file cache (none for random weights)."""
    from .report import EmbeddingCache, embed_images

    # random weights differ at every load: their embeddings must not outlive the process
    cache = None if args.pretrained is None else EmbeddingCache(model, args.pretrained)
    result = embed_images(images, embedder, cache, chunk_size=max(256, 4 * args.batch_size),
                          verbose=not args.quiet)
    for path, error in result.skipped:
        print(f"skclip: skipped unreadable image {path}: {error}", file=sys.stderr)
    return result


def _read_nouns(path):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CLIError(f"cannot read vocabulary file {path}: {exc.strerror or exc}") from exc
    nouns = list(dict.fromkeys(s.strip() for s in lines if s.strip() and not s.startswith("#")))
    if not nouns:
        raise CLIError(f"vocabulary file {path} holds no nouns (one noun per line)")
    return nouns


_WORDNET_NAMES = ("wordnet", "wordnet-tac", "wordnet-sic")


def _pipeline(args, model, features):
    """The method's pipeline: one CLIP model for images and texts, our vocabulary."""
    from ._pipeline import make_clip_pipeline

    space = {}
    if args.vocabulary not in _WORDNET_NAMES:
        space["vocabulary"] = _read_nouns(args.vocabulary)
    elif args.vocabulary != "wordnet":
        space["vocabulary"] = args.vocabulary
    elif features is not None and features.text_embeddings is not None:
        space.update(vocabulary=features.text_embeddings, noun_names=features.text_names)
    if args.vocabulary_cache is not None:
        space["vocabulary_cache"] = args.vocabulary_cache
    if args.exact_vocabulary:
        space["exact_vocabulary"] = True
    if args.captions is not None:
        space["captions"] = args.captions
    return make_clip_pipeline(
        args.method, args.n_clusters, model=model, pretrained=args.pretrained,
        device=args.device, embedder_params=_embedder_params(args),
        semantic_space_params=space or None, random_state=args.seed,
        verbose=0 if args.quiet else 1)


def _model_from_features(args, features):
    """--model, else the model recorded in the features file ("name/pretrained")."""
    name, tag = args.model or "ViT-B-32", args.pretrained
    if features.model and args.model is None:
        name, _, recorded = features.model.partition("/")
        tag = tag if tag is not None else (recorded or None)
    return name, _pretrained(tag or "openai")


def _load_features(path):
    """A features file: ``.npz`` from ``skclip embed``, or a memory-mapped ``.npy`` array."""
    if Path(path).suffix != ".npy":
        from .datasets import load_features

        return load_features(path)
    import numpy as np
    from sklearn.utils import Bunch

    if not Path(path).is_file():
        raise CLIError(f"features file not found: {path}")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CLIError(f"features file {path}: not a readable .npy array ({exc})") from exc
    if X.ndim != 2 or X.dtype.kind != "f":
        raise CLIError(f"features file {path}: expected a 2-D float array (images x dim), "
                       f"got shape {X.shape} and dtype {X.dtype}")
    return Bunch(X=X, y=None, class_names=None, model=None, paths=None,
                 text_embeddings=None, text_names=None, filename=str(path))


def _check_k(k, n):
    if k == "auto":
        if n < 3:
            raise CLIError(f"--n-clusters auto needs at least 3 images, got {n}")
        return
    if k < 1:
        raise CLIError(f"--n-clusters must be at least 1, got {k}")
    if k > n:
        raise CLIError(f"--n-clusters {k} is larger than the number of images ({n})")


def _cmd_cluster(args):
    from .report import prepare_output_dir

    if (args.path is None) == (args.features is None):
        raise CLIError("give either a folder PATH or --features FILE.npz (not both)")
    if args.vocabulary not in _WORDNET_NAMES and not Path(args.vocabulary).is_file():
        raise CLIError(f"vocabulary file not found: {args.vocabulary} "
                       "(use 'wordnet' or a file with one noun per line)")
    if args.vocabulary_cache is not None and not Path(args.vocabulary_cache).is_file():
        raise CLIError(f"vocabulary cache file not found: {args.vocabulary_cache} "
                       "(write one with 'skclip vocab build --out FILE')")
    if args.captions is not None and not Path(args.captions).is_file():
        raise CLIError(f"captions file not found: {args.captions}")
    features = None
    if args.features is not None:
        features = _load_features(args.features)
        model, args.pretrained = _model_from_features(args, features)
        _check_k(args.n_clusters, len(features.X))
    else:
        model, args.pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
        images = _list_images(args.path)
        _check_k(args.n_clusters, len(images.paths))
    _check_engine_args(args)
    if args.k_range is not None and args.n_clusters != "auto":
        raise CLIError("--k-range needs --n-clusters auto")
    out = prepare_output_dir(args.out, overwrite=args.overwrite)
    pipe = _pipeline(args, model, features)
    embedder, clusterer = pipe.named_steps["embed"], pipe.named_steps["clust"]
    clusterer.set_params(k_range=args.k_range)
    if args.engine == "ray":
        from .scale._cli import cluster_with_ray

        files = cluster_with_ray(args, clusterer, model,
                                 None if features is not None else images.paths, features, out)
        _say(args, f"wrote {', '.join(str(f) for f in files)}")
        return EXIT_OK

    if features is None:
        emb = _embed_folder(args, embedder, model, images.paths)
        X, paths, skipped = emb.X, emb.paths, emb.skipped
        stats = {"n_found": len(images.paths), "n_cached": emb.n_cached,
                 "n_embedded": emb.n_embedded, "n_skipped": len(skipped)}
        if not paths:
            raise CLIError(f"none of the {len(images.paths)} images under {args.path} "
                           "could be read")
        _check_k(args.n_clusters, len(paths))
    else:
        X, paths, skipped, stats = features.X, features.paths, [], None

    from .report import write_report

    k = args.n_clusters
    what = (f"a number of clusters chosen by {clusterer.k_selection}" if k == "auto"
            else f"{k} clusters")
    _say(args, f"clustering {len(X)} images into {what} ({args.method})")
    clusterer.fit(X)
    if k == "auto":
        _say(args, f"chose {clusterer.n_clusters_} clusters "
                   f"({len(clusterer.k_selection_scores_)} candidates scored)")
    run = {"input": str(args.features or args.path), "method": args.method, "model": model,
           "pretrained": None if args.pretrained is None else str(args.pretrained),
           "seed": args.seed, "embedding": stats}
    files = write_report(out, clusterer, X, paths=paths, skipped=skipped, run=run)
    _say(args, f"wrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_embed(args):
    from .datasets import save_features

    target = Path(args.out)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    if target.exists() and not args.overwrite:
        raise CLIError(f"{target} exists; pass --overwrite to replace it")
    if target.is_dir():
        raise CLIError(f"{target} is a folder; --out names the .npz file to write")
    images = _list_images(args.path, labelled=True)
    model, args.pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
    from .embed import CLIPEmbedder

    _check_engine_args(args)
    if args.engine == "ray":
        return _embed_ray(args, target, images, model)
    embedder = CLIPEmbedder(model=model, pretrained=args.pretrained, device=args.device,
                            **_embedder_params(args))
    emb = _embed_folder(args, embedder, model, images.paths)
    if not emb.paths:
        raise CLIError(f"none of the {len(images.paths)} images under {args.path} could be read")
    y, class_names = None, images.class_names
    if images.y is not None:
        label = dict(zip(images.paths, images.y))
        y = [label[p] for p in emb.paths]
    tag = "none" if args.pretrained is None else args.pretrained
    try:
        written = save_features(target, emb.X, y=y, class_names=class_names,
                                model=f"{model}/{tag}", paths=emb.paths)
    except OSError as exc:
        raise CLIError(f"cannot write {target}: {exc.strerror or exc}") from exc
    _say(args, f"wrote {written}: {len(emb.paths)} embeddings ({emb.n_cached} from cache), "
               f"{len(emb.skipped)} unreadable file(s) skipped"
               + (f", {len(class_names)} classes" if class_names else ""))
    return EXIT_OK


def _check_engine_args(args):
    if args.engine != "ray":
        if args.ray_address is not None or getattr(args, "fit_sample", None) is not None:
            raise CLIError("--ray-address and --fit-sample need --engine ray")
        return
    if getattr(args, "fit_sample", 0) is None:
        from .scale._estimate import DEFAULT_SAMPLE_SIZE

        args.fit_sample = DEFAULT_SAMPLE_SIZE
    if getattr(args, "fit_sample", 1) < 1:
        raise CLIError(f"--fit-sample must be at least 1, got {args.fit_sample}")
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise CLIError("--engine ray needs Ray Data: pip install 'skclip[scale]'") from exc


def _embed_ray(args, target, images, model):
    """``skclip embed --engine ray``: the same .npz, plus FILE.parquet (path, embedding)."""
    from .datasets import save_features
    from .scale._cli import embed_with_ray, write_embeddings_parquet

    X, paths, skipped = embed_with_ray(args, model, images.paths)
    if not paths:
        raise CLIError(f"none of the {len(images.paths)} images under {args.path} could be read")
    y = None
    if images.y is not None:
        label = dict(zip(images.paths, images.y))
        y = [label[p] for p in paths]
    tag = "none" if args.pretrained is None else args.pretrained
    try:
        written = save_features(target, X, y=y, class_names=images.class_names,
                                model=f"{model}/{tag}", paths=paths)
        table = write_embeddings_parquet(X, paths, target.with_suffix(".parquet"))
    except OSError as exc:
        raise CLIError(f"cannot write {target}: {exc.strerror or exc}") from exc
    _say(args, f"wrote {written} and {table}: {len(paths)} embeddings (ray), "
               f"{len(skipped)} unreadable file(s) skipped")
    return EXIT_OK


def main(argv=None):
    """Run the ``skclip`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 for an input/output problem, 2 for a bad command line.

    Examples
    --------
    >>> from skclip.cli import main
    >>> main(["cluster", "no/such/folder", "--n-clusters", "3", "--out", "x"])
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return args.run(args)
    except (CLIError, OSError, LookupError, ValueError, RuntimeError) as exc:
        # expected failures (bad input, no weights offline, WordNet missing) get one line;
        # SKCLIP_DEBUG=1 shows the traceback
        if os.environ.get("SKCLIP_DEBUG", "") not in ("", "0"):
            raise
        print(f"skclip: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("skclip: interrupted (embeddings computed so far are cached)", file=sys.stderr)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
