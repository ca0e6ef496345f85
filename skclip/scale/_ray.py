"""Importing Ray, and the few Arrow conversions every stage of the engine shares."""

import numpy as np

__all__ = ["require_ray", "embedding_matrix", "embedding_column", "preserve_order"]


def require_ray():
    """Import ``ray`` and ``ray.data``, or say how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the [scale] extra is installed in CI
        raise ImportError(
            "skclip.scale needs Ray Data: pip install 'skclip[scale]' (or 'ray[data]')."
        ) from exc
    return ray


def embedding_matrix(table, column):
    """The ``(n, d)`` float32 array of an Arrow table's embedding column.

    Accepts the fixed-size-list column this engine writes, a variable-size list column
    (e.g. a Parquet file written by other tools) and Ray's tensor extension column.
    """
    if column not in table.column_names:
        raise ValueError(
            f"the dataset has no column {column!r} (columns: {table.column_names}); "
            "pass column=... to name the embedding column."
        )
    col = table.column(column).combine_chunks()
    if len(col) == 0:
        return np.zeros((0, getattr(col.type, "list_size", 0)), dtype=np.float32)
    if hasattr(col, "to_numpy_ndarray"):  # Ray's ArrowTensorArray
        return np.asarray(col.to_numpy_ndarray(), dtype=np.float32).reshape(len(col), -1)
    if hasattr(col, "flatten"):
        flat = col.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(len(col), -1)
    raise TypeError(f"column {column!r} holds {col.type}, not one embedding vector per row.")


def embedding_column(X):
    """An Arrow ``fixed_size_list<float32>`` column from an ``(n, d)`` array.

    A plain Arrow type, so the Parquet files read anywhere (pandas, pyarrow, Spark)
    without Ray's tensor extension.
    """
    import pyarrow as pa

    X = np.ascontiguousarray(X, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


def preserve_order(ds):
    """Keep ``ds`` (and the datasets derived from it) in row order when executed.

    Ray Data may otherwise emit blocks in completion order; skclip's results must
    follow the input order, so that a fit on every row equals the local engine's.
    The setting lives on the dataset's own context, not on the global one.
    """
    ds.context.execution_options.preserve_order = True
    return ds
