"""Random draws do not depend on the compute device (same random_state, same labels).

CPU and CUDA torch generators give different streams, so every random draw of every
estimator (k-means seeds, restarts and subsamples, MCA's shuffles and neighbour
picks, the semantic-space centres) must be made on the CPU, with a generator seeded
from ``random_state``, and moved to the device afterwards. A ``TorchFunctionMode``
records every random torch call made during a fit; a draw that uses the global
generator, a generator on another device or a ``device=`` argument (the draw then
follows the data to the GPU) fails the test. The ``gpu`` tests compare CPU and CUDA
labels when a GPU is present.
"""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score
from torch.overrides import TorchFunctionMode

from skclip import CAEClustering, CLIPKMeans, MCAClustering, SemanticSpaceBuilder, TACClustering
from skclip._config import torch_generator
from skclip.kmeans import kmeans
from skclip.datasets import make_clip_blobs
from tests._spaces import DataAnchoredSpace

_FACTORIES = {
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.multinomial,
    torch.normal, torch.bernoulli, torch.poisson, torch.rand_like, torch.randn_like,
    torch.randint_like,
}
_IN_PLACE = {
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.random_,
    torch.Tensor.bernoulli_, torch.Tensor.exponential_, torch.Tensor.geometric_,
    torch.Tensor.log_normal_, torch.Tensor.cauchy_,
}


class _DrawRecorder(TorchFunctionMode):
    """Records (name, problem or None) for each random torch call."""

    def __init__(self):
        super().__init__()
        self.draws = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES or func in _IN_PLACE:
            gen = kwargs.get("generator")
            problem = None
            if gen is None:
                problem = "global generator (not seeded by random_state)"
            elif gen.device.type != "cpu":
                problem = f"generator on {gen.device}"
            elif kwargs.get("device") is not None:
                problem = f"drawn with device={kwargs['device']!r}: draw on the CPU, then move"
            elif func in _IN_PLACE and args[0].device.type != "cpu":
                problem = f"filled a tensor on {args[0].device}"
            self.draws.append((getattr(func, "__name__", str(func)), problem))
        return func(*args, **kwargs)


def _data(n=300, k=4, d=16):
    return make_clip_blobs(n_samples=n, n_clusters=k, n_features=d, random_state=0)


def _estimators():
    space = DataAnchoredSpace()
    return {
        "CLIPKMeans": CLIPKMeans(4, n_init=2, random_state=0),
        "CLIPKMeans-spherical": CLIPKMeans(4, n_init=2, spherical=True, random_state=0),
        "TACClustering": TACClustering(4, semantic_space=space, n_init=2, random_state=0),
        "CAEClustering": CAEClustering(4, semantic_space=space, kmeans_n_init=2,
                                       random_state=0),
        "MCAClustering": MCAClustering(4, semantic_space=space, epochs=2, batch_size=64,
                                       min_steps=0, n_img_neighbors=5, random_state=0),
    }


def _assert_cpu_draws(recorder):
    assert recorder.draws, "no random draw was recorded: the test would prove nothing"
    bad = [(name, problem) for name, problem in recorder.draws if problem]
    assert not bad, f"random draws that depend on the device or ignore random_state: {bad}"


@pytest.mark.parametrize("name", list(_estimators()))
def test_estimators_draw_on_a_seeded_cpu_generator(name):
    est = _estimators()[name].set_params(device="cpu")
    with _DrawRecorder() as rec:
        est.fit(_data().X)
    _assert_cpu_draws(rec)


def test_semantic_space_centres_draw_on_a_seeded_cpu_generator():
    data = _data(n=700)
    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, n_centers="auto",
                                 random_state=0, device="cpu")
    with _DrawRecorder() as rec:
        space.fit(data.X)
    _assert_cpu_draws(rec)
    assert len(space.centers_) == 2  # round(700 / 300), TAC's rule


@pytest.mark.parametrize("subsample", [None, 8])
def test_kmeans_draws_on_a_seeded_cpu_generator(subsample):
    X = _data().X
    with _DrawRecorder() as rec:
        kmeans(X, 4, n_init=2, max_points_per_centroid=subsample,
               random_state=0, device="cpu")
    _assert_cpu_draws(rec)
    names = {name for name, _ in rec.draws}
    assert ("randperm" in names) == (subsample is not None)


def test_recorder_catches_a_draw_on_the_compute_device():
    # the failure mode itself: a draw that follows the data's device
    X = torch.zeros(3)
    with _DrawRecorder() as rec:
        torch.randint(3, (2,), generator=torch_generator(0), device=X.device)
        torch.rand(2)
    problems = [p for _, p in rec.draws]
    assert "device=" in problems[0] and "global" in problems[1]


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "meta"])
def test_torch_generator_refuses_other_devices(device):
    with pytest.raises(ValueError, match="CPU only"):
        torch_generator(0, device)
    assert torch_generator(0).device.type == "cpu"


def test_same_draws_whatever_the_device_argument():
    X = _data().X
    a = kmeans(X, 4, n_init=3, random_state=7, device="cpu")
    b = kmeans(torch.from_numpy(X), 4, n_init=3, random_state=7, device=None)
    np.testing.assert_array_equal(a.labels, b.labels.numpy())


def _cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(_estimators()))
def test_cuda_labels_equal_cpu_labels(name):
    _cuda()
    X = _data(n=600).X
    cpu = _estimators()[name].set_params(device="cpu").fit(X)
    gpu = _estimators()[name].set_params(device="cuda").fit(X)
    if name == "MCAClustering":  # trained nets: float reductions differ, labels agree
        assert adjusted_rand_score(cpu.labels_, gpu.labels_) >= 0.95
    else:
        np.testing.assert_array_equal(cpu.labels_, gpu.labels_)


@pytest.mark.gpu
@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("K", [8, 64])  # one-hot accumulation below and above 32
def test_cuda_kmeans_is_deterministic_and_equals_cpu(spherical, K):
    _cuda()
    rng = np.random.RandomState(0)
    centres = rng.randn(K, 32) * 4
    X = (centres[rng.randint(K, size=20 * K)] + rng.randn(20 * K, 32)).astype(np.float32)
    cpu = kmeans(X, K, n_init=2, spherical=spherical, random_state=0, device="cpu")
    runs = [kmeans(X, K, n_init=2, spherical=spherical, random_state=0, device="cuda")
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    np.testing.assert_array_equal(runs[0].centers, runs[1].centers)
    assert adjusted_rand_score(cpu.labels, runs[0].labels) >= 0.99


@pytest.mark.gpu
def test_cuda_subsampled_kmeans_equals_cpu():
    _cuda()
    X = _data(n=3000, k=5, d=32).X
    cpu = kmeans(X, 5, n_init=2, max_points_per_centroid=64, random_state=0, device="cpu")
    gpu = kmeans(X, 5, n_init=2, max_points_per_centroid=64, random_state=0, device="cuda")
    np.testing.assert_array_equal(cpu.labels, gpu.labels)
