"""Per-file embedding cache, so a re-run (or a run with another K) never re-embeds.

One SQLite file per (model, pretrained) under ``<cache dir>/embeddings/``. A row is keyed
by the image's resolved path, size and modification time, so an edited or replaced file
is embedded again. Unreadable files are remembered too (with their error), so a re-run
does not even need to load the model when nothing changed.
"""

import hashlib
import os
import re
import sqlite3
import time
import warnings
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._config import get_cache_dir

_SCHEMA_VERSION = 1  # PRAGMA user_version of a cache file written by this code
_TABLES = {"emb": ["key", "vec"], "failed": ["key", "error"]}
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


class _DamagedCache(sqlite3.DatabaseError):
    """A cache file that opens but is not what this version of skclip writes."""


def _is_damage(exc):
    """Whether ``exc`` says the file itself is damaged (not locked, read-only or full)."""
    if isinstance(exc, _DamagedCache):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError  # "file is not a database", "malformed"


def _pretrained_key(pretrained):
    """``pretrained`` as a cache key; a local checkpoint also contributes its size and mtime."""
    if pretrained is None:
        return "none"
    p = Path(os.fspath(pretrained)).expanduser()
    if p.is_file():
        st = p.stat()
        return f"file:{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return f"tag:{pretrained}"


def _file_key(path):
    p = Path(path).resolve()
    st = p.stat()
    return _text(f"{p}\0{st.st_size}\0{st.st_mtime_ns}")


def _text(value):
    """``value`` as SQLite text: names that are not valid UTF-8 as ``\\xNN`` escapes."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:  # lone surrogates from undecodable file-name bytes
        return "\0" + value.encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace")


def _create_or_check(db):
    """Create the tables of a new file; raise :class:`_DamagedCache` for a foreign one."""
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    if not names:
        for table, (key, value) in _TABLES.items():
            db.execute(f"CREATE TABLE {table} ({key} TEXT PRIMARY KEY, {value})")
        db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        return
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in _TABLES}
    # version 0: a file of the same layout written before versions were recorded
    if version not in (0, _SCHEMA_VERSION) or tables != _TABLES or set(names) != set(_TABLES):
        raise _DamagedCache(f"schema version {version}, tables {sorted(names)}: written by "
                            "another version of skclip")


class EmbeddingCache:
    """Image embeddings stored per file for one (model, pretrained, precision).

    The cache is derived data and never stops the main job: a damaged file (disk full
    while it was written, a copy cut short, a schema from another skclip version) is
    moved aside as ``<name>.corrupt-<time>``, reported once in a warning with its path,
    and a new cache is started; a cache location that cannot be written (read-only,
    full, locked for too long) turns the cache off for this object, with a warning:
    :meth:`get` then finds nothing and :meth:`put` stores nothing.

    Parameters
    ----------
    model : str
        open_clip model name.
    pretrained : str or None
        open_clip tag, checkpoint path, or None (random weights).
    precision : {"fp32", "fp16", "bf16"}, default="fp32"
        The precision the image tower ran in (resolved, not ``"auto"``): embeddings of
        another precision are kept in another file, so a GPU run (``"auto"`` is bf16
        or fp16 there) and a CPU run sharing a cache folder never mix.
    cache_dir : str or Path, default=None
        Root cache folder; None uses :func:`skclip._config.get_cache_dir`.

    Attributes
    ----------
    path : Path
        The SQLite file.
    disabled : str or None
        Why the cache was turned off, or None while it works.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from skclip.report import EmbeddingCache
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> img = tmp / "a.jpg"
    >>> _ = img.write_bytes(b"not really a jpeg")
    >>> cache = EmbeddingCache("ViT-B-32", "openai", cache_dir=tmp / "cache")
    >>> cache.put({str(img): np.ones(4, dtype=np.float32)})
    >>> hits, failed = cache.get([str(img)])
    >>> hits[str(img)].tolist(), failed
    ([1.0, 1.0, 1.0, 1.0], {})
    """

    def __init__(self, model, pretrained, *, precision="fp32", cache_dir=None):
        if precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be 'fp32', 'fp16' or 'bf16' (resolved, not "
                             f"'auto'), got {precision!r}")
        ident = f"{model}\0{_pretrained_key(pretrained)}"
        if precision != "fp32":  # float32 files keep the name they had before
            ident += f"\0{precision}"
        digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model))[:40]
        folder = get_cache_dir(cache_dir, create=False) / "embeddings"
        self.path = folder / f"{slug}-{digest}.sqlite"
        self.disabled = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._disable(exc)
            return
        self._run(lambda db: None)

    def _connect(self):
        return sqlite3.connect(self.path, timeout=60)

    def _run(self, op, *args, default=None):
        """``op(db, *args)`` in one transaction; heal a damaged file, else give up."""
        for attempt in range(2):
            if self.disabled is not None:
                return default
            try:
                with closing(self._connect()) as db:
                    with db:
                        _create_or_check(db)
                        return op(db, *args)
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and _is_damage(exc) and self._move_aside(exc):
                    continue
                self._disable(exc)
            except OSError as exc:
                self._disable(exc)
        return default

    def _move_aside(self, exc):
        """Rename the damaged file (and its journals); True when a new file can start."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return True  # another process moved it already
        except OSError:
            return False
        for suffix in ("-journal", "-wal", "-shm"):  # never replay them into a new file
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        warnings.warn(f"skclip: the embedding cache {self.path} is damaged ({exc}); it was "
                      f"moved to {aside} and a new cache is started (images are embedded "
                      "again).", UserWarning, stacklevel=4)
        return True

    def _disable(self, exc):
        reason = getattr(exc, "strerror", None) or str(exc)
        self.disabled = f"{type(exc).__name__}: {reason}"
        warnings.warn(f"skclip: cannot use the embedding cache {self.path} ({reason}); "
                      "running without a cache.", UserWarning, stacklevel=4)

    @staticmethod
    def _keys(paths):
        keys = {}
        for p in paths:
            try:
                keys[_file_key(p)] = p
            except OSError:  # vanished or unreadable: never a hit, the embedder reports it
                pass
        return keys

    @staticmethod
    def _lookup(db, table, column, keys):
        found = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, {column} FROM {table} WHERE key IN ({marks})"
            found.update((keys[k], v) for k, v in db.execute(query, chunk))
        return found

    @classmethod
    def _get(cls, db, keys):
        blobs = cls._lookup(db, "emb", "vec", keys)
        sizes = {len(v) if isinstance(v, bytes) else -1 for v in blobs.values()}
        if len(sizes) > 1 or any(n <= 0 or n % 4 for n in sizes):
            raise _DamagedCache(f"embeddings of sizes {sorted(sizes)} bytes in one cache")
        hits = {p: np.frombuffer(v, dtype=np.float32).copy() for p, v in blobs.items()}
        if hits and not all(np.isfinite(v).all() for v in hits.values()):
            raise _DamagedCache("embeddings with NaN or infinity")
        rest = {k: p for k, p in keys.items() if p not in hits}
        return hits, {p: str(e) for p, e in cls._lookup(db, "failed", "error", rest).items()}

    def get(self, paths):
        """Cached embeddings and remembered failures of ``paths``.

        Returns
        -------
        hits : dict
            path -> (d,) float32 embedding.
        failed : dict
            path -> error message of an earlier failed read of this very file.
        """
        keys = self._keys(paths)
        return self._run(self._get, keys, default=({}, {}))

    def put(self, embeddings, failed=None):
        """Store ``{path: embedding}`` and ``{path: error message}`` for failed files."""
        keys = {p: k for k, p in self._keys([*embeddings, *(failed or {})]).items()}
        rows = [(keys[p], np.asarray(v, dtype=np.float32).tobytes())
                for p, v in embeddings.items() if p in keys]
        bad = [(keys[p], _text(str(e))) for p, e in (failed or {}).items() if p in keys]

        def insert(db):
            db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)
            db.executemany("INSERT OR REPLACE INTO failed VALUES (?, ?)", bad)

        self._run(insert)


@dataclass
class EmbeddedImages:
    """Result of :func:`embed_images`: what was embedded, and what was not."""

    X: np.ndarray
    paths: list
    skipped: list = field(default_factory=list)  # [(path, error message)]
    n_cached: int = 0
    n_embedded: int = 0


def _embed_chunk(embedder, chunk):
    """``(embeddings of the readable files, {index in chunk: error})`` for one chunk."""
    try:
        Z = embedder.transform(chunk)
    except ValueError as exc:
        # CLIPEmbedder raises, instead of returning no rows, when none of the files of a
        # call is readable; then ask file by file, which yields each file's own error
        msg = str(exc)
        if not msg.startswith("none of the "):
            raise
        if len(chunk) == 1:
            head = f"{chunk[0]} ("
            reason = msg[msg.index(head) + len(head):-1] if head in msg else msg
            return np.zeros((0, 0), dtype=np.float32), {0: reason}
        parts = [_embed_chunk(embedder, [p])[1] for p in chunk]
        return np.zeros((0, 0), dtype=np.float32), {i: bad[0] for i, bad in enumerate(parts)}
    return np.asarray(Z, dtype=np.float32), {d.index: d.reason for d in embedder.dropped_}


def embed_images(paths, embedder, cache=None, *, chunk_size=1024, verbose=True):
    """Embed image files through ``embedder``, reading and filling ``cache``.

    Unreadable files never abort the run: the embedder must use ``on_error="skip"`` or
    ``"warn"``; the files it drops are returned in ``skipped`` (and remembered in the
    cache). New embeddings are stored chunk by chunk, so an interrupted run keeps what
    it computed.

    Parameters
    ----------
    paths : sequence of str
        Image files, in the order wanted.
    embedder : CLIPEmbedder
        The embedder (``on_error`` "skip" or "warn").
    cache : EmbeddingCache, default=None
        Where to read and store embeddings; None disables caching.
    chunk_size : int, default=1024
        Images per call to ``embedder.transform``.
    verbose : bool, default=True
        Show a progress bar over the images to embed.

    Returns
    -------
    result : EmbeddedImages
        ``X`` (n_ok, d) float32 in the order of ``paths`` minus the skipped files;
        ``paths`` the embedded files; ``skipped`` ``[(path, error)]``; ``n_cached``,
        ``n_embedded``.

    Examples
    --------
    A stand-in for :class:`~skclip.CLIPEmbedder` that cannot read ``b.jpg``:

    >>> import numpy as np
    >>> from skclip.embed import DroppedImage
    >>> from skclip.report import embed_images
    >>> class Embedder:
    ...     def transform(self, paths):
    ...         self.dropped_ = [DroppedImage(i, p, "unreadable")
    ...                          for i, p in enumerate(paths) if p == "b.jpg"]
    ...         return np.ones((len(paths) - len(self.dropped_), 2), dtype=np.float32)
    >>> res = embed_images(["a.jpg", "b.jpg", "c.jpg"], Embedder(), verbose=False)
    >>> res.X.shape, res.paths, res.skipped
    ((2, 2), ['a.jpg', 'c.jpg'], [('b.jpg', 'unreadable')])
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    hits, failed = cache.get(paths) if cache is not None else ({}, {})
    n_cached = len(hits)
    todo = [p for p in paths if p not in hits and p not in failed]
    show = bool(verbose) and bool(todo)
    with tqdm(total=len(todo), desc="embedding", unit="img", disable=not show) as bar:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            Z, bad = _embed_chunk(embedder, chunk)
            ok = [p for i, p in enumerate(chunk) if i not in bad]
            new = dict(zip(ok, Z))
            new_failed = {chunk[i]: msg for i, msg in bad.items()}
            if cache is not None:
                cache.put(new, new_failed)
            hits.update(new)
            failed.update(new_failed)
            bar.update(len(chunk))
    kept = [p for p in paths if p in hits]
    if kept:
        X = np.stack([hits[p] for p in kept]).astype(np.float32)
    else:
        X = np.zeros((0, 0), dtype=np.float32)
    skipped = [(p, failed[p]) for p in paths if p in failed]
    return EmbeddedImages(X=X, paths=kept, skipped=skipped, n_cached=n_cached,
                          n_embedded=len(todo) - sum(p in failed for p in todo))
