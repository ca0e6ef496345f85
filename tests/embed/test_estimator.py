"""CLIPEmbedder as a scikit-learn estimator: params, tags, persistence, model cache."""

import io
import json
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from skclip.embed import CLIPEmbedder, clear_model_cache, load_clip
from skclip.embed import _model

from .test_inputs import random_images

pytestmark = pytest.mark.filterwarnings("ignore:CLIPEmbedder.*random weights:UserWarning")


@pytest.fixture
def embedder(tiny_model_name):
    return CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
    ],
)
def test_sklearn_api_checks(check):
    # The data-driven checks of check_estimator cannot feed images (see the tags).
    check("CLIPEmbedder", CLIPEmbedder())


def test_tags_declare_images_and_no_fit():
    tags = get_tags(CLIPEmbedder())
    assert tags.input_tags.two_d_array is False
    assert tags.requires_fit is False


def test_transform_and_encode_text_without_fit(embedder):
    assert embedder.transform(random_images(2)).shape == (2, 32)
    fresh = clone(embedder)
    assert fresh.encode_text(["a dog"]).shape == (1, 32)
    assert fresh.embedding_dim_ == 32


def test_invalid_params_are_rejected(embedder):
    with pytest.raises(InvalidParameterError, match="on_error"):
        clone(embedder).set_params(on_error="ignore").fit()
    with pytest.raises(InvalidParameterError, match="batch_size"):
        clone(embedder).set_params(batch_size=0).transform(random_images(1))
    with pytest.raises(ValueError, match="unknown open_clip model"):
        CLIPEmbedder(model="No-Such-Model", pretrained=None).fit()
    with pytest.raises(ValueError, match="neither a checkpoint file nor a known"):
        CLIPEmbedder(model="ViT-B-32", pretrained="no-such-tag").fit()
    with pytest.raises(ValueError, match="checkpoint file not found"):
        CLIPEmbedder(model="ViT-B-32", pretrained="/no/such/weights.pt").fit()


def test_random_weights_warn(embedder):
    from skclip.embed import _embedder

    _embedder._RANDOM_WEIGHTS_WARNED.clear()
    with pytest.warns(UserWarning, match="random weights") as record:
        embedder.fit()
    assert record[0].filename == __file__  # points at the caller, not at skclip
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: no second notice
        clone(embedder).transform(random_images(1))
        clone(embedder).fit()
    for call in (lambda e: e.transform(random_images(1)), lambda e: e.fit_transform(random_images(1))):
        _embedder._RANDOM_WEIGHTS_WARNED.clear()
        with pytest.warns(UserWarning, match="random weights") as record:
            call(clone(embedder))
        assert record[0].filename == __file__


def test_device_auto_not_written_back(embedder):
    embedder.set_params(device="auto").fit_transform(random_images(2))
    assert embedder.device == "auto"
    assert embedder.get_params()["device"] == "auto"


def test_model_cache_loads_once_for_two_estimators(embedder, monkeypatch):
    clear_model_cache()
    calls = []
    real_create = _model._create
    monkeypatch.setattr(_model, "_create", lambda *a: calls.append(a) or real_create(*a))
    first = clone(embedder).fit()
    second = clone(embedder).set_params(batch_size=7, on_error="skip").fit()
    first.transform(random_images(2))
    second.encode_text(["a cat"])
    assert len(calls) == 1
    # another precision is another model; with random weights it rounds the fp32 draw
    # already loaded instead of creating (drawing) a new one
    clone(embedder).set_params(precision="fp16").fit()
    assert len(calls) == 1
    fp16 = load_clip(embedder.model, None, "cpu", "fp16")
    fp32 = load_clip(embedder.model, None, "cpu", "fp32")
    assert fp16 is not fp32
    assert fp16.model.visual.conv1.weight.dtype == torch.float16
    loaded = load_clip(embedder.model, None, "cpu", "auto")
    assert loaded is load_clip(embedder.model, None, torch.device("cpu"), "fp32")
    assert len(calls) == 1


def test_checkpoint_roundtrip(tmp_path, embedder):
    images = random_images(3)
    X_random = embedder.fit_transform(images)
    T_random = embedder.encode_text(["a photo of a dog.", "a cat"])
    model, _, _ = load_clip(embedder.model, None, "cpu")
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)

    from_ckpt = clone(embedder).set_params(pretrained=str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # real weights: no random-weights warning
        X_ckpt = from_ckpt.fit_transform(images)
    np.testing.assert_array_equal(X_ckpt, X_random)
    np.testing.assert_array_equal(from_ckpt.encode_text(["a photo of a dog.", "a cat"]), T_random)
    assert load_clip(embedder.model, path, "cpu").model is not model  # its own cache entry

    # a checkpoint of another architecture must not load silently
    with pytest.raises(ValueError, match="does not fit the model 'ViT-B-32'"):
        CLIPEmbedder(model="ViT-B-32", pretrained=path, device="cpu", verbose=0).fit()


def test_model_given_as_json_config(tmp_path):
    from tests.conftest import TINY_CONFIG

    config = dict(TINY_CONFIG, embed_dim=24)
    path = tmp_path / "skclip-json-config-test.json"
    path.write_text(json.dumps(config))
    emb = CLIPEmbedder(model=str(path), pretrained=None, device="cpu", verbose=0)
    assert emb.fit_transform(random_images(2)).shape == (2, 24)
    assert emb.encode_text(["a dog"]).shape == (1, 24)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"embed_dim": 8}))
    with pytest.raises(ValueError, match="not an open_clip model config"):
        CLIPEmbedder(model=bad, pretrained=None).fit()


def test_clone_get_params_and_joblib_roundtrip(embedder):
    images = random_images(3)
    embedder.set_params(batch_size=2, on_error="warn")
    X = embedder.fit_transform(images)
    params = embedder.get_params()
    assert clone(embedder).get_params() == params
    assert not hasattr(clone(embedder), "embedding_dim_")

    buffer = io.BytesIO()
    joblib.dump(embedder, buffer)
    assert buffer.tell() < 20_000  # the model is not in the pickle
    buffer.seek(0)
    restored = joblib.load(buffer)
    assert restored.get_params() == params and restored.embedding_dim_ == 32
    np.testing.assert_array_equal(restored.transform(images), X)

    clear_model_cache()  # as in a fresh process: the model is loaded again on first use
    buffer.seek(0)
    assert joblib.load(buffer).transform(images).shape == X.shape


def test_feature_names_and_pandas_output(embedder):
    pd = pytest.importorskip("pandas")
    names = embedder.get_feature_names_out()
    assert names.shape == (32,) and names[0] == "clipembedder0" and names[-1] == "clipembedder31"
    embedder.set_output(transform="pandas")
    df = embedder.fit_transform(random_images(3))
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(names) and df.shape == (3, 32)
    assert df.dtypes.eq(np.float32).all()


def test_in_a_pipeline(embedder):
    images = np.concatenate([random_images(4, seed=1) // 8, 255 - random_images(4, seed=2) // 8])
    pipe = Pipeline([("embed", embedder), ("km", KMeans(n_clusters=2, n_init=2, random_state=0))])
    labels = pipe.fit_predict(images)
    assert labels.shape == (8,)
    np.testing.assert_array_equal(pipe.predict(images), labels)


def test_progress_bar_only_when_verbose(embedder, capsys):
    embedder.fit_transform(random_images(2))
    assert "Embedding images" not in capsys.readouterr().err
    embedder.set_params(verbose=1).transform(random_images(2))
    embedder.encode_text(["a dog"])
    err = capsys.readouterr().err
    assert "Embedding images" in err and "Encoding texts" in err


def test_offline_weight_download_fails_within_seconds(tmp_path, monkeypatch):
    """No network: the hub client is put in offline mode, so no minute of retries."""
    import time

    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(_model, "_hub_reachable", lambda timeout=3.0: False)
    before = huggingface_hub.constants.HF_HUB_OFFLINE
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="Without internet access, pass pretrained="):
        load_clip("ViT-B-32", pretrained="openai", device="cpu", cache_dir=tmp_path)
    assert time.perf_counter() - start < 20  # the model is not even built
    assert huggingface_hub.constants.HF_HUB_OFFLINE is before  # restored afterwards


def test_hub_probe_is_skipped_behind_a_proxy(monkeypatch):
    for name in _model._PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert _model._hub_reachable(timeout=0.01) is True
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    assert _model._hub_reachable(timeout=1.0) is False


def test_precision_option_on_cpu_images_stay_float32_under_auto(tiny_model_name, tmp_path,
                                                                 monkeypatch):
    """"auto" embeds images in fp32 even on a CPU with native bfloat16 (bf16 image
    embeddings move the clusters); "bf16" asks for the rounded tower."""
    import open_clip

    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), weights)
    embedder = CLIPEmbedder(model=tiny_model_name, pretrained=str(weights), device="cpu",
                            verbose=0)
    monkeypatch.setattr(_model, "native_bf16_cpu", lambda: True)
    images = random_images(4)
    X_auto = clone(embedder).fit().transform(images)
    X_fp32 = clone(embedder).set_params(precision="fp32").fit().transform(images)
    X_bf16 = clone(embedder).set_params(precision="bf16").fit().transform(images)
    np.testing.assert_array_equal(X_auto, X_fp32)
    assert not np.array_equal(X_bf16, X_fp32)
    assert np.all(np.sum(X_bf16 * X_fp32, axis=1) > 0.99)  # the same weights, rounded
    assert load_clip(tiny_model_name, str(weights), "cpu", "bf16").model.visual.conv1.weight.dtype \
        == torch.bfloat16


def test_reduced_precision_of_a_loaded_checkpoint_rounds_it_in_memory(tiny_model_name,
                                                                      tmp_path, monkeypatch):
    """bf16 after fp32 of the same checkpoint: the fp32 model in memory is rounded (no
    second read), with exactly the weights open_clip's own bf16 loading gives."""
    import open_clip

    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), weights)
    clear_model_cache()
    reference = _model._create(tiny_model_name, str(weights), torch.device("cpu"), "bf16", None)
    clear_model_cache()
    load_clip(tiny_model_name, str(weights), "cpu", "fp32")
    calls = []
    real_create = _model._create
    monkeypatch.setattr(_model, "_create", lambda *a: calls.append(a) or real_create(*a))
    rounded = load_clip(tiny_model_name, str(weights), "cpu", "bf16")
    assert calls == []
    ref, got = reference.model.state_dict(), rounded.model.state_dict()
    assert ref.keys() == got.keys()
    for key in ref:
        assert ref[key].dtype == got[key].dtype, key
        assert torch.equal(ref[key], got[key]), key
    clear_model_cache()
