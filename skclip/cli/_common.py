"""What every ``skclip`` command shares: the error type and exit codes, argument types
and groups, the progress line, and the checks and loaders of the inputs.

Imports nothing heavy at module level, so ``skclip --help`` answers at once.
"""

import argparse
import sys
from pathlib import Path

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
    # --engine ray: skclip.cli._ray (Ray Data); the local engine is the default
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


def _say(args, *lines):
    if not args.quiet:
        print(*lines, sep="\n", file=sys.stderr)


def _is_wordnet(vocabulary):
    """Whether ``--vocabulary`` names a WordNet vocabulary (else it is a file of nouns)."""
    # imported here: the semantic package is heavy, and --help must stay instant
    from ..semantic._sources import WORDNET_VOCABULARIES

    return vocabulary in WORDNET_VOCABULARIES


def _read_nouns(path):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CLIError(f"cannot read vocabulary file {path}: {exc.strerror or exc}") from exc
    nouns = list(dict.fromkeys(s.strip() for s in lines if s.strip() and not s.startswith("#")))
    if not nouns:
        raise CLIError(f"vocabulary file {path} holds no nouns (one noun per line)")
    return nouns


def _check_k(k, n):
    if k == "auto":
        if n < 3:
            raise CLIError(f"--n-clusters auto needs at least 3 images, got {n}")
        return
    if k < 1:
        raise CLIError(f"--n-clusters must be at least 1, got {k}")
    if k > n:
        raise CLIError(f"--n-clusters {k} is larger than the number of images ({n})")


def _check_engine_args(args):
    if args.engine != "ray":
        if args.ray_address is not None or getattr(args, "fit_sample", None) is not None:
            raise CLIError("--ray-address and --fit-sample need --engine ray")
        return
    if getattr(args, "fit_sample", 0) is None:
        from ..scale import DEFAULT_SAMPLE_SIZE

        args.fit_sample = DEFAULT_SAMPLE_SIZE
    if getattr(args, "fit_sample", 1) < 1:
        raise CLIError(f"--fit-sample must be at least 1, got {args.fit_sample}")
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise CLIError("--engine ray needs Ray Data: pip install 'skclip[scale]'") from exc


def _list_images(path, *, labelled=False):
    """The image files under ``path``; with ``labelled``, a ``class/xxx.jpg`` folder's labels."""
    from sklearn.utils import Bunch

    root = Path(path)
    if not root.exists():
        raise CLIError(f"path not found: {path}")
    if not root.is_dir():
        raise CLIError(f"not a folder: {path}")
    if labelled:
        from ..datasets import load_image_folder

        try:
            return load_image_folder(root)
        except ValueError:  # no images, or images both at the top and in sub-folders
            pass  # then no labels; the listing below says when there are no images
    from ..datasets import IMAGE_EXTENSIONS
    from ..embed._images import list_images  # the package's one folder walk

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
    from ..report import EmbeddingCache, embed_images

    # random weights differ at every load: their embeddings must not outlive the process
    cache = None if args.pretrained is None else EmbeddingCache(model, args.pretrained)
    result = embed_images(images, embedder, cache, chunk_size=max(256, 4 * args.batch_size),
                          verbose=not args.quiet)
    for path, error in result.skipped:
        print(f"skclip: skipped unreadable image {path}: {error}", file=sys.stderr)
    return result
