"""CAE's certified top-k counterparts (``topk``) against the dense rows."""

import numpy as np
import pytest

from skclip.cluster import CAEClustering
from skclip.datasets import make_clip_blobs
from tests._spaces import FixedTextSpace

K = 4


@pytest.fixture(scope="module")
def data():
    """600 images, 4 clusters, a modality gap, 40 nouns (with distractors), 24 captions."""
    d = make_clip_blobs(n_samples=600, n_clusters=K, n_features=32, spread=0.5,
                        n_texts_per_cluster=4, n_distractor_texts=24, n_captions=24,
                        modality_gap=0.5, random_state=0)
    return d.X, FixedTextSpace(d.text_embeddings, d.caption_embeddings)


def _assert_fused_close(A, B, *, atol=1e-4):
    """Fused rows equal to ``atol``, except under 3% of the rows: a row whose 10 fusion
    neighbours (ranked on cosines rounded to 1e-5) hold a near-tie may swap one of them
    under float rounding, which moves its view weights, so the whole row, by up to
    ~4e-3 per image (``weighting="neighbourhood_per_image"``; about 1.5% of the rows
    here with pooled nouns), a quarter of that with the default's weights (the image's
    share), ~1e-5 with one weight per view."""
    far = (np.abs(A - B) > atol).any(axis=1)
    assert far.mean() < 0.03, f"{far.mean():.2%} of the fused rows differ by > {atol}"
    np.testing.assert_allclose(A, B, atol=5e-3)


def _cae(space, **kw):
    return CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2,
                         random_state=0, device="cpu", **kw)


@pytest.mark.parametrize("relax_columns", [True, False])
def test_topk_equals_dense_rows_up_to_the_certified_mass(data, relax_columns):
    X, space = data
    dense = _cae(space, topk=None, relax_columns=relax_columns).fit(X)
    sparse = _cae(space, topk=3, relax_columns=relax_columns).fit(X)
    assert dense.ot_topk_ == {}
    cert = sparse.ot_topk_["nouns"]
    assert cert["k"] == 3 and cert["n_rows"] == len(X)
    assert cert["max_outside_mass"] <= sparse.ot_tol
    # the counterpart moves by at most ~ the mass left out: fused rows agree closely
    _assert_fused_close(sparse.transform(X), dense.transform(X))
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_array_equal(sparse.predict(X[:50]), dense.predict(X[:50]))


def test_all_texts_kept_is_the_dense_result(data):
    X, space = data
    dense = _cae(space, topk=None).fit(X)
    full = _cae(space, topk=1000).fit(X)
    assert full.ot_topk_["nouns"]["n_widened"] == 0
    # equal up to float rounding, which may swap a near-tied neighbour of the fusion
    # (and moves the views' mean agreement, so every row, by ~1e-5)
    F_full, F_dense = full.transform(X), dense.transform(X)
    close = np.abs(F_full - F_dense).max(axis=1) <= 3e-5
    assert close.mean() > 0.97
    _assert_fused_close(F_full, F_dense)
    np.testing.assert_array_equal(full.labels_, dense.labels_)


def test_a_loose_tolerance_keeps_k_and_a_tight_one_widens_rows(data):
    X, space = data
    loose = _cae(space, topk=1, ot_tol=0.5).fit(X)
    tight = _cae(space, topk=1, ot_tol=1e-9).fit(X)
    assert loose.ot_topk_["nouns"]["max_width"] >= 1
    assert tight.ot_topk_["nouns"]["n_widened"] > loose.ot_topk_["nouns"]["n_widened"]
    assert tight.ot_topk_["captions"]["max_outside_mass"] <= 1e-9


def test_auto_is_dense_for_small_text_sets(data):
    X, space = data
    est = _cae(space).fit(X)
    assert est.topk == "auto" and est.ot_topk_ == {}
    assert est.ot_n_iter_ == {"nouns": 0, "captions": 0}  # softmax rows: no solver


def test_bad_topk(data):
    X, space = data
    for bad in (0, -2, "dense", 1.5):
        with pytest.raises((ValueError, TypeError)):
            _cae(space, topk=bad).fit(X)


def test_a_failed_sparse_solve_falls_back_to_the_dense_one(data, monkeypatch):
    import skclip.cluster._fusion as fusion
    from sklearn.exceptions import ConvergenceWarning

    from skclip.ot import OTResult

    X, space = data
    real = fusion.sinkhorn_cosine
    calls = []

    def failing(X_, T_, topk=None, **kw):
        calls.append(topk)
        if topk is None:
            return real(X_, T_, topk=None, **kw)
        g = np.full(len(T_), 1e4, dtype=X_.dtype)  # garbage of a failed solve
        g[0] = np.inf
        return OTResult(None, np.zeros(len(X_), X_.dtype), g, 3, 1.0, False,
                        certified=True, topk=topk)

    monkeypatch.setattr(fusion, "sinkhorn_cosine", failing)
    with pytest.warns(ConvergenceWarning, match="full cost"):
        cae = _cae(space, topk=3, relax_columns=False).fit(X)
    assert calls and calls[0] is not None and None in calls  # sparse tried, dense used
    Z = cae.transform(X)
    assert np.isfinite(Z).all() and np.isfinite(cae.labels_).all()
    monkeypatch.setattr(fusion, "sinkhorn_cosine", real)
    dense = _cae(space, topk=3, relax_columns=False).fit(X)
    _assert_fused_close(Z, dense.transform(X))
