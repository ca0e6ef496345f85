"""Model selection without labels: GridSearchCV with skclip's unsupervised scorers."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

from skclip.cluster import CAEClustering, CLIPKMeans
from skclip.datasets import make_clip_blobs
from skclip.metrics import UNSUPERVISED_SCORERS, clustering_accuracy, make_unsupervised_scorer
from tests._spaces import DataAnchoredSpace, FixedTextSpace

# CAE's Sinkhorn (100 iterations, tol 1e-6) rarely converges on tiny random data: not tested here
pytestmark = pytest.mark.filterwarnings(
    "ignore:Sinkhorn did not converge:sklearn.exceptions.ConvergenceWarning"
)

CV = KFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def planted4():
    """4 planted clusters of CLIP-like unit vectors, with matching text anchors."""
    return make_clip_blobs(n_samples=240, n_clusters=4, n_features=16, spread=0.35, random_state=0)


def _clusterers(data):
    text_space = FixedTextSpace(noun_embeddings=data.text_embeddings)
    return {
        "kmeans": CLIPKMeans(n_init=3, random_state=0),
        "cae": CAEClustering(semantic_space=text_space, kmeans_n_init=3, random_state=0),
    }


@pytest.mark.parametrize("method", ["kmeans", "cae"])
@pytest.mark.parametrize("metric", sorted(UNSUPERVISED_SCORERS))
def test_grid_search_finds_the_planted_clusters(method, metric, planted4):
    data = planted4
    est = _clusterers(data)[method]
    scorer = make_unsupervised_scorer(metric, random_state=0)
    search = GridSearchCV(est, {"n_clusters": [2, 3, 4, 5, 6]}, scoring=scorer, cv=CV)
    search.fit(data.X)
    assert search.best_params_ == {"n_clusters": 4}
    assert clustering_accuracy(data.y, search.best_estimator_.labels_) > 0.95


def test_nested_semantic_space_parameters_are_searchable(planted4):
    data = planted4
    pipe = Pipeline(
        [
            ("norm", Normalizer()),
            (
                "clust",
                CAEClustering(
                    n_clusters=4,
                    semantic_space=DataAnchoredSpace(),
                    kmeans_n_init=2,
                    random_state=0,
                ),
            ),
        ]
    )
    grid = {"clust__semantic_space__n_nouns": [3, 9], "clust__semantic_space__noise": [0.01, 0.1]}
    search = GridSearchCV(pipe, grid, scoring=UNSUPERVISED_SCORERS, refit="silhouette", cv=CV)
    search.fit(data.X)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    n_nouns = search.best_params_["clust__semantic_space__n_nouns"]
    # the fitted space of the refitted clusterer is the searched configuration
    assert best["clust"].semantic_space_.n_nouns == n_nouns
    assert best["clust"].semantic_space_.noun_embeddings_.shape == (n_nouns, data.X.shape[1])
    # the parameter object itself is cloned, never fitted
    assert not hasattr(pipe["clust"].semantic_space, "noun_embeddings_")
    assert np.all(np.isfinite(search.cv_results_["mean_test_silhouette"]))
