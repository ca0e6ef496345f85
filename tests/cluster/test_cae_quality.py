"""Quality gate for CAEClustering's defaults on planted data, with and without CLIP's gap.

The scenarios are those of ``benchmarks/_scenarios.py`` (the full 3-seed table is
``python benchmarks/synthetic.py``), seed 0. The targets of the defaults: CAE at
most 2 ACC points below k-means on the images and not below TAC (no training),
here with a margin for one seed. Each scenario guards one default:

* ``medium`` (no gap) and ``hard-gap``: the fusion with per-image captions; on
  ``hard-gap`` the captions aligned with the image alone (``caption_query="image"``)
  cost about 9 points, and the literal reading of the paper about 30;
* ``k50-gap`` (50 classes, 60 images each): one selection centre per cluster
  (``min_centers``); with round(N/300) = 10 centres every text method fell 20 to
  30 points below k-means.

k-means and TAC are fitted once per scenario for every gate (shared cache of
``tests/test_scenario_gate.py``). No solver warning may come out of a default fit.
"""

import pytest

try:
    from tests.test_scenario_gate import _load_scenarios, scenario_scores
except ImportError:  # the scenario suite is not in this checkout
    pytest.skip("tests/test_scenario_gate.py is absent", allow_module_level=True)

KMEANS_SLACK = 2.0  # ACC points CAE may lose against k-means on the images
# seed 0, CAE / TAC / k-means: medium 93.1 / 92.6 / 75.1, hard-gap 96.1 / 98.2 / 54.7,
# k50-gap 90.6 / 93.0 / 66.5 (with round(N/300) = 10 centres: 38.2 / 44.7)
TAC_SLACK = {"medium": 1.0, "hard-gap": 3.0, "k50-gap": 4.0}
HIERARCHY_GAIN = 4.0  # hard-gap, seed 0: 96.1 vs 87.4 with caption_query="image"
PAPER_GAIN = 5.0  # hard-gap, seed 0: the literal reading is far below


def _scores(name, methods=("kmeans", "tac", "cae")):
    _load_scenarios()  # skips when the scenario module is absent from the checkout
    return scenario_scores(name, 0, methods)


@pytest.mark.parametrize("name", sorted(TAC_SLACK))
def test_default_cae_holds_against_kmeans_and_tac(name):
    s = _scores(name)
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["kmeans"] - KMEANS_SLACK, acc
    assert acc["cae"] >= acc["tac"] - TAC_SLACK[name], acc
    assert not s["cae"]["warnings"], s["cae"]["warnings"]


def test_captions_aligned_under_the_nouns_and_the_literal_reading():
    """Why the defaults: per-image captions aligned with the image alone repeat its
    nuisance; the literal reading of the paper falls behind under CLIP's gap."""
    s = _scores("hard-gap", ("cae", "cae-capimage", "cae-paper"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["cae-capimage"] + HIERARCHY_GAIN, acc
    assert acc["cae"] >= acc["cae-paper"] + PAPER_GAIN, acc
