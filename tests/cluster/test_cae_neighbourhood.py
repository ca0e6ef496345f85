"""CAE's fusion weights from the image's neighbourhood (``weighting="neighbourhood"``)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

torch = pytest.importorskip("torch")

from skclip.cluster import CAEClustering  # noqa: E402
from skclip.cluster._fusion import centred_unit, view_rows  # noqa: E402
from skclip.cluster._neighbourhood import (  # noqa: E402
    hierarchical_judges, neighbourhood_scores, neighbourhood_weights, reference_rows,
)
from tests._spaces import FixedTextSpace  # noqa: E402

_finite = st.floats(-1, 1, allow_nan=False, width=32)


def _unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)


def _weights(X, U, V, gamma=0.1):
    """CAE's path from raw embeddings to neighbourhood weights: centre each modality
    (its mean removed, rows renormalised), softmax rows at eps 0.05 (captions queried
    with the image and its noun counterpart), then the weights."""
    Xc = centred_unit(X, X.mean(axis=0))
    Uc, Vc = centred_unit(U, U.mean(axis=0)), centred_unit(V, V.mean(axis=0))
    g = [np.zeros(len(Uc)), np.zeros(len(Vc))]
    views = view_rows(Xc, [Uc, Vc], g, eps=0.05, weight_by_similarity=True, block_size=32,
                      device="cpu", hierarchical=True)
    rows = reference_rows(len(X))
    return neighbourhood_weights([torch.as_tensor(v) for v in views],
                                 [torch.as_tensor(v[rows]) for v in views], gamma).numpy()


def _planted(seed, n=60, d=16):
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((4, d)))
    X = centres[rng.integers(4, size=n)] + 0.3 * rng.standard_normal((n, d))
    U = centres[rng.integers(4, size=12)] + 0.2 * rng.standard_normal((12, d))
    V = rng.standard_normal((9, d))
    return X, U, V, rng


@settings(max_examples=40, deadline=None)
@given(Z=arrays(np.float32, (3, 7, 5), elements=_finite),
       R=arrays(np.float32, (3, 12, 5), elements=_finite),
       n_views=st.sampled_from([2, 3]), gamma=st.sampled_from([0.01, 0.1, 1.0]))
def test_weights_are_bounded_and_sum_to_one(Z, R, n_views, gamma):
    Z = [torch.as_tensor(_unit(z + 1e-3)) for z in Z[:n_views]]
    R = [torch.as_tensor(_unit(r + 1e-3)) for r in R[:n_views]]
    kappa = neighbourhood_scores(Z, R).numpy()
    assert np.isfinite(kappa).all() and (np.abs(kappa) <= 1).all()
    W = neighbourhood_weights(Z, R, gamma).numpy()
    assert W.shape == (7, n_views)
    assert (W >= 0).all() and (W <= 1).all()
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale_img=st.floats(0.0, 3.0),
       scale_txt=st.floats(0.0, 3.0))
def test_weights_invariant_to_a_common_modality_offset(seed, scale_img, scale_txt):
    # the same vector added to every image (the modality gap) and another one to every
    # text (nouns and captions alike): centring removes both, the weights do not move
    X, U, V, rng = _planted(seed)
    gap = _unit(rng.standard_normal((2, X.shape[1])))
    W = _weights(X, U, V)
    W_moved = _weights(X + scale_img * gap[0], U + scale_txt * gap[1],
                       V + scale_txt * gap[1])
    np.testing.assert_allclose(W_moved, W, atol=1e-7)


def test_weights_move_away_from_a_text_view_that_disagrees_with_the_neighbourhood():
    rng = np.random.default_rng(0)
    n, d = 160, 8
    y = np.arange(n) % 4
    centres = _unit(rng.standard_normal((4, d)))
    X = _unit(centres[y] + 0.3 * rng.standard_normal((n, d)))  # look-alikes share y
    nouns = _unit(_unit(rng.standard_normal((4, d)))[y] + 0.05 * rng.standard_normal((n, d)))
    captions = _unit(_unit(rng.standard_normal((4, d)))[y] + 0.05 * rng.standard_normal((n, d)))
    rows = reference_rows(n)

    def weights(*views):
        Z = [torch.as_tensor(v) for v in views]
        return neighbourhood_weights(Z, [z[rows] for z in Z], 0.1).numpy()

    agree = weights(X, nouns, captions)
    # the same captions given to unrelated images: they disagree with the neighbourhood
    # of every image, and their weight goes to the image and to the nouns
    mixed = weights(X, nouns, captions[rng.permutation(n)])
    assert agree[:, 2].mean() > 0.3 and mixed[:, 2].mean() < 0.05
    assert (mixed[:, 0] > agree[:, 0]).mean() > 0.9
    assert (mixed[:, 2] < agree[:, 2]).mean() > 0.9
    # nouns given to unrelated images: they disagree with the image's own neighbourhood,
    # and the image and captions, judged on the nouns' (now random) neighbourhood,
    # score low too: the weights fall back toward uniform, the image gains
    wrong_nouns = weights(X, nouns[rng.permutation(n)], captions)
    assert wrong_nouns[:, 0].mean() > agree[:, 0].mean() + 0.2
    assert (wrong_nouns[:, 0] > agree[:, 0]).mean() > 0.9
    # two views: text that follows the image's neighbourhood takes the weight, text
    # given to unrelated images leaves it to the image
    two_agree, two_mixed = weights(X, nouns), weights(X, nouns[rng.permutation(n)])
    assert two_agree[:, 1].mean() > 0.7 and two_mixed[:, 0].mean() > 0.5
    # (with two views the image is judged on the text's neighbourhood, which is then
    # random too: the move is clear on average, not on every row)
    assert (two_mixed[:, 0] > two_agree[:, 0]).mean() > 0.75
    # a text view that says the same of every image carries no evidence: kappa 0
    same = np.repeat(nouns[:1], n, axis=0)
    Z = [torch.as_tensor(X), torch.as_tensor(same)]
    assert np.allclose(neighbourhood_scores(Z, [z[rows] for z in Z])[:, 1].numpy(), 0)
    # no view is ever among its own judges
    assert all(m not in J for m, J in enumerate(hierarchical_judges(3)))


def test_cae_stores_the_reference_and_transform_reproduces_fit():
    rng = np.random.default_rng(1)
    X = _unit(rng.standard_normal((90, 12)))
    space = FixedTextSpace(noun_embeddings=rng.standard_normal((10, 12)),
                           caption_embeddings=rng.standard_normal((6, 12)))
    cae = CAEClustering(n_clusters=3, semantic_space=space, kmeans_n_init=2,
                        random_state=0, device="cpu").fit(X)
    assert cae.fusion_reference_.shape == (3, 90, 12)
    F = cae.transform(X)
    np.testing.assert_allclose(cae.predict(X), cae.labels_)
    assert np.isfinite(F).all()
    proto = CAEClustering(n_clusters=3, semantic_space=space, weighting="prototype",
                          kmeans_n_init=2, random_state=0, device="cpu").fit(X)
    assert proto.fusion_reference_ is None
    assert not np.allclose(proto.fusion_weights_, cae.fusion_weights_)
