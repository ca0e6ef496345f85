"""``skclip embed``: a folder of images in, a features file (.npz) out."""

from pathlib import Path

from ._common import (
    EXIT_OK,
    CLIError,
    _add_engine_args,
    _add_model_args,
    _check_engine_args,
    _embed_folder,
    _embedder_params,
    _list_images,
    _pretrained,
    _say,
)


def add_embed_parser(sub):
    """Add ``skclip embed`` to the ``skclip`` sub-command parsers."""
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
    e.set_defaults(run=cmd_embed)


def cmd_embed(args):
    """Run ``skclip embed``; returns the exit status."""
    from ..datasets import save_features

    target = Path(args.out)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    if target.exists() and not args.overwrite:
        raise CLIError(f"{target} exists; pass --overwrite to replace it")
    if target.is_dir():
        raise CLIError(f"{target} is a folder; --out names the .npz file to write")
    images = _list_images(args.path, labelled=True)
    model, args.pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
    from ..embed import CLIPEmbedder

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


def _embed_ray(args, target, images, model):
    """``skclip embed --engine ray``: the same .npz, plus FILE.parquet (path, embedding)."""
    from ..datasets import save_features
    from ._ray import embed_with_ray, write_embeddings_parquet

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
