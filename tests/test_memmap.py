"""Out-of-core features: memory-mapped input is read in place, never loaded twice.

``np.load(path, mmap_mode="r")`` gives a read-only map of the file. Validation keeps
unit rows as they are (no normalised copy), a read-only map is re-mapped
copy-on-write for torch (no copy, no "non-writable array" warning), k-means reads
the rows in blocks when it trains on a subsample, and ``predict`` works in row
blocks. ``tracemalloc`` sees every numpy allocation but not the file's pages, so its
peak bounds the copies made.
"""

import tracemalloc

import numpy as np
import pytest
import torch

from skclip import CAEClustering, CLIPKMeans, TACClustering
from skclip._arrays import _file_map, to_tensor, unit_rows, writable
from skclip.datasets import make_clip_blobs
from skclip.neighbors import knn
from tests._spaces import DataAnchoredSpace


@pytest.fixture(scope="module")
def blobs():
    return make_clip_blobs(n_samples=6000, n_clusters=4, n_features=64, random_state=0)


@pytest.fixture
def mapped(blobs, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, blobs.X.astype(np.float32))
    return np.load(path, mmap_mode="r"), path


@pytest.fixture
def only_writable_to_torch(monkeypatch):
    """torch.from_numpy must only ever see writable arrays (the cause of the warning)."""
    real = torch.from_numpy

    def from_numpy(arr):
        assert arr.flags.writeable, "a read-only array was handed to torch"
        return real(arr)

    monkeypatch.setattr(torch, "from_numpy", from_numpy)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_writable_view_of_a_read_only_map_is_the_file(mapped):
    M, path = mapped
    assert not M.flags.writeable
    V = writable(M[100:200])
    assert V.flags.writeable and str(_file_map(V).filename) == str(path.resolve())
    np.testing.assert_array_equal(V, M[100:200])
    t = to_tensor(M)
    assert t.dtype == torch.float32 and torch.equal(t[5], torch.from_numpy(np.array(M[5])))
    # a read-only array that is not a file map is copied
    ro = np.ones((3, 2))
    ro.flags.writeable = False
    assert writable(ro).flags.writeable and not np.shares_memory(writable(ro), ro)


def test_unit_rows_no_copy_only_when_unit(blobs):
    X = blobs.X.astype(np.float32)
    assert unit_rows(X) is X
    Y = X * 2
    np.testing.assert_allclose(unit_rows(Y), X, rtol=1e-6)
    Z = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(unit_rows(Z), Z)


@pytest.mark.parametrize("n_clusters", [2, 40])  # 6000 rows: subsampled, then whole
def test_clipkmeans_fit_predict_transform_on_a_memmap(mapped, blobs, n_clusters,
                                                      only_writable_to_torch):
    M, _ = mapped
    X = blobs.X.astype(np.float32)
    ref = CLIPKMeans(n_clusters, n_init=2, random_state=0, device="cpu").fit(X)
    est = CLIPKMeans(n_clusters, n_init=2, random_state=0, device="cpu")
    _, peak = _peak(lambda: est.fit(M))
    assert peak < 0.25 * M.nbytes, f"fit copied the data: peak {peak} for {M.nbytes}"
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    labels, peak = _peak(lambda: est.predict(M))
    assert peak < 0.25 * M.nbytes, f"predict copied the data: peak {peak} for {M.nbytes}"
    np.testing.assert_array_equal(labels, ref.labels_)
    F = est.transform(M)  # the output is an array of its own, writable
    assert F.flags.writeable and not np.may_share_memory(F, M)
    np.testing.assert_array_equal(F, X)


def test_predict_in_blocks_equals_whole(monkeypatch, blobs):
    from skclip.cluster import _base

    X = blobs.X
    est = CLIPKMeans(4, n_init=2, random_state=0, device="cpu").fit(X)
    whole = est.predict(X)
    monkeypatch.setattr(_base, "_PREDICT_ROWS", 1000)
    np.testing.assert_array_equal(est.predict(X), whole)


@pytest.mark.parametrize("cls", [TACClustering, CAEClustering])
def test_fused_methods_on_a_memmap(mapped, blobs, cls, only_writable_to_torch):
    M, _ = mapped
    params = dict(semantic_space=DataAnchoredSpace(), random_state=0, device="cpu")
    params.update(n_init=2) if cls is TACClustering else params.update(kmeans_n_init=2,
                                                                         ot_tol=1e-2)
    ref = cls(4, **params).fit(blobs.X.astype(np.float32))
    est = cls(4, **params).fit(M)
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    np.testing.assert_array_equal(est.predict(M), ref.labels_)


@pytest.mark.parametrize(
    "backend", ["torch", pytest.param("faiss", marks=pytest.mark.requires("faiss"))]
)
def test_knn_read_only_inputs_reach_torch_writable(blobs, only_writable_to_torch, backend):
    X = blobs.X[:500].copy()
    X.flags.writeable = False
    sims, idx = knn(X, X[:50], n_neighbors=3, backend=backend)
    assert idx.shape == (500, 3)


def test_cli_features_npy_is_memory_mapped(tmp_path, monkeypatch, blobs):
    from skclip.cli import _cluster as cli

    path = tmp_path / "X.npy"
    np.save(path, blobs.X[:200].astype(np.float32))
    data = cli._load_features(str(path))
    assert isinstance(data.X, np.memmap) and data.X.shape == (200, 64)
    assert data.paths is None and data.model is None
    bad = tmp_path / "bad.npy"
    np.save(bad, np.arange(5))
    with pytest.raises(cli.CLIError, match="2-D float array"):
        cli._load_features(str(bad))
