"""The headline Pipeline: the clusterer's text side uses the embedder's model and weights.

``CLIPEmbedder.transform`` returns ``CLIPEmbeddings`` that record the embedder; the
clusterer's default semantic space (and a builder with ``embedder=None``) encodes its
texts with that model. A plain array keeps today's behaviour, and when the weights
cannot be had, the error says who asked for which weights and what to pass.
"""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from skclip import CAEClustering, CLIPEmbedder, MCAClustering, SemanticSpaceBuilder
from skclip.embed import CLIPEmbeddings, load_clip
from skclip.exceptions import RandomWeightsWarning, WeightsUnavailableError

pytestmark = [
    pytest.mark.filterwarnings("ignore::skclip.exceptions.RandomWeightsWarning"),
    pytest.mark.filterwarnings("ignore:Sinkhorn did not converge"),
]

NOUNS = ["cat", "dog", "car", "tree", "house", "boat", "bird", "flower", "apple", "chair"]


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    base = rng.randint(0, 256, (3, 1, 1, 3))
    imgs = np.repeat(np.repeat(base, 32, axis=1), 32, axis=2)
    imgs = np.repeat(imgs, 6, axis=0) + rng.randint(-20, 20, (18, 32, 32, 3))
    return np.clip(imgs, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def checkpoint(tiny_model_name, tmp_path_factory):
    """A local checkpoint of the (non-default) tiny model: offline, fixed weights."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(load_clip(tiny_model_name, None, "cpu").model.state_dict(), path)
    return str(path)


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to fetch weights fails the test."""
    import open_clip.pretrained

    from skclip.embed import _model

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(_model, "_fetch_weights", refuse)
    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", refuse)


def _small_default(cls):
    """The method's own default space, only with a short noun list (no WordNet)."""
    original = cls._default_semantic_space

    def default(self):
        space = original(self)
        assert space.get_params()["embedder"] is None  # the default names no model
        return space.set_params(vocabulary=NOUNS, cache=False, gamma_u=None)

    return default


@pytest.mark.parametrize("cls, params", [
    (MCAClustering, dict(epochs=2, min_steps=0, batch_size=8, n_img_neighbors=3)),
    (CAEClustering, dict(kmeans_n_init=2)),
])
def test_pipeline_text_side_uses_the_embedders_checkpoint(
        cls, params, images, tiny_model_name, checkpoint, no_download, monkeypatch):
    monkeypatch.setattr(cls, "_default_semantic_space", _small_default(cls))
    pipe = Pipeline([
        ("embed", CLIPEmbedder(model=tiny_model_name, pretrained=checkpoint, device="cpu",
                               verbose=0)),
        ("clust", cls(n_clusters=3, random_state=0, **params)),
    ])
    labels = pipe.fit_predict(images)
    assert labels.shape == (18,)
    space = pipe.named_steps["clust"].semantic_space_
    assert space.embedder.model == tiny_model_name and space.embedder.pretrained == checkpoint
    # the selected nouns' vectors are the tiny checkpoint's text vectors
    reference = CLIPEmbedder(model=tiny_model_name, pretrained=checkpoint, device="cpu",
                             verbose=0)
    templates = space.templates if isinstance(space.templates, list) else None
    if templates is None:
        from skclip.semantic._templates import resolve_templates

        templates = resolve_templates(space.templates)
    expected = np.mean([reference.encode_text([t.format(n) for n in space.nouns_])
                        for t in templates], axis=0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(space.noun_embeddings_, expected, atol=2e-3)
    # the parameter itself is untouched (clone-safe)
    assert pipe.named_steps["clust"].semantic_space is None


def test_builder_without_embedder_adopts_the_model(images, tiny_model_name, checkpoint,
                                                    no_download):
    X = CLIPEmbedder(model=tiny_model_name, pretrained=checkpoint, device="cpu",
                     verbose=0).fit_transform(images)
    assert isinstance(X, CLIPEmbeddings) and X.embedder_params["pretrained"] == checkpoint
    clust = CAEClustering(n_clusters=3, kmeans_n_init=2, random_state=0,
                          semantic_space=SemanticSpaceBuilder(vocabulary=NOUNS, cache=False))
    clust.fit(X[:12])  # a row subset (a CV split) keeps the record
    assert clust.semantic_space_.embedder.model == tiny_model_name
    assert clust.semantic_space.embedder is None


def test_record_survives_pickle_and_indexing_not_arithmetic():
    X = CLIPEmbeddings(np.eye(4, dtype=np.float32), {"model": "m", "pretrained": None})
    back = pickle.loads(pickle.dumps(X[[0, 2]]))
    assert isinstance(back, CLIPEmbeddings) and back.embedder_params == {"model": "m",
                                                                         "pretrained": None}
    assert type(X.astype(np.float64)) is CLIPEmbeddings
    assert type(X - X.mean(axis=0)) is np.ndarray
    assert isinstance(X.sum(), np.floating)


def test_grid_search_on_embeddings_keeps_the_model(images, tiny_model_name, checkpoint,
                                                   no_download):
    X = CLIPEmbedder(model=tiny_model_name, pretrained=checkpoint, device="cpu",
                     verbose=0).fit_transform(images)
    space = SemanticSpaceBuilder(vocabulary=NOUNS, cache=False)
    search = GridSearchCV(CAEClustering(n_clusters=3, semantic_space=space, random_state=0,
                                        kmeans_n_init=2),
                          {"n_clusters": [2, 3]}, cv=KFold(2),
                          scoring=lambda est, X_, y_=None: 0.0)
    search.fit(X)
    assert search.best_estimator_.semantic_space_.embedder.model == tiny_model_name


def test_plain_array_weights_error_names_the_clusterer(monkeypatch, rng):
    from skclip.embed import _model

    def offline(name, tag, cache_dir):
        raise RuntimeError("no network")

    monkeypatch.setattr(_model, "_fetch_weights", offline)
    monkeypatch.setattr(_model, "_CACHE", {})
    X = rng.standard_normal((20, 512)).astype(np.float32)
    space = SemanticSpaceBuilder(vocabulary=NOUNS, cache=False)
    with pytest.raises(WeightsUnavailableError) as info:
        CAEClustering(n_clusters=2, semantic_space=space).fit(X)
    message = str(info.value)
    assert "CAEClustering" in message and "'openai' of 'ViT-B-32'" in message
    assert "plain array" in message and "SemanticSpaceBuilder(embedder=CLIPEmbedder(" in message


def test_paths_given_to_a_clusterer():
    with pytest.raises(ValueError, match="not image paths.*CLIPEmbedder"):
        CAEClustering(n_clusters=2).fit(["a/0000.jpg", "a/0001.jpg"])


def test_unreadable_image_error_mentions_on_error(tmp_path, tiny_model_name):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    with pytest.raises(ValueError, match="cannot read image .*on_error='skip'"):
        emb.fit_transform([str(bad)])


def test_wrong_case_model_name_suggests_the_right_one():
    with pytest.raises(ValueError, match="did you mean 'ViT-B-32'"):
        load_clip("vit-b-32", None, "cpu")


def test_random_weights_reload_in_another_process_warns(tmp_path, tiny_model_name):
    import joblib

    emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    # two embedders of random weights (images, texts): one warning
    emb = Pipeline([("embed", emb), ("clust", CAEClustering(
        semantic_space=SemanticSpaceBuilder(embedder=clone(emb), vocabulary=NOUNS)))])
    path = tmp_path / "emb.joblib"
    joblib.dump(emb, path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)
        joblib.load(path)  # the same process: the same weights, no warning
    code = textwrap.dedent(f"""
        import warnings, joblib
        from skclip.exceptions import RandomWeightsWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            joblib.load({str(path)!r})
        print(sum(issubclass(w.category, RandomWeightsWarning) for w in caught))
        print(caught[0].message if caught else "")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "1" and "pickled in another process" in out[1]


def test_checkpoint_reload_in_another_process_is_silent(tmp_path, tiny_model_name,
                                                        checkpoint):
    import joblib

    emb = CLIPEmbedder(model=tiny_model_name, pretrained=checkpoint, device="cpu", verbose=0)
    path = tmp_path / "emb.joblib"
    joblib.dump(clone(emb), path)
    code = textwrap.dedent(f"""
        import warnings, joblib
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            joblib.load({str(path)!r})
        print(len(caught))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0"]


@pytest.mark.filterwarnings("always::skclip.exceptions.RandomWeightsWarning")
def test_random_weights_notice_points_at_the_users_line(images, tiny_model_name):
    import warnings

    from skclip.embed import _embedder

    _embedder._RANDOM_WEIGHTS_WARNED.clear()
    pipe = Pipeline([("embed", CLIPEmbedder(model=tiny_model_name, pretrained=None,
                                            device="cpu", verbose=0))], memory=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit_transform(images[:2])
    notices = [w for w in caught if issubclass(w.category, RandomWeightsWarning)]
    assert len(notices) == 1 and notices[0].filename == __file__
