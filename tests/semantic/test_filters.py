"""Selection rules on small arrays with known answers."""

import numpy as np
import pytest

from skclip.semantic import _filters
from skclip.semantic._filters import (
    depth_mask,
    select_center_topk,
    select_tac,
    topk_per_center,
    uniqueness_mask,
)
from skclip.semantic._text_cache import unit_rows


def test_center_topk_is_union_of_per_centre_topk():
    emb = np.eye(5, dtype=np.float32)
    centers = unit_rows(np.array([[1, 0.5, 0, 0, 0], [0, 0, 0, 1, 0.1]]))
    idx, scores = select_center_topk(centers, emb, 2)
    np.testing.assert_array_equal(idx, [0, 1, 3, 4])
    np.testing.assert_allclose(scores, [centers[0, 0], centers[0, 1], centers[1, 3], centers[1, 4]],
                               rtol=1e-6)
    # k larger than the vocabulary keeps everything
    assert len(select_center_topk(centers, emb, 50)[0]) == 5


def test_topk_blocks_equal_one_shot(monkeypatch, rng):
    emb = unit_rows(rng.standard_normal((300, 8)))
    centers = unit_rows(rng.standard_normal((37, 8)))
    top, best = topk_per_center(centers, emb, 4)
    monkeypatch.setattr(_filters, "_BLOCK_ELEMENTS", 700)  # 2 centres per block
    top_b, best_b = topk_per_center(centers, emb, 4)
    np.testing.assert_array_equal(top, top_b)
    np.testing.assert_allclose(best, best_b, rtol=1e-6)
    np.testing.assert_allclose(best, (centers @ emb.T).max(axis=0), rtol=1e-5)
    order = np.argsort(-(centers @ emb.T), axis=1)[:, :4]
    np.testing.assert_array_equal(np.sort(top, axis=1), np.sort(order, axis=1))


def test_tac_rule_keeps_most_confident_per_centre(monkeypatch, rng):
    centers = unit_rows(rng.standard_normal((4, 6)))
    emb = unit_rows(rng.standard_normal((50, 6)))
    P = np.exp(emb @ centers.T)
    P /= P.sum(axis=1, keepdims=True)
    owner, conf = P.argmax(axis=1), P.max(axis=1)
    expected = []
    for a in range(4):
        members = np.flatnonzero(owner == a)
        expected.extend(members[np.argsort(-conf[members])][:3])
    idx, scores = select_tac(centers, emb, 3)
    np.testing.assert_array_equal(idx, np.sort(expected))
    np.testing.assert_allclose(scores, conf[idx], rtol=1e-5)
    monkeypatch.setattr(_filters, "_BLOCK_ELEMENTS", 8)  # 2 nouns per block
    np.testing.assert_array_equal(select_tac(centers, emb, 3)[0], idx)


def test_uniqueness_drops_the_generic_direction(rng):
    emb = unit_rows(rng.standard_normal((40, 8)))
    generic = unit_rows(emb.mean(axis=0, keepdims=True))
    emb = np.vstack([emb, generic])
    keep = uniqueness_mask(emb, 0.05)
    assert not keep[-1] and keep[:-1].all()
    assert uniqueness_mask(emb, 0.0)[:-1].all()
    assert not uniqueness_mask(emb, 2.0).any()


def test_depth_mask_keeps_unknown():
    np.testing.assert_array_equal(depth_mask([-1, 2, 6, 9], 6), [True, False, True, True])


@pytest.mark.parametrize("k", [1, 3])
def test_selected_indices_are_sorted_and_unique(k, rng):
    emb = unit_rows(rng.standard_normal((30, 5)))
    centers = unit_rows(rng.standard_normal((6, 5)))
    for idx, _ in (select_center_topk(centers, emb, k), select_tac(centers, emb, k)):
        assert np.all(np.diff(idx) > 0)
