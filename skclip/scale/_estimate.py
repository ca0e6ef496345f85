"""``fit`` on a uniform sample, ``predict`` every row with ``map_batches``."""

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ._ray import embedding_column, embedding_matrix, preserve_order, require_ray
from ._sample import sample_embeddings

__all__ = ["DEFAULT_SAMPLE_SIZE", "fit", "predict", "row_confidence"]

#: Default ``sample_size`` of :func:`fit` (and ``--fit-sample`` of the command line),
#: chosen from the measured agreement of sample fits with full fits (user guide,
#: "Beyond one machine").
DEFAULT_SAMPLE_SIZE = 50_000


def _tail(estimator):
    """Drop a leading :class:`~skclip.CLIPEmbedder`: the dataset already holds embeddings."""
    from ..embed import CLIPEmbedder

    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[0][1], CLIPEmbedder):
        if len(estimator.steps) == 1:
            raise ValueError("the pipeline holds only a CLIPEmbedder: nothing to fit.")
        return estimator[1:]
    return estimator


def fit(estimator, ds, *, sample_size=DEFAULT_SAMPLE_SIZE, random_state=None,
        column="embedding"):
    """Fit a clone of a clusterer on a uniform random sample of a dataset's embeddings.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Any skclip clusterer (:class:`~skclip.CAEClustering`,
        :class:`~skclip.MCAClustering`...), or a Pipeline; a leading
        :class:`~skclip.CLIPEmbedder` step is dropped (the dataset holds embeddings).
        Not modified.
    ds : ray.data.Dataset
        With an embedding column (e.g. :func:`embed`'s ``dataset``).
    sample_size : int, default=50_000
        Largest number of rows fitted on. A dataset with at most this many rows is
        fitted whole, in its order: the same fit as the local engine's.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample (:func:`sample_embeddings`); the estimator's own
        ``random_state`` is left as it is.
    column : str, default="embedding"
        The embedding column.

    Returns
    -------
    fitted : estimator
        The fitted clone (its ``labels_`` are those of the sample; :func:`predict`
        labels every row).

    Examples
    --------
    >>> from skclip import CAEClustering
    >>> from skclip.scale import fit
    >>> clusterer = fit(CAEClustering(n_clusters=10), result.dataset,
    ...                 sample_size=50_000, random_state=0)          # doctest: +SKIP
    """
    X = sample_embeddings(ds, sample_size, random_state=random_state, column=column)
    return clone(_tail(estimator)).fit(X)


def row_confidence(estimator, X, labels):
    """Per-row confidence of assignments, computed from each row alone.

    The same definition as the local engine's report
    (:func:`skclip.report.assignment_confidence`): ``predict_proba`` when the method
    has it, else a softmax over cosines to the cluster centres (in the space of
    ``transform`` when the centres live there, else in the embedding space). Only
    estimators that define one of these give a confidence that does not depend on the
    other rows of a batch.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)

    Returns
    -------
    confidence : ndarray of shape (n_samples,), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.scale import row_confidence
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    >>> bool((row_confidence(km, X[:1], km.predict(X[:1])) > 0.99).all())
    True
    """
    from ..report import assignment_confidence, softmax_confidence

    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    centers = getattr(estimator, "cluster_centers_", None)
    if hasattr(estimator, "predict_proba") or (
            centers is not None and hasattr(estimator, "transform")
            and np.shape(estimator.transform(X[:1]))[1] == np.shape(centers)[1]):
        conf = assignment_confidence(estimator, X, labels)
    elif centers is not None and np.shape(centers)[1] == X.shape[1]:
        conf = softmax_confidence(X, labels, centers)
    else:
        raise ValueError(f"{type(estimator).__name__} has neither predict_proba nor cluster "
                         "centres: no per-row confidence can be computed.")
    return np.asarray(conf, dtype=np.float32)


def _predict_batch(batch, ref, column, keep_embedding):
    """Labels and confidence of one batch, with the estimator from the object store."""
    import pyarrow as pa
    import ray

    # ray.get of an object already in this node's store is a deserialisation, not a copy
    # over the network; numpy arrays in it are read in place
    estimator = ray.get(ref[0])
    X = embedding_matrix(batch, column)
    labels = np.asarray(estimator.predict(X), dtype=np.int64)
    out = {}
    if "path" in batch.column_names:
        out["path"] = batch.column("path")
    out["cluster"] = pa.array(labels, type=pa.int64())
    out["confidence"] = pa.array(row_confidence(estimator, X, labels))
    if keep_embedding:
        out["embedding"] = embedding_column(X)
    return pa.table(out)


def predict(estimator, ds, *, column="embedding", keep_embedding=False, batch_size=4096,
            concurrency=None, num_cpus=1):
    """Cluster and confidence of every row of a dataset, with ``map_batches``.

    The fitted estimator is put in Ray's object store once; the tasks read it from
    there (shared memory on each node) and predict batch after batch. Tasks, not
    actors: Ray's pooled worker processes keep their imports, so nothing is loaded
    per call but the estimator.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        E.g. the result of :func:`fit`; a leading :class:`~skclip.CLIPEmbedder` step
        is dropped.
    ds : ray.data.Dataset
        With an embedding column (and optionally ``"path"``, passed through).
    column : str, default="embedding"
        The embedding column.
    keep_embedding : bool, default=False
        Keep the embedding column in the output.
    batch_size : int, default=4096
        Rows per call to ``predict``.
    concurrency : int, default=None
        Most tasks running at once; None lets Ray use the cluster's CPUs.
    num_cpus : float, default=1
        CPUs per task (and torch threads in it).

    Returns
    -------
    out : ray.data.Dataset
        Columns ``"path"`` (when ``ds`` has it), ``"cluster"`` (int64),
        ``"confidence"`` (float32, see :func:`row_confidence`) and, with
        ``keep_embedding``, ``"embedding"``; in the order of ``ds``. Lazy: write it
        with ``out.write_parquet(folder)``.

    Examples
    --------
    >>> from skclip.scale import predict
    >>> out = predict(clusterer, result.dataset)                   # doctest: +SKIP
    >>> out.write_parquet("clusters.parquet")                      # doctest: +SKIP
    """
    ray = require_ray()
    estimator = _tail(estimator)
    if not hasattr(estimator, "predict"):
        raise TypeError(f"{type(estimator).__name__} has no predict method.")
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise ValueError(f"concurrency must be None or an int >= 1, got {concurrency!r}.")
    ref = ray.put(estimator)
    # the reference travels inside a list, so that Ray passes it as is (kept alive by
    # the dataset's plan) and each task fetches the estimator from the object store
    return preserve_order(ds.map_batches(
        _predict_batch, batch_format="pyarrow", batch_size=batch_size,
        fn_kwargs={"ref": [ref], "column": column, "keep_embedding": keep_embedding},
        compute=ray.data.TaskPoolStrategy(size=concurrency), num_cpus=num_cpus))
