"""Locating WordNet 3.0 for nltk, without ``nltk.download``.

Where the data comes from, in this order:

1. nltk's own data (``corpora/wordnet.zip`` or ``corpora/wordnet`` on ``nltk.data.path``,
   searched like ``nltk.corpus.wordnet`` does);
2. a system WordNet 3.0 folder (``$WNSEARCHDIR``, Debian's ``/usr/share/wordnet``, the
   upstream ``/usr/local/WordNet-3.0/dict``). nltk cannot read it as is (no ``lexnames``
   file; path checks refuse folders outside ``nltk.data.path``), so a readable copy is
   built once under ``get_cache_dir()/nltk_data/corpora/wordnet`` and that data root is
   put first on ``nltk.data.path``;
3. otherwise nltk's downloader fetches it once into ``get_cache_dir()/nltk_data``
   (a one-line message says so; ``SKCLIP_NO_DOWNLOAD=1`` forbids it);
4. when that fails too (no network), a ``LookupError`` that says what to install.
"""

import gzip
import hashlib
import io
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from .._config import get_cache_dir

SYSTEM_WORDNET_DIRS = (
    "/usr/share/wordnet",
    "/usr/local/WordNet-3.0/dict",
    "/usr/local/share/wordnet",
)
_LEXNAMES_MAN = "/usr/share/man/man5/lexnames.5WN.gz"
# The 45 lexicographer files of WordNet 3.0 (lexnames(5WN)), in file-number order.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_REQUIRED = ("data.noun", "index.noun")
_COPIED = (
    "cntlist.rev", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb",
    "data.adj", "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc",
    "verb.exc",
)
_INSTALL_HINT = (
    "WordNet 3.0 was not found (and nltk's downloader could not fetch it). Install it "
    "with one of:\n"
    "  sudo apt-get install -y wordnet-base wordnet-sense-index   (Debian/Ubuntu; "
    "files in /usr/share/wordnet)\n"
    "  python -m nltk.downloader wordnet                          (nltk's own copy)\n"
    "or pass wordnet_path=<folder holding data.noun and index.noun>."
)
_READERS = {}  # content key -> reader (a copy elsewhere with the same data shares it)
_CONTENT = {}  # (root, size, mtime) -> content key
_LOCK = threading.RLock()


def lexnames_text(man_page=_LEXNAMES_MAN):
    """The ``lexnames`` file nltk needs: ``NN<TAB>name<TAB>category`` for 45 files.

    Parsed from the ``lexnames(5WN)`` man page when it is installed (checked against
    the built-in WordNet 3.0 list), else written from that list.
    """
    names = list(_LEXNAMES)
    try:
        with gzip.open(man_page, "rt", encoding="utf-8", errors="replace") as fh:
            rows = re.findall(r"^(\d\d)\t(\S+)[ ]*\t", fh.read(), re.M)
        parsed = [name for _, name in sorted(rows, key=lambda r: int(r[0]))]
        if parsed == names:
            names = parsed
    except OSError:
        pass
    return "".join(
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(names)
    )


def _is_wordnet_dir(path):
    return path is not None and all((Path(path) / f).is_file() for f in _REQUIRED)


def _build_readable_copy(source, data_root):
    """Copy ``source`` to ``data_root/corpora/wordnet`` with a ``lexnames`` file, atomically.

    Concurrent builders each fill a private temporary folder and rename it into place;
    the loser of the race discards its copy.
    """
    target = Path(data_root) / "corpora" / "wordnet"
    if (target / "lexnames").is_file() and (target / "data.noun").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-build-", dir=target.parent))
    try:
        for name in _COPIED:
            if (Path(source) / name).is_file():
                shutil.copyfile(Path(source) / name, tmp / name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        (tmp / "SKCLIP_SOURCE").write_text(str(Path(source).resolve()) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "lexnames").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _data_root_for(source):
    """The cache data root that holds the readable copy of ``source``."""
    source = Path(source).resolve()
    if str(source) in {str(Path(d).resolve()) for d in SYSTEM_WORDNET_DIRS}:
        return get_cache_dir() / "nltk_data"
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return get_cache_dir() / f"nltk_data-{digest}"


def _locate(wordnet_path=None):
    """Return the nltk path pointer to read, building the cache copy when needed.

    A ``FileSystemPathPointer`` for folders, or nltk's ``ZipFilePathPointer`` when its
    own data is ``corpora/wordnet.zip``.
    """
    import nltk
    from nltk.data import FileSystemPathPointer

    if wordnet_path is not None:
        if not _is_wordnet_dir(wordnet_path):
            raise LookupError(
                f"wordnet_path={str(wordnet_path)!r} does not hold a WordNet 3.0 database "
                f"(data.noun and index.noun). {_INSTALL_HINT}"
            )
        sources = [Path(wordnet_path)]
    else:
        for resource in ("corpora/wordnet.zip/wordnet/", "corpora/wordnet"):  # as nltk.corpus
            try:
                return nltk.data.find(resource)
            except LookupError:
                pass
        env = os.environ.get("WNSEARCHDIR")
        sources = [Path(p) for p in ([env] if env else []) + list(SYSTEM_WORDNET_DIRS)]
        sources = [p for p in sources if _is_wordnet_dir(p)]
        if not sources:
            pointer = _download_wordnet()
            if pointer is None:
                raise LookupError(_INSTALL_HINT)
            return pointer
    try:
        data_root = _data_root_for(sources[0])
        target = _build_readable_copy(sources[0], data_root)
    except OSError as exc:  # an unwritable or full cache never stops the run
        data_root = Path(tempfile.mkdtemp(prefix="skclip-nltk_data-"))
        warnings.warn(f"skclip: cannot write the WordNet copy under the cache folder "
                      f"({exc.strerror or exc}); using the temporary folder {data_root}.",
                      UserWarning, stacklevel=3)
        target = _build_readable_copy(sources[0], data_root)
    if str(data_root) not in [str(p) for p in nltk.data.path]:
        nltk.data.path.insert(0, str(data_root))
    return FileSystemPathPointer(str(target))


def _download_wordnet():
    """Fetch WordNet with nltk's downloader into the cache; its pointer, or None on failure."""
    import nltk

    if os.environ.get("SKCLIP_NO_DOWNLOAD", "") not in ("", "0"):
        return None
    root = get_cache_dir() / "nltk_data"
    print(f"skclip: WordNet 3.0 not found; fetching it once with nltk's downloader into "
          f"{root} (about 10 MB)", file=sys.stderr)
    try:
        ok = nltk.download("wordnet", download_dir=str(root), quiet=True, raise_on_error=True,
                           print_error_to=io.StringIO())
    except Exception:  # noqa: BLE001 - any network or disk failure ends in the install hint
        ok = False
    if not ok:
        return None
    if str(root) not in [str(p) for p in nltk.data.path]:
        nltk.data.path.insert(0, str(root))
    for resource in ("corpora/wordnet.zip/wordnet/", "corpora/wordnet"):
        try:
            return nltk.data.find(resource, paths=[str(root)])
        except LookupError:
            pass
    return None


def load_wordnet(wordnet_path=None):
    """Return an nltk WordNet reader, without downloading anything.

    Parameters
    ----------
    wordnet_path : str or path-like, default=None
        A WordNet 3.0 database folder (holding ``data.noun``, ``index.noun``...). None
        looks for nltk's own data, then a system folder (``$WNSEARCHDIR``,
        ``/usr/share/wordnet``), then fetches it once with nltk's downloader into
        ``get_cache_dir()/nltk_data`` (a one-line message says so). A system folder is
        copied once, with the ``lexnames`` file nltk needs, to
        ``get_cache_dir()/nltk_data/corpora/wordnet``.

    Returns
    -------
    reader : nltk.corpus.reader.wordnet.WordNetCorpusReader
        One reader per folder and process.

    Raises
    ------
    LookupError
        When no WordNet is installed and the download failed; the message names
        ``apt-get install wordnet-base wordnet-sense-index`` and
        ``python -m nltk.downloader wordnet``.

    Examples
    --------
    >>> from skclip.semantic import load_wordnet
    >>> wn = load_wordnet()
    >>> wn.get_version(), wn.synset("dog.n.01").min_depth()
    ('3.0', 8)
    """
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with _LOCK:
        pointer = _locate(wordnet_path)
        key = _content_key(pointer)
        if key not in _READERS:
            with warnings.catch_warnings():
                # "multilingual functions are not available": we read English only.
                warnings.simplefilter("ignore", UserWarning)
                _READERS[key] = WordNetCorpusReader(pointer, None)
        return _READERS[key]


def _content_key(pointer):
    """A hash of the noun data: equal for every copy of one WordNet, wherever it lives."""
    where = (str(pointer),)
    if hasattr(pointer, "path") and os.path.isdir(pointer.path):
        stat = os.stat(os.path.join(pointer.path, "data.noun"))
        where += (stat.st_size, stat.st_mtime_ns)
    if where not in _CONTENT:
        digest = hashlib.sha256()
        for name in ("data.noun", "index.noun"):
            with pointer.join(name).open() as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        _CONTENT[where] = digest.hexdigest()[:24]
    return _CONTENT[where]
