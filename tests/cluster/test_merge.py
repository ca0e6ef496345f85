"""The over-clustered, merged partition of CAE's final step (``cluster/_merge.py``)."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from skclip.cluster import CAEClustering
from skclip.cluster._merge import _group_centres, merged_kmeans
from skclip.cluster._silhouette import cosine_distances, silhouette
from skclip.datasets import make_clip_blobs
from skclip.kmeans import kmeans
from skclip.metrics import clustering_accuracy
from tests._spaces import FixedTextSpace

K = 8


def _long_tail(seed, spread=0.8):
    """8 classes of 587 down to 20 images (x30), 16-d."""
    return make_clip_blobs(n_samples=1500, n_clusters=K, n_features=16, spread=spread,
                           imbalance=30.0, center_similarity=0.0, random_state=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_recovers_a_long_tail_that_kmeans_cuts(seed):
    d = _long_tail(seed)
    plain = merged_kmeans(d.X, K, factor=1, n_init=5, random_state=0, device="cpu")
    res = merged_kmeans(d.X, K, factor=2, n_init=5, random_state=0, device="cpu")
    # k-means alone cuts a large class and joins small ones (0.79-0.82 measured)
    assert clustering_accuracy(d.y, plain.labels) < 0.9
    assert clustering_accuracy(d.y, res.labels) > 0.98
    assert res.silhouettes["merged"] > res.silhouettes["kmeans"]
    assert res.centers.shape == (K, 16) and res.sub_centers.shape == (2 * K, 16)
    assert sorted(np.unique(res.sub_labels)) == list(range(K))
    # each row lies in the cluster of its nearest sub-centre (what predict does)
    nearest = np.argmax(d.X @ res.sub_centers.T, axis=1)
    np.testing.assert_array_equal(res.sub_labels[nearest], res.labels)


def test_kmeans_result_kept_bit_for_bit_when_the_merge_does_not_win():
    """Equal, well separated classes: both partitions are the classes (equal
    silhouettes), and a tie keeps k-means' own result."""
    d = _long_tail(0, spread=0.3)
    plain = kmeans(d.X, K, n_init=5, spherical=True, device="cpu",
                   random_state=np.random.RandomState(0))
    res = merged_kmeans(d.X, K, factor=2, n_init=5, random_state=np.random.RandomState(0),
                        device="cpu")
    assert res.silhouettes["merged"] <= res.silhouettes["kmeans"]
    np.testing.assert_array_equal(res.labels, plain.labels)
    np.testing.assert_array_equal(res.centers, plain.centers)
    assert res.inertia == plain.inertia and res.n_iter == plain.n_iter
    np.testing.assert_array_equal(res.sub_labels, np.arange(K))


def test_factor_one_and_too_few_rows_run_kmeans_alone():
    X = _long_tail(0).X[:20]
    for factor, k in ((1, 4), (2, 10), (3, 7)):  # factor * k >= n: no merge either
        res = merged_kmeans(X, k, factor=factor, n_init=2, random_state=0, device="cpu")
        assert res.silhouettes == {} and res.sub_centers.shape == (k, 16)


@pytest.mark.parametrize("spherical", [True, False])
def test_group_centres_and_objective_from_sums(spherical):
    rng = np.random.default_rng(0)
    F = rng.standard_normal((500, 6)).astype(np.float32)
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    labels = rng.integers(0, 5, 500)
    C, inertia = _group_centres(F, labels, 5, spherical, block=64)
    F64 = F.astype(np.float64)
    means = np.stack([F64[labels == c].mean(axis=0) for c in range(5)])
    if spherical:
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        direct = (1.0 - (F64 * means[labels]).sum(axis=1)).sum()
    else:
        direct = ((F64 - means[labels]) ** 2).sum()
    np.testing.assert_allclose(C, means, atol=1e-6)
    np.testing.assert_allclose(inertia, direct, rtol=1e-5)


def test_silhouette_matches_scikit_learn():
    d = _long_tail(1)
    labels = np.asarray(kmeans(d.X, K, n_init=2, random_state=0, device="cpu").labels)
    D = cosine_distances(d.X, "cpu")
    np.testing.assert_allclose(silhouette(D, labels, K),
                               silhouette_score(d.X, labels, metric="cosine"), atol=1e-5)


def test_cae_predicts_the_merged_clusters_and_pickles():
    """CAE on a long tail (image view alone, ``use_nouns=False``: the planted nouns
    would separate the classes for k-means by themselves): labels_ from the merged
    partition, predict (nearest sub-centre) reproduces them, also after a pickle
    round trip."""
    d = _long_tail(0)
    space = FixedTextSpace(d.text_embeddings, None)
    params = dict(n_clusters=K, semantic_space=space, random_state=0, device="cpu",
                  kmeans_n_init=5, use_nouns=False)
    cae = CAEClustering(**params).fit(d.X)
    ref = CAEClustering(overclustering=1, **params).fit(d.X)
    assert cae.modalities_ == ["image"]
    assert cae.merge_silhouettes_["merged"] > cae.merge_silhouettes_["kmeans"]
    assert len(cae.subcluster_centers_) == 2 * K
    assert clustering_accuracy(d.y, cae.labels_) > 0.98 > clustering_accuracy(d.y, ref.labels_)
    np.testing.assert_array_equal(cae.predict(d.X), cae.labels_)
    again = pickle.loads(pickle.dumps(cae))
    np.testing.assert_array_equal(again.predict(d.X[:100]), cae.labels_[:100])
    assert ref.merge_silhouettes_ == {}
    np.testing.assert_array_equal(ref.subcluster_centers_, ref.cluster_centers_)
