import itertools
import pickle

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skclip.metrics import (
    ClusteringReport,
    clustering_accuracy,
    clustering_report,
    format_report,
    hungarian_matching,
)


def _brute_force_accuracy(y_true, y_pred):
    """Best injective cluster -> class map by enumeration (tiny problems only)."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    slots = list(classes) + [None] * max(0, len(clusters) - len(classes))
    for perm in itertools.permutations(slots, len(clusters)):
        mapping = dict(zip(clusters, perm, strict=True))
        best = max(best, sum(mapping[p] == t for t, p in zip(y_true, y_pred, strict=True)))
    return best / len(y_true)


def test_permuted_labels_give_full_accuracy(rng):
    y = rng.randint(0, 7, size=200)
    perm = rng.permutation(7)
    assert clustering_accuracy(y, perm[y]) == 1.0
    assert clustering_report(y, perm[y])["ACC"] == 100.0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_classes, n_clusters", [(3, 3), (2, 4), (4, 2), (3, 5)])
def test_matches_brute_force(seed, n_classes, n_clusters):
    rng = np.random.RandomState(seed)
    y_true = rng.randint(0, n_classes, size=25)
    y_pred = rng.randint(0, n_clusters, size=25)
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(
        _brute_force_accuracy(y_true, y_pred)
    )


def test_arbitrary_label_values():
    y_true = np.array(["cat", "cat", "dog", "dog", "emu", "emu"])
    y_pred = np.array([-7, -7, 42, 42, 3.5, 42])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    assert clustering_accuracy(list(y_true), [str(v) for v in y_pred]) == pytest.approx(5 / 6)


def test_unequal_numbers_of_clusters_and_classes():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    # more clusters than classes: two clusters stay unmatched
    assert clustering_accuracy(y_true, [0, 0, 1, 1, 2, 2, 3, 3]) == 0.5
    # a single cluster for three balanced classes
    assert clustering_accuracy([0, 1, 2] * 4, [9] * 12) == pytest.approx(1 / 3)


def test_accuracy_is_symmetric(rng):
    a, b = rng.randint(0, 4, 50), rng.randint(0, 6, 50)
    assert clustering_accuracy(a, b) == pytest.approx(clustering_accuracy(b, a))


def test_hungarian_matching_maps_clusters_to_classes():
    mapping = hungarian_matching(["a", "a", "b", "b", "c"], [2, 2, 0, 0, 1])
    assert mapping == {2: "a", 0: "b", 1: "c"}
    assert all(type(k) is int and type(v) is str for k, v in mapping.items())


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([0, 1, 2], [0, 1], "inconsistent numbers of samples"),
        ([], [], "empty"),
        (np.zeros((3, 2)), [0, 1, 2], "1d array"),
    ],
)
def test_bad_input_raises(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        clustering_accuracy(y_true, y_pred)
    with pytest.raises(ValueError, match=match):
        clustering_report(y_true, y_pred)


def test_report_values_and_units(rng):
    y_true, y_pred = rng.randint(0, 3, 90), rng.randint(0, 4, 90)
    rep = clustering_report(y_true, y_pred)
    assert isinstance(rep, dict) and list(rep) == ["ACC", "NMI", "ARI"]
    assert rep["ACC"] == pytest.approx(100 * clustering_accuracy(y_true, y_pred))
    assert rep["NMI"] == pytest.approx(100 * normalized_mutual_info_score(y_true, y_pred))
    assert rep["ARI"] == pytest.approx(100 * adjusted_rand_score(y_true, y_pred))
    frac = clustering_report(y_true, y_pred, percent=False)
    assert {k: 100 * v for k, v in frac.items()} == pytest.approx(dict(rep))
    assert all(isinstance(v, float) for v in rep.values())


def test_report_prints_as_table():
    rep = clustering_report([0, 0, 1, 1], [1, 1, 0, 1])
    lines = str(rep).splitlines()
    assert lines[0].split() == ["metric", "value"]
    assert [ln.split()[0] for ln in lines[1:]] == ["ACC", "NMI", "ARI"]
    assert lines[1].split()[1] == "75.0"
    assert "0.750" in str(clustering_report([0, 0, 1, 1], [1, 1, 0, 1], percent=False))


def test_report_pickles_with_its_unit():
    rep = clustering_report([0, 0, 1, 1], [1, 1, 0, 1], percent=False)
    back = pickle.loads(pickle.dumps(rep))
    assert isinstance(back, ClusteringReport) and back == rep and back.percent is False


def test_format_report_several_rows():
    y = [0, 0, 1, 1, 2, 2]
    table = format_report(
        {"exact": clustering_report(y, y), "merged": clustering_report(y, [0, 0, 0, 0, 1, 1])}
    )
    header, exact, merged = table.splitlines()
    assert header.split() == ["method", "ACC", "NMI", "ARI"]
    assert exact.split() == ["exact", "100.0", "100.0", "100.0"]
    assert merged.split()[:2] == ["merged", "66.7"]
    assert format_report({"ACC": 50.0, "NMI": 1.0, "ARI": 2.0}, digits=2).splitlines()[
        1
    ].split() == ["ACC", "50.00"]


def test_hungarian_matching_has_one_implementation():
    """Everyone calls skclip.metrics; nobody else runs linear_sum_assignment."""
    from pathlib import Path

    import skclip

    root = Path(skclip.__file__).parent
    users = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "linear_sum_assignment" in p.read_text()
    )
    assert users == ["metrics/_supervised.py"], users
