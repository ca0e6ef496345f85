"""CAEClustering on synthetic embeddings with planted clusters and text anchors."""

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from skclip.cluster import CAEClustering
from skclip.datasets import make_clip_blobs
from skclip.metrics import clustering_accuracy
from tests._spaces import FixedTextSpace

K, D = 4, 32
# the literal reading of the summary
PAPER = {"relax_columns": False, "fusion": "paper", "gamma": 0.01}


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def blobs():
    """900 images in 4 clusters; nouns and captions are anchors near the centres."""
    data = make_clip_blobs(
        n_samples=900, n_clusters=K, n_features=D, spread=0.5, n_texts_per_cluster=6,
        text_spread=0.3, random_state=0,
    )
    T = data.text_embeddings
    rng = np.random.RandomState(1)
    order = rng.permutation(len(T))
    nouns, captions = T[order[: len(T) // 2]], T[order[len(T) // 2 :]]
    return data, FixedTextSpace(nouns, captions)


def _fit(blobs, **params):
    data, space = blobs
    params = {"n_clusters": K, "semantic_space": space, "kmeans_n_init": 3,
              "random_state": 0, "device": "cpu", **params}
    return CAEClustering(**params).fit(data.X[:600])


def test_recovers_planted_clusters_and_predicts_fresh_samples(blobs):
    data, _ = blobs
    cae = _fit(blobs)
    assert clustering_accuracy(data.y[:600], cae.labels_) > 0.98
    # predict (stored potentials, nearest stored centre) reproduces the fitted labels
    assert np.mean(cae.predict(data.X[:600]) == cae.labels_) > 0.99
    fresh = cae.predict(data.X[600:])
    assert clustering_accuracy(data.y[600:], fresh) > 0.98
    # fresh samples land in the cluster their class was given at fit time
    mapping = {c: np.bincount(cae.labels_[data.y[:600] == c]).argmax() for c in range(K)}
    expected = np.array([mapping[c] for c in data.y[600:]])
    assert np.mean(fresh == expected) > 0.98
    assert cae.modalities_ == ["image", "nouns", "captions"]
    assert cae.cluster_centers_.shape == (K, D)  # weighted sum: one space
    assert cae.n_iter_ >= 1


def test_fusion_weights_are_a_distribution(blobs):
    cae = _fit(blobs)
    W = cae.fusion_weights_
    assert W.shape == (600, 3)
    assert np.all(W >= 0)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, rtol=1e-5)
    # gamma matters: the weights are not uniform at the default gamma
    assert W.std() > 1e-3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_balanced_ot_spreads_mass_over_texts(blobs):
    """Rows of the plan rebuilt from g_u_ have column means 1/m (balanced marginal)."""
    data, _ = blobs
    # text_pool=1: pooled with their 2 nearest nouns, the ~3 nouns of a class here
    # become one column repeated, whose balanced share (3/12) is not its class's
    # share of the 600 images; Sinkhorn then stalls at eps=0.01 (marginal error ~1e-2)
    cae = _fit(blobs, relax_columns=False, ot_iters=2000, ot_tol=1e-7, text_pool=1)
    # the transport runs between the centred modalities
    X = _unit(_unit(data.X[:600].astype(np.float64)) - cae.image_mean_)
    U = _unit(cae.noun_embeddings_.astype(np.float64) - cae.noun_mean_)
    K = cae.noun_pooled_.astype(np.float64)  # the nouns as the images meet them
    P = softmax((cae.g_u_[None, :] - (1 - X @ K.T)) / cae.ot_eps, axis=1)
    np.testing.assert_allclose(P.mean(axis=0), 1.0 / len(U), atol=2e-3)
    # the captions are transported from the queries normalise(x + x^u): balanced too
    Q = _unit(X + _unit((P * (X @ K.T)) @ U))
    V = _unit(cae.caption_embeddings_.astype(np.float64) - cae.caption_mean_)
    P = softmax((cae.g_v_[None, :] - (1 - Q @ V.T)) / cae.ot_eps, axis=1)
    np.testing.assert_allclose(P.mean(axis=0), 1.0 / len(V), atol=2e-3)


def test_relax_columns_is_softmax_retrieval(blobs):
    data, space = blobs
    eps = 0.02
    for weighted in (False, True):
        cae = _fit(blobs, relax_columns=True, weight_by_similarity=weighted, ot_eps=eps,
                   fusion="concat", caption_query="image")
        assert not np.any(cae.g_u_) and not np.any(cae.g_v_)  # no Sinkhorn
        X = _unit(_unit(data.X[:50].astype(np.float64)) - cae.image_mean_)
        parts = [X]
        for T, mean, pool in ((cae.noun_embeddings_, cae.noun_mean_, 3),
                              (cae.caption_embeddings_, cae.caption_mean_, 1)):
            T = _unit(T - mean)
            S = X @ _pooled(T, pool).T  # only the nouns are pooled
            P = softmax(S / eps, axis=1) * (S if weighted else 1.0)
            parts.append(_unit(P @ T))
        expected = np.hstack(parts) / np.sqrt(3)
        np.testing.assert_allclose(cae.transform(data.X[:50]), expected, atol=2e-5)


def test_large_gamma_gives_plain_concatenation(blobs):
    data, _ = blobs
    weighted = _fit(blobs, fusion="weighted_concat", gamma=1e6).transform(data.X[:100])
    plain = _fit(blobs, fusion="concat").transform(data.X[:100])
    np.testing.assert_allclose(weighted, plain, atol=1e-5)


def test_weighted_sum_shape_and_unit_rows(blobs):
    data, _ = blobs
    cae = _fit(blobs, fusion="weighted_sum")
    F = cae.transform(data.X[:20])
    assert F.shape == (20, D)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, rtol=1e-5)


def test_same_random_state_same_result(blobs):
    a, b = _fit(blobs, random_state=3), _fit(blobs, random_state=3)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_row_blocks_do_not_change_the_result(blobs):
    data, _ = blobs
    whole, blocked = _fit(blobs), _fit(blobs, ot_batch=37)
    np.testing.assert_allclose(blocked.g_u_ - blocked.g_u_.mean(),
                               whole.g_u_ - whole.g_u_.mean(), atol=1e-5)
    # float32 X.T^T rounds differently per block size and the solver stops anywhere
    # within ot_tol of the optimum: features agree to a few 1e-5
    np.testing.assert_allclose(blocked.transform(data.X), whole.transform(data.X), atol=5e-5)


def _reference_fused(X, U, V, eps, gamma, n_iter):
    """float64 numpy CAE features: log-domain Sinkhorn, OT counterparts, fusion."""
    X = _unit(X.astype(np.float64))
    parts = [X]
    for T in (U, V):
        T = T.astype(np.float64)
        S = X @ T.T
        C = 1 - S
        n, m = C.shape
        f, g = np.zeros(n), np.zeros(m)
        for _ in range(n_iter):
            f = eps * np.log(1 / n) - eps * logsumexp((g[None] - C) / eps, axis=1)
            g = eps * np.log(1 / m) - eps * logsumexp((f[:, None] - C) / eps, axis=0)
        P = softmax((g[None] - C) / eps, axis=1)
        W = P * np.maximum(S, 0)  # negative similarities weigh 0 (no sign flip)
        W[W.sum(1) <= 0] = P[W.sum(1) <= 0]
        parts.append(_unit(W @ T))
    proto = _unit(sum(parts) / 3)
    W = softmax(np.stack([(z * proto).sum(1) for z in parts], axis=1) / gamma, axis=1)
    return _unit(np.hstack([W[:, [m]] * z for m, z in enumerate(parts)])), W


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol=0
def test_paper_float32_matches_float64_reference(blobs):
    data, space = blobs
    X = data.X[:300]
    # tol=0: the solver runs to the precision floor; the reference Sinkhorn is run to
    # convergence (500 iterations left a marginal error of 6e-5 on these data)
    params = dict(n_clusters=K, semantic_space=space, ot_eps=0.05, ot_iters=500,
                  ot_tol=0.0, kmeans_n_init=2, random_state=0, device="cpu", **PAPER)
    cae = CAEClustering(**params).fit(X.astype(np.float32))
    F_ref, W_ref = _reference_fused(X, space.noun_embeddings, space.caption_embeddings,
                                    eps=0.05, gamma=0.01, n_iter=5000)
    assert cae.transform(X).dtype == np.float32
    np.testing.assert_allclose(cae.transform(X), F_ref, atol=2e-4)
    np.testing.assert_allclose(cae.fusion_weights_, W_ref, atol=2e-3)
    cae64 = CAEClustering(**params).fit(X.astype(np.float64))
    assert cae64.transform(X.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(cae64.transform(X.astype(np.float64)), F_ref, atol=1e-6)
    # "paper" never centres, whatever center_modalities says
    assert not np.any(cae.image_mean_) and not np.any(cae.noun_mean_)


def _pooled(T, n_pool):
    """Each row the mean of itself and its ``n_pool - 1`` most similar rows."""
    near = np.argsort(-(T @ T.T), axis=1, kind="stable")[:, :n_pool]  # itself first
    return T[near].mean(axis=1)


def _reference_views(X, X_fit, U, V, eps, hierarchical=True, text_pool=3):
    """float64 numpy views of the default: centring, softmax plan rows over the pooled
    nouns (the captions as they are), captions queried with the image and its noun
    counterpart; a counterpart combines the texts themselves."""
    X, X_fit = _unit(X.astype(np.float64)), _unit(X_fit.astype(np.float64))
    Xc = _unit(X - X_fit.mean(axis=0))
    parts = [Xc]
    for T, pool in ((U, text_pool), (V, 1)):
        T = _unit(T.astype(np.float64))
        Tc = _unit(T - T.mean(axis=0))
        Q = _unit(Xc + parts[1]) if hierarchical and len(parts) == 2 else Xc
        S = Q @ _pooled(Tc, pool).T
        parts.append(_unit((softmax(S / eps, axis=1) * S) @ Tc))
    return parts


def _reference_kappa(parts, ref):
    """Agreement of each view of rows ``parts`` with the neighbourhood its judges see
    (10 nearest reference images), chance-corrected, (n, 3)."""
    kappa = []
    judges = [[1], [0, 2], [1]]  # image and captions by the nouns, nouns by the others
    for m, (z, R) in enumerate(zip(parts, ref)):
        # view m is judged on the 10 nearest reference images in its judges' sum
        q = _unit(sum(parts[j] for j in judges[m]))
        qr = _unit(sum(ref[j] for j in judges[m]))
        S = q @ qr.T
        S[parts[0] @ ref[0].T > 1 - 1e-5] = -3  # the query itself (by its image)
        S = np.round(S * 1e5)  # ranked at a resolution of 1e-5, ties to the lowest index
        idx = np.argsort(-S, axis=1, kind="stable")[:, :10]
        local = np.einsum("bd,bkd->b", z, R[idx]) / 10
        glob = z @ R.mean(axis=0)
        kappa.append((local - glob) / (1 - glob))
    return np.stack(kappa, axis=1)


def _reference_default(X, X_fit, U, V, eps, gamma, hierarchical=True, share=0.25):
    """float64 numpy features of the default: the views, then weights from each view's
    agreement with the neighbourhood its judges see (reference images: evenly spaced
    training rows), each image's moved toward the mean over the reference images
    (``share`` of the image's own left: 1 per image, 0 one weight per view); weighted
    sum."""
    parts = _reference_views(X, X_fit, U, V, eps, hierarchical)
    rows = np.unique(np.linspace(0, len(X_fit) - 1, min(len(X_fit), 2048)).round()
                     .astype(int))
    ref = [z[rows] for z in _reference_views(X_fit, X_fit, U, V, eps, hierarchical)]
    kappa = _reference_kappa(parts, ref)
    # each reference image judged among the others (itself left out)
    kbar = _reference_kappa(ref, ref).mean(axis=0)
    W = softmax((kbar + share * (kappa - kbar)) / gamma, axis=1)
    return _unit(sum(W[:, [m]] * z for m, z in enumerate(parts))), W


@pytest.mark.parametrize("dtype, atol", [(np.float32, 2e-4), (np.float64, 1e-8)])
def test_default_matches_numpy_reference(blobs, dtype, atol):
    data, space = blobs
    X_fit, X_new = data.X[:300].astype(dtype), data.X[300:400].astype(dtype)
    cae = CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2,
                        random_state=0, device="cpu").fit(X_fit)
    for X in (X_fit, X_new):  # new images reuse the stored means
        F_ref, W_ref = _reference_default(X, X_fit, space.noun_embeddings,
                                          space.caption_embeddings, eps=0.01, gamma=0.1)
        F = cae.transform(X)
        assert F.dtype == dtype
        np.testing.assert_allclose(F, F_ref, atol=atol)
    np.testing.assert_allclose(cae.fusion_weights_, _reference_default(
        X_fit, X_fit, space.noun_embeddings, space.caption_embeddings, 0.01, 0.1)[1],
        atol=atol * 10)
    # weights per image: each image judged on its own neighbourhood
    per = CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2, random_state=0,
                        device="cpu", weighting="neighbourhood_per_image").fit(X_fit)
    for X in (X_fit, X_new):
        F_ref = _reference_default(X, X_fit, space.noun_embeddings,
                                   space.caption_embeddings, eps=0.01, gamma=0.1,
                                   share=1.0)[0]
        np.testing.assert_allclose(per.transform(X), F_ref, atol=atol)
    # one weight per view: the mean agreement alone
    view = CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2, random_state=0,
                         device="cpu", weighting="neighbourhood_per_view").fit(X_fit)
    F_ref, W_ref = _reference_default(X_new, X_fit, space.noun_embeddings,
                                      space.caption_embeddings, eps=0.01, gamma=0.1,
                                      share=0.0)
    np.testing.assert_allclose(view.transform(X_new), F_ref, atol=atol)
    np.testing.assert_allclose(W_ref, W_ref[:1].repeat(len(W_ref), axis=0))
    # the default's weights are per sample (never one constant row)
    assert cae.fusion_weights_.std(axis=0).max() > 1e-3


def test_caption_query_image_aligns_captions_with_the_image(blobs):
    data, space = blobs
    X = data.X[:300]
    cae = CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2, random_state=0,
                        device="cpu", caption_query="image").fit(X)
    F_ref, _ = _reference_default(X, X, space.noun_embeddings, space.caption_embeddings,
                                  eps=0.01, gamma=0.1, hierarchical=False)
    np.testing.assert_allclose(cae.transform(X), F_ref, atol=2e-4)
    # without nouns there is nothing to align under: the captions follow the image
    a = _fit(blobs, use_nouns=False).transform(X)
    b = _fit(blobs, use_nouns=False, caption_query="image").transform(X)
    np.testing.assert_array_equal(a, b)


def _into_cone(E, offset, share):
    """CLIP-like cone: unit rows sqrt(1 - share) * E + sqrt(share) * offset."""
    return (np.sqrt(1 - share) * E + np.sqrt(share) * offset).astype(np.float32)


def test_default_is_invariant_to_a_modality_gap():
    """Shifting images and texts into two narrow cones changes nothing after centring."""
    rng = np.random.RandomState(0)
    data = make_clip_blobs(n_samples=400, n_clusters=K, n_features=D, spread=0.6,
                           random_state=0)
    # content orthogonal to the two offsets, so each cone is an exact affine image
    Q = np.linalg.qr(rng.standard_normal((D, 2)))[0]
    strip = lambda E: _unit(E - (E @ Q) @ Q.T)  # noqa: E731
    X, T = strip(data.X.astype(np.float64)), strip(data.text_embeddings.astype(np.float64))
    nouns, captions = T[::2], T[1::2]
    gap = dict(X=_into_cone(X, Q[:, 0], 0.65), nouns=_into_cone(nouns, Q[:, 1], 0.65),
               captions=_into_cone(captions, Q[:, 1], 0.65))
    assert (gap["X"] @ gap["nouns"].T).max() < 0.5 < np.median(gap["X"] @ gap["X"].T)
    fitted = []
    for d in (dict(X=X, nouns=nouns, captions=captions), gap):
        space = FixedTextSpace(d["nouns"], d["captions"])
        cae = CAEClustering(n_clusters=K, semantic_space=space, kmeans_n_init=2,
                            random_state=0, device="cpu").fit(d["X"].astype(np.float32))
        fitted.append((cae, d["X"].astype(np.float32)))
    (flat, X_flat), (clip, X_clip) = fitted
    # float32: a few rows change one of their 10 neighbours of the fusion weights on a
    # near-tie broken by rounding (weights then move by ~1e-3); in float64, 1e-4
    np.testing.assert_allclose(clip.transform(X_clip), flat.transform(X_flat), atol=3e-3)
    assert np.mean(np.abs(clip.transform(X_clip) - flat.transform(X_flat)) > 1e-4) < 0.01
    np.testing.assert_array_equal(clip.labels_, flat.labels_)
    assert clustering_accuracy(data.y, clip.labels_) > 0.95


@pytest.mark.parametrize(
    "use_nouns, use_captions, modalities",
    [(True, False, ["image", "nouns"]), (False, True, ["image", "captions"]),
     (False, False, ["image"])],
)
def test_ablations(blobs, use_nouns, use_captions, modalities):
    data, _ = blobs
    cae = _fit(blobs, use_nouns=use_nouns, use_captions=use_captions)
    assert cae.modalities_ == modalities
    assert cae.transform(data.X[:5]).shape == (5, D)
    assert cae.fusion_weights_.shape == (600, len(modalities))
    assert (len(cae.nouns_) > 0) == use_nouns
    assert (cae.caption_embeddings_.shape[0] > 0) == use_captions
    if modalities == ["image"]:
        centred = _unit(_unit(data.X[:5]) - cae.image_mean_)
        np.testing.assert_allclose(cae.transform(data.X[:5]), centred, atol=1e-6)


def test_space_without_captions_uses_image_and_nouns(blobs):
    data, space = blobs
    cae = CAEClustering(n_clusters=K, semantic_space=FixedTextSpace(space.noun_embeddings),
                        kmeans_n_init=2, random_state=0).fit(data.X[:200])
    assert cae.modalities_ == ["image", "nouns"]
    assert cae.g_v_.shape == (0,) and cae.captions_ == []
    assert cae.g_u_.shape == (len(space.noun_embeddings),)


def test_semantic_space_parameter_is_cloned(blobs):
    data, space = blobs
    cae = _fit(blobs)
    assert cae.semantic_space_ is not space
    assert not hasattr(space, "noun_embeddings_")  # the parameter itself stays unfitted
    assert cae.nouns_ == cae.semantic_space_.nouns_


def test_pickle_roundtrip_predicts_identically(blobs):
    data, _ = blobs
    cae = _fit(blobs)
    again = pickle.loads(pickle.dumps(cae))
    np.testing.assert_array_equal(again.predict(data.X[600:]), cae.predict(data.X[600:]))


def test_errors(blobs):
    data, space = blobs
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        CAEClustering(n_clusters=4, semantic_space=space).fit(data.X[:3])
    for bad in (np.nan, np.inf):
        X = data.X[:50].copy()
        X[3, 2] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            CAEClustering(n_clusters=2, semantic_space=space).fit(X)
    wrong = FixedTextSpace(np.ones((3, D + 1)))
    with pytest.raises(ValueError, match="different CLIP models"):
        CAEClustering(n_clusters=2, semantic_space=wrong).fit(data.X[:50])
    cae = _fit(blobs)
    with pytest.raises(ValueError, match="features"):
        cae.predict(data.X[:5, :-1])
    X = data.X[:5].copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cae.predict(X)
    with pytest.raises(ValueError, match="fusion"):
        CAEClustering(n_clusters=2, semantic_space=space, fusion="mean").fit(data.X[:50])


def test_text_pool_pools_the_retrieval_of_nouns_only(blobs):
    """Nouns meet the images pooled with their nearest nouns; the counterpart still
    combines the nouns themselves; captions are not pooled; new images see the same
    stored pooled nouns (a pickled estimator too)."""
    data, _ = blobs
    X = data.X[:200]
    cae = _fit(blobs, text_pool=3, fusion="concat", caption_query="image")
    U = _unit(cae.noun_embeddings_.astype(np.float64) - cae.noun_mean_)
    np.testing.assert_allclose(cae.noun_pooled_, _pooled(U, 3), atol=1e-6)
    assert np.all(np.linalg.norm(cae.noun_pooled_, axis=1) < 1 - 1e-3)  # not re-normalised
    Xc = _unit(_unit(X.astype(np.float64)) - cae.image_mean_)
    S = Xc @ cae.noun_pooled_.astype(np.float64).T
    nouns = _unit((softmax(S / cae.ot_eps, axis=1) * S) @ U)  # summed: the nouns themselves
    d = X.shape[1]
    F = cae.transform(X)
    np.testing.assert_allclose(F[:, d : 2 * d] * np.sqrt(3), nouns, atol=2e-5)
    again = pickle.loads(pickle.dumps(cae))
    np.testing.assert_array_equal(again.transform(X), F)
    # captions as they are: the caption block equals that of text_pool=1
    plain = _fit(blobs, text_pool=1, fusion="concat", caption_query="image")
    np.testing.assert_allclose(plain.noun_pooled_, U, atol=1e-6)
    np.testing.assert_allclose(plain.transform(X)[:, 2 * d :], F[:, 2 * d :], atol=1e-6)
    assert not np.allclose(plain.transform(X)[:, d : 2 * d], F[:, d : 2 * d], atol=1e-3)


def test_text_pool_is_ignored_by_the_literal_reading(blobs):
    data, _ = blobs
    a = _fit(blobs, text_pool=1, **PAPER).transform(data.X[:100])
    b = _fit(blobs, text_pool=4, **PAPER).transform(data.X[:100])
    np.testing.assert_array_equal(a, b)


def test_text_pool_is_validated(blobs):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="text_pool"):
        _fit(blobs, text_pool=0)
