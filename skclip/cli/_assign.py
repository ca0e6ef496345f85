"""``skclip assign``: place new images in the clusters of an earlier ``skclip cluster`` run,
without refitting."""

from ._common import (
    EXIT_OK,
    CLIError,
    _embed_folder,
    _embedder_params,
    _list_images,
    _say,
)


def add_assign_parser(sub):
    """Add ``skclip assign`` to the ``skclip`` sub-command parsers."""
    a = sub.add_parser(
        "assign", help="label new images with the clusters of an earlier run (no refit)",
        description="Embed every image under NEW_PATH with the model of CLUSTERS_DIR (the "
                    "output folder of 'skclip cluster'; the embedding cache is shared), "
                    "label them with its saved clusterer and its edits (the same labels as "
                    "its predict) and write OUT_DIR/assignments.csv (path, cluster, "
                    "confidence, outlier), OUT_DIR/clusters.json and OUT_DIR/report.html "
                    "(the new images per cluster). outlier=1 marks an image beyond its "
                    "cluster's own far tail of distances (see outlier_rule in "
                    "clusters.json).")
    a.add_argument("path", metavar="NEW_PATH", help="folder of new images (searched recursively)")
    a.add_argument("--from", dest="clusters", required=True, metavar="CLUSTERS_DIR",
                   help="output folder of 'skclip cluster' (holds model.joblib)")
    a.add_argument("--out", required=True, metavar="OUT_DIR", help="output folder")
    a.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty output folder")
    a.add_argument("--device", default="auto", help="'auto' (GPU when present), 'cpu', 'cuda:0'...")
    a.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="images per batch (default: the clustering run's)")
    a.add_argument("--num-workers", type=int, default=None, metavar="N",
                   help="image decoding worker processes (default: the clustering run's)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    a.set_defaults(run=cmd_assign)


def cmd_assign(args):
    """Run ``skclip assign``; returns the exit status."""
    from pathlib import Path

    from ..embed import CLIPEmbedder
    from ..report import prepare_output_dir, read_cluster_folder, write_report

    if Path(args.out).resolve() == Path(args.clusters).resolve():
        raise CLIError("--out must not be the --from folder (its outputs would be replaced)")
    folder = read_cluster_folder(args.clusters)
    model, settings = folder.model, folder.model.embedder
    if settings is None:
        raise CLIError(f"{args.clusters}/model.joblib records no image embedder: it was not "
                       "written by 'skclip cluster'")
    if settings["pretrained"] is None:
        raise CLIError(f"{args.clusters} was clustered on random weights (--pretrained none), "
                       "which change at every load: new images cannot be placed in its space. "
                       "Cluster with a tag or a checkpoint file to assign images later.")
    images = _list_images(args.path)
    out = prepare_output_dir(args.out, overwrite=args.overwrite)
    args.decoder = settings.get("decoder", "pil")
    args.batch_size = args.batch_size or settings.get("batch_size", 64)
    args.num_workers = settings.get("num_workers", 0) if args.num_workers is None else args.num_workers
    args.pretrained = settings["pretrained"]
    embedder = CLIPEmbedder(model=settings["model"], pretrained=args.pretrained,
                            device=args.device, **_embedder_params(args))
    emb = _embed_folder(args, embedder, settings["model"], images.paths)
    if not emb.paths:
        raise CLIError(f"none of the {len(images.paths)} images under {args.path} could be read")
    run = {**(model.run or {}), "input": str(args.path), "assigned_from": str(args.clusters),
           "embedding": {"n_found": len(images.paths), "n_cached": emb.n_cached,
                         "n_embedded": emb.n_embedded, "n_skipped": len(emb.skipped)}}
    files = write_report(out, model, emb.X, paths=emb.paths, skipped=emb.skipped, run=run)
    n_out = int(model.assign(emb.X).outlier.sum())
    _say(args, f"assigned {len(emb.paths)} images to {len(model.cluster_ids)} clusters "
               f"({n_out} outliers); wrote {', '.join(str(f) for f in files)}")
    return EXIT_OK
