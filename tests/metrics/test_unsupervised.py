import pickle
import warnings

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import check_random_state, resample

from skclip.metrics import (
    UNSUPERVISED_SCORERS,
    calinski_harabasz_scorer,
    davies_bouldin_scorer,
    get_unsupervised_scorer,
    make_unsupervised_scorer,
    silhouette_scorer,
)

REFERENCE = {
    "silhouette": silhouette_score,
    "calinski_harabasz": calinski_harabasz_score,
    "davies_bouldin": lambda X, y: -davies_bouldin_score(X, y),
}


@pytest.fixture(scope="module")
def blobs4():
    X, y = make_blobs(
        n_samples=240, centers=4, n_features=6, cluster_std=0.7, center_box=(-8, 8), random_state=3
    )
    return X, y


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_scorer_uses_predict_on_the_scored_split(name, blobs4):
    X, _ = blobs4
    km = KMeans(n_clusters=3, n_init=2, random_state=0).fit(X[:160])
    X_test = X[160:]
    expected = REFERENCE[name](X_test, km.predict(X_test))
    assert get_unsupervised_scorer(name)(km, X_test) == pytest.approx(expected)
    assert UNSUPERVISED_SCORERS[name](km, X_test, y=np.zeros(len(X_test))) == pytest.approx(
        expected
    )


def test_ready_scorers_are_the_registered_ones():
    assert UNSUPERVISED_SCORERS == {
        "silhouette": silhouette_scorer,
        "calinski_harabasz": calinski_harabasz_scorer,
        "davies_bouldin": davies_bouldin_scorer,
    }
    with pytest.raises(ValueError, match="Unknown unsupervised scorer"):
        get_unsupervised_scorer("inertia")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_pipeline_is_scored_after_all_steps_but_the_last(name, blobs4):
    X, _ = blobs4
    stretch = FunctionTransformer(lambda A: A * np.arange(1, A.shape[1] + 1))
    pipe = make_pipeline(
        stretch,
        StandardScaler(),
        PCA(n_components=3),
        KMeans(n_clusters=4, n_init=2, random_state=0),
    )
    pipe.fit(X)
    Xt = pipe[:-1].transform(X)
    expected = REFERENCE[name](Xt, pipe.predict(X))
    score = make_unsupervised_scorer(name)(pipe, X)
    assert score == pytest.approx(expected)
    # scoring the raw input instead would give another number
    assert score != pytest.approx(REFERENCE[name](X, pipe.predict(X)))


def test_single_step_pipeline(blobs4):
    X, _ = blobs4
    pipe = make_pipeline(KMeans(n_clusters=4, n_init=2, random_state=0)).fit(X)
    assert silhouette_scorer(pipe, X) == pytest.approx(silhouette_score(X, pipe.predict(X)))


def test_estimator_without_predict_uses_fit_predict(blobs4):
    X, _ = blobs4
    est = AgglomerativeClustering(n_clusters=4).fit(X[:100])
    X_test = X[100:]
    expected = silhouette_score(X_test, AgglomerativeClustering(n_clusters=4).fit_predict(X_test))
    assert silhouette_scorer(est, X_test) == pytest.approx(expected)


def test_estimator_without_labels_raises(blobs4):
    X, _ = blobs4
    with pytest.raises(TypeError, match="neither predict nor fit_predict"):
        silhouette_scorer(StandardScaler().fit(X), X)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_one_cluster_gives_nan_with_warning(name, blobs4):
    X, _ = blobs4
    km = KMeans(n_clusters=1, n_init=1, random_state=0).fit(X)
    with pytest.warns(UndefinedMetricWarning, match="1 cluster"):
        assert np.isnan(make_unsupervised_scorer(name)(km, X))


def test_one_cluster_per_sample_gives_nan(blobs4):
    X, _ = blobs4
    km = KMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(silhouette_scorer(km, km.cluster_centers_))


def test_sample_size_scores_a_reproducible_subset(blobs4):
    X, _ = blobs4
    km = KMeans(n_clusters=4, n_init=2, random_state=0).fit(X)
    full = silhouette_scorer(km, X)
    assert make_unsupervised_scorer("silhouette", sample_size=10_000)(km, X) == pytest.approx(full)

    scorer = make_unsupervised_scorer("silhouette", sample_size=50, random_state=7)
    sub = resample(X, replace=False, n_samples=50, random_state=check_random_state(7))
    assert scorer(km, X) == pytest.approx(silhouette_score(sub, km.predict(sub)))
    assert scorer(km, X) == scorer(km, X)
    assert scorer(km, X) != pytest.approx(full, abs=1e-9)
    # the subset is drawn before anything is transformed: list inputs work too
    assert np.isfinite(scorer(km, [list(row) for row in X]))
    with pytest.raises(ValueError, match="not a single path"):
        scorer(km, "some/image/folder")


def test_metric_params_and_callables(blobs4):
    X, _ = blobs4
    km = KMeans(n_clusters=4, n_init=2, random_state=0).fit(X)
    cos = make_unsupervised_scorer("silhouette", metric_params={"metric": "cosine"})
    assert cos(km, X) == pytest.approx(silhouette_score(X, km.predict(X), metric="cosine"))

    def n_clusters_found(X, labels):
        return float(len(np.unique(labels)))

    assert make_unsupervised_scorer(n_clusters_found)(km, X) == 4.0
    assert "n_clusters_found" in repr(make_unsupervised_scorer(n_clusters_found))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"metric": "inertia"}, ValueError),
        ({"metric": "silhouette", "sample_size": 1}, ValueError),
        ({"metric": "silhouette", "sample_size": 2.5}, ValueError),
        ({"metric": "silhouette", "metric_params": [("metric", "cosine")]}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        make_unsupervised_scorer(**kwargs)


def test_scorer_pickles_and_has_a_readable_repr(blobs4):
    X, _ = blobs4
    scorer = make_unsupervised_scorer("silhouette", sample_size=60, random_state=0)
    assert repr(scorer) == "make_unsupervised_scorer('silhouette', sample_size=60, random_state=0)"
    km = KMeans(n_clusters=4, n_init=2, random_state=0).fit(X)
    assert pickle.loads(pickle.dumps(scorer))(km, X) == scorer(km, X)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_grid_search_picks_the_planted_number_of_clusters(name, blobs4):
    X, _ = blobs4
    search = GridSearchCV(
        KMeans(n_init=3, random_state=0),
        {"n_clusters": [2, 3, 4, 5, 6, 8]},
        scoring=make_unsupervised_scorer(name, sample_size=150, random_state=0),
        cv=KFold(3, shuffle=True, random_state=0),
    )
    search.fit(X)
    assert search.best_params_ == {"n_clusters": 4}


def test_multi_metric_grid_search_over_a_pipeline(blobs4):
    X, _ = blobs4
    pipe = make_pipeline(StandardScaler(), KMeans(n_init=3, random_state=0))
    search = GridSearchCV(
        pipe,
        {"kmeans__n_clusters": [1, 2, 4, 7]},
        scoring=UNSUPERVISED_SCORERS,
        refit="silhouette",
        cv=KFold(3, shuffle=True, random_state=0),
    )
    with warnings.catch_warnings():
        # n_clusters=1 is undefined: NaN (warned) and ranked last
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", message="One or more of the test scores are non-finite")
        search.fit(X)
    res = search.cv_results_
    assert search.best_params_ == {"kmeans__n_clusters": 4}
    for name in UNSUPERVISED_SCORERS:
        assert np.isnan(res[f"mean_test_{name}"][0])
        assert res[f"rank_test_{name}"][2] == 1
