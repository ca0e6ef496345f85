"""Replace several files of a folder together: all old or all new, never a mix.

:func:`replace_files` writes every new file under a temporary name (as
:func:`skclip._atomic.atomic_write` does), then atomically writes a small *journal*
(``.skclip-commit.json``: which temporary becomes which file), then renames the
temporaries into place and deletes the journal. A process killed at any moment
leaves one of two states, which :func:`recover` (called before a folder is read or
written again) settles:

* no journal: the old files are untouched; the temporaries are deleted;
* a journal: the commit point was passed; the remaining renames are done.

So the folder is either exactly as before or exactly as after the call.
"""

import json
import os
import tempfile
from pathlib import Path

from ._atomic import TEMP_MARK, atomic_write, remove_stale_temporaries

__all__ = ["JOURNAL", "recover", "replace_files"]

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


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def recover(folder):
    """Finish or undo an interrupted :func:`replace_files` in ``folder``.

    Returns
    -------
    state : {"clean", "rolled forward", "rolled back"}

    Examples
    --------
    >>> import tempfile
    >>> from skclip._commit import recover
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
    >>> from skclip._commit import replace_files
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
