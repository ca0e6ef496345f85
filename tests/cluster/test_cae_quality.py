"""Quality gate for CAEClustering's defaults on planted data, with and without CLIP's gap.

The scenarios are those of ``benchmarks/_scenarios.py`` (the full 3-seed table is
``python benchmarks/synthetic.py``), seed 0. The targets of the defaults: CAE at
most 2 ACC points below k-means on the images, not below TAC (no training), and
2 points above it on the hard scenarios. Each scenario guards one default:

* ``hard``, ``imbalance-gap``, ``k50-gap``: the over-complete semantic space (one
  selection centre per 30 images, at most 100, at least K; TAC keeps max(K,
  round(N/300))); with K centres CAE was within a few points of TAC (hard 85.8 vs
  89.0, imbalance-gap 64.9 vs 61.4, k50-gap 90.6 vs 93.0; with round(N/300) = 10 centres
  at K = 50 every text method fell 20 to 30 points below k-means);
* ``medium`` (no gap) and ``hard-gap``: the fusion with per-image captions;
* ``real-style-gap``: captions aligned under the nouns; aligned with the image
  alone (``caption_query="image"``) they follow its style, and cost 7.8 points there
  with per-image weights (seed 0; 6.8 on the 3-seed mean), 13.5 on ``imbalance-gap``
  with the prototype weights. One weight per view (issue 24) down-weights such
  captions themselves: both readings are now within 0.4 points on the 3-seed means
  of ``real-style*`` (93.5 / 93.9 with the gap), so the gate only keeps the default
  from falling behind;
* ``imbalance-gap`` again: the literal reading of the paper costs 14.3 points.

k-means and TAC are fitted once per scenario for every gate (shared cache of
``tests/test_scenario_gate.py``). No solver warning may come out of a default fit.
"""

import pytest

try:
    from tests.test_scenario_gate import _load_scenarios, scenario_scores
except ImportError:  # the scenario suite is not in this checkout
    pytest.skip("tests/test_scenario_gate.py is absent", allow_module_level=True)

KMEANS_SLACK = 2.0  # ACC points CAE may lose against k-means on the images
# CAE - TAC required (seed 0, CAE / TAC / k-means): medium 99.8 / 92.6 / 75.1,
# hard 99.3 / 89.0 / 54.0, hard-gap 99.4 / 98.2 / 54.7, imbalance-gap 99.4 / 61.4 /
# 58.5, k50-gap 98.6 / 93.0 / 66.5; hard-gap with a point of slack for one seed
# (3-seed means: 99.2 / 93.3)
GAIN_OVER_TAC = {"medium": 0.0, "hard": 2.0, "hard-gap": -1.0, "imbalance-gap": 2.0,
                 "k50-gap": 0.0}
# real-style-gap, seed 0: 93.8 vs 93.8 with caption_query="image" (per-image weights:
# 76.0 vs 68.2)
HIERARCHY_SLACK = 1.0
PAPER_GAIN = 5.0  # imbalance-gap, seed 0: the literal reading, 85.1


def _scores(name, methods=("kmeans", "tac", "cae")):
    _load_scenarios()  # skips when the scenario module is absent from the checkout
    return scenario_scores(name, 0, methods)


@pytest.mark.parametrize("name", sorted(GAIN_OVER_TAC))
def test_default_cae_holds_against_kmeans_and_tac(name):
    s = _scores(name)
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["kmeans"] - KMEANS_SLACK, acc
    assert acc["cae"] >= acc["tac"] + GAIN_OVER_TAC[name], acc
    assert not s["cae"]["warnings"], s["cae"]["warnings"]


def test_captions_aligned_under_the_nouns_and_the_literal_reading():
    """Why the defaults: per-image captions aligned with the image alone repeat its
    nuisance (the weights, one per view, now leave them out); the literal reading of
    the paper falls behind under CLIP's gap."""
    s = scenario_scores("real-style-gap", 0, ("cae", "cae-capimage"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["cae-capimage"] - HIERARCHY_SLACK, acc
    s = _scores("imbalance-gap", ("cae", "cae-paper"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["cae-paper"] + PAPER_GAIN, acc


# What real collections have (issue 24; ``real-*`` and ``isotropic*`` scenarios, 2,000
# and 1,000 images, seed 0). CAE / prototype weighting / k-means / TAC / oracle:
# real-longtail-gap 89.2 / 79.8 / 30.8 / 60.5 / 99.4, real-style-gap 76.0 / 76.8 /
# 29.2 / 27.5 / 92.5, isotropic-gap 90.0 / 90.2 / 87.1 / 90.6 / 90.7
NEIGHBOURHOOD_GAIN_LONGTAIL = 2.0  # 3-seed means 86.9 vs 79.5
ISOTROPIC_SLACK = 3.0  # CAE >= k-means - 3 where the texts add nothing
ORACLE_SLACK = 5.0  # CAE within 5 of zero-shot with the true class nouns
MERGE_GAIN_LONGTAIL = 4.0  # overclustering=2 vs 1: seed 0 98.4 vs 90.9 (3-seed means 96.6 vs 89.0)


def test_text_must_help_and_text_adds_nothing_targets():
    """Style nuisance: CAE >= max(k-means, TAC); isotropic: CAE >= k-means - 3."""
    s = scenario_scores("real-style-gap", 0, ("kmeans", "tac", "cae"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= max(acc["kmeans"], acc["tac"]), acc
    assert not s["cae"]["warnings"], s["cae"]["warnings"]
    s = scenario_scores("isotropic-gap", 0, ("kmeans", "cae"))
    assert s["cae"]["ACC"] >= s["kmeans"]["ACC"] - ISOTROPIC_SLACK, s


def test_merged_partition_closes_the_long_tail():
    """Class sizes x30: k-means alone cuts large classes and joins small ones (seed 0:
    90.9; 3-seed means 89.0 / 88.7 without / with the gap); over-clustered and merged,
    CAE comes within 5 points of zero-shot with the true class nouns (98.4, oracle
    99.6; 3-seed means 96.6 / 96.1 against 99.5 / 99.4)."""
    s = scenario_scores("real-longtail", 0, ("cae", "cae-kmeans", "oracle"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["oracle"] - ORACLE_SLACK, acc
    assert acc["cae"] >= acc["cae-kmeans"] + MERGE_GAIN_LONGTAIL, acc


def test_neighbourhood_weighting_helps_the_long_tail():
    s = scenario_scores("real-longtail-gap", 0, ("cae", "cae-prototype"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= acc["cae-prototype"] + NEIGHBOURHOOD_GAIN_LONGTAIL, acc


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["siblings", "style", "mild-style", "longtail",
                                  "polysemy", "generic"])
@pytest.mark.parametrize("gap", ["", "-gap"])
def test_real_collection_scenarios(kind, gap):
    """Every ``real-*`` scenario: CAE above k-means and TAC and within 5 points of the
    oracle (issue 24's targets; style since the pooled nouns, long tail since the
    merged partition)."""
    s = scenario_scores(f"real-{kind}{gap}", 0, ("kmeans", "tac", "cae", "oracle"))
    acc = {m: s[m]["ACC"] for m in s}
    assert acc["cae"] >= max(acc["kmeans"], acc["tac"]), acc
    assert acc["cae"] >= acc["oracle"] - ORACLE_SLACK, acc


@pytest.mark.slow
def test_isotropic_without_the_gap():
    s = scenario_scores("isotropic", 0, ("kmeans", "cae"))
    assert s["cae"]["ACC"] >= s["kmeans"]["ACC"] - ISOTROPIC_SLACK, s
