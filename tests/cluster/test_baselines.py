"""CLIPKMeans and TACClustering (training-free TAC)."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.utils.estimator_checks import parametrize_with_checks

from skclip.cluster import CAEClustering, CLIPKMeans, TACClustering
from skclip.datasets import make_clip_blobs
from skclip.metrics import clustering_accuracy
from tests._spaces import DataAnchoredSpace, FixedTextSpace

K, D = 4, 32
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    return make_clip_blobs(n_samples=400, n_clusters=K, n_features=D, spread=0.5,
                           n_texts_per_cluster=4, random_state=0)


@pytest.mark.parametrize("spherical", [False, True])
def test_clip_kmeans_recovers_blobs_and_ignores_row_scale(data, spherical):
    km = CLIPKMeans(n_clusters=K, n_init=3, spherical=spherical, random_state=0).fit(data.X)
    assert clustering_accuracy(data.y, km.labels_) > 0.98
    scale = np.random.RandomState(0).uniform(0.5, 3.0, size=(len(data.X), 1))
    np.testing.assert_array_equal(km.predict(data.X * scale), km.predict(data.X))
    np.testing.assert_allclose(np.linalg.norm(km.transform(data.X * scale), axis=1), 1, rtol=1e-5)
    assert km.cluster_centers_.shape == (K, D)


def test_clip_kmeans_same_seed_same_result(data):
    a = CLIPKMeans(n_clusters=K, n_init=2, random_state=7).fit(data.X)
    b = CLIPKMeans(n_clusters=K, n_init=2, random_state=7).fit(data.X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_


def test_tac_counterpart_is_softmax_retrieval(data):
    space = FixedTextSpace(data.text_embeddings)
    tac = TACClustering(n_clusters=K, semantic_space=space, n_init=2, random_state=0,
                        batch_size=64).fit(data.X)
    X = _unit(data.X.astype(np.float64))
    T = _unit(data.text_embeddings.astype(np.float64))
    retrieved = _unit(softmax(X @ T.T / 0.005, axis=1) @ T)
    expected = np.hstack([X, retrieved]) / np.sqrt(2)
    np.testing.assert_allclose(tac.transform(data.X), expected, atol=2e-5)
    assert clustering_accuracy(data.y, tac.labels_) > 0.98
    assert tac.cluster_centers_.shape == (K, 2 * D)
    assert len(tac.nouns_) == len(data.text_embeddings)


def test_tac_equals_cae_softmax_ablation(data):
    """TAC is CAE with relaxed columns, no S factor, nouns only (not pooled), plain
    concatenation."""
    space = FixedTextSpace(data.text_embeddings, data.text_embeddings[:3])
    tac = TACClustering(n_clusters=K, semantic_space=space, tau=0.01, n_init=2,
                        random_state=0).fit(data.X)
    cae = CAEClustering(n_clusters=K, semantic_space=space, ot_eps=0.01, relax_columns=True,
                        weight_by_similarity=False, use_captions=False, fusion="concat",
                        center_modalities=False, text_pool=1,
                        kmeans_n_init=2, random_state=0).fit(data.X)
    np.testing.assert_allclose(cae.transform(data.X), tac.transform(data.X), atol=1e-6)


def test_tac_errors(data):
    with pytest.raises(ValueError, match="no nouns"):
        TACClustering(n_clusters=2, semantic_space=FixedTextSpace(np.zeros((0, D)))).fit(data.X)
    with pytest.raises(ValueError, match="n_samples=1 should be >= n_clusters=2"):
        TACClustering(n_clusters=2, semantic_space=DataAnchoredSpace()).fit(data.X[:1])


@parametrize_with_checks(
    [
        CLIPKMeans(n_clusters=3, n_init=2, random_state=0),
        TACClustering(n_clusters=3, semantic_space=DataAnchoredSpace(), n_init=2,
                      random_state=0),
        CAEClustering(n_clusters=3, semantic_space=DataAnchoredSpace(), kmeans_n_init=2,
                      random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_max_points_per_centroid_parameter():
    from sklearn.metrics import adjusted_rand_score

    X = make_clip_blobs(n_samples=750, n_clusters=3, n_features=16, random_state=0).X
    whole = CLIPKMeans(3, n_init=2, random_state=0, max_points_per_centroid=None).fit(X)
    default = CLIPKMeans(3, n_init=2, random_state=0).fit(X)  # 750 <= 256 * 3
    np.testing.assert_array_equal(whole.labels_, default.labels_)
    sub = CLIPKMeans(3, n_init=2, random_state=0, max_points_per_centroid=50).fit(X)
    np.testing.assert_array_equal(sub.labels_, sub.predict(X))  # every image assigned
    assert adjusted_rand_score(whole.labels_, sub.labels_) >= 0.95
