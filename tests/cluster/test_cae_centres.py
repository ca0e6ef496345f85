"""CAE's selection centres for an integer ``n_clusters``: an over-complete cover.

``max(n_clusters, min(100, n_samples // 30))`` as the builder's ``min_centers``; the
builder's ``n_centers="auto"`` then takes ``max(round(n_samples / 300), that)``.
TAC (a baseline, TAC's own rule) and MCA keep one centre per cluster; with
``n_clusters="auto"`` CAE keeps the largest candidate K.
"""

import pytest

from skclip.cluster import CAEClustering, TACClustering
from skclip.datasets import make_clip_blobs
from skclip.semantic import SemanticSpaceBuilder


@pytest.mark.parametrize(
    "n_samples, k, expected",
    [(200, 5, 6), (200, 10, 10), (1000, 5, 33), (1000, 10, 33), (3000, 10, 100),
     (10000, 5, 100), (50000, 10, 167), (3000, 50, 100), (6000, 200, 200), (20, 5, 5)],
)
def test_one_centre_per_30_images_at_most_100(n_samples, k, expected):
    hint = CAEClustering(n_clusters=k)._min_centers_for(k, n_samples)
    assert SemanticSpaceBuilder(min_centers=hint)._n_centers(n_samples) == expected


@pytest.fixture(scope="module")
def data():
    return make_clip_blobs(n_samples=600, n_clusters=3, n_features=16, random_state=0)


def _space(data, **params):
    return SemanticSpaceBuilder(vocabulary=data.text_embeddings, random_state=0, **params)


def test_fitted_spaces(data):
    space = _space(data)
    cae = CAEClustering(3, semantic_space=space, kmeans_n_init=2, random_state=0).fit(data.X)
    assert cae.semantic_space_.min_centers == 20  # 600 // 30
    assert len(cae.semantic_space_.centers_) == 20
    assert space.min_centers is None  # the parameter itself is not modified
    tac = TACClustering(3, semantic_space=space, n_init=2, random_state=0).fit(data.X)
    assert len(tac.semantic_space_.centers_) == 3  # TAC: one per cluster
    # "auto": the largest candidate K, as before
    auto = CAEClustering("auto", k_range=(2, 4), semantic_space=space, kmeans_n_init=2,
                         random_state=0).fit(data.X)
    assert auto.semantic_space_.min_centers == 4
    # a value set by the user is kept
    own = CAEClustering(3, semantic_space=_space(data, min_centers=5), kmeans_n_init=2,
                        random_state=0).fit(data.X)
    assert len(own.semantic_space_.centers_) == 5
