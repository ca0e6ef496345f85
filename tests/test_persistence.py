"""Persistence: pickles round-trip, load on CPU-only machines, and stay small.

A GPU-fitted model is simulated on CPU by making every tensor *report* a CUDA device
and every storage carry torch's ``"cuda:0"`` location tag while it is saved; loading
then happens with ``torch.cuda.is_available()`` forced to ``False``. The control test
proves the simulation is real: such bytes fail to load without a CPU ``map_location``.
"""

import io
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from skclip.cluster import CAEClustering, CLIPKMeans, MCAClustering, TACClustering
from skclip.datasets import make_clip_blobs
from tests._spaces import DataAnchoredSpace

# CAE's Sinkhorn (100 iterations, tol 1e-6) rarely converges on tiny random data: not tested here
pytestmark = pytest.mark.filterwarnings(
    "ignore:Sinkhorn did not converge:sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture(scope="module")
def blobs():
    data = make_clip_blobs(n_samples=120, n_clusters=3, n_features=16, spread=0.3, random_state=0)
    return data.X[:90], data.X[90:]


def _clusterers():
    space = DataAnchoredSpace(n_nouns=6, n_captions=3)
    return [
        MCAClustering(
            n_clusters=3,
            semantic_space=space,
            epochs=2,
            min_steps=0,
            batch_size=32,
            n_img_neighbors=5,
            random_state=0,
        ),
        CAEClustering(n_clusters=3, semantic_space=space, kmeans_n_init=2, random_state=0),
        TACClustering(n_clusters=3, semantic_space=space, n_init=2, random_state=0),
        CLIPKMeans(n_clusters=3, n_init=2, random_state=0),
    ]


def _ids(est):
    return type(est).__name__


def _torch_attributes(est):
    return {k: v for k, v in vars(est).items() if isinstance(v, (torch.Tensor, torch.nn.Module))}


def _tensors(value):
    if isinstance(value, torch.nn.Module):
        return list(value.parameters()) + list(value.buffers())
    return [value]


def _pretend_tensors_live_on_cuda(monkeypatch):
    """While active, tensors report ``cuda:0`` and torch.save tags storages ``cuda:0``."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: torch.device("cuda", 0)))


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_the_cuda_simulation_is_real(monkeypatch):
    buffer = io.BytesIO()
    with monkeypatch.context() as m:
        _pretend_tensors_live_on_cuda(m)
        torch.save(torch.arange(4.0), buffer)
    _no_cuda(monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    loaded = torch.load(io.BytesIO(buffer.getvalue()), map_location="cpu", weights_only=False)
    assert torch.equal(loaded, torch.arange(4.0))


@pytest.mark.parametrize("est", _clusterers(), ids=_ids)
def test_clusterer_joblib_round_trip(est, blobs, tmp_path):
    X, X_new = blobs
    est.fit(X)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    back = joblib.load(path)
    np.testing.assert_array_equal(back.labels_, est.labels_)
    np.testing.assert_array_equal(back.predict(X_new), est.predict(X_new))
    assert back.get_params(deep=False).keys() == est.get_params(deep=False).keys()


@pytest.mark.parametrize("est", _clusterers(), ids=_ids)
def test_gpu_fitted_clusterer_loads_on_cpu_only_machine(est, blobs, tmp_path, monkeypatch):
    X, X_new = blobs
    est.fit(X)
    expected = est.predict(X_new)
    torch_attrs = _torch_attributes(est)
    path = tmp_path / "gpu-model.joblib"
    with monkeypatch.context() as m:
        _pretend_tensors_live_on_cuda(m)
        joblib.dump(est, path)
    _no_cuda(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = joblib.load(path)
    if torch_attrs:
        # state saved from a GPU is announced, then mapped to the CPU
        assert any("CUDA" in str(w.message) for w in caught), [str(w.message) for w in caught]
        for name in torch_attrs:
            assert all(t.device.type == "cpu" for t in _tensors(getattr(back, name))), name
    np.testing.assert_array_equal(back.predict(X_new), expected)
    assert back.device == est.device == "auto"


def test_mca_holds_torch_state():
    """Keeps the CPU-load test above meaningful: MCA's heads are torch modules."""
    X = make_clip_blobs(n_samples=60, n_clusters=3, n_features=8, random_state=1).X
    est = _clusterers()[0].set_params(n_img_neighbors=3).fit(X)
    assert _torch_attributes(est), "MCAClustering no longer stores torch state; update this test"


@pytest.mark.gpu
def test_real_gpu_fit_loads_in_a_cpu_only_process(blobs, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    X, X_new = blobs
    est = _clusterers()[0].set_params(device="cuda").fit(X)
    path = tmp_path / "cuda-model.joblib"
    joblib.dump(est, path)
    np.save(tmp_path / "X_new.npy", X_new)
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        est = joblib.load({str(path)!r})
        X_new = np.load({str(tmp_path / "X_new.npy")!r})
        np.save({str(tmp_path / "pred.npy")!r}, est.predict(X_new))
        """
    )
    # the pickle references tests._spaces: run from the repository root
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": root}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=root)
    cpu_pred = np.load(tmp_path / "pred.npy")
    gpu_pred = est.predict(X_new)
    assert np.mean(cpu_pred == gpu_pred) >= 0.95


# --------------------------------------------------------------------------- whole pipelines
NOUNS = ["cat", "dog", "car", "tree", "house", "boat", "bird", "flower"]


@pytest.fixture(scope="module")
def checkpoint(tiny_model_name, tmp_path_factory):
    """A local checkpoint of the tiny model: reloading it gives the same weights."""
    import open_clip

    model = open_clip.create_model(tiny_model_name, pretrained=None)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    from PIL import Image

    rng = np.random.RandomState(0)
    folder = tmp_path_factory.mktemp("persist-images")
    paths = []
    for i in range(24):
        img = np.empty((36, 36, 3), dtype=np.uint8)
        img[:] = [(200, 40, 40), (40, 180, 60), (50, 60, 220)][i % 3]
        img[:, :: rng.randint(2, 6)] = rng.randint(0, 256, 3)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return paths[:18], paths[18:]


def _pipeline(method, model, pretrained):
    from sklearn.pipeline import Pipeline

    from skclip import CLIPEmbedder, SemanticSpaceBuilder

    def embedder():
        return CLIPEmbedder(model=model, pretrained=pretrained, device="cpu", verbose=0)

    space = SemanticSpaceBuilder(embedder=embedder(), vocabulary=NOUNS)
    if method == "mca":
        clust = MCAClustering(
            n_clusters=3,
            semantic_space=space,
            epochs=3,
            min_steps=0,
            n_img_neighbors=3,
            random_state=0,
        )
    else:
        clust = CAEClustering(n_clusters=3, semantic_space=space, kmeans_n_init=2, random_state=0)
    return Pipeline([("embed", embedder()), ("clust", clust)])


class _TypeRecorder(pickle.Pickler):
    """A pickler that records the module of every object it serialises."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.modules = set()

    def reducer_override(self, obj):
        self.modules.add(type(obj).__module__)
        return NotImplemented


@pytest.mark.parametrize("method", ["cae", "mca"])
def test_fitted_pipeline_round_trips_and_reloads_the_model_lazily(
    method, checkpoint, image_paths, tiny_model_name, tmp_path
):
    from skclip.embed import clear_model_cache, load_clip

    train, new = image_paths
    pipe = _pipeline(method, tiny_model_name, checkpoint).fit(train)
    expected = pipe.predict(new)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)

    # the CLIP model is not in the pickle: it is far smaller than the model's weights
    model = load_clip(tiny_model_name, checkpoint, "cpu").model
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    assert path.stat().st_size < model_bytes / 20, (path.stat().st_size, model_bytes)
    recorder = _TypeRecorder(io.BytesIO())
    recorder.dump(pipe)
    assert not any(m.startswith("open_clip") for m in recorder.modules), sorted(recorder.modules)

    clear_model_cache()  # a fresh process: the model must be reloaded from its checkpoint
    back = joblib.load(path)
    np.testing.assert_array_equal(back.predict(new), expected)
    np.testing.assert_array_equal(back["clust"].labels_, pipe["clust"].labels_)
    assert back["embed"].get_params() == pipe["embed"].get_params()


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_unfitted_and_fitted_pipelines_pickle_without_caches(image_paths, tiny_model_name):
    train, new = image_paths
    pipe = _pipeline("cae", tiny_model_name, None)
    back = pickle.loads(pickle.dumps(pipe))
    assert back.get_params(deep=False).keys() == pipe.get_params(deep=False).keys()
    pipe.fit(train)
    space = pipe["clust"].semantic_space_
    # the fitted space keeps only what it selected, not the vocabulary's embeddings
    assert space.noun_embeddings_.shape[0] <= len(NOUNS)
    state_arrays = [v for v in vars(space).values() if isinstance(v, np.ndarray)]
    assert max(a.nbytes for a in state_arrays) < 64 * 1024


# --------------------------------------------------------------------------- versions
def _all_estimators(tiny_model_name):
    from skclip import CLIPEmbedder, SemanticSpaceBuilder

    embedder = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    return _clusterers() + [embedder, SemanticSpaceBuilder(embedder=embedder, vocabulary=NOUNS)]


def test_pickles_record_versions_and_load_silently(blobs, tiny_model_name):
    from skclip import __version__
    from skclip.exceptions import InconsistentVersionWarning

    X, _ = blobs
    for est in _all_estimators(tiny_model_name):
        if hasattr(est, "n_clusters"):
            est.fit(X)
        state = est.__getstate__()
        versions = state["_skclip_versions"]
        assert versions["skclip"] == __version__
        assert versions["torch"] == torch.__version__.split("+")[0]
        assert set(versions) == {"skclip", "torch", "sklearn", "numpy"}
        assert "_skclip_versions" not in vars(est)  # recorded in the pickle only
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            back = pickle.loads(pickle.dumps(est))
        assert "_skclip_versions" not in vars(back)


@pytest.mark.parametrize("package", ["skclip", "torch", "sklearn"])
def test_loading_under_other_versions_warns(blobs, tiny_model_name, monkeypatch, package):
    import skclip._versions as versions
    from skclip.exceptions import InconsistentVersionWarning

    X, X_new = blobs
    ests = _all_estimators(tiny_model_name)
    ests[2].fit(X)  # TAC: a fitted clusterer
    blobs_ = [pickle.dumps(est) for est in ests]
    then = versions.running_versions()
    now = {**then, package: "999.0"}
    monkeypatch.setattr(versions, "running_versions", lambda: dict(now))
    for est, data in zip(ests, blobs_):
        with pytest.warns(InconsistentVersionWarning) as caught:
            back = pickle.loads(data)
        # one warning per estimator in the pickle (a builder holds an embedder)
        found = [w.message for w in caught if isinstance(w.message, InconsistentVersionWarning)]
        [w] = [w for w in found if w.estimator_name == type(est).__name__]
        assert w.original_versions == then and w.current_versions == now
        assert f"{package} {then[package]}" in str(w) and f"{package} 999.0" in str(w)
    np.testing.assert_array_equal(pickle.loads(blobs_[2]).predict(X_new), ests[2].predict(X_new))


def test_numpy_version_and_cuda_build_tags_do_not_warn(monkeypatch):
    import skclip._versions as versions
    from skclip.exceptions import InconsistentVersionWarning

    est = CLIPKMeans(n_clusters=2)
    state = est.__getstate__()
    state["_skclip_versions"] = {**state["_skclip_versions"], "numpy": "1.0.0",
                                 "torch": state["_skclip_versions"]["torch"] + "+cu121"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        CLIPKMeans.__new__(CLIPKMeans).__setstate__(state)
    state.pop("_skclip_versions")  # a pickle written before versions were recorded
    with pytest.warns(InconsistentVersionWarning, match="did not record versions"):
        CLIPKMeans.__new__(CLIPKMeans).__setstate__(state)
    assert versions.STATE_KEY == "_skclip_versions"
