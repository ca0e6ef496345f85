"""float16 is computed in float32 everywhere; float32 and float64 are kept.

Half precision is a storage format: validation, k-means, OT and k-NN compute float16
input in float32 (float64 would double the memory and is slow on most GPUs), and the
fitted attributes and outputs are float32. Because the computation is float32, a
float16 array and its float32 copy give identical results.
"""

import numpy as np
import pytest

from skclip import CAEClustering, CLIPKMeans, MCAClustering, SemanticSpaceBuilder, TACClustering
from skclip.datasets import make_clip_blobs
from skclip.neighbors import knn
from skclip.ot import sinkhorn_cosine
from tests._spaces import DataAnchoredSpace


def _estimators():
    space = DataAnchoredSpace()
    return {
        "CLIPKMeans": CLIPKMeans(4, n_init=2, random_state=0, device="cpu"),
        "TACClustering": TACClustering(4, semantic_space=space, n_init=2, random_state=0,
                                       device="cpu"),
        "CAEClustering": CAEClustering(4, semantic_space=space, kmeans_n_init=2,
                                       ot_tol=1e-2, random_state=0, device="cpu"),
        "MCAClustering": MCAClustering(4, semantic_space=space, epochs=2, batch_size=64,
                                       min_steps=0, n_img_neighbors=5, random_state=0,
                                       device="cpu"),
    }


@pytest.fixture(scope="module")
def X16():
    X = make_clip_blobs(n_samples=240, n_clusters=4, n_features=16, random_state=0).X
    return X.astype(np.float16)


def _float_outputs(est, X):
    """dtypes of the float fitted attributes and of transform's output."""
    out = {k: v.dtype for k, v in vars(est).items()
           if k.endswith("_") and isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    if hasattr(est, "transform"):
        out["transform"] = est.transform(X).dtype
    return out


@pytest.mark.parametrize("name", list(_estimators()))
def test_float16_fits_in_float32(name, X16):
    e16 = _estimators()[name].fit(X16)
    e32 = _estimators()[name].fit(X16.astype(np.float32))
    np.testing.assert_array_equal(e16.labels_, e32.labels_)
    np.testing.assert_array_equal(e16.predict(X16), e32.predict(X16.astype(np.float32)))
    d16, d32 = _float_outputs(e16, X16), _float_outputs(e32, X16.astype(np.float32))
    assert d16 == d32
    assert np.dtype(np.float16) not in d16.values() and np.dtype(np.float64) not in d16.values()


@pytest.mark.parametrize("name", ["CLIPKMeans", "TACClustering", "CAEClustering"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_are_kept(name, dtype, X16):
    X = X16.astype(dtype)
    est = _estimators()[name].fit(X)
    assert est.cluster_centers_.dtype == dtype
    assert est.transform(X).dtype == dtype


def test_semantic_space_float16(X16):
    data = make_clip_blobs(n_samples=240, n_clusters=4, n_features=16, random_state=0)
    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, random_state=0)
    s16 = space.fit(X16)
    assert s16.transform(X16).dtype == np.float32
    s32 = SemanticSpaceBuilder(vocabulary=data.text_embeddings, random_state=0)
    s32.fit(X16.astype(np.float32))
    assert s16.nouns_ == s32.nouns_


def test_knn_and_ot_compute_float16_in_float32(X16):
    sims, idx = knn(X16, n_neighbors=3, backend="torch")
    ref_sims, ref_idx = knn(X16.astype(np.float32), n_neighbors=3, backend="torch")
    assert sims.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_idx)
    res = sinkhorn_cosine(X16, X16[:10], eps=0.05, max_iter=50, tol=1.0)
    assert np.asarray(res.g).dtype == np.float32
