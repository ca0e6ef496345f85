"""``skclip edit``: merge, rename and split the clusters of a ``skclip cluster`` folder."""

import argparse

from ._common import EXIT_OK, _say


def _merge(value):
    try:
        ids = [int(v) for v in value.split(",")]
    except ValueError:
        ids = []
    if len(ids) < 2:
        raise argparse.ArgumentTypeError(f"expected two or more ids like 0,4, got {value!r}")
    return ids


def _rename(value):
    k, sep, name = value.partition("=")
    try:
        k = int(k)
    except ValueError:
        sep = ""
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected ID=NAME like 2=\"sports cars\", got {value!r}")
    return (k, name.strip())


def _split(value):
    k, sep, n = value.partition(":")
    try:
        k, n = int(k), int(n)
    except ValueError:
        sep = ""
    if not sep:
        raise argparse.ArgumentTypeError(f"expected ID:N like 3:2, got {value!r}")
    return (k, n)


class _Ordered(argparse.Action):
    """Appends ``(operation, value)`` to ``args.edits``: the edits keep the command's order."""

    def __call__(self, parser, namespace, values, option_string=None):
        edits = list(getattr(namespace, self.dest, None) or [])
        edits.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, edits)


def add_edit_parser(sub):
    """Add ``skclip edit`` to the ``skclip`` sub-command parsers."""
    e = sub.add_parser(
        "edit", help="merge, rename or split clusters of an earlier run",
        description="Apply the edits, in the order given, to CLUSTERS_DIR (the output folder "
                    "of 'skclip cluster') and rewrite its assignments.csv, clusters.json, "
                    "report.html and model.joblib together: an interrupted edit leaves the "
                    "folder as it was. Untouched clusters keep their ids; a merge keeps the "
                    "smallest id, a split gives its parts new ids. clusters.json lists every "
                    "edit in its 'edits', and 'skclip assign' honours them.")
    e.add_argument("clusters", metavar="CLUSTERS_DIR", help="output folder of 'skclip cluster'")
    e.add_argument("--merge", dest="edits", action=_Ordered, type=_merge, metavar="ID,ID[,...]",
                   help="merge these clusters into the smallest id (repeatable)")
    e.add_argument("--rename", dest="edits", action=_Ordered, type=_rename, metavar="ID=NAME",
                   help="name a cluster (repeatable)")
    e.add_argument("--split", dest="edits", action=_Ordered, type=_split, metavar="ID:N",
                   help="re-cluster a cluster into N >= 2 parts (repeatable)")
    e.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed of the splits' k-means (default: 0)")
    e.add_argument("--quiet", "-q", action="store_true", help="no summary")
    e.set_defaults(run=cmd_edit, edits=[])


def cmd_edit(args):
    """Run ``skclip edit``; returns the exit status."""
    from ..report import edit_cluster_folder

    done = edit_cluster_folder(args.clusters, args.edits, random_state=args.seed)
    for edit in done.edits:
        what = {"merge": lambda e: f"merged {e['ids']} into {e['into']}",
                "rename": lambda e: f"named cluster {e['id']} {e['name']!r}",
                "split": lambda e: f"split cluster {e['id']} into {e['into']}"}[edit["op"]]
        _say(args, what(edit))
    _say(args, f"wrote {', '.join(str(f) for f in done.files)}")
    return EXIT_OK
