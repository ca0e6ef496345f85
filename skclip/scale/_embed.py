"""``embed``: CLIP image embeddings of a Ray dataset of paths, on an actor pool."""

import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._ray import embedding_column, preserve_order, require_ray

__all__ = ["EmbeddedDataset", "embed"]

_ON_ERROR = ("raise", "skip", "warn")


@dataclass
class EmbeddedDataset:
    """What :func:`embed` returns: the embeddings, and the files that could not be read.

    Attributes
    ----------
    dataset : ray.data.Dataset
        Columns ``"path"`` and ``"embedding"`` (``fixed_size_list<float32>[d]``,
        L2-normalised), one row per readable image, in input order. Backed by
        materialized blocks: consuming it twice (fit, then predict) embeds nothing again.
    dropped : list of (str, str)
        ``(path, reason)`` of every unreadable input, in input order; the same reasons
        :class:`~skclip.CLIPEmbedder` gives in ``dropped_``.
    n_images : int
        Number of input rows.
    embedding_dim : int
        Dimension ``d`` of the embeddings.
    """

    dataset: object
    dropped: list = field(default_factory=list)
    n_images: int = 0
    embedding_dim: int = 0


class _EmbedActor:
    """One CLIP model per actor process; a batch of paths in, embeddings (or errors) out.

    Decoding, preprocessing and batching are the local engine's own
    (:func:`skclip.report.embed_images` over a :class:`~skclip.CLIPEmbedder` with
    ``on_error="skip"``), so both engines give the same vectors and the same reasons.
    """

    def __init__(self, model, pretrained, weights, device, precision, batch_size, column):
        from ..embed import CLIPEmbedder

        if weights is not None:  # random weights drawn once by the driver: the same everywhere
            import ray

            fd, pretrained = tempfile.mkstemp(prefix="skclip-weights-", suffix=".pt")
            with os.fdopen(fd, "wb") as fh:
                fh.write(ray.get(weights[0]))
        self.column = column
        self.embedder = CLIPEmbedder(model=model, pretrained=pretrained, device=device,
                                     precision=precision, batch_size=batch_size,
                                     on_error="skip", verbose=0).fit()

    def __call__(self, batch):
        import pyarrow as pa

        from ..report import embed_images

        paths = [str(p) for p in batch.column(self.column).to_pylist()]
        res = embed_images(paths, self.embedder, None, chunk_size=max(1, len(paths)),
                           verbose=False)
        emb = dict(zip(res.paths, res.X))
        bad = dict(res.skipped)
        X = np.zeros((len(paths), self.embedder.embedding_dim_), dtype=np.float32)
        for i, p in enumerate(paths):
            if p in emb:
                X[i] = emb[p]
        return pa.table({
            "path": pa.array(paths, type=pa.string()),
            "embedding": embedding_column(X),
            "error": pa.array([bad.get(p) for p in paths], type=pa.string()),
        })


def _keep_readable(batch):
    import pyarrow.compute as pc

    return batch.filter(pc.is_null(batch.column("error"))).drop_columns(["error"])


def _only_failed(batch):
    import pyarrow.compute as pc

    return batch.filter(pc.is_valid(batch.column("error"))).select(["path", "error"])


def _random_weights(model, precision):
    """The driver's random-weight model, serialised for the actors.

    With ``pretrained=None`` every load draws new weights; shipping the driver's copy
    (the one :func:`skclip.embed.load_clip` returns in this process, which a semantic
    space built here also uses) keeps images and texts in one space.
    """
    import torch

    from ..embed import load_clip

    loaded = load_clip(model, None, "auto", precision)
    state = {k: v.detach().float().cpu() for k, v in loaded.model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _pool_size(ray, concurrency, num_gpus, num_cpus):
    if concurrency is not None:
        return concurrency
    resources = ray.cluster_resources()
    if num_gpus:
        return max(1, int(resources.get("GPU", 0) // num_gpus))
    return max(1, int(resources.get("CPU", 1) // num_cpus))


def _compute(ray, concurrency):
    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=int(concurrency))


def _check(on_error, batch_size, num_gpus, concurrency):
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if num_gpus != "auto" and (not isinstance(num_gpus, (int, float)) or num_gpus < 0):
        raise ValueError(f"num_gpus must be 'auto' or a number >= 0, got {num_gpus!r}.")
    ok = concurrency is None or (isinstance(concurrency, int) and concurrency >= 1) or (
        isinstance(concurrency, tuple) and len(concurrency) == 2
        and all(isinstance(c, int) and c >= 1 for c in concurrency)
        and concurrency[0] <= concurrency[1])
    if not ok:
        raise ValueError("concurrency must be None, an int >= 1 or a (min, max) tuple of "
                         f"ints, got {concurrency!r}.")


def _report_dropped(dropped, n, on_error):
    """Raise, warn or stay silent about the unreadable images, as ``on_error`` says."""
    if len(dropped) == n:
        first = f"; first: {dropped[0][0]} ({dropped[0][1]})" if dropped else ""
        raise ValueError(f"none of the {n} images could be read{first}")
    if dropped and on_error == "raise":
        raise ValueError(f"cannot read image {dropped[0][0]!r}: {dropped[0][1]} "
                         f"({len(dropped)} unreadable file(s); on_error='skip' drops them)")
    if dropped and on_error == "warn":
        shown = "; ".join(f"{p} ({r})" for p, r in dropped[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        warnings.warn(f"{len(dropped)} of {n} images could not be read and were dropped "
                      f"(see dropped): {shown}{more}", UserWarning, stacklevel=3)


def embed(ds, *, model="ViT-B-32", pretrained="openai", precision="auto", batch_size=64,
          concurrency=None, num_gpus="auto", num_cpus=1, memory=None, on_error="raise",
          column="path"):
    """CLIP embeddings of every image of a Ray dataset, on a pool of model actors.

    Each actor loads the model once and embeds batches of paths with the local
    engine's code (:class:`~skclip.CLIPEmbedder`), so both engines give the same
    vectors. With GPUs in the Ray cluster each actor takes one GPU (fp16/bf16
    under ``precision="auto"``); otherwise actors run on CPUs. Ray restarts an actor
    that dies and re-runs its batches.

    Parameters
    ----------
    ds : ray.data.Dataset
        One row per image, the path in ``column`` (see :func:`image_dataset`). The
        paths must be readable where the actors run (a shared file system on a
        multi-node cluster).
    model : str, default="ViT-B-32"
        open_clip model name, or the path of an open_clip JSON model config (which
        every node must be able to read).
    pretrained : str, path-like or None, default="openai"
        open_clip pretrained tag, local checkpoint path (on every node), or None for
        random weights: drawn once in this process and shipped to every actor.
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        As for :class:`~skclip.CLIPEmbedder`.
    batch_size : int, default=64
        Images per batch sent to an actor (and per forward pass).
    concurrency : int or (int, int), default=None
        Number of actors, or a ``(min, max)`` range Ray autoscales within. None: one
        actor per GPU (GPU actors), else one per ``num_cpus`` CPUs of the cluster.
    num_gpus : "auto" or float, default="auto"
        GPUs per actor. ``"auto"``: 1 when the Ray cluster has GPUs, else 0 (CPU
        actors).
    num_cpus : float, default=1
        CPUs per actor (and torch threads in it: Ray sets ``OMP_NUM_THREADS``).
    memory : int, default=None
        Bytes of memory Ray reserves per actor (the model, a batch and its
        activations); None reserves none.
    on_error : {"raise", "skip", "warn"}, default="raise"
        An unreadable image: after the pass, raise a ``ValueError`` naming it, or
        drop it (silently, or with one ``UserWarning``). Dropped images are listed
        in ``dropped`` either way.
    column : str, default="path"
        The column of ``ds`` holding the image paths.

    Returns
    -------
    result : EmbeddedDataset
        ``dataset`` (columns ``"path"``, ``"embedding"``), ``dropped``,
        ``n_images``, ``embedding_dim``.

    Raises
    ------
    ValueError
        Bad parameters; ``on_error="raise"`` and an unreadable image; no readable
        image at all.

    Examples
    --------
    >>> from skclip.scale import image_dataset, embed
    >>> result = embed(image_dataset("photos/"), pretrained=None)   # doctest: +SKIP
    >>> result.dataset.schema().names, len(result.dropped)           # doctest: +SKIP
    (['path', 'embedding'], 0)
    """
    ray = require_ray()
    _check(on_error, batch_size, num_gpus, concurrency)
    if num_gpus == "auto":
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    if column not in ds.schema().names:
        raise ValueError(f"the dataset has no column {column!r} (columns: "
                         f"{ds.schema().names}); pass column=... to name the image paths.")
    # in a list: Ray passes the reference as is (the actor fetches it, also on a restart)
    weights = None if pretrained is not None else [ray.put(_random_weights(model, precision))]
    # the path column is small: materialising it first keeps its reads from competing
    # with the actor pool for CPUs
    paths = preserve_order(ds.select_columns([column]).materialize())
    concurrency = _pool_size(ray, concurrency, num_gpus, num_cpus)
    full = paths.map_batches(
        _EmbedActor, batch_format="pyarrow", batch_size=batch_size,
        fn_constructor_args=(os.fspath(model), pretrained, weights,
                             "cuda" if num_gpus else "cpu", precision, batch_size, column),
        compute=_compute(ray, concurrency), num_gpus=num_gpus or None, num_cpus=num_cpus,
        **({} if memory is None else {"memory": int(memory)}),
    ).materialize()
    failed = full.map_batches(_only_failed, batch_format="pyarrow").take_all()
    dropped = [(row["path"], row["error"]) for row in failed]
    n = full.count()
    _report_dropped(dropped, n, on_error)
    ok = preserve_order(full.map_batches(_keep_readable, batch_format="pyarrow"))
    dim = full.schema().types[full.schema().names.index("embedding")].list_size
    return EmbeddedDataset(dataset=ok, dropped=dropped, n_images=n, embedding_dim=int(dim))
