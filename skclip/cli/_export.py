"""``skclip export``: one folder of images per cluster (symbolic links or copies)."""

from ._common import EXIT_OK, _say


def add_export_parser(sub):
    """Add ``skclip export`` to the ``skclip`` sub-command parsers."""
    x = sub.add_parser(
        "export", help="write one folder of images per cluster",
        description="Create DIR/<id>-<name>/ for every cluster of CLUSTERS_DIR (the output "
                    "folder of 'skclip cluster', after any 'skclip edit') holding its images, "
                    "and DIR/outliers/ with the images that fit no cluster. DIR must not "
                    "exist or be empty.")
    x.add_argument("clusters", metavar="CLUSTERS_DIR", help="output folder of 'skclip cluster'")
    x.add_argument("--to", required=True, metavar="DIR", help="the export folder")
    x.add_argument("--mode", choices=["link", "copy"], default="link",
                   help="symbolic links to the images (default) or copies")
    x.add_argument("--quiet", "-q", action="store_true", help="no summary")
    x.set_defaults(run=cmd_export)


def cmd_export(args):
    """Run ``skclip export``; returns the exit status."""
    from ..report import export_clusters

    counts = export_clusters(args.clusters, args.to, mode=args.mode)
    _say(args, f"exported {sum(counts.values())} images into {len(counts)} folders "
               f"under {args.to} ({'links' if args.mode == 'link' else 'copies'})")
    return EXIT_OK
