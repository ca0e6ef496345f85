"""set_output(transform="pandas") on every transformer, with names from get_feature_names_out."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from skclip import CAEClustering, CLIPEmbedder, CLIPKMeans, SemanticSpaceBuilder, TACClustering
from skclip.datasets import make_clip_blobs
from tests._spaces import DataAnchoredSpace

# CAE's Sinkhorn (100 iterations, tol 1e-6) rarely converges on tiny random data: not tested here
pytestmark = pytest.mark.filterwarnings(
    "ignore:Sinkhorn did not converge:sklearn.exceptions.ConvergenceWarning"
)

NOUNS = ["cat", "dog", "car", "tree", "house", "boat"]


@pytest.fixture(scope="module")
def embeddings():
    return make_clip_blobs(n_samples=60, n_clusters=3, n_features=32, random_state=0).X


@pytest.fixture
def images():
    return np.random.RandomState(0).randint(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)


def _check_pandas_output(est, X, fit_X=None):
    default = est.fit(X if fit_X is None else fit_X).transform(X)
    est.set_output(transform="pandas")
    frame = est.transform(X)
    assert isinstance(frame, pd.DataFrame)
    names = est.get_feature_names_out()
    assert list(frame.columns) == list(names)
    assert len(set(names)) == len(names) == default.shape[1]
    np.testing.assert_allclose(frame.to_numpy(), default, rtol=1e-5, atol=1e-6)
    est.set_output(transform="default")
    assert isinstance(est.transform(X), np.ndarray)
    return frame


def _clusterers():
    return [
        CAEClustering(
            n_clusters=3, semantic_space=DataAnchoredSpace(), kmeans_n_init=2, random_state=0
        ),
        CLIPKMeans(n_clusters=3, n_init=2, random_state=0),
        TACClustering(n_clusters=3, semantic_space=DataAnchoredSpace(), n_init=2, random_state=0),
    ]


@pytest.mark.parametrize("est", _clusterers(), ids=lambda e: type(e).__name__)
def test_clusterer_transform_to_pandas(est, embeddings):
    frame = _check_pandas_output(est, embeddings)
    assert frame.shape[0] == len(embeddings)


@pytest.mark.parametrize("est", _clusterers(), ids=lambda e: type(e).__name__)
def test_clusterer_keeps_dataframe_index(est, embeddings):
    X = pd.DataFrame(embeddings, columns=[f"dim{i}" for i in range(32)], index=np.arange(100, 160))
    est.set_output(transform="pandas").fit(X)
    frame = est.transform(X)
    assert (frame.index == X.index).all()
    assert list(est.feature_names_in_) == list(X.columns)


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_embedder_to_pandas(images, tiny_model_name):
    est = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    frame = _check_pandas_output(est, images)
    assert frame.shape == (6, 32)


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_semantic_space_to_pandas(embeddings, tiny_model_name):
    embedder = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    est = SemanticSpaceBuilder(embedder=embedder, vocabulary=NOUNS)
    frame = _check_pandas_output(est, embeddings)
    assert frame.shape == (60, 32)


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_pipeline_to_pandas_end_to_end(images, tiny_model_name):
    embedder = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    space = SemanticSpaceBuilder(embedder=embedder, vocabulary=NOUNS)
    pipe = Pipeline(
        [
            ("embed", embedder),
            ("clust", CAEClustering(n_clusters=2, semantic_space=space, random_state=0)),
        ]
    )
    pipe.set_output(transform="pandas")
    with warnings.catch_warnings():
        # no "X has feature names / does not have valid feature names" mix-ups
        warnings.filterwarnings("error", message=".*feature names.*")
        labels = pipe.fit_predict(images)
        fused = pipe.transform(images)
    assert labels.shape == (6,)
    assert isinstance(fused, pd.DataFrame) and list(fused.columns) == list(
        pipe.get_feature_names_out()
    )
    assert list(pipe["clust"].feature_names_in_) == list(pipe["embed"].get_feature_names_out())
