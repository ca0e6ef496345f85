"""The features file: CLIP embeddings of one dataset, stored as a ``.npz``.

Layout (all arrays, no pickled objects, so ``np.load(allow_pickle=False)`` reads it):

========================  ==========================================================
key                       content
========================  ==========================================================
``format``                the string ``"skclip-features"``
``format_version``        integer, currently 1
``X``                     (n, d) image embeddings, float32 (float16 kept as float16)
``y``                     (n,) int64 labels in ``[0, n_classes)``; optional
``class_names``           (n_classes,) str; optional
``model``                 str, e.g. ``"ViT-B-32/openai"``; optional
``split``                 str, e.g. ``"test"``; optional
``paths``                 (n,) str, one image path per row; optional
``text_embeddings``       (m, d) text embeddings (same dimension as ``X``); optional
``text_names``            (m,) str, the texts embedded; optional
========================  ==========================================================
"""

import os
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._atomic import atomic_write

__all__ = ["save_features", "load_features"]

FORMAT = "skclip-features"
FORMAT_VERSION = 1
_KNOWN_KEYS = {
    "format", "format_version", "X", "y", "class_names", "model", "split", "paths",
    "text_embeddings", "text_names",
}


def _embeddings(name, A, source):
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"{source}{name} must be a non-empty 2-D array (n, d); got shape {A.shape}.")
    if not np.issubdtype(A.dtype, np.floating):
        raise TypeError(f"{source}{name} must hold floats; got dtype {A.dtype}.")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{source}{name} contains NaN or infinite values.")
    return A if A.dtype in (np.float16, np.float32) else A.astype(np.float32)


def _strings(name, values, length, source):
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if arr.ndim != 1:
        raise ValueError(f"{source}{name} must be one-dimensional; got shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "US":
        raise TypeError(f"{source}{name} must hold strings; got dtype {arr.dtype}.")
    if length is not None and len(arr) != length:
        raise ValueError(f"{source}{name} has {len(arr)} entries; expected {length}.")
    return arr.astype(str)


def _check(fields, source=""):
    """Validate a dict of features fields; return the normalised arrays."""
    out = {"X": _embeddings("X", fields["X"], source)}
    n, d = out["X"].shape
    class_names = fields.get("class_names")
    if class_names is not None:
        out["class_names"] = _strings("class_names", class_names, None, source)
        if len(set(out["class_names"].tolist())) != len(out["class_names"]):
            raise ValueError(f"{source}class_names contains duplicates.")
    y = fields.get("y")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"{source}y must have shape ({n},) to match X; got {y.shape}.")
        if y.dtype.kind not in "iu":
            if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise TypeError(f"{source}y must hold integer labels; got dtype {y.dtype}.")
        y = y.astype(np.int64)
        if n and y.min() < 0:
            raise ValueError(f"{source}y must be non-negative class indices; found {y.min()}.")
        n_classes = len(out.get("class_names", ()))
        if class_names is not None and n and y.max() >= n_classes:
            raise ValueError(
                f"{source}y contains label {y.max()} but only {n_classes} class_names are given."
            )
        out["y"] = y
    for key in ("model", "split"):
        value = fields.get(key)
        if value is not None:
            value = np.asarray(value)
            if value.ndim != 0 or value.dtype.kind not in "US":
                raise TypeError(f"{source}{key} must be a single string; got {value!r}.")
            out[key] = str(value)
    if fields.get("paths") is not None:
        out["paths"] = _strings("paths", fields["paths"], n, source)
    T, names = fields.get("text_embeddings"), fields.get("text_names")
    if T is not None:
        out["text_embeddings"] = _embeddings("text_embeddings", T, source)
        if out["text_embeddings"].shape[1] != d:
            raise ValueError(
                f"{source}text_embeddings have dimension {out['text_embeddings'].shape[1]} but "
                f"X has dimension {d}; they must come from the same CLIP model."
            )
        if names is not None:
            out["text_names"] = _strings(
                "text_names", names, len(out["text_embeddings"]), source
            )
    elif names is not None:
        raise ValueError(f"{source}text_names is given without text_embeddings.")
    return out


def save_features(path, X, y=None, class_names=None, model=None, split=None, paths=None,
                  text_embeddings=None, text_names=None):
    """Write CLIP embeddings (and optional labels, paths, text embeddings) to ``.npz``.

    Parameters
    ----------
    path : str or path-like
        Destination; ``.npz`` is appended by numpy when missing.
    X : array-like of shape (n_samples, n_features)
        Image embeddings (float; float16 is kept, other floats are stored as float32).
    y : array-like of shape (n_samples,), default=None
        Integer labels in ``[0, len(class_names))``. Used only to score benchmarks.
    class_names : sequence of str, default=None
        Name of each class index.
    model : str, default=None
        The CLIP model that produced the embeddings, e.g. ``"ViT-B-32/openai"``.
    split : str, default=None
        Dataset split, e.g. ``"test"``.
    paths : sequence of str, default=None
        One image path per row of ``X``.
    text_embeddings : array-like of shape (n_texts, n_features), default=None
        Embeddings of a text vocabulary from the same model.
    text_names : sequence of str, default=None
        The texts behind ``text_embeddings``.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skclip.datasets import save_features, load_features
    >>> X = np.eye(3, 4, dtype=np.float32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     f = save_features(os.path.join(tmp, "f.npz"), X, y=[0, 1, 1],
    ...                       class_names=["cat", "dog"], model="ViT-B-32/openai")
    ...     data = load_features(f)
    >>> data.X.shape, data.y.tolist(), data.class_names, data.model
    ((3, 4), [0, 1, 1], ['cat', 'dog'], 'ViT-B-32/openai')
    """
    fields = _check(dict(X=X, y=y, class_names=class_names, model=model, split=split,
                         paths=paths, text_embeddings=text_embeddings, text_names=text_names))
    path = Path(os.fspath(path))
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {key: np.asarray(value) for key, value in fields.items()}
    with atomic_write(path, "wb") as fh:  # whole or absent, even if interrupted
        np.savez_compressed(fh, format=np.array(FORMAT),
                            format_version=np.array(FORMAT_VERSION), **arrays)
    return path


def load_features(path):
    """Read and validate a features file written by :func:`save_features`.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` features file.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` (n, d) float32; ``y`` int64 array or None; ``class_names`` list of str or
        None; ``model``, ``split`` str or None; ``paths`` list of str or None;
        ``text_embeddings`` (m, d) float32 or None; ``text_names`` list of str or None;
        ``format_version`` int; ``filename`` str.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not a features file or its content is inconsistent
        (shapes, labels, dimensions, NaN values).

    Examples
    --------
    See :func:`save_features`.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"features file not found: {path}")
    source = f"features file {path}: "
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{source}not a readable .npz archive (not a zip file).")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in npz.files}
    except ValueError as exc:  # object arrays need pickle: not one of ours
        raise ValueError(f"{source}cannot be read without pickle ({exc}); "
                         "write it with skclip.datasets.save_features.") from exc
    except (OSError, EOFError, KeyError) as exc:
        raise ValueError(f"{source}not a readable .npz archive ({exc}).") from exc
    if not isinstance(raw, dict) or "X" not in raw:
        raise ValueError(f"{source}no 'X' array; found keys {sorted(raw)}. "
                         "Write it with skclip.datasets.save_features.")
    if "format" in raw and str(raw["format"]) != FORMAT:
        raise ValueError(f"{source}format is {str(raw['format'])!r}, expected {FORMAT!r}.")
    version = int(raw.get("format_version", FORMAT_VERSION))
    if version > FORMAT_VERSION:
        raise ValueError(f"{source}format_version {version} is newer than this skclip "
                         f"understands ({FORMAT_VERSION}); upgrade skclip.")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{source}unknown keys {unknown}.")
    fields = _check(raw, source)

    def _list(key):
        return fields[key].tolist() if key in fields else None

    T = fields.get("text_embeddings")
    return Bunch(
        X=fields["X"].astype(np.float32),
        y=fields.get("y"),
        class_names=_list("class_names"),
        model=fields.get("model"),
        split=fields.get("split"),
        paths=_list("paths"),
        text_embeddings=None if T is None else T.astype(np.float32),
        text_names=_list("text_names"),
        format_version=version,
        filename=str(path),
    )
