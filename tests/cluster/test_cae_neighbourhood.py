"""CAE's fusion weights from the images' neighbourhoods (``weighting="neighbourhood"``,
per image shrunk toward the view's mean; ``"neighbourhood_per_view"``, one weight per
view; ``"neighbourhood_per_image"``)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

torch = pytest.importorskip("torch")

from skclip.cluster import CAEClustering  # noqa: E402
from skclip.cluster._fusion import centred_unit, fuse, view_rows  # noqa: E402
from skclip.cluster._neighbourhood import (  # noqa: E402
    PER_IMAGE_SHARE, hierarchical_judges, neighbourhood_scores, neighbourhood_weights,
    reference_rows, shrunk_weights, view_scores, view_weights,
)
from tests._spaces import FixedTextSpace  # noqa: E402

_finite = st.floats(-1, 1, allow_nan=False, width=32)
SHRUNK_PURITY_GAIN = 0.03


def _unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)


def _weights(X, U, V, gamma=0.1, share=1.0):
    """CAE's path from raw embeddings to neighbourhood weights: centre each modality
    (its mean removed, rows renormalised), softmax rows at eps 0.05 (captions queried
    with the image and its noun counterpart), then the weights."""
    Xc = centred_unit(X, X.mean(axis=0))
    Uc, Vc = centred_unit(U, U.mean(axis=0)), centred_unit(V, V.mean(axis=0))
    g = [np.zeros(len(Uc)), np.zeros(len(Vc))]
    views = view_rows(Xc, [Uc, Vc], g, eps=0.05, weight_by_similarity=True, block_size=32,
                      device="cpu", hierarchical=True)
    rows = reference_rows(len(X))
    reference = [torch.as_tensor(v[rows]) for v in views]
    Z = [torch.as_tensor(v) for v in views]
    if share == 0:
        return view_weights(reference, gamma).numpy()
    if share == 1:
        return neighbourhood_weights(Z, reference, gamma).numpy()
    return shrunk_weights(Z, reference, gamma, view_scores(reference), share).numpy()


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
    # one weight per view: the mean score of the reference images, judged among them
    kbar = view_scores(R).numpy()
    np.testing.assert_allclose(kbar, neighbourhood_scores(R, R, judges=hierarchical_judges(
        n_views)).double().mean(dim=0).numpy())
    w = view_weights(R, gamma).numpy()
    assert w.shape == (n_views,) and (w >= 0).all()
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-6)
    # the default: per image, shrunk toward the view's mean; the two ends are the others
    judges = hierarchical_judges(n_views)
    for share in (0.0, PER_IMAGE_SHARE, 1.0):
        Ws = shrunk_weights(Z, R, gamma, view_scores(R), share).numpy()
        assert Ws.shape == (7, n_views) and (Ws >= 0).all() and (Ws <= 1).all()
        np.testing.assert_allclose(Ws.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(shrunk_weights(Z, R, gamma, view_scores(R), 1.0).numpy(),
                               neighbourhood_weights(Z, R, gamma, judges=judges).numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(shrunk_weights(Z, R, gamma, view_scores(R), 0.0).numpy(),
                               np.broadcast_to(w, (7, n_views)), atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale_img=st.floats(0.0, 3.0),
       scale_txt=st.floats(0.0, 3.0))
def test_weights_invariant_to_a_common_modality_offset(seed, scale_img, scale_txt):
    # the same vector added to every image (the modality gap) and another one to every
    # text (nouns and captions alike): centring removes both, the weights do not move
    X, U, V, rng = _planted(seed)
    gap = _unit(rng.standard_normal((2, X.shape[1])))
    for share in (1.0, PER_IMAGE_SHARE, 0.0):
        W = _weights(X, U, V, share=share)
        W_moved = _weights(X + scale_img * gap[0], U + scale_txt * gap[1],
                           V + scale_txt * gap[1], share=share)
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


def test_default_weights_move_per_image_toward_the_image_where_texts_disagree():
    """The default (shrunk) weights are per sample: in one collection, images whose
    captions describe other images give the captions less weight and the image more
    than images whose captions describe their look-alikes."""
    rng = np.random.default_rng(0)
    n, d = 200, 8
    y = np.arange(n) % 4
    centres = _unit(rng.standard_normal((4, d)))
    X = _unit(centres[y] + 0.3 * rng.standard_normal((n, d)))
    nouns = _unit(_unit(rng.standard_normal((4, d)))[y] + 0.05 * rng.standard_normal((n, d)))
    captions = _unit(_unit(rng.standard_normal((4, d)))[y] + 0.05 * rng.standard_normal((n, d)))
    wrong = rng.random(n) < 0.3  # these images get the captions of random others
    captions[wrong] = captions[rng.choice(np.flatnonzero(~wrong), wrong.sum())]
    Z = [torch.as_tensor(v) for v in (X, nouns, captions)]
    R = [z[reference_rows(n)] for z in Z]
    W = shrunk_weights(Z, R, 0.1, view_scores(R), PER_IMAGE_SHARE).numpy()
    assert W[wrong, 2].mean() < 0.85 * W[~wrong, 2].mean()
    assert W[wrong, 0].mean() > W[~wrong, 0].mean()
    assert W.std(axis=0).max() > 1e-3  # never one constant row


def test_one_weight_per_view_does_not_follow_a_nuisance_the_nouns_share():
    """Styles shared across classes: the image shows class and style, the nouns the
    class with some of the style, the captions the style alone. Per image, the
    captions score high wherever the nouns' neighbourhood happens to share a style,
    and those images are pulled toward their style; one weight per view gives the
    captions less weight and keeps the fused neighbourhoods within the class."""
    rng = np.random.default_rng(0)
    n, d = 400, 16
    y, style = np.arange(n) % 4, rng.integers(4, size=n)
    cls, sty = _unit(rng.standard_normal((4, d))), _unit(rng.standard_normal((4, d)))
    X = _unit(cls[y] + 1.2 * sty[style] + 0.3 * rng.standard_normal((n, d)))
    nouns = _unit(cls[y] + 0.5 * sty[style] + 0.2 * rng.standard_normal((n, d)))
    captions = _unit(sty[style] + 0.2 * rng.standard_normal((n, d)))
    Z = [torch.as_tensor(v) for v in (X, nouns, captions)]
    R = [z[reference_rows(n)] for z in Z]
    per_view = view_weights(R, 0.1)
    per_image = neighbourhood_weights(Z, R, 0.1)
    assert per_view[2] < per_image[:, 2].mean() - 0.03

    def class_purity(W):  # share of the 10 nearest fused rows in the same class
        F = fuse(Z, W, "weighted_sum").numpy()
        S = F @ F.T
        np.fill_diagonal(S, -3)
        return (y[np.argsort(-S, axis=1)[:, :10]] == y[:, None]).mean()

    assert class_purity(per_view.expand(n, 3)) > class_purity(per_image) + 0.05
    # the default, per image but shrunk toward the view's mean, is not pulled either
    shrunk = shrunk_weights(Z, R, 0.1, view_scores(R), PER_IMAGE_SHARE)
    assert class_purity(shrunk) > class_purity(per_image) + SHRUNK_PURITY_GAIN


@pytest.mark.parametrize("weighting", ["neighbourhood", "neighbourhood_per_view",
                                       "neighbourhood_per_image"])
def test_cae_weights_per_view_or_per_image(weighting):
    rng = np.random.default_rng(2)
    X = _unit(rng.standard_normal((90, 12)))
    space = FixedTextSpace(noun_embeddings=rng.standard_normal((10, 12)),
                           caption_embeddings=rng.standard_normal((6, 12)))
    cae = CAEClustering(n_clusters=3, semantic_space=space, weighting=weighting,
                        kmeans_n_init=2, random_state=0, device="cpu").fit(X)
    W = cae.fusion_weights_
    np.testing.assert_allclose(W.sum(axis=1), 1.0, rtol=1e-5)
    same_rows = np.allclose(W, W[:1])
    assert same_rows == (weighting == "neighbourhood_per_view")
    np.testing.assert_allclose(cae.transform(X), cae.transform(X[::-1])[::-1], atol=1e-6)


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
