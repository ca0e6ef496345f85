"""Datasets of image paths: from a folder, a list, or a column of a Parquet / CSV file."""

import os
from pathlib import Path

from ._ray import preserve_order, require_ray

__all__ = ["image_dataset"]


def _table_format(path):
    suffixes = [s.lower() for s in Path(path).suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    return None


def image_dataset(source, *, column="path", override_num_blocks=None):
    """A Ray dataset with one row per image and a single ``"path"`` column.

    Parameters
    ----------
    source : path-like, sequence of path-like, or str
        One of: a folder (its images, searched recursively, hidden entries skipped,
        in sorted order, exactly as :class:`~skclip.CLIPEmbedder` lists a folder); a
        list (or array) of image paths, kept in its order; a ``.parquet`` or
        ``.csv`` file (or a folder of them, named ``*.parquet`` / ``*.csv``, or any
        URI Ray Data reads, e.g. ``s3://bucket/paths.parquet``) whose ``column``
        holds the image paths.
    column : str, default="path"
        The column of a Parquet / CSV source that holds the paths.
    override_num_blocks : int, default=None
        Number of blocks (units of parallel work) of the dataset; None lets Ray
        choose.

    Returns
    -------
    ds : ray.data.Dataset
        Column ``"path"`` (string), in the order described above (the dataset keeps
        its row order through :func:`embed` and :func:`predict`).

    Raises
    ------
    ValueError
        A folder without images, an empty list, a missing file, or a table without
        ``column``.

    Examples
    --------
    >>> from skclip.scale import image_dataset
    >>> ds = image_dataset(["a.jpg", "b.jpg"])          # doctest: +SKIP
    >>> ds.take_all()                                    # doctest: +SKIP
    [{'path': 'a.jpg'}, {'path': 'b.jpg'}]
    """
    ray = require_ray()
    if isinstance(source, (str, os.PathLike)):
        fmt = _table_format(source)
        if fmt is not None:
            return preserve_order(_read_table(ray, os.fspath(source), fmt, column,
                                              override_num_blocks))
        folder = Path(os.fspath(source))
        if not folder.is_dir():
            raise ValueError(f"image folder not found: {folder} (a folder, a list of paths, "
                             "or a .parquet / .csv file of paths)")
        from ..embed._images import list_images  # the package's one folder walk

        paths = list_images(folder)
        if not paths:
            raise ValueError(f"no image files found under {folder}.")
    else:
        if hasattr(source, "to_numpy"):  # a pandas Series
            source = source.to_numpy().ravel().tolist()
        paths = [os.fspath(p) for p in source]
        if not paths:
            raise ValueError("the list of image paths is empty.")
    return preserve_order(_from_paths(ray, paths, override_num_blocks))


def _from_paths(ray, paths, override_num_blocks):
    import pyarrow as pa

    table = pa.table({"path": pa.array(paths, type=pa.string())})
    # small blocks (about 256 paths) spread the images over every actor and keep a
    # retried task short; at least 16 blocks so that small folders use the whole pool
    n_blocks = override_num_blocks or max(min(len(paths), 16), -(-len(paths) // 256))
    return ray.data.from_arrow(_split(table, n_blocks))


def _split(table, n_blocks):
    """``table`` cut into ``n_blocks`` contiguous, near-equal slices (blocks keep order)."""
    n_blocks = max(1, min(n_blocks, len(table)))
    bounds = [round(i * len(table) / n_blocks) for i in range(n_blocks + 1)]
    return [table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])]


def _read_table(ray, path, fmt, column, override_num_blocks):
    kwargs = {} if override_num_blocks is None else {"override_num_blocks": override_num_blocks}
    if "://" not in path and not Path(path).exists():
        raise ValueError(f"{fmt} file not found: {path}")
    if fmt == "parquet":
        ds = ray.data.read_parquet(path, columns=[column], **kwargs)
    else:
        ds = ray.data.read_csv(path, **kwargs)
    names = ds.schema().names
    if column not in names:
        raise ValueError(f"{path} has no column {column!r} (columns: {names}); "
                         "pass column=... to name the column of image paths.")
    ds = ds.select_columns([column])
    return ds if column == "path" else ds.rename_columns({column: "path"})
