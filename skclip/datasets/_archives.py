"""Unpacking a zip archive of class folders into a folder :func:`load_image_folder` reads."""

import zipfile
from pathlib import Path, PurePosixPath

from ._folders import IMAGE_EXTENSIONS

__all__ = ["extract_image_archive"]


def _members_by_class(zf, extensions):
    """Image members grouped by their folder's name, in sorted order."""
    by_class = {}
    for name in sorted(zf.namelist()):
        member = PurePosixPath(name)
        if name.endswith("/") or member.suffix.lower() not in extensions:
            continue
        if member.is_absolute() or ".." in member.parts:
            raise ValueError(f"archive member {name!r} points outside the archive's folder")
        if any(part.startswith(".") for part in member.parts):
            continue  # hidden files and folders, as load_image_folder skips them
        if len(member.parts) < 2:
            raise ValueError(
                f"archive member {name!r} is not in a class folder; expected "
                "'<class>/<image>' (at any depth)")
        by_class.setdefault(member.parent.name, []).append(name)
    return by_class


def _choose(by_class, per_class, n_images):
    """The first ``per_class`` of each class, then round-robin up to ``n_images``."""
    lists = [names[:per_class] if per_class is not None else names
             for names in by_class.values()]
    if n_images is None:
        return [name for names in lists for name in names]
    chosen, i = [], 0
    while len(chosen) < n_images and any(i < len(names) for names in lists):
        chosen.extend(names[i] for names in lists if i < len(names))
        i += 1
    return chosen[:n_images]


def extract_image_archive(archive, dest, *, classes=None, per_class=None, n_images=None,
                          extensions=IMAGE_EXTENSIONS):
    """Extract the images of a zip archive of class folders as ``dest/<class>/<file>``.

    Images are grouped by the name of the folder holding them (``cifar10/test/cat/1.jpg``
    belongs to class ``cat``), taken in sorted order, and written flat under their
    class, the labelled layout :func:`load_image_folder` reads. Hidden members and
    non-images are skipped.

    Parameters
    ----------
    archive : str or path-like
        A ``.zip`` file.
    dest : str or path-like
        Output folder (created; existing files of the same name are replaced).
    classes : list of str, default=None
        Extract only these classes (all when None); a name absent from the archive
        raises ``ValueError``.
    per_class : int, default=None
        Take at most the first ``per_class`` images of each class (all when None).
    n_images : int, default=None
        Take at most ``n_images`` in all, one class after another (the first image of
        every class, then the second...), so a small subset stays balanced.
    extensions : tuple of str, default=IMAGE_EXTENSIONS
        File suffixes (lower case) that count as images.

    Returns
    -------
    paths : list of str
        The extracted files, sorted.

    Raises
    ------
    FileNotFoundError
        ``archive`` does not exist.
    ValueError
        ``archive`` is not a zip file, holds no images or not the ``classes`` asked for, has images outside a class
        folder or members pointing outside it (``..``, absolute paths), or two classes
        of the same name hold files of the same name.

    Examples
    --------
    >>> import io, tempfile, zipfile
    >>> from pathlib import Path
    >>> from skclip.datasets import extract_image_archive, load_image_folder
    >>> tmp = Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "pets.zip", "w") as zf:
    ...     for name in ["pets/cat/1.jpg", "pets/cat/2.jpg", "pets/dog/1.jpg"]:
    ...         zf.writestr(name, b"...")
    >>> paths = extract_image_archive(tmp / "pets.zip", tmp / "images", per_class=1)
    >>> [str(Path(p).relative_to(tmp)) for p in paths]
    ['images/cat/1.jpg', 'images/dog/1.jpg']
    >>> load_image_folder(tmp / "images").class_names
    ['cat', 'dog']
    """
    for name, value in (("per_class", per_class), ("n_images", n_images)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"no such archive: {archive}")
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a zip archive")
    extensions = tuple(e.lower() for e in extensions)
    with zipfile.ZipFile(archive) as zf:
        by_class = _members_by_class(zf, extensions)
        if not by_class:
            raise ValueError(f"no images ({', '.join(extensions)}) in {archive}")
        if classes is not None:
            missing = [c for c in classes if c not in by_class]
            if missing:
                raise ValueError(f"classes {missing} are not in {archive} (it has "
                                 f"{sorted(by_class)})")
            by_class = {c: by_class[c] for c in classes}
        chosen = _choose(by_class, per_class, n_images)
        targets = {}
        for name in chosen:
            member = PurePosixPath(name)
            target = dest / member.parent.name / member.name
            if target in targets:
                raise ValueError(f"archive members {targets[target]!r} and {name!r} would "
                                 f"both be written to {target}")
            targets[target] = name
        for target, name in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    return sorted(str(t) for t in targets)
