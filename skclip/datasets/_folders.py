"""Image folders: ``root/<class>/<image>`` (labelled) or ``root/<image>`` (flat)."""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_image_folder", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _is_image(path, extensions):
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions


def _images_under(folder, extensions):
    """Image files below ``folder`` (any depth, hidden entries skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if _is_image(p, extensions):
                found.append(p)
    return found


def load_image_folder(path, *, extensions=IMAGE_EXTENSIONS):
    """List the images of a folder, with labels when it has one sub-folder per class.

    Two layouts are recognised:

    * labelled: ``path/<class_name>/.../<image>``; class names are the sorted
      sub-folder names, and the label of an image is the index of its class;
    * flat: ``path/<image>`` with no sub-folders holding images; no labels.

    A folder with images both at the top level and in sub-folders is ambiguous and
    raises ``ValueError``. Hidden files and folders (name starting with ``.``) and
    files whose extension is not in ``extensions`` are ignored. Images are not read.

    Parameters
    ----------
    path : str or path-like
        The folder.
    extensions : tuple of str, default=IMAGE_EXTENSIONS
        Lower-case file extensions counted as images.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``paths`` list of str (sorted by class, then path); ``y`` int64 array of
        labels, or None for a flat folder; ``class_names`` list of str, or None;
        ``root`` str.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip.datasets import load_image_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ["cat/1.jpg", "cat/2.jpg", "dog/1.png"]:
    ...         p = pathlib.Path(tmp, name)
    ...         p.parent.mkdir(exist_ok=True)
    ...         p.touch()
    ...     data = load_image_folder(tmp)
    >>> data.class_names, data.y.tolist(), len(data.paths)
    (['cat', 'dog'], [0, 0, 1], 3)
    """
    root = Path(os.fspath(path))
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)

    top = sorted(p for p in root.iterdir() if _is_image(p, extensions))
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, _images_under(d, extensions)) for d in subdirs]
    per_class = [(name, files) for name, files in per_class if files]

    if top and per_class:
        raise ValueError(
            f"{root} has {len(top)} images at the top level and images in "
            f"{len(per_class)} sub-folder(s); use either root/<class>/<image> "
            "(labelled) or root/<image> (flat)."
        )
    if per_class:
        class_names = [name for name, _ in per_class]
        paths = [str(p) for _, files in per_class for p in files]
        y = np.concatenate(
            [np.full(len(files), k, dtype=np.int64) for k, (_, files) in enumerate(per_class)]
        )
        return Bunch(paths=paths, y=y, class_names=class_names, root=str(root))
    if top:
        return Bunch(paths=[str(p) for p in top], y=None, class_names=None, root=str(root))
    raise ValueError(
        f"no images found in {root} (extensions {', '.join(extensions)})."
    )
