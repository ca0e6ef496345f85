"""The project's torch k-means against scikit-learn's KMeans and its own contract."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skclip.kmeans import KMeansResult, assign, kmeans


def _blobs(n=600, d=8, k=5, std=0.5, dtype=np.float32, seed=0):
    X, y = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=std,
                      center_box=(-10, 10), random_state=seed)
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_recovers_blobs_like_sklearn(dtype):
    X, y = _blobs(dtype=dtype)
    res = kmeans(X, 5, n_init=5, random_state=0)
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
    from skclip.kmeans import _kmeans

    monkeypatch.setattr(_kmeans, "_SEED_BUFFER", buffer)
    X, y = _blobs(n=400, k=4, std=0.5)
    res = kmeans(X, 4, n_init=4, random_state=0)
    assert adjusted_rand_score(y, res.labels) == 1.0
    labels, dist = assign(X, res.centers)
    np.testing.assert_array_equal(labels, res.labels)


def test_verbose_progress_runs():
    X, _ = _blobs(n=100)
    assert kmeans(X, 3, n_init=2, verbose=1, random_state=0).labels.shape == (100,)


# -- k-means that scales with n and K: train on a subsample, assign every row --------

def test_small_data_is_not_subsampled():
    X, _ = _blobs(n=600, k=5)  # 600 <= 256 * 5: the whole data, as before
    a = kmeans(X, 5, n_init=3, random_state=0)
    b = kmeans(X, 5, n_init=3, random_state=0, max_points_per_centroid=None)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert a.inertia == b.inertia and a.n_iter == b.n_iter


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("as_torch", [False, True])
def test_large_data_trains_on_a_subsample_and_assigns_every_row(monkeypatch, spherical,
                                                                as_torch):
    from skclip.kmeans import _kmeans

    seen = []
    fit = _kmeans._fit
    monkeypatch.setattr(_kmeans, "_fit", lambda Xt, *a: seen.append(len(Xt)) or fit(Xt, *a))
    X, y = _blobs(n=3000, k=5, std=0.8)
    Xin = torch.from_numpy(X) if as_torch else X
    res = kmeans(Xin, 5, n_init=2, spherical=spherical, max_points_per_centroid=40,
                 random_state=0, block_size=256)
    assert seen == [200]  # 40 rows per centre
    labels = res.labels.numpy() if as_torch else res.labels
    centers = res.centers.numpy() if as_torch else res.centers
    assert labels.shape == (3000,) and adjusted_rand_score(y, labels) == 1.0
    ref_labels, dist = assign(X, centers, spherical=spherical)
    np.testing.assert_array_equal(labels, ref_labels)  # every row to its nearest centre
    assert res.inertia == pytest.approx(float(dist.astype(np.float64).sum()), rel=1e-6)
    again = kmeans(Xin, 5, n_init=2, spherical=spherical, max_points_per_centroid=40,
                   random_state=0, block_size=256)
    np.testing.assert_array_equal(np.asarray(again.labels), labels)


def test_subsample_close_to_full_data_on_harder_problem():
    X, y = _blobs(n=6000, d=16, k=12, std=3.0, seed=3)
    full = kmeans(X, 12, n_init=4, max_points_per_centroid=None, random_state=0)
    sub = kmeans(X, 12, n_init=4, max_points_per_centroid=64, random_state=0)
    assert sub.inertia <= full.inertia * 1.03
    assert adjusted_rand_score(full.labels, sub.labels) >= 0.8


@pytest.mark.parametrize("spherical", [False, True])
def test_restarts_on_a_subsample_at_large_k(monkeypatch, spherical):
    from skclip.kmeans import _kmeans

    X, y = _blobs(n=4000, d=16, k=40, std=1.0, seed=5)
    full = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0)
    seen = []
    fit = _kmeans._fit
    monkeypatch.setattr(_kmeans, "_fit", lambda Xt, K, n_init, *a: seen.append(
        (len(Xt), n_init)) or fit(Xt, K, n_init, *a))
    monkeypatch.setattr(_kmeans, "_RESTART_BUDGET", 6 * 4000 * 40 - 1)
    cheap = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0)
    # 6 restarts on 16 rows per centre, then the best one on every training row
    assert seen == [(640, 6), (4000, 1)]
    assert cheap.inertia <= full.inertia * 1.02
    assert adjusted_rand_score(full.labels, cheap.labels) >= 0.9
    # at the budget itself nothing changes: the full restarts, bit for bit
    seen.clear()
    monkeypatch.setattr(_kmeans, "_RESTART_BUDGET", 6 * 4000 * 40)
    same = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0)
    assert seen == [(4000, 6)]
    np.testing.assert_array_equal(same.labels, full.labels)


def test_bad_max_points_per_centroid():
    with pytest.raises(ValueError, match="max_points_per_centroid"):
        kmeans(np.ones((4, 2)), 2, max_points_per_centroid=0)


# -- dtypes: float16 computed in float32, float32/float64 kept ----------------------

@pytest.mark.parametrize("subsample", [None, 32])
def test_float16_is_computed_in_float32(subsample):
    X, y = _blobs(n=600, k=5)
    X16 = X.astype(np.float16)
    r16 = kmeans(X16, 5, n_init=2, random_state=0, max_points_per_centroid=subsample)
    r32 = kmeans(X16.astype(np.float32), 5, n_init=2, random_state=0,
                 max_points_per_centroid=subsample)
    assert r16.centers.dtype == np.float32
    np.testing.assert_array_equal(r16.labels, r32.labels)
    np.testing.assert_array_equal(r16.centers, r32.centers)
    t16 = kmeans(torch.from_numpy(X16), 5, n_init=2, random_state=0,
                 max_points_per_centroid=subsample)
    assert t16.centers.dtype == torch.float32
    np.testing.assert_array_equal(t16.labels.numpy(), r32.labels)
    labels, dist = assign(X16, r16.centers)
    assert dist.dtype == np.float32
    np.testing.assert_array_equal(labels, r32.labels)
    bf = kmeans(torch.from_numpy(X).to(torch.bfloat16), 5, n_init=2, random_state=0)
    assert bf.centers.dtype == torch.float32


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32),
                                             (np.float64, np.float64),
                                             (np.int64, np.float64)])
def test_other_dtypes(dtype, expected):
    X = (np.arange(40).reshape(20, 2) % 7).astype(dtype)
    res = kmeans(X, 2, n_init=1, random_state=0)
    assert res.centers.dtype == expected
    assert assign(X, res.centers)[1].dtype == expected


# -- out of core: memory maps are read in blocks, never loaded whole ----------------

def test_memmap_subsampled_reads_blocks_without_a_copy(tmp_path):
    import tracemalloc

    X, y = _blobs(n=20000, d=64, k=4, std=0.5)
    path = tmp_path / "X.npy"
    np.save(path, X)
    M = np.load(path, mmap_mode="r")
    ref = kmeans(X, 4, n_init=2, random_state=0)
    tracemalloc.start()
    res = kmeans(M, 4, n_init=2, random_state=0)
    labels, _ = assign(M, res.centers)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(res.labels, ref.labels)
    np.testing.assert_array_equal(labels, ref.labels)
    assert peak < 0.25 * X.nbytes, f"peak {peak} bytes for data of {X.nbytes}"


@pytest.mark.parametrize("spherical", [False, True])
def test_refine_max_iter_bounds_the_run_after_subsample_restarts(monkeypatch, spherical):
    from skclip.kmeans import _kmeans

    X, y = _blobs(n=4000, d=16, k=40, std=3.0, seed=5)
    monkeypatch.setattr(_kmeans, "_RESTART_BUDGET", 6 * 4000 * 40 - 1)
    free = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0)
    capped = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0, refine_max_iter=2)
    assert capped.n_iter <= 2 < free.n_iter
    assert capped.inertia <= free.inertia * 1.05
    # without restarts on a subsample the parameter changes nothing, bit for bit
    monkeypatch.setattr(_kmeans, "_RESTART_BUDGET", 2**28)
    a = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0)
    b = kmeans(X, 40, n_init=6, spherical=spherical, random_state=0, refine_max_iter=2)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.n_iter == b.n_iter


def test_restarts_on_the_subsample_stay_within_the_budget(monkeypatch):
    from skclip.kmeans import _kmeans

    X, y = _blobs(n=4000, d=16, k=40, std=1.0, seed=5)
    seen = []
    fit = _kmeans._fit
    monkeypatch.setattr(_kmeans, "_fit", lambda Xt, K, n_init, *a: seen.append(
        (len(Xt), n_init)) or fit(Xt, K, n_init, *a))
    # 640 rows x 40 centres per restart: a budget of 2.5 restarts runs 2 of the 6
    monkeypatch.setattr(_kmeans, "_RESTART_BUDGET", int(2.5 * 640 * 40))
    kmeans(X, 40, n_init=6, random_state=0)
    assert seen == [(640, 2), (4000, 1)]


def test_bad_refine_max_iter():
    with pytest.raises(ValueError, match="refine_max_iter"):
        kmeans(np.ones((4, 2)), 2, refine_max_iter=0)


def test_plusplus_prefix_trial_count_is_the_largest_ks():
    # the prefix of a seeding for K_max is greedy k-means++ with K_max's trial count
    # (2 + int(log K)): equal to kmeans_plusplus(X, k) where the counts agree (k in
    # 8..20 all use 4), different where they do not (k = 4..7 use 3)
    import numpy as np

    from skclip.kmeans import kmeans_plusplus

    X = np.random.RandomState(1).randn(300, 5)
    full = kmeans_plusplus(X, 20, random_state=0)
    for k in (8, 13, 20):
        np.testing.assert_array_equal(full[:k], kmeans_plusplus(X, k, random_state=0))
    assert not np.allclose(full[:5], kmeans_plusplus(X, 5, random_state=0))
