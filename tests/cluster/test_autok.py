"""``n_clusters="auto"``: candidate ranges, the coarse-to-fine scan, the estimator hooks."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from skclip.cluster import CAEClustering, CLIPKMeans, MCAClustering, TACClustering
from skclip.cluster._autok import K_SELECTIONS, candidate_ks, select_n_clusters
from skclip.datasets import make_clip_blobs
from skclip.metrics import silhouette_scorer
from skclip.semantic import SemanticSpaceBuilder


@pytest.fixture(scope="module")
def blobs():
    return make_clip_blobs(n_samples=240, n_clusters=4, n_features=16, spread=0.3,
                           random_state=0)


def test_candidate_ks_default_tuple_list():
    assert candidate_ks(None, 1000) == list(range(2, 101))
    assert candidate_ks(None, 5000) == list(range(2, 101))  # capped at 100
    assert candidate_ks(None, 35) == [2, 3]
    assert candidate_ks(None, 10) == [2]
    assert candidate_ks((4, 7), 1000) == [4, 5, 6, 7]
    assert candidate_ks([12, 3, 3], 1000) == [3, 12]
    assert candidate_ks((2, 50), 6) == [2, 3, 4, 5]  # K <= n - 1


@pytest.mark.parametrize("bad, match", [
    ((1, 5), "2 <= low"), ((6, 5), "2 <= low"), ((2, 3, 4), "tuple must be"),
    ((2.5, 4), "tuple must be"), ([], "list must hold"), ([1, 4], "list must hold"),
    ([True, 4], "list must hold"), ((50, 60), "below n_samples"),
])
def test_candidate_ks_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        candidate_ks(bad, 20)


def test_candidate_ks_needs_three_samples():
    with pytest.raises(ValueError, match="n_samples=2"):
        candidate_ks(None, 2)


@pytest.mark.parametrize("criterion", K_SELECTIONS)
def test_every_criterion_finds_separated_blobs(blobs, criterion):
    k, scores = select_n_clusters(blobs.X, list(range(2, 9)), criterion=criterion,
                                  random_state=0)
    assert sorted(scores) == list(range(2, 9))
    if criterion == "stability":
        # the true K is perfectly stable, but so can be merges of the clusters (known
        # weakness of stability; ties go to the smaller K)
        assert scores[4] > 0.99 and scores[7] < scores[4]
    else:
        assert k == 4
        assert scores[4] == max(scores.values())


def test_coarse_to_fine_scans_a_part_of_a_long_range():
    data = make_clip_blobs(n_samples=900, n_clusters=15, n_features=32, spread=0.25,
                           random_state=1)
    k, scores = select_n_clusters(data.X, list(range(2, 90)), random_state=0)
    assert k == 15
    assert len(scores) < 40  # a coarse grid, then the neighbourhood of the best
    assert {14, 15, 16} <= set(scores)  # every K next to the winner is scored


def test_scan_is_reproducible(blobs):
    a = select_n_clusters(blobs.X, list(range(2, 9)), random_state=3)
    b = select_n_clusters(blobs.X, list(range(2, 9)), random_state=3)
    assert a == b


def _estimators(data):
    # 6 selection centres: with the default round(n / 300) = 1 centre all 5 nouns come
    # from one class, and the fused features of CAE split the rest by noun
    space = SemanticSpaceBuilder(vocabulary=data.text_embeddings, n_centers=6)
    return [
        CLIPKMeans("auto", n_init=2, random_state=0),
        TACClustering("auto", semantic_space=space, n_init=2, random_state=0),
        CAEClustering("auto", semantic_space=space, kmeans_n_init=2, random_state=0),
        MCAClustering("auto", semantic_space=space, epochs=2, min_steps=0, random_state=0),
    ]


@pytest.mark.parametrize("index", range(4))
def test_estimators_choose_k(blobs, index):
    est = _estimators(blobs)[index].set_params(k_range=(2, 8))
    labels = est.fit_predict(blobs.X)
    assert est.n_clusters == "auto"  # the parameter is never rewritten
    assert est.n_clusters_ == 4
    assert sorted(est.k_selection_scores_) == list(range(2, 9))
    assert len(est.cluster_centers_) == 4
    assert labels.max() < 4
    assert np.array_equal(est.predict(blobs.X), labels) or index == 3
    if index:  # TAC and CAE build their space before K is chosen: a centre per cluster
        # for every candidate (the largest K of k_range); MCA chooses K first
        assert est.semantic_space_.min_centers == (4 if index == 3 else 8)


@pytest.mark.parametrize("index", range(4))
def test_integer_n_clusters_is_recorded(blobs, index):
    est = _estimators(blobs)[index].set_params(n_clusters=3).fit(blobs.X)
    assert est.n_clusters_ == 3 and est.k_selection_scores_ == {}


def test_invalid_parameters(blobs):
    with pytest.raises(InvalidParameterError, match="n_clusters"):
        CLIPKMeans("many").fit(blobs.X)
    with pytest.raises(InvalidParameterError, match="k_selection"):
        CLIPKMeans("auto", k_selection="gap").fit(blobs.X)
    with pytest.raises(InvalidParameterError, match="k_range"):
        CLIPKMeans("auto", k_range="2:8").fit(blobs.X)
    with pytest.raises(ValueError, match="2 <= low"):
        CLIPKMeans("auto", k_range=(0, 8)).fit(blobs.X)
    with pytest.raises(ValueError, match="n_samples=2"):
        CLIPKMeans("auto").fit(blobs.X[:2])


def test_clone_pipeline_and_grid_search(blobs):
    est = CLIPKMeans("auto", k_range=[3, 4, 5], n_init=2, random_state=0)
    assert clone(est).get_params()["k_range"] == [3, 4, 5]
    pipe = make_pipeline(FunctionTransformer(), est).fit(blobs.X)
    assert pipe[-1].n_clusters_ == 4
    search = GridSearchCV(make_pipeline(FunctionTransformer(), est),
                          {"clipkmeans__n_clusters": [2, "auto"]},
                          scoring=silhouette_scorer, cv=[(np.arange(240), np.arange(240))])
    search.fit(blobs.X)
    assert search.best_params_ == {"clipkmeans__n_clusters": "auto"}
    assert search.best_estimator_[-1].n_clusters_ == 4


def test_make_clip_pipeline_mca_space_follows_the_chosen_k():
    from skclip import make_clip_pipeline

    # the MCA builder's count is left to the fit, where MCA gives it the (chosen) K
    for k in ("auto", 7):
        params = make_clip_pipeline("mca", n_clusters=k, pretrained=None).get_params()
        assert params["clust__semantic_space__n_centers"] == "auto"
        assert params["clust__semantic_space__min_centers"] is None


def test_make_clip_pipeline_mca_n_clusters_change_reaches_the_space(blobs):
    """The grid-search trap: set_params(clust__n_clusters=...) must not keep the old count."""
    from skclip import make_clip_pipeline

    pipe = make_clip_pipeline(
        "mca", n_clusters=10, pretrained=None, device="cpu",
        semantic_space_params=dict(vocabulary=blobs.text_embeddings),
        epochs=1, min_steps=0, random_state=0)
    pipe.set_params(clust__n_clusters=5)
    clust = pipe.named_steps["clust"].fit(blobs.X)
    assert clust.semantic_space_.n_centers == 5 and len(clust.semantic_space_.centers_) == 5
    assert pipe.get_params()["clust__semantic_space__n_centers"] == "auto"
