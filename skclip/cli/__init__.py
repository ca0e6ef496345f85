"""The ``skclip`` command line: ``skclip cluster`` (the main job), then ``skclip assign``,
``skclip edit`` and ``skclip export`` on its output folder; ``skclip embed``, ``skclip
vocab build`` and ``skclip benchmark``.

Kept thin: argument parsing and calls into the library. Importing this package does not
import torch, so ``skclip --help`` and ``skclip --version`` answer at once. One module
per command (``_cluster``, ``_assign``, ``_edit``, ``_export``, ``_embed``, ``_vocab``,
``_benchmark``), what they share in ``_common`` and the ``--engine ray`` driver in ``_ray``.

Exit status: 0 on success, 1 for a problem with the inputs, the model or the output
folder (one line says which; ``SKCLIP_DEBUG=1`` shows the traceback), 2 for a malformed
command line (an unknown option, a bad value such as ``--n-clusters 1``, options that do
not go together). Messages give their advice as options (``--pretrained none``).
"""

import argparse
import os
import sys
import warnings

from .. import __version__
from ..exceptions import UnknownModelError, UnknownWeightsError
from ._assign import add_assign_parser
from ._benchmark import add_benchmark_parser
from ._cluster import add_cluster_parser
from ._common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CLIError, UsageError, describe_error
from ._edit import add_edit_parser
from ._embed import add_embed_parser
from ._export import add_export_parser
from ._vocab import add_vocab_parser

__all__ = ["main"]


def build_parser():
    """The argument parser of the ``skclip`` command."""
    parser = argparse.ArgumentParser(
        prog="skclip", description="Cluster images with CLIP, the scikit-learn way.",
        epilog="Run 'skclip COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"skclip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_cluster_parser(sub)
    add_assign_parser(sub)
    add_edit_parser(sub)
    add_export_parser(sub)
    add_embed_parser(sub)
    add_vocab_parser(sub)
    add_benchmark_parser(sub)
    return parser


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
        with warnings.catch_warnings():
            # each command says "random weights" in one line of its own (none with -q)
            warnings.filterwarnings("ignore", message=r".*pretrained=None\) uses random weights")
            return args.run(args)
    except (CLIError, OSError, LookupError, ValueError, RuntimeError) as exc:
        # expected failures (bad input, no weights offline, WordNet missing) get one line;
        # SKCLIP_DEBUG=1 shows the traceback
        if os.environ.get("SKCLIP_DEBUG", "") not in ("", "0"):
            raise
        print(f"skclip: error: {describe_error(exc)}", file=sys.stderr)
        if isinstance(exc, (UsageError, UnknownModelError, UnknownWeightsError)):
            return EXIT_USAGE  # a bad --model / --pretrained is a bad command line too
    except KeyboardInterrupt:
        print("skclip: interrupted (embeddings computed so far are cached)", file=sys.stderr)
        return 130
    return EXIT_ERROR
