"""_BaseCLIPClustering: validation, semantic-space resolution, device, pickling."""

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skclip.cluster import CAEClustering, CLIPKMeans
from skclip.cluster._base import _BaseCLIPClustering
from tests._spaces import DataAnchoredSpace, FixedTextSpace


class _Probe(_BaseCLIPClustering):
    """Minimal subclass: the base's helpers, no clustering."""

    def __init__(self, n_clusters=2, *, semantic_space=None, device="auto",
                 random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.semantic_space = semantic_space
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


def test_validate_keeps_float32_and_normalises(rng):
    probe = _Probe()
    X32 = rng.rand(10, 5).astype(np.float32) * 7
    out = probe._validate_X(X32, reset=True)
    assert out.dtype == np.float32 and probe.n_features_in_ == 5
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-6)
    out64 = _Probe()._validate_X(rng.randint(1, 5, size=(4, 3)), reset=True)
    assert out64.dtype == np.float64
    zero = _Probe()._validate_X(np.zeros((3, 2)), reset=True)
    np.testing.assert_array_equal(zero, 0)


@pytest.mark.parametrize("bad, msg", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_validate_rejects_non_finite(rng, bad, msg):
    X = rng.rand(6, 3)
    X[2, 1] = bad
    with pytest.raises(ValueError, match=msg):
        _Probe()._validate_X(X, reset=True)


def test_validate_too_few_samples_and_wrong_width(rng):
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        _Probe(n_clusters=3)._validate_X(rng.rand(2, 4), reset=True)
    probe = _Probe()
    probe._validate_X(rng.rand(5, 4), reset=True)
    with pytest.raises(ValueError, match="4 features"):
        probe._validate_X(rng.rand(5, 3), reset=False)


def test_semantic_space_clone_fit_and_dims(rng):
    X = _Probe()._validate_X(rng.rand(20, 6), reset=True)
    space = DataAnchoredSpace(n_nouns=5, n_captions=0)
    probe = _Probe(semantic_space=space)
    nouns, captions = probe._fit_semantic_space(X)
    assert nouns.shape == (5, 6) and captions.shape == (0, 6)
    assert probe.semantic_space_ is not space and not hasattr(space, "nouns_")
    np.testing.assert_allclose(np.linalg.norm(nouns, axis=1), 1, rtol=1e-6)

    mismatched = _Probe(semantic_space=FixedTextSpace(rng.rand(3, 6), rng.rand(2, 7)))
    with pytest.raises(ValueError, match="caption_embeddings_ of dimension 7.*different CLIP"):
        mismatched._fit_semantic_space(X)

    class NoEmbeddings(DataAnchoredSpace):
        def fit(self, X, y=None):
            return self

    with pytest.raises(TypeError, match="noun_embeddings_"):
        _Probe(semantic_space=NoEmbeddings())._fit_semantic_space(X)
    with pytest.raises(NotImplementedError, match="semantic_space"):
        _Probe()._fit_semantic_space(X)


def test_parameter_constraints(rng):
    X = rng.rand(10, 3)
    with pytest.raises(InvalidParameterError, match="semantic_space"):
        CAEClustering(n_clusters=2, semantic_space="wordnet").fit(X)
    with pytest.raises(InvalidParameterError, match="n_clusters"):
        CLIPKMeans(n_clusters=0).fit(X)


def test_device_auto_is_not_written_back(rng):
    km = CLIPKMeans(n_clusters=2, n_init=1, random_state=0).fit(rng.rand(10, 3))
    assert km.device == "auto"
    assert km._device().type in ("cpu", "cuda")
    assert CLIPKMeans(device=torch.device("cpu"))._device() == torch.device("cpu")


def test_pickle_serialises_torch_attributes():
    probe = _Probe()
    probe.net_ = torch.nn.Linear(3, 2)
    probe.state_ = {"w": torch.arange(4.0), "n": 3}
    probe.plain_ = np.arange(3)
    blob = pickle.dumps(probe)
    again = pickle.loads(blob)
    torch.testing.assert_close(again.net_.weight, probe.net_.weight)
    torch.testing.assert_close(again.state_["w"], probe.state_["w"])
    assert again.state_["n"] == 3
    np.testing.assert_array_equal(again.plain_, probe.plain_)
    assert isinstance(probe.net_, torch.nn.Module)  # pickling left the original intact


def _as_if_saved_on_cuda(payload):
    """Rewrite a torch.save archive so that its storages claim to live on cuda:0."""
    src = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            dst.writestr(info.filename, data)
    return out.getvalue()


def test_cuda_state_loads_on_cpu_only_machine(monkeypatch):
    probe = _Probe()
    probe.net_ = torch.nn.Linear(3, 2)
    state = probe.__getstate__()
    blob = state["net_"]
    blob.payload = _as_if_saved_on_cuda(blob.payload)
    blob.devices = ["cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA"):  # the archive really says cuda
        torch.load(io.BytesIO(blob.payload), weights_only=False)
    again = _Probe.__new__(_Probe)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        again.__setstate__(state)
    assert again.net_.weight.device.type == "cpu"
    torch.testing.assert_close(again.net_.weight, probe.net_.weight)


def test_tags():
    tags = CAEClustering().__sklearn_tags__()
    assert tags.estimator_type == "clusterer"
    assert tags.input_tags.allow_nan is False
