"""Library side of issue 'after the first run': hierarchy naming, outlier rule, model edits,
the multi-file commit and the null reference of n_clusters='auto'."""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans

from skclip._atomic import JOURNAL, recover, replace_files
from skclip.report import ClusterModel, Taxonomy, build_hierarchy, outlier_thresholds

TOY = Taxonomy({"entity.n.01": [], "animal.n.01": ["entity.n.01"],
                "dog.n.01": ["animal.n.01"], "spaniel.n.01": ["dog.n.01"],
                "saluki.n.01": ["dog.n.01"], "cat.n.01": ["animal.n.01"],
                "car.n.01": ["entity.n.01"]})


def test_hierarchy_names_from_a_toy_wordnet():
    # two dog breeds close together, a cat nearer to them than the car
    C = np.array([[1.0, 0.1, 0.0], [1.0, 0.0, 0.1], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    root = build_hierarchy([3, 5, 7, 9], C, [2, 3, 4, 5], ["spaniel", "saluki", "cat", "car"],
                           synsets=["spaniel.n.01", "saluki.n.01", "cat.n.01", "car.n.01"],
                           taxonomy=TOY)
    assert (root["id"], root["name"], root["size"]) == ("s1", "entity", 14)
    animals = next(c for c in root["children"] if c["children"])
    assert animals["name"] == "animal" and animals["size"] == 9
    dogs = next(c for c in animals["children"] if c["children"])
    assert dogs["name"] == "dog" and sorted(c["id"] for c in dogs["children"]) == [3, 5]


def test_hierarchy_without_synsets_uses_best_shared_noun():
    C = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    spec = np.array([[0.5, 0.4, -0.2], [0.1, 0.3, -0.2], [-0.3, -0.3, 0.6]])
    root = build_hierarchy([0, 1, 2], C, [1, 1, 1], ["a", "b", "c"], specificity=spec,
                           nouns=["poodle", "dog", "car"], synsets=["x.n.01", None, None],
                           taxonomy=TOY)
    inner = next(c for c in root["children"] if c["children"])
    assert inner["name"] == "dog"  # best by its smallest specificity over both clusters


def test_outlier_fence_flags_the_far_tail():
    rng = np.random.RandomState(0)
    d = np.r_[rng.uniform(0.1, 0.2, 100), 0.9]
    t = outlier_thresholds(d, np.zeros(101, dtype=int))
    assert 0.2 < t[0] < 0.9


def _blobs():
    rng = np.random.RandomState(0)
    centres = np.eye(4)[:, :4] * 3
    X = np.vstack([c + rng.normal(size=(30, 4)) * 0.2 for c in centres])
    return X, KMeans(4, n_init=5, random_state=0).fit(X)


def test_model_edits_keep_ids_and_predict_consistently():
    X, km = _blobs()
    model = ClusterModel.from_fitted(km, X)
    base = model.predict(X)
    assert base.tolist() == km.predict(X).tolist()
    into = model.merge([3, 1], X)
    assert into == 1 and model.cluster_ids == [0, 1, 2]
    new = model.split(0, 2, X)
    assert new == [4, 5] and model.cluster_ids == [1, 2, 4, 5]
    labels = model.predict(X)
    assert set(labels) == {1, 2, 4, 5}
    assert (labels[np.isin(base, [1, 3])] == 1).all()  # merged: one id
    assert np.isin(labels[base == 0], [4, 5]).all()  # split: only its parts
    out = model.assign(X + 0.0)
    assert np.allclose(out.confidence[base == 2], ClusterModel.from_fitted(km, X)
                       .assign(X).confidence[base == 2])
    far = -np.ones((1, 4))  # opposite every cluster
    assert model.assign(far).outlier[0]
    with pytest.raises(ValueError, match="unknown cluster id"):
        model.merge([3, 2], X)
    with pytest.raises(ValueError, match="itself"):
        model.merge([2, 2], X)
    with pytest.raises(ValueError, match="at least 2 parts"):
        model.split(2, 1, X)


def test_replace_files_rolls_back_or_forward(tmp_path):
    replace_files(tmp_path, {"a": "old a", "b": "old b"})
    # killed before the commit point: temporaries only
    (tmp_path / ".a.skclip-tmp-x").write_text("new a")
    assert recover(tmp_path) == "rolled back"
    assert (tmp_path / "a").read_text() == "old a" and len(list(tmp_path.iterdir())) == 2
    # killed after it, one rename done
    (tmp_path / ".b.skclip-tmp-y").write_text("new b")
    (tmp_path / "a").write_text("new a")
    (tmp_path / JOURNAL).write_text('{"a": ".a.skclip-tmp-gone", "b": ".b.skclip-tmp-y"}')
    assert recover(tmp_path) == "rolled forward"
    assert [(tmp_path / n).read_text() for n in "ab"] == ["new a", "new b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_auto_k_says_no_structure_on_one_blob():
    from skclip.cluster._autok import select_n_clusters
    from skclip.cluster._nullref import NoClusterStructureWarning
    from skclip.datasets import make_clip_blobs

    X = make_clip_blobs(n_samples=600, n_clusters=1, n_features=16, random_state=0).X
    with pytest.warns(NoClusterStructureWarning, match="no cluster structure"):
        k, _, null = select_n_clusters(X, list(range(2, 21)), criterion="silhouette",
                                       random_state=0, return_null=True)
    assert k == 2 and not null["structure"]
    X = make_clip_blobs(n_samples=600, n_clusters=5, n_features=16, spread=0.3,
                        random_state=0).X
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoClusterStructureWarning)
        k, _, null = select_n_clusters(X, list(range(2, 21)), criterion="silhouette",
                                       random_state=0, return_null=True)
    assert k == 5 and null["structure"] and null["gain"] > 1
