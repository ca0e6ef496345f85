"""``skclip vocab build``: encode a noun vocabulary once, for the cache or another machine.

Imports nothing heavy at module level.
"""

from pathlib import Path

from ._common import (
    EXIT_OK,
    CLIError,
    _add_model_args,
    _is_wordnet,
    _pretrained,
    _read_nouns,
    _say,
)

def add_vocab_parser(sub):
    """Add ``skclip vocab build`` to the ``skclip`` sub-command parsers."""
    v = sub.add_parser(
        "vocab", help="encode a noun vocabulary once, for the cache or another machine",
        description="Vocabulary embeddings: 'skclip vocab build' encodes every noun with "
                    "every template (best on a GPU) into the text cache and, with --out, into "
                    "a file that 'skclip cluster --vocabulary-cache FILE' uses elsewhere.")
    vsub = v.add_subparsers(dest="vocab_command", metavar="ACTION", required=True)
    b = vsub.add_parser("build", help="encode the vocabulary into the cache (and a file)",
                        description="Encode every noun of the vocabulary with every template "
                                    "and store the embeddings in the text cache "
                                    "($SKCLIP_CACHE) and, with --out, in FILE.npz.")
    b.add_argument("--vocabulary", default="wordnet", metavar="wordnet|FILE",
                   help="'wordnet' (default), 'wordnet-tac', 'wordnet-sic' or a text file "
                        "with one noun per line")
    b.add_argument("--method", choices=["cae", "tac", "mca"], default="cae",
                   help="the method whose prompt templates to use: cae and tac use TAC's 7 "
                        "templates, mca 'a photo of a {}.' (default: cae)")
    b.add_argument("--out", metavar="FILE.npz", help="also write the embeddings to this file")
    b.add_argument("--overwrite", action="store_true", help="replace an existing FILE.npz")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    _add_model_args(b)
    b.set_defaults(run=cmd_vocab_build)


def cmd_vocab_build(args):
    """Run ``skclip vocab build``; returns the exit status."""
    from ..embed import CLIPEmbedder
    from ..semantic import build_vocabulary_cache

    wordnet = _is_wordnet(args.vocabulary)
    if not wordnet and not Path(args.vocabulary).is_file():
        raise CLIError(f"vocabulary file not found: {args.vocabulary}")
    if args.out is not None and Path(args.out).exists() and not args.overwrite:
        raise CLIError(f"{args.out} exists; pass --overwrite to replace it")
    model, pretrained = args.model or "ViT-B-32", _pretrained(args.pretrained or "openai")
    if pretrained is None:
        raise CLIError("random weights (--pretrained none) differ at every load: their "
                       "vocabulary embeddings cannot be reused")
    vocabulary = args.vocabulary if wordnet else _read_nouns(args.vocabulary)
    embedder = CLIPEmbedder(model=model, pretrained=pretrained, device=args.device,
                            batch_size=args.batch_size, verbose=0)
    from ..semantic._templates import METHOD_TEMPLATES

    templates = METHOD_TEMPLATES[args.method]
    written = build_vocabulary_cache(embedder, vocabulary, templates, out=args.out,
                                     verbose=0 if args.quiet else 1)
    _say(args, f"encoded the {args.vocabulary} vocabulary with the {args.method} templates "
               f"({templates}) into the text cache" + (f" and {written}" if written else ""))
    return EXIT_OK
