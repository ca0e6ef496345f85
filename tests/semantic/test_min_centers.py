"""``min_centers``: the selection grows with the number of clusters (at least K centres)."""

import numpy as np
import pytest

from skclip.cluster import CAEClustering, MCAClustering, TACClustering
from skclip.datasets import make_clip_blobs
from skclip.semantic import SemanticSpaceBuilder


def test_min_centers_bounds_auto_from_below_only():
    b = SemanticSpaceBuilder(min_centers=50)
    # TAC's table is unchanged wherever round(N/300) >= K (every dataset of the table)
    assert [b._n_centers(n) for n in (50000, 5000, 19500)] == [167, 50, 65]
    assert b._n_centers(3000) == 50 and b._n_centers(20) == 20  # never above n_samples
    assert SemanticSpaceBuilder(n_centers=7, min_centers=50)._n_centers(3000) == 7
    with pytest.raises(ValueError, match="min_centers"):
        SemanticSpaceBuilder(vocabulary=np.eye(3), min_centers=0).fit(np.eye(3))


@pytest.mark.parametrize("cls", [CAEClustering, TACClustering, MCAClustering])
def test_clusterers_ask_for_one_centre_per_cluster(cls):
    data = make_clip_blobs(n_samples=240, n_clusters=12, n_features=16, random_state=0)
    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, random_state=0)
    fast = {CAEClustering: {"kmeans_n_init": 2}, TACClustering: {"n_init": 2},
            MCAClustering: {"epochs": 1, "min_steps": 0}}[cls]
    est = cls(12, semantic_space=space, random_state=0, **fast).fit(data.X)
    assert est.semantic_space_.min_centers == 12
    assert len(est.semantic_space_.centers_) == 12  # round(240 / 300) = 1 without the bound
    assert space.min_centers is None  # the parameter itself is not modified
    # a value set by the user is kept
    own = SemanticSpaceBuilder(vocabulary=data.text_embeddings, min_centers=3, random_state=0)
    est = cls(12, semantic_space=own, random_state=0, **fast).fit(data.X)
    assert len(est.semantic_space_.centers_) == 3
