"""Image inputs: what ``CLIPEmbedder`` accepts, and reading them in DataLoader workers."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

__all__ = ["DroppedImage", "as_image_inputs", "list_images", "load_rgb"]

# Errors that mean "this input is not a readable image"; anything else is a bug and propagates.
_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class DroppedImage(NamedTuple):
    """An input that could not be read: its position, where it came from, and why.

    ``CLIPEmbedder.dropped_`` lists them after a ``transform`` with
    ``on_error="skip"`` or ``"warn"``.

    Attributes
    ----------
    index : int
        Position of the input in the list given to ``transform``.
    source : str
        The file path, or ``"<PIL image i>"`` / ``"<array[i]>"``.
    reason : str
        The error, e.g. ``"UnidentifiedImageError: cannot identify image file ..."``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> from skclip import CLIPEmbedder
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (40, 40), "red").save(folder / "ok.jpg")
    >>> _ = (folder / "broken.jpg").write_bytes(b"not an image")
    >>> emb = CLIPEmbedder(pretrained=None, device="cpu", on_error="skip", verbose=0)
    >>> X = emb.fit_transform([folder / "ok.jpg", folder / "broken.jpg"])
    >>> drop = emb.dropped_[0]
    >>> drop.index, drop.source.endswith("broken.jpg"), drop.reason.split(":")[0]
    (1, True, 'UnidentifiedImageError')
    """

    index: int
    source: str
    reason: str


def list_images(folder):
    """Image files below ``folder`` (recursively, hidden entries skipped), sorted.

    The one folder walk of the package lives in :mod:`skclip.datasets`; this only
    adapts it to the embedder (strings, the same image extensions).
    """
    from ..datasets import IMAGE_EXTENSIONS
    from ..datasets._folders import _images_under

    return [str(p) for p in _images_under(Path(folder), IMAGE_EXTENSIONS)]


def _is_path(x):
    return isinstance(x, (str, os.PathLike))


def _check_array(X):
    if X.dtype != np.uint8:
        raise TypeError(
            f"an image array must have dtype uint8 (values 0-255), got {X.dtype}; "
            "CLIPEmbedder takes images, not features."
        )
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(
            f"an image array must have shape (n_images, height, width, 3), got {X.shape}."
        )
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"images of shape {X.shape[1:]} have no pixels.")
    return list(X), [f"<array[{i}]>" for i in range(len(X))]


def _check_item(item, i):
    if _is_path(item):
        return os.fspath(item), os.fspath(item)
    if isinstance(item, Image.Image):
        return item, f"<PIL image {i}>"
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 and item.shape[-1] == 3:
        return item, f"<array {i}>"
    raise TypeError(
        f"input {i} is a {type(item).__name__}; CLIPEmbedder takes file paths, PIL images "
        "or uint8 arrays of shape (height, width, 3)."
    )


def as_image_inputs(X):
    """Turn any accepted ``X`` into ``(items, sources)``: one list entry per image.

    Accepted: a folder path (images below it, recursively, sorted); a sequence of file
    paths, PIL images or ``(H, W, 3)`` uint8 arrays; a uint8 array ``(n, H, W, 3)``;
    an image-folder dataset (a mapping with ``"paths"``, as
    :func:`skclip.datasets.load_image_folder` returns, or a torchvision
    ``DatasetFolder`` with ``.samples``). Files are not opened here.
    """
    if _is_path(X):
        path = Path(os.fspath(X))
        if path.is_dir():
            items = list_images(path)
            if not items:
                raise ValueError(f"no image files found under {path}.")
            return items, list(items)
        if path.is_file():
            raise TypeError(f"X is a single file ({path}); pass a list of paths, e.g. [path].")
        raise ValueError(f"image folder not found: {path}")
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUS" and X.ndim == 1:
        items, sources = _from_sequence(X.tolist())  # an array of paths (or PIL images)
    elif isinstance(X, np.ndarray):
        items, sources = _check_array(X)
    elif isinstance(X, Mapping) and "paths" in X:
        items, sources = _from_sequence(X["paths"])
    elif hasattr(X, "samples") and hasattr(X, "root"):
        items, sources = _from_sequence([s[0] for s in X.samples])
    elif isinstance(X, Sequence) or hasattr(X, "__array__") or hasattr(X, "__iter__"):
        if hasattr(X, "to_numpy"):  # a pandas Series / DataFrame column of paths
            X = X.to_numpy().ravel().tolist()
        items, sources = _from_sequence(X)
    else:
        raise TypeError(
            f"X is a {type(X).__name__}; CLIPEmbedder takes a folder path, a list of file "
            "paths, PIL images or uint8 arrays, or a uint8 array (n_images, height, width, 3)."
        )
    if not items:
        raise ValueError("X contains no images (0 inputs); at least one is required.")
    return items, sources


def _from_sequence(X):
    if isinstance(X, (bytes, Mapping)):
        raise TypeError(f"X is a {type(X).__name__}, not a sequence of images.")
    pairs = [_check_item(item, i) for i, item in enumerate(X)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def load_rgb(item):
    """Decode one image as people see it: an upright RGB PIL image.

    The one image reader of the package (the embedder and the report's thumbnails use
    it): the file is fully read (so truncation shows here), its EXIF orientation is
    applied (phones store many photos sideways with a rotation tag), and the pixels
    are converted to RGB.

    Parameters
    ----------
    item : str, path-like, PIL.Image.Image or ndarray of shape (H, W, 3), uint8

    Returns
    -------
    image : PIL.Image.Image
        Mode ``"RGB"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from skclip.embed._images import load_rgb
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "side.jpg"
    >>> exif = Image.Exif()
    >>> exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    >>> Image.new("RGB", (60, 20), "red").save(f, exif=exif)
    >>> load_rgb(f).size
    (20, 60)
    """
    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as img:
            img.load()
            return _upright(img).convert("RGB")
    if isinstance(item, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(item))
    item.load()
    return _upright(item).convert("RGB")


def _upright(img):
    # exif_transpose returns the image itself (a copy) when there is nothing to rotate
    return ImageOps.exif_transpose(img) or img
