"""What every ``skclip`` command shares: the error type and exit codes, argument types
and groups, the progress line, and the checks and loaders of the inputs.

Imports nothing heavy at module level, so ``skclip --help`` answers at once.
"""

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 1."""


class UsageError(CLIError):
    """A malformed command line (options that do not go together); exit status 2."""


def _positive_int(value):
    """A count option (``--batch-size``, ``--fit-sample``): an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def _non_negative_int(value):
    """``--num-workers``: an integer >= 0."""
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return n


def _pretrained(value):
    """``--pretrained`` as open_clip wants it: None for random weights."""
    return None if value.lower() in ("none", "random") else value


def _n_clusters(value):
    """``--n-clusters``: an integer >= 2 or ``auto``."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        k = None
    if k is None or k < 2:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 2 (one cluster is no clustering) or 'auto', got {value!r}")
    return k


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


def _add_model_args(p, *, images=True, features=False):
    """The model options; ``images``: the image-reading ones too; ``features``: the
    command also reads a features file that records its model."""
    g = p.add_argument_group("model")
    recorded = ", or the model recorded in --features" if features else ""
    g.add_argument("--model", default=None,
                   help=f"open_clip model name (default: ViT-B-32{recorded})")
    g.add_argument("--pretrained", default=None, metavar="TAG|PATH|none",
                   help="open_clip pretrained tag (downloads once, then cached), a local "
                        "checkpoint PATH (offline), or 'none' for random weights "
                        "(default: openai)")
    g.add_argument("--device", default="auto", help="'auto' (GPU when present), 'cpu', 'cuda:0'...")
    what = "images" if images else "texts"
    g.add_argument("--batch-size", type=_positive_int, default=64, metavar="N",
                   help=f"{what} per batch (default: 64)")
    if not images:
        return
    g.add_argument("--num-workers", type=_non_negative_int, default=0, metavar="N",
                   help="image decoding worker processes (default: 0)")
    g.add_argument("--decoder", choices=["pil", "torchvision"], default="pil",
                   help="who decodes JPEGs: 'pil' in the workers (default), or "
                        "'torchvision' on --device (nvJPEG on a GPU: much faster there; "
                        "pixels close to, not identical with, Pillow's)")


def _add_text_args(g, *, vocabulary_default=None):
    """The text options of the commands that build a semantic space (``cluster``,
    ``benchmark``), added to the parser or group ``g``."""
    default = ("wordnet, or the nouns of --vocabulary-cache" if vocabulary_default is None
               else vocabulary_default)
    g.add_argument("--vocabulary", default=vocabulary_default, metavar="wordnet|FILE",
                   help="the nouns of the semantic space, used both to cluster and to name "
                        "the clusters: 'wordnet' (WordNet 3.0, fetched on first use when "
                        "missing), 'wordnet-tac' / 'wordnet-sic' (the predecessors' exact "
                        f"lists) or a text file with one noun per line (default: {default})")
    g.add_argument("--vocabulary-cache", metavar="FILE.npz",
                   help="vocabulary embeddings written by 'skclip vocab build --out' (same "
                        "model, weights and templates): nothing to encode; a file built "
                        "from a noun list brings its nouns, no --vocabulary needed")
    g.add_argument("--exact-vocabulary", action="store_true",
                   help="encode every noun with every template instead of ranking all "
                        "nouns with one prompt and re-encoding the best candidates (slow on "
                        "a CPU the first time; the result is cached)")
    g.add_argument("--captions", metavar="FILE|coco|none",
                   help="captions for CAE's caption view: a text file (one per line), a "
                        "Flickr8k token file or a COCO caption JSON; 'coco' (default) the "
                        "5,000 COCO captions shipped with skclip; 'none' no caption view")


def _check_text_args(args):
    """Files named by the text options exist (see :func:`_add_text_args`)."""
    if args.vocabulary is not None and not isinstance(args.vocabulary, list) \
            and not _is_wordnet(args.vocabulary) and not Path(args.vocabulary).is_file():
        raise CLIError(f"vocabulary file not found: {args.vocabulary} "
                       "(use 'wordnet' or a file with one noun per line)")
    if args.vocabulary_cache is not None and not Path(args.vocabulary_cache).is_file():
        raise CLIError(f"vocabulary cache file not found: {args.vocabulary_cache} "
                       "(write one with 'skclip vocab build --out FILE')")
    if args.captions not in (None, "coco", "none") and not Path(args.captions).is_file():
        raise CLIError(f"captions file not found: {args.captions} "
                       "(or 'coco' for the shipped captions, 'none' for no caption view)")


def _captions_param(value):
    """``--captions`` as the ``captions`` parameter of the semantic space builder."""
    return None if value == "none" else value


def _embedder_settings(args, model):
    """How the images were embedded, for ``model.joblib``: what ``skclip assign`` needs
    to embed new images the same way (a checkpoint's path made absolute)."""
    weights = None if args.pretrained is None else str(args.pretrained)
    if weights is not None and Path(weights).expanduser().is_file():  # a checkpoint
        weights = str(Path(weights).expanduser().resolve())
    return {"model": model, "pretrained": weights, "device": "auto",
            **{k: v for k, v in _embedder_params(args).items() if k != "verbose"}}


def _add_engine_args(p, *, fit_sample):
    # --engine ray: skclip.cli._ray (Ray Data); the local engine is the default
    g = p.add_argument_group("engine")
    ray_does = ("an actor pool embeds, the method is fitted on a sample" if fit_sample
                else "an actor pool embeds the images")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help=f"'local' (this process) or 'ray' (Ray Data: {ray_does}; needs "
                        "skclip[scale])")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to use with --engine ray, e.g. 'auto' or "
                        "'ray://head:10001' (default: start a local Ray)")
    if fit_sample:
        g.add_argument("--fit-sample", type=_positive_int, default=None, metavar="N",
                       help="with --engine ray, fit on a uniform random sample of at most N "
                            "images, then predict every image (default: 50000; N >= the "
                            "number of images gives the local engine's clustering)")


def _say(args, *lines):
    if not args.quiet:
        print(*lines, sep="\n", file=sys.stderr)


def _note_random_weights(args, model):
    """One line (none with ``-q``) instead of the library's warning, which would name a
    source line and land inside the progress bar."""
    if args.pretrained is None:
        _say(args, f"skclip: note: --pretrained none: {model} with random weights, so the "
                   "clusters carry no meaning (for tests and timings)")


def describe_error(exc):
    """The one-line message of an expected failure, its advice in command-line syntax."""
    from ..exceptions import UnknownWeightsError, WeightsUnavailableError

    if isinstance(exc, WeightsUnavailableError):
        return (f"could not get the pretrained weights {exc.pretrained!r} of {exc.model!r}: "
                f"{exc.reason}. Without internet access, pass --pretrained PATH (a "
                f"checkpoint file of {exc.model}) or --pretrained none (random weights)")
    if isinstance(exc, UnknownWeightsError):
        return (f"--pretrained {exc.pretrained} is neither a checkpoint file nor a known "
                f"open_clip tag of {exc.model} (known tags: "
                f"{', '.join(exc.known_tags) or 'none'}); use --pretrained none for random "
                "weights")
    return str(exc)


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
    if k > n:
        raise CLIError(f"--n-clusters {k} is larger than the number of images ({n})")


def _check_engine_args(args):
    if args.engine != "ray":
        if args.ray_address is not None or getattr(args, "fit_sample", None) is not None:
            raise UsageError("--ray-address and --fit-sample need --engine ray")
        return
    if getattr(args, "fit_sample", 0) is None:
        from ..scale import DEFAULT_SAMPLE_SIZE

        args.fit_sample = DEFAULT_SAMPLE_SIZE
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
    from .._config import resolve_device
    from ..embed._model import resolve_precision
    from ..report import EmbeddingCache, embed_images

    # random weights differ at every load: their embeddings must not outlive the process
    precision = resolve_precision(embedder.precision, resolve_device(embedder.device))
    cache = (None if args.pretrained is None
             else EmbeddingCache(model, args.pretrained, precision=precision))
    result = embed_images(images, embedder, cache, chunk_size=max(256, 4 * args.batch_size),
                          verbose=not args.quiet)
    for path, error in result.skipped:
        print(f"skclip: skipped unreadable image {path}: {error}", file=sys.stderr)
    return result
