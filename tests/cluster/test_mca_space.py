"""MCA's comparison space: texts pooled with their nearest texts (``text_pool``)."""

import numpy as np
import pytest

pytest.importorskip("torch")

from skclip.cluster._mca_space import pool_texts  # noqa: E402


def _unit(A):
    return A / np.linalg.norm(A, axis=-1, keepdims=True)


def test_pool_of_one_is_the_identity():
    T = _unit(np.random.RandomState(0).standard_normal((6, 4))).astype(np.float32)
    assert pool_texts(T, 1) is T


def test_pooled_score_is_the_mean_cosine_over_the_text_neighbourhood():
    rng = np.random.RandomState(1)
    T = _unit(rng.standard_normal((40, 8)))
    x = _unit(rng.standard_normal(8))
    P = pool_texts(T, 4)
    near = np.argsort(-(T @ T.T), axis=1)[:, :4]  # self first, then its 3 nearest
    np.testing.assert_allclose(P @ x, (T[near] @ x).mean(axis=1), atol=1e-10)
    # more neighbours than texts: every text pools all of them
    np.testing.assert_allclose(pool_texts(T[:3], 10), np.tile(T[:3].mean(axis=0), (3, 1)))


def test_a_named_concept_beats_a_lone_text_nearer_the_image():
    # the image is nearer one lone distractor (its style) than any of its class's
    # three names; the names lie close together, the distractor among unrelated texts
    rng = np.random.RandomState(2)
    d = 32
    c, s = _unit(rng.standard_normal((2, d)))
    names = _unit(c + 0.25 * _unit(rng.standard_normal((3, d))))
    others = _unit(rng.standard_normal((30, d)))
    x = _unit(c + 1.2 * s)
    lone = _unit(s + 0.1 * _unit(rng.standard_normal(d)))
    T = np.vstack([names, lone[None], others])
    assert (T @ x).argmax() == 3  # raw cosines: the distractor
    assert (pool_texts(T, 3) @ x).argmax() < 3  # pooled: one of the class names
