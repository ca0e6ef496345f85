"""A uniform random sample of a Ray dataset, independent of its blocks and of the cluster.

Each row gets a 64-bit key, a keyed hash of its path (or of its embedding when the
dataset has no paths) under a seed drawn from ``random_state``; the sample is the
``m`` rows with the smallest keys. Hash values behave as independent uniform draws,
so every subset of ``m`` rows is equally likely (the "bottom-m" sample), and the
sample depends only on the rows and the seed: not on the number of blocks, actors
or nodes, nor on the order in which Ray computes them.
"""

import hashlib

import numpy as np
from sklearn.utils import check_random_state

from ._ray import embedding_column, embedding_matrix

__all__ = ["sample_embeddings", "row_keys"]


def _seed_bytes(random_state):
    rng = check_random_state(random_state)
    return rng.randint(0, 2**32, size=4, dtype=np.uint64).astype("<u4").tobytes()


def row_keys(table, seed, column):
    """The uint64 sampling key of each row of an Arrow table."""
    if "path" in table.column_names:
        items = (str(p).encode() for p in table.column("path").to_pylist())
    else:
        items = (row.tobytes() for row in embedding_matrix(table, column))
    keys = [hashlib.blake2b(item, key=seed, digest_size=8).digest() for item in items]
    return np.frombuffer(b"".join(keys), dtype="<u8").astype(np.uint64)


def _keys_only(batch, seed, column):
    import pyarrow as pa

    return pa.table({"key": pa.array(row_keys(batch, seed, column), type=pa.uint64())})


def _below(batch, seed, column, threshold):
    import pyarrow as pa

    keys = row_keys(batch, seed, column)
    keep = np.flatnonzero(keys <= threshold)
    return pa.table({"key": pa.array(keys[keep], type=pa.uint64()),
                     column: embedding_column(embedding_matrix(batch.take(keep), column))})


def _collect(ds, column):
    """Every row's embedding, in dataset order."""
    parts = [embedding_matrix(b, column) for b in ds.iter_batches(batch_format="pyarrow",
                                                                   batch_size=None)]
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def sample_embeddings(ds, sample_size, *, random_state=None, column="embedding"):
    """A uniform random sample of at most ``sample_size`` embeddings of a Ray dataset.

    Parameters
    ----------
    ds : ray.data.Dataset
        With an embedding column (e.g. :func:`embed`'s ``dataset``); a ``"path"``
        column, when present, keys the sample (see Notes).
    sample_size : int
        Largest sample. When the dataset has at most ``sample_size`` rows, every
        row is returned, in dataset order (so a fit on it equals a local fit).
    random_state : int, RandomState instance or None, default=None
        Seeds the sample; an int gives the same rows on any cluster layout.
    column : str, default="embedding"
        The embedding column.

    Returns
    -------
    X : ndarray of shape (min(n, sample_size), d), dtype float32
        The sampled embeddings (ordered by their sampling key when sampled).

    Notes
    -----
    The sample is the ``sample_size`` rows with the smallest keyed hash of their path
    (of their embedding bytes without a path column) under a seed drawn from
    ``random_state``: a uniform sample without replacement that does not depend on
    how Ray splits or schedules the data. Two passes over the dataset (keys, then
    the selected rows); only ``n`` keys and the sample reach the driver.

    Examples
    --------
    >>> import numpy as np, ray
    >>> from skclip.scale import sample_embeddings
    >>> ds = ray.data.from_items([{"path": f"{i}.jpg", "embedding": np.eye(4)[i % 4]}
    ...                          for i in range(8)])                     # doctest: +SKIP
    >>> sample_embeddings(ds, 3, random_state=0).shape                   # doctest: +SKIP
    (3, 4)
    """
    if not isinstance(sample_size, (int, np.integer)) or sample_size < 1:
        raise ValueError(f"sample_size must be a positive int, got {sample_size!r}.")
    n = ds.count()
    if n == 0:
        raise ValueError("the dataset has no rows to sample.")
    if n <= sample_size:
        return _collect(ds, column)
    seed = _seed_bytes(random_state)
    keys = np.concatenate([b["key"] for b in ds.map_batches(
        _keys_only, fn_kwargs={"seed": seed, "column": column},
        batch_format="pyarrow").iter_batches(batch_format="numpy", batch_size=None)])
    threshold = np.partition(keys, sample_size - 1)[sample_size - 1]
    picked = ds.map_batches(_below, fn_kwargs={"seed": seed, "column": column,
                                               "threshold": threshold},
                            batch_format="pyarrow")
    batches = list(picked.iter_batches(batch_format="pyarrow", batch_size=None))
    chosen = np.concatenate([np.asarray(b.column("key")) for b in batches])
    X = np.concatenate([embedding_matrix(b, column) for b in batches if b.num_rows])
    # equal keys (a path listed twice) may give a few rows more: the key order decides
    order = np.argsort(chosen, kind="stable")[:sample_size]
    return X[order]
