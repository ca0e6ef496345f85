"""Files that are whole or absent: write to a temporary name, then rename into place.

Every file skclip writes for the user (``assignments.csv``, ``clusters.json``,
``report.html``, feature ``.npz`` files, Parquet files) goes through
:func:`atomic_write` (a Parquet folder through :func:`atomic_directory`), so an interrupted run (killed process, full disk, power cut)
leaves either the previous file or no file, never a truncated one that looks complete.
Several files that belong together (the outputs of ``skclip edit``) are replaced with
:func:`replace_files`: all old or all new, never a mix (:func:`recover` settles a
folder after a killed process).
The temporary file lives in the target's folder (a rename across file systems is not
atomic) and carries :data:`TEMP_MARK` in its name, so leftovers of a killed process
can be recognised and removed (:func:`remove_stale_temporaries`).
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

TEMP_MARK = ".skclip-tmp-"


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path, mode="w", *, encoding=None, newline=None):
    """Open a temporary file beside ``path``; on success rename it to ``path``.

    Parameters
    ----------
    path : str or Path
        The file to (re)place. Its folder must exist.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    encoding, newline : str, default=None
        As for :func:`open` (text mode; ``encoding=None`` means UTF-8).

    Yields
    ------
    fh : file object
        Write the whole content to it. If the ``with`` block raises, the temporary
        file is removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip._atomic import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as fh:
    ...     _ = fh.write("complete")
    >>> target.read_text()
    'complete'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}{TEMP_MARK}")
    try:
        if mode == "w":
            fh = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline=newline)
        else:
            fh = os.fdopen(fd, mode)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path, data, errors="strict"):
    """Atomically replace ``path`` with ``data``: bytes, or str encoded as UTF-8.

    ``errors`` is the encoding's error handler, e.g. ``"surrogateescape"`` to write the
    original bytes of file names that are not valid UTF-8.
    """
    with atomic_write(path, "wb") as fh:
        fh.write(data.encode("utf-8", errors) if isinstance(data, str) else data)
    return Path(path)


@contextmanager
def atomic_directory(path):
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    For outputs made of several files (a Parquet dataset written by Ray). The old
    folder, if any, is renamed aside, the new one renamed into place, then the old one
    deleted: ``path`` is always the old or the new folder whole (or briefly absent).
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name[:100]}{TEMP_MARK}"))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name[:100]}{TEMP_MARK}"))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder):
    """Delete what an interrupted :func:`atomic_write` left in ``folder``.

    Returns the removed paths. Only entries whose name starts with a dot and holds
    :data:`TEMP_MARK` are touched.
    """
    removed = []
    for entry in Path(folder).iterdir():
        if entry.name.startswith(".") and TEMP_MARK in entry.name:
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
            except FileNotFoundError:
                pass
    return removed


# -- several files at once ---------------------------------------------------------------
# replace_files writes every new file under a temporary name, then atomically writes a
# small journal (JOURNAL: which temporary becomes which file), then renames the
# temporaries into place and deletes the journal. A process killed at any moment leaves
# one of two states, which recover() (called before a folder is read or written again)
# settles: no journal -> the old files are untouched and the temporaries are deleted; a
# journal -> the commit point was passed and the remaining renames are done. So the
# folder is exactly as before or exactly as after the call, never a mix.

JOURNAL = ".skclip-commit.json"


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recover(folder):
    """Finish or undo an interrupted :func:`replace_files` in ``folder``.

    Returns
    -------
    state : {"clean", "rolled forward", "rolled back"}

    Examples
    --------
    >>> import tempfile
    >>> from skclip._atomic import recover
    >>> recover(tempfile.mkdtemp())
    'clean'
    """
    folder = Path(folder)
    journal = folder / JOURNAL
    state = "clean"
    if journal.is_file():
        moves = json.loads(journal.read_text(encoding="utf-8"))
        for name, tmp in moves.items():
            if (folder / tmp).exists():
                os.replace(folder / tmp, folder / name)
        _fsync_dir(folder)
        journal.unlink()
        state = "rolled forward"
    if remove_stale_temporaries(folder) and state == "clean":
        state = "rolled back"
    return state


def replace_files(folder, contents):
    """Replace files of ``folder`` together (see the module docstring).

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    contents : dict of str to (bytes, str or callable)
        File name -> its new content: bytes, a str (written as UTF-8) or a function
        that writes to a binary file object.

    Returns
    -------
    paths : list of Path
        The replaced files, in the order of ``contents``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip._atomic import replace_files
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in replace_files(d, {"a.txt": "one", "b.bin": b"two"})]
    ['a.txt', 'b.bin']
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.bin']
    """
    folder = Path(folder)
    recover(folder)
    moves = {}
    try:
        for name, content in contents.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name[:100]}{TEMP_MARK}")
            moves[name] = Path(tmp).name
            with os.fdopen(fd, "wb") as fh:
                if callable(content):
                    content(fh)
                else:
                    fh.write(content.encode("utf-8") if isinstance(content, str) else content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        _fsync_dir(folder)
        with atomic_write(folder / JOURNAL) as fh:  # the commit point
            json.dump(moves, fh)
    except BaseException:
        for tmp in moves.values():
            (folder / tmp).unlink(missing_ok=True)
        raise
    recover(folder)
    return [folder / name for name in contents]
