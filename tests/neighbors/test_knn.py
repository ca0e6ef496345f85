"""Exact k-NN: torch blocks vs faiss vs brute-force numpy."""

import numpy as np
import pytest
import torch

from skclip.neighbors import knn
from tests.conftest import require


def _brute(X, Y, k, exclude_self):
    """Stable brute force: values descending, ties towards the smaller index."""
    S = X.astype(np.float64) @ (X if Y is None else Y).astype(np.float64).T
    if Y is None and exclude_self:
        np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, axis=1), idx


def _unit(rng, n, d, dtype=np.float32):
    X = rng.randn(n, d).astype(dtype)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("self_search", [True, False])
@pytest.mark.parametrize("exclude_self", [True, False])
@pytest.mark.parametrize("block_size", [7, 4096])
def test_torch_matches_brute_force(dtype, self_search, exclude_self, block_size):
    rng = np.random.RandomState(0)
    X = _unit(rng, 120, 16, dtype)
    Y = None if self_search else _unit(rng, 90, 16, dtype)
    sims, idx = knn(X, Y, n_neighbors=6, exclude_self=exclude_self, block_size=block_size,
                    backend="torch")
    ref_s, ref_i = _brute(X, Y, 6, exclude_self)
    assert sims.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (120, 6)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(sims, ref_s, atol=1e-5)
    if self_search and exclude_self:
        assert not (idx == np.arange(120)[:, None]).any()
    if self_search and not exclude_self:
        np.testing.assert_array_equal(idx[:, 0], np.arange(120))


@pytest.mark.requires("faiss")
@pytest.mark.parametrize("self_search", [True, False])
def test_faiss_matches_torch(self_search):
    rng = np.random.RandomState(1)
    X = _unit(rng, 300, 32)
    Y = None if self_search else _unit(rng, 200, 32)
    s_t, i_t = knn(X, Y, n_neighbors=10, backend="torch", block_size=64)
    s_f, i_f = knn(X, Y, n_neighbors=10, backend="faiss")
    s_a, i_a = knn(X, Y, n_neighbors=10, device="cpu")  # auto picks faiss on the CPU
    np.testing.assert_array_equal(i_t, i_f)
    np.testing.assert_array_equal(i_a, i_f)
    np.testing.assert_allclose(s_t, s_f, atol=1e-5)


def test_ties_are_deterministic_and_favour_small_indices():
    # Heavily duplicated points: many exact ties at every rank.
    rng = np.random.RandomState(2)
    base = _unit(rng, 5, 8)
    X = base[rng.randint(0, 5, size=200)]
    ref_s, ref_i = _brute(X, None, 12, True)
    for block in (3, 50, 4096):
        sims, idx = knn(X, n_neighbors=12, block_size=block, backend="torch")
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_allclose(sims, ref_s, atol=1e-6)
    require("faiss")
    s_f, i_f = knn(X, n_neighbors=12, backend="faiss")
    np.testing.assert_allclose(s_f, ref_s, atol=1e-5)  # faiss: same values, its own tie order
    assert not (i_f == np.arange(200)[:, None]).any()


@pytest.mark.parametrize("n, k, block", [(31, 30, 5), (200, 20, 64), (300, 70, 64)])
def test_self_search_computes_each_pair_once_exactly(n, k, block):
    # small integers: every product is exact, so ties are real ties whatever the
    # block shapes; blocks (of at least 64 rows) smaller than k leave rows to be
    # filled by later blocks
    rng = np.random.RandomState(4)
    X = np.round(rng.randn(n, 6) * 1.5).astype(np.float32)
    X[10:20] = X[0]
    ref_s, ref_i = _brute(X, None, k, True)
    sims, idx = knn(X, n_neighbors=k, block_size=block, backend="torch")  # symmetric
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(sims, ref_s.astype(np.float32))


def test_self_search_overflow_is_an_error():
    X = np.full((6, 3), 1e20, dtype=np.float32)
    with pytest.raises(ValueError, match="overflow"):
        knn(X, n_neighbors=2, backend="torch")


def test_torch_in_torch_out():
    X = torch.from_numpy(_unit(np.random.RandomState(3), 40, 8))
    sims, idx = knn(X, n_neighbors=3)
    assert isinstance(sims, torch.Tensor) and isinstance(idx, torch.Tensor)
    assert sims.dtype == torch.float32 and idx.dtype == torch.int64
    ref_s, ref_i = knn(X.numpy(), n_neighbors=3, backend="torch")
    np.testing.assert_array_equal(idx.numpy(), ref_i)


def test_all_candidates_and_list_input():
    X = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]
    sims, idx = knn(X, n_neighbors=2, backend="torch")
    assert idx.tolist() == [[1, 2], [0, 2], [1, 0]]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(X=np.ones((5, 2)), n_neighbors=5), ValueError, "exceeds"),
        (dict(X=np.ones((5, 2)), Y=np.ones((3, 2)), n_neighbors=4), ValueError, "exceeds"),
        (dict(X=np.ones((5, 2)), Y=np.ones((5, 3))), ValueError, "dimensions"),
        (dict(X=np.array([[np.nan, 1.0]] * 3), n_neighbors=1), ValueError, "NaN"),
        (dict(X=np.ones(5)), ValueError, "2-D"),
        (dict(X=np.ones((5, 2)), n_neighbors=0), ValueError, "n_neighbors"),
        (dict(X=np.ones((5, 2)), n_neighbors=1, backend="annoy"), ValueError, "backend"),
        (dict(X=np.ones((5, 2)), n_neighbors=1, block_size=0), ValueError, "block_size"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        knn(**kwargs)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X = _unit(np.random.RandomState(4), 500, 16)
    s_c, i_c = knn(X, n_neighbors=5, backend="torch", device="cpu")
    s_g, i_g = knn(torch.from_numpy(X).cuda(), n_neighbors=5, block_size=100)
    assert i_g.is_cuda
    np.testing.assert_array_equal(i_g.cpu().numpy(), i_c)
