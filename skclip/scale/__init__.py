"""Beyond one machine: embedding, fitting and predicting on Ray Data.

Image paths become a Ray dataset (:func:`image_dataset`), a pool of CLIP model
actors embeds them (:func:`embed`, one model per actor, one GPU per actor when the
cluster has GPUs), any skclip clusterer is fitted on a uniform random sample
(:func:`fit`), and every row gets its cluster and confidence with ``map_batches``
(:func:`predict`); write the result with ``Dataset.write_parquet``.

This subpackage needs the ``[scale]`` extra (``pip install 'skclip[scale]'``); it is
imported only when used (``import skclip`` does not import Ray). Call
``ray.init(address=...)`` first to use a running cluster; without it Ray starts a
local one.

Examples
--------
>>> import skclip.scale as scale                                     # doctest: +SKIP
>>> ds = scale.image_dataset("photos/")                              # doctest: +SKIP
>>> emb = scale.embed(ds, model="ViT-B-32", on_error="skip")         # doctest: +SKIP
>>> clusterer = scale.fit(skclip.CAEClustering(n_clusters=20), emb.dataset,
...                       sample_size=50_000, random_state=0)        # doctest: +SKIP
>>> scale.predict(clusterer, emb.dataset).write_parquet("out/")      # doctest: +SKIP
"""

from ._embed import EmbeddedDataset, embed
from ._estimate import DEFAULT_SAMPLE_SIZE, fit, predict, row_confidence
from ._sample import sample_embeddings
from ._sources import image_dataset

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "EmbeddedDataset",
    "embed",
    "fit",
    "image_dataset",
    "predict",
    "row_confidence",
    "sample_embeddings",
]
