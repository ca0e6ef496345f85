"""The project's torch k-means against scikit-learn's KMeans and its own contract."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skclip.cluster._kmeans import KMeansResult, assign, kmeans


def _blobs(n=600, d=8, k=5, std=0.5, dtype=np.float32, seed=0):
    X, y = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=std,
                      center_box=(-10, 10), random_state=seed)
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_recovers_blobs_like_sklearn(dtype, init):
    X, y = _blobs(dtype=dtype)
    res = kmeans(X, 5, n_init=5, init=init, random_state=0)
    assert isinstance(res, KMeansResult)
    assert res.centers.dtype == dtype and res.centers.shape == (5, 8)
    assert res.labels.dtype == np.int64 and res.labels.shape == (600,)
    assert adjusted_rand_score(y, res.labels) == 1.0
    ref = KMeans(5, n_init=5, random_state=0).fit(X)
    assert res.inertia == pytest.approx(ref.inertia_, rel=0.02)
    # inertia is what it says: the squared distances to the returned centres
    manual = ((X.astype(np.float64) - res.centers[res.labels]) ** 2).sum()
    assert res.inertia == pytest.approx(manual, rel=1e-4)
    assert 1 <= res.n_iter <= 300


def test_harder_problem_within_a_few_percent_of_sklearn():
    X, _ = _blobs(n=2000, d=16, k=12, std=3.0, seed=3)
    res = kmeans(X, 12, n_init=10, random_state=0)
    ref = KMeans(12, n_init=10, random_state=0).fit(X)
    assert res.inertia <= ref.inertia_ * 1.03


def test_same_random_state_same_result_and_no_global_seeding():
    X, _ = _blobs(n=400, std=4.0)
    state = torch.random.get_rng_state()
    r1 = kmeans(X, 6, n_init=3, random_state=42)
    r2 = kmeans(X, 6, n_init=3, random_state=42)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(r1.labels, r2.labels)
    np.testing.assert_array_equal(r1.centers, r2.centers)
    r3 = kmeans(X, 6, n_init=1, random_state=np.random.RandomState(42))
    assert r3.labels.shape == r1.labels.shape


def test_spherical_centres_unit_norm_and_cosine_assignment():
    rng = np.random.RandomState(0)
    X, y = _blobs(n=500, d=16, k=4, std=1.0)
    X = X * rng.uniform(0.5, 3.0, size=(500, 1)).astype(np.float32)  # norms must not matter
    res = kmeans(X, 4, spherical=True, n_init=3, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(res.centers, axis=1), 1.0, atol=1e-5)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = Xn @ res.centers.T
    np.testing.assert_array_equal(res.labels, cos.argmax(axis=1))
    assert res.inertia == pytest.approx((1 - cos.max(axis=1)).sum(), rel=1e-4, abs=1e-4)
    assert adjusted_rand_score(y, res.labels) == 1.0


@pytest.mark.parametrize("spherical", [False, True])
def test_assign_consistent_with_labels(spherical):
    X, _ = _blobs(n=300, std=3.0)
    res = kmeans(X, 5, spherical=spherical, n_init=2, random_state=1, block_size=17)
    labels, dist = assign(X, res.centers, spherical=spherical, block_size=50)
    np.testing.assert_array_equal(labels, res.labels)
    assert dist.shape == (300,) and (dist >= 0).all()
    assert dist.sum(dtype=np.float64) == pytest.approx(res.inertia, rel=1e-4)


def test_torch_in_torch_out():
    X, _ = _blobs(n=200)
    Xt = torch.from_numpy(X).double()
    res = kmeans(Xt, 5, n_init=2, random_state=0)
    assert isinstance(res.centers, torch.Tensor) and res.centers.dtype == torch.float64
    assert isinstance(res.labels, torch.Tensor) and res.labels.dtype == torch.int64
    labels, dist = assign(Xt, res.centers)
    assert isinstance(labels, torch.Tensor) and torch.equal(labels, res.labels)
    ref = kmeans(X.astype(np.float64), 5, n_init=2, random_state=0)
    np.testing.assert_array_equal(res.labels.numpy(), ref.labels)


def test_empty_cluster_is_relocated():
    X, _ = _blobs(n=300, k=3, std=0.3)
    init = np.vstack([X[:2], np.full((1, X.shape[1]), 1e4, dtype=X.dtype)])
    res = kmeans(X, 3, init=init, max_iter=50)
    assert np.bincount(res.labels, minlength=3).min() > 0
    assert np.abs(res.centers).max() < 1e3


def test_given_init_and_max_iter():
    X, _ = _blobs(n=300, std=3.0)
    res = kmeans(X, 5, init=X[:5], max_iter=1)
    assert res.n_iter == 1
    full = kmeans(X, 5, init=X[:5], tol=0.0)
    assert full.inertia <= res.inertia


def test_duplicate_points_fewer_distinct_than_clusters():
    X = np.repeat(np.eye(3, dtype=np.float32), 10, axis=0)
    res = kmeans(X, 5, n_init=2, random_state=0)
    assert np.isfinite(res.centers).all() and res.inertia == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.ones((3, 2)), 4), {}, "n_samples=3"),
        ((np.array([[np.nan, 1.0]] * 5), 2), {}, "NaN"),
        ((np.ones(5), 2), {}, "2-D"),
        ((np.ones((5, 2)), 0), {}, "n_clusters"),
        ((np.ones((5, 2)), 2), {"init": np.ones((3, 2))}, "init has shape"),
        ((np.ones((5, 2)), 2), {"init": "kmeans||"}, "init must be"),
        ((np.ones((5, 2)), 2), {"n_init": 0}, "n_init"),
        ((np.ones((5, 2)), 2), {"tol": -1.0}, "tol"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmeans(*args, **kwargs)


def test_assign_bad_input():
    with pytest.raises(ValueError, match="features"):
        assign(np.ones((4, 3)), np.ones((2, 2)))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, y = _blobs(n=2000)
    res = kmeans(torch.from_numpy(X).cuda(), 5, n_init=3, random_state=0)
    assert res.labels.is_cuda
    assert adjusted_rand_score(y, res.labels.cpu().numpy()) == 1.0


@pytest.mark.parametrize("buffer", [1, 2**25])
def test_runs_seeded_one_by_one_or_together(monkeypatch, buffer):
    from skclip.cluster import _kmeans

    monkeypatch.setattr(_kmeans, "_SEED_BUFFER", buffer)
    X, y = _blobs(n=400, k=4, std=0.5)
    res = kmeans(X, 4, n_init=4, random_state=0)
    assert adjusted_rand_score(y, res.labels) == 1.0
    labels, dist = assign(X, res.centers)
    np.testing.assert_array_equal(labels, res.labels)


def test_verbose_progress_runs():
    X, _ = _blobs(n=100)
    assert kmeans(X, 3, n_init=2, verbose=1, random_state=0).labels.shape == (100,)
