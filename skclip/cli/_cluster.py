"""``skclip cluster``: a folder of images (or a features file) in; assignments.csv,
clusters.json and report.html out."""

from pathlib import Path

from ._common import (
    EXIT_OK,
    CLIError,
    UsageError,
    _add_engine_args,
    _add_model_args,
    _add_text_args,
    _captions_param,
    _check_engine_args,
    _check_k,
    _check_text_args,
    _embed_folder,
    _embedder_params,
    _embedder_settings,
    _is_wordnet,
    _k_range,
    _list_images,
    _n_clusters,
    _note_random_weights,
    _pretrained,
    _read_nouns,
    _say,
)


def add_cluster_parser(sub):
    """Add ``skclip cluster`` to the ``skclip`` sub-command parsers."""
    c = sub.add_parser(
        "cluster", help="cluster a folder of images; write assignments.csv, clusters.json, "
                        "report.html",
        description="Embed every image under PATH (cached per file), cluster the images and "
                    "write DIR/assignments.csv (path, cluster, confidence, outlier), "
                    "DIR/clusters.json (per cluster: size, naming nouns, representative "
                    "images; the super-cluster tree), DIR/report.html (a self-contained page "
                    "to browse the clusters) and DIR/model.joblib with DIR/embeddings.npy "
                    "(for 'skclip assign', 'skclip edit').")
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
    _add_text_args(c)
    c.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    c.add_argument("--out", required=True, metavar="DIR", help="output folder")
    c.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty output folder")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bars, no summary")
    _add_model_args(c, features=True)
    _add_engine_args(c, fit_sample=True)
    c.set_defaults(run=cmd_cluster)


def _pipeline(args, model, features):
    """The method's pipeline: one CLIP model for images and texts, our vocabulary."""
    from .._pipeline import make_clip_pipeline

    space = {}
    if isinstance(args.vocabulary, list):  # the nouns of --vocabulary-cache
        space["vocabulary"] = args.vocabulary
    elif not _is_wordnet(args.vocabulary):
        space["vocabulary"] = _read_nouns(args.vocabulary)
    elif args.vocabulary != "wordnet":
        space["vocabulary"] = args.vocabulary
    elif features is not None and features.text_embeddings is not None:
        # the file brings the text side: nothing to encode (no shipped captions either)
        space.update(vocabulary=features.text_embeddings, noun_names=features.text_names,
                     captions=None)
    if args.vocabulary_cache is not None:
        space["vocabulary_cache"] = args.vocabulary_cache
    if args.exact_vocabulary:
        space["exact_vocabulary"] = True
    if args.captions is not None:
        space["captions"] = _captions_param(args.captions)
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
        from ..datasets import load_features

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


def cmd_cluster(args):
    """Run ``skclip cluster``; returns the exit status."""
    from ..report import prepare_output_dir

    if args.path is None and args.features is None:
        raise UsageError("give a folder of images (PATH) or --features FILE.npz")
    if args.path is not None and args.features is not None:
        raise UsageError("give a folder of images (PATH) or --features FILE.npz, not both")
    if args.k_range is not None and args.n_clusters != "auto":
        raise UsageError("--k-range needs --n-clusters auto")
    _check_engine_args(args)
    _check_text_args(args)
    if args.vocabulary is None:
        from ._vocab import nouns_of_vocabulary_file

        listed = (None if args.vocabulary_cache is None
                  else nouns_of_vocabulary_file(args.vocabulary_cache))
        args.vocabulary = "wordnet" if listed is None else listed
    features = None
    if args.features is not None:
        features = _load_features(args.features)
        model, args.pretrained = _model_from_features(args, features)
        _check_k(args.n_clusters, len(features.X))
    else:
        model, args.pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
        images = _list_images(args.path)
        _check_k(args.n_clusters, len(images.paths))
    _note_random_weights(args, model)
    out = prepare_output_dir(args.out, overwrite=args.overwrite)
    pipe = _pipeline(args, model, features)
    embedder, clusterer = pipe.named_steps["embed"], pipe.named_steps["clust"]
    clusterer.set_params(k_range=args.k_range)
    if args.engine == "ray":
        from ._ray import cluster_with_ray

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

    from ..report import write_report

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
    files = write_report(out, clusterer, X, paths=paths, skipped=skipped, run=run,
                         embedder=_embedder_settings(args, model), save_model=True)
    _say(args, f"wrote {', '.join(str(f) for f in files)}")
    return EXIT_OK
