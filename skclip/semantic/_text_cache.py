"""Text embeddings of whole vocabularies, cached in memory and on disk.

Embedding 146k WordNet prompts (times 7 templates) is the expensive step of a semantic
space, so the result is stored under ``get_cache_dir()/text`` as float16, keyed by the
encoder's identity (model, pretrained weights; the precision only when a reduced one is
asked for explicitly, so a cache built with ``"auto"`` on a GPU serves a CPU), the templates and a hash of
the (deduplicated) texts. Random weights (``pretrained=None``) are never cached: each
load draws new ones.
"""

import hashlib
import json
import os
import time
import uuid
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .._arrays import unit_rows as _unit_rows
from .._atomic import atomic_write
from .._config import get_cache_dir

_MEMORY = OrderedDict()  # key -> read-only float32 array; recent vocabularies
_MEMORY_BYTES = 1 << 29  # keep at most ~512 MB (two ViT-B WordNet vocabularies)
_CACHE_FORMAT = 2
_FILE_IDS = {}  # (path, size, mtime) -> content hash of a checkpoint


def unit_rows(A, dtype=np.float32):
    """Rows of ``A`` in ``dtype`` divided by their norm (zero rows stay zero)."""
    return _unit_rows(np.asarray(A, dtype=dtype), tol=None, summation="norm")


def _weights_id(pretrained):
    """An identity for the weights: a tag, or the size and SHA-256 of a checkpoint file.

    The content hash (not the path) makes a cache or a vocabulary file built on one
    machine valid on another that holds the same checkpoint elsewhere; it is computed
    once per file version and process (~1 s per GB).
    """
    if pretrained is None:
        return None
    path = Path(os.fspath(pretrained)).expanduser()
    if path.is_file():
        stat = path.stat()
        where = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if where not in _FILE_IDS:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
            _FILE_IDS[where] = f"file:{stat.st_size}:{digest.hexdigest()[:32]}"
        return _FILE_IDS[where]
    return str(pretrained)


def cache_key(embedder, texts, templates):
    """The cache key of ``texts`` encoded by ``embedder`` with ``templates``, or None.

    None (no caching) when the embedder does not say which weights it uses, or uses
    random weights.
    """
    model = getattr(embedder, "model", None)
    weights = _weights_id(getattr(embedder, "pretrained", None))
    if model is None or weights is None:
        return None
    ident = {
        "format": _CACHE_FORMAT,
        "encoder": f"{type(embedder).__module__}.{type(embedder).__qualname__}",
        "model": os.fspath(model),
        "weights": weights,
        "templates": list(templates),
    }
    precision = getattr(embedder, "precision", None)
    if precision in ("bf16", "fp16"):  # asked for explicitly: rows of other values
        ident["precision"] = precision
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()[:32]


def _memory_key(embedder, unique, templates):
    """A key valid in this process only, for random weights (``pretrained=None``).

    The model cache of :func:`skclip.embed.load_clip` keeps one random draw per
    process, so texts encoded twice with it (the semantic space, then the report's
    naming) need not be encoded twice; the draw is marked with a token of its own.
    """
    if getattr(embedder, "pretrained", "") is not None or not hasattr(embedder, "_load"):
        return None
    model = embedder._load()[0].model
    token = model.__dict__.setdefault("_skclip_weights_token", uuid.uuid4().hex)
    digest = hashlib.sha256(json.dumps([token, list(templates)]).encode())
    for text in unique:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return "random:" + digest.hexdigest()[:32]


def _encode(embedder, texts, templates, chunk_size, verbose, check_dim=None, desc=None):
    """Template-ensembled embeddings: mean of per-template unit rows, renormalised."""
    from tqdm.auto import tqdm

    out = None
    n_prompts = len(texts) * len(templates)
    if desc is None:
        desc = f"encoding {len(texts):,} texts" + (
            f" x {len(templates)} templates" if len(templates) > 1 else "")
    bar = tqdm(total=n_prompts, desc=desc, unit="prompt", disable=not verbose)
    for start in range(0, len(texts), chunk_size):
        chunk = texts[start : start + chunk_size]
        acc = None
        for template in templates:
            prompts = [template.format(t) for t in chunk]
            E = np.asarray(embedder.encode_text(prompts), dtype=np.float32)
            bar.update(len(prompts))
            if E.ndim != 2 or E.shape[0] != len(chunk):
                raise ValueError(
                    f"{type(embedder).__name__}.encode_text returned shape {E.shape} for "
                    f"{len(chunk)} texts; expected ({len(chunk)}, d)"
                )
            acc = E if acc is None else acc + E
        if out is None:
            if check_dim is not None:
                check_dim(acc.shape[1])
            out = np.empty((len(texts), acc.shape[1]), dtype=np.float32)
        out[start : start + len(chunk)] = unit_rows(acc)
    bar.close()
    return out


def _remember(key, E):
    E.flags.writeable = False  # shared with callers
    _MEMORY[key] = E
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > 1 and sum(a.nbytes for a in _MEMORY.values()) > _MEMORY_BYTES:
        _MEMORY.popitem(last=False)


def clear_memory_cache():
    """Forget the in-memory copies (the disk cache stays)."""
    _MEMORY.clear()


# -- healing: the disk cache is derived data and never stops the main job ------------
_WARNED = set()  # (kind, folder or file) already reported in this process


def _warn_once(kind, where, message):
    if (kind, str(where)) not in _WARNED:
        _WARNED.add((kind, str(where)))
        warnings.warn(message, UserWarning, stacklevel=4)


def _read_cached(path, n_rows):
    """The cached (n_rows, d) unit rows at ``path``; None when absent or damaged.

    A damaged file (truncated, unreadable, wrong shape or dtype, NaN) is moved aside
    as ``<name>.corrupt-<time>`` with a warning naming it, and the texts are encoded
    again.
    """
    try:
        if not path.is_file():
            return None
        A = np.load(path, allow_pickle=False)
        problem = None
        if A.dtype != np.float16 or A.ndim != 2 or A.shape[0] != n_rows or A.shape[1] < 1:
            problem = f"array of shape {A.shape} and dtype {A.dtype}, expected ({n_rows}, d) float16"
        elif not np.isfinite(A).all():
            problem = "NaN or infinity in the embeddings"
        if problem is None:
            return unit_rows(A)
    except (OSError, ValueError, EOFError) as exc:  # truncated, unreadable, not .npy
        problem = f"{type(exc).__name__}: {exc}"
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
        moved = f"it was moved to {aside}"
    except OSError as exc:
        moved = f"it could not be moved aside ({exc.strerror or exc})"
    _warn_once("damaged", path, f"skclip: the text-embedding cache file {path} is damaged "
                                f"({problem}); {moved} and the texts are encoded again.")
    return None


def _write_cached(path, E):
    """Store ``E`` as float16 at ``path``; an unwritable or full cache only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as fh:
            np.save(fh, E.astype(np.float16))
    except OSError as exc:
        _warn_once("unwritable", path.parent,
                   f"skclip: cannot write the text-embedding cache in {path.parent} "
                   f"({exc.strerror or exc}); running without a cache.")


def embed_texts(embedder, texts, templates=("{}",), *, cache=True, cache_dir=None,
                chunk_size=4096, verbose=0, check_dim=None, desc=None):
    """Embed ``texts`` (each filled into every template) as float32 unit rows.

    Repeated strings are encoded once. With ``cache=True`` the embeddings of the
    deduplicated list are read from / written to ``get_cache_dir(cache_dir)/text``.

    Parameters
    ----------
    embedder : object with ``encode_text(list[str]) -> (m, d)``
        Usually a :class:`skclip.CLIPEmbedder`; its ``model`` and ``pretrained``
        attributes key the cache.
    texts : list of str
    templates : tuple of str, default=("{}",)
        Several templates are averaged (mean of unit rows, then renormalised).
    cache : bool, default=True
    cache_dir : str or path-like, default=None
    chunk_size : int, default=4096
        Texts per ``encode_text`` call (progress granularity).
    verbose : int, default=0
    check_dim : callable, default=None
        Called with the embedding dimension after the first chunk, so that a wrong
        model fails fast instead of after encoding the whole vocabulary.
    desc : str, default=None
        Label of the progress bar (default: ``"encoding N texts x T templates"``).

    Returns
    -------
    embeddings : ndarray of shape (len(texts), d), float32
        Read-only when ``texts`` has no repeats (it may be the cached array itself).
    """
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    key = cache_key(embedder, unique, templates) if cache else None
    memory_only = cache and key is None and unique
    if memory_only:
        key = _memory_key(embedder, unique, templates)
    path = None
    E = _MEMORY.get(key) if key is not None else None
    if key is not None and E is None and not memory_only:
        path = get_cache_dir(cache_dir, create=False) / "text" / f"{key}.npy"
        E = _read_cached(path, len(unique))
    if E is None:
        E = (_encode(embedder, unique, templates, chunk_size, verbose, check_dim, desc)
             if unique else None)
        if E is None:
            raise ValueError("cannot embed an empty list of texts")
        if path is not None:
            # round-trip through float16 so a fresh and a cached fit see identical rows:
            # the file holds these float16 values, and reading normalises them again
            stored = E.astype(np.float16)
            E = unit_rows(stored)
            _write_cached(path, stored)
    if key is not None:
        _remember(key, E)
    if len(unique) == len(texts):
        return E
    row = {t: i for i, t in enumerate(unique)}
    return E[[row[t] for t in texts]]


def lookup_texts(embedder, texts, templates, *, cache_dir=None):
    """The cached embeddings of ``texts`` (memory, then disk), or None; never encodes.

    Same rows as :func:`embed_texts` would return for these arguments.
    """
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    key = cache_key(embedder, unique, templates) if unique else None
    if key is None:
        key = _memory_key(embedder, unique, templates) if unique else None
        E = None if key is None else _MEMORY.get(key)
        if E is None:
            return None
    E = _MEMORY.get(key)
    if E is None:
        path = get_cache_dir(cache_dir, create=False) / "text" / f"{key}.npy"
        E = _read_cached(path, len(unique))  # a damaged file is moved aside
        if E is None:
            return None
        _remember(key, E)
    if len(unique) == len(texts):
        return E
    row = {t: i for i, t in enumerate(unique)}
    return E[[row[t] for t in texts]]


def store_texts(embedder, texts, templates, E, *, cache=True, cache_dir=None):
    """Put given embeddings of the distinct ``texts`` in the memory (and disk) cache.

    Used to install a vocabulary file built elsewhere, or rows computed in another
    order (the ranking stage encodes its nouns case-folded side by side); returns the
    cache key (None when the embedder is not cacheable). Random weights are kept in
    memory only, as :func:`embed_texts` keeps them.
    """
    texts = list(texts)
    key = cache_key(embedder, texts, templates)
    if key is None:
        key = _memory_key(embedder, texts, templates) if cache and texts else None
        if key is not None:
            _remember(key, unit_rows(np.asarray(E, dtype=np.float16)))
        return key
    stored = np.asarray(E, dtype=np.float16)
    E = unit_rows(stored)  # what reading the file gives
    if cache:
        path = get_cache_dir(cache_dir, create=False) / "text" / f"{key}.npy"
        if not path.is_file():
            _write_cached(path, stored)
    _remember(key, E)
    return key
