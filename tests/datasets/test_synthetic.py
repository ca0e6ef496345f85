import numpy as np
import pytest

from skclip.datasets import make_clip_blobs


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_shapes_dtypes_and_unit_norm():
    data = make_clip_blobs(
        n_samples=200, n_clusters=4, n_features=32, n_texts_per_cluster=3,
        n_hub_texts=2, n_polysemous_texts=5, random_state=0,
    )
    m = 4 * 3 + 5 + 2
    assert data.X.shape == (200, 32) and data.X.dtype == np.float32
    assert data.y.shape == (200,) and data.y.dtype == np.int64
    assert data.text_embeddings.shape == (m, 32) and data.text_embeddings.dtype == np.float32
    for key in ("text_labels", "text_names", "text_kind", "text_misaligned",
                "text_secondary_labels"):
        assert len(data[key]) == m
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(data.text_embeddings, axis=1), 1, atol=1e-5)
    assert len(set(data.text_names.tolist())) == m
    assert set(data.y.tolist()) == {0, 1, 2, 3}
    assert (data.text_labels[data.text_kind == "hub"] == -1).all()
    assert (data.text_labels[data.text_kind != "hub"] >= 0).all()


def test_deterministic_with_random_state():
    kw = dict(n_samples=100, n_clusters=3, n_features=16, n_hub_texts=1,
              n_polysemous_texts=2, misaligned_fraction=0.3)
    a, b = make_clip_blobs(**kw, random_state=7), make_clip_blobs(**kw, random_state=7)
    c = make_clip_blobs(**kw, random_state=8)
    for key in ("X", "y", "text_embeddings", "text_labels", "text_misaligned"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a.X, c.X)


@pytest.mark.parametrize("imbalance", [1.0, 4.0, 10.0])
def test_imbalance_ratio(imbalance):
    data = make_clip_blobs(n_samples=1000, n_clusters=5, n_features=8,
                           imbalance=imbalance, random_state=0)
    counts = np.bincount(data.y)
    assert counts.sum() == 1000
    assert counts.max() / counts.min() == pytest.approx(imbalance, rel=0.05)
    assert np.all(np.diff(counts) <= 0)  # class 0 largest


def test_samples_are_near_their_class_centre():
    data = make_clip_blobs(n_samples=300, n_clusters=5, n_features=64, spread=0.3,
                           random_state=0)
    sims = data.X @ data.centers.T
    assert (sims.argmax(axis=1) == data.y).mean() == 1.0
    # spread controls the distance to the centre
    far = make_clip_blobs(n_samples=300, n_clusters=5, n_features=64, spread=1.5,
                          random_state=0)
    own = (data.X * data.centers[data.y]).sum(1).mean()
    own_far = (far.X * far.centers[far.y]).sum(1).mean()
    assert own_far < own - 0.2


def test_center_similarity():
    data = make_clip_blobs(n_samples=50, n_clusters=10, n_features=512,
                           center_similarity=0.6, random_state=0)
    C = data.centers @ data.centers.T
    off = C[~np.eye(10, dtype=bool)]
    assert off.mean() == pytest.approx(0.6, abs=0.08)


def test_hubs_are_near_the_mean_of_texts():
    data = make_clip_blobs(n_samples=100, n_clusters=8, n_features=128,
                           n_texts_per_cluster=4, n_hub_texts=5, random_state=0)
    T, kind = data.text_embeddings, data.text_kind
    mean = _unit(T[kind != "hub"].mean(axis=0))
    assert (T[kind == "hub"] @ mean).min() > (T[kind == "class"] @ mean).max()
    # a hub is about equally similar to every class centre
    hub_sims = T[kind == "hub"] @ data.centers.T
    cls_sims = T[kind == "class"] @ data.centers.T
    assert np.ptp(hub_sims, axis=1).max() < np.ptp(cls_sims, axis=1).min()


def test_polysemous_texts_are_close_to_two_classes():
    data = make_clip_blobs(n_samples=100, n_clusters=6, n_features=128,
                           n_polysemous_texts=6, text_spread=0.1, random_state=0)
    poly = data.text_kind == "polysemous"
    sims = data.text_embeddings[poly] @ data.centers.T
    top2 = np.sort(np.argsort(-sims, axis=1)[:, :2], axis=1)
    pairs = np.sort(np.c_[data.text_labels[poly], data.text_secondary_labels[poly]], axis=1)
    np.testing.assert_array_equal(top2, pairs)
    assert (data.text_labels[poly] != data.text_secondary_labels[poly]).all()
    assert (data.text_secondary_labels[~poly] == -1).all()


def test_misaligned_anchors_sit_near_a_wrong_class():
    data = make_clip_blobs(n_samples=100, n_clusters=5, n_features=128,
                           n_texts_per_cluster=10, misaligned_fraction=0.2,
                           text_spread=0.2, random_state=0)
    mis = data.text_misaligned
    assert mis.sum() == 10  # round(0.2 * 50)
    nearest = (data.text_embeddings @ data.centers.T).argmax(axis=1)
    cls = data.text_kind == "class"
    assert (nearest[mis] != data.text_labels[mis]).all()
    assert (nearest[cls & ~mis] == data.text_labels[cls & ~mis]).all()


def test_no_misalignment_by_default():
    data = make_clip_blobs(n_samples=20, n_clusters=2, n_features=8, random_state=0)
    assert not data.text_misaligned.any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=3, n_clusters=5), "n_samples=3 must be >= n_clusters=5"),
        (dict(imbalance=0.5), "imbalance"),
        (dict(spread=-1.0), "spread"),
        (dict(misaligned_fraction=1.5), "misaligned_fraction"),
        (dict(n_clusters=1, n_polysemous_texts=2), "n_clusters >= 2"),
        (dict(center_similarity=1.0), "center_similarity"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_clip_blobs(**kwargs)


def test_anisotropy_concentrates_noise_and_is_harder_for_kmeans():
    from sklearn.cluster import KMeans

    from skclip.metrics import clustering_accuracy

    kw = dict(n_samples=600, n_clusters=6, n_features=128, spread=1.0,
              center_similarity=0.6, random_state=0)
    iso = make_clip_blobs(**kw)
    aniso = make_clip_blobs(**kw, anisotropy=1.5)
    np.testing.assert_allclose(np.linalg.norm(aniso.X, axis=1), 1, atol=1e-5)

    def top_share(data):  # share of the noise variance in its top 5 directions
        R = data.X - data.centers[data.y] * (data.X * data.centers[data.y]).sum(1)[:, None]
        s = np.linalg.svd(R - R.mean(0), compute_uv=False) ** 2
        return s[:5].sum() / s.sum()

    assert top_share(aniso) > 2 * top_share(iso)
    acc = {name: clustering_accuracy(d.y, KMeans(6, n_init=3, random_state=0).fit_predict(d.X))
           for name, d in [("iso", iso), ("aniso", aniso)]}
    assert acc["iso"] > 0.99 and acc["aniso"] < acc["iso"] - 0.1


def test_distractors_are_far_from_every_class():
    data = make_clip_blobs(n_samples=100, n_clusters=5, n_features=256,
                           n_distractor_texts=20, n_hub_texts=2, center_similarity=0.5,
                           random_state=0)
    kind = data.text_kind
    assert (kind == "distractor").sum() == 20
    assert (data.text_labels[kind == "distractor"] == -1).all()
    best_cls = (data.text_embeddings[kind == "class"] @ data.centers.T).max(axis=1)
    best_dis = (data.text_embeddings[kind == "distractor"] @ data.centers.T).max(axis=1)
    assert best_dis.max() < best_cls.min()
    # like class centres, distractors share the dataset's common direction
    assert (data.text_embeddings[kind == "distractor"] @ data.centers.T).mean() > 0.3


# --- CLIP's modality gap and captions -------------------------------------------------

_CLIP_KW = dict(n_samples=2000, n_clusters=10, n_features=64, center_similarity=0.2,
                anisotropy=2.0, n_hub_texts=10, n_captions=200, modality_gap=0.65,
                random_state=0)


def _median_quantiles(values):
    return np.median(values), np.quantile(values, 0.1), np.quantile(values, 0.9)


@pytest.fixture(scope="module", params=[0.6, 1.0, 1.3], ids=lambda s: f"spread{s}")
def clip_like(request):
    return request.param, make_clip_blobs(spread=request.param, **_CLIP_KW)


def test_modality_gap_cosines_match_published_clip_ranges(clip_like):
    # the docstring's table: CLIP ViT-B/32 has matched image-text ~0.25-0.33,
    # image-image 0.5-0.9 (other classes ~0.5-0.7), text-text 0.6-0.9
    spread, data = clip_like
    X, y, T = data.X, data.y, data.text_embeddings
    iu = np.triu_indices(len(y), 1)
    sims = (X @ X.T)[iu]
    same = (y[:, None] == y[None])[iu]
    cls = data.text_kind == "class"
    XT = X @ T[cls].T
    own = y[:, None] == data.text_labels[cls][None]
    TT = T[cls] @ T[cls].T

    med, lo, hi = _median_quantiles(sims[~same])
    assert 0.6 <= med <= 0.72 and lo >= 0.5 and hi <= 0.85
    med_same, lo, hi = _median_quantiles(sims[same])
    assert 0.8 <= med_same <= 0.95 and lo >= 0.6 and med_same > med + 0.1
    med, lo, hi = _median_quantiles(XT[own])
    expected = {0.6: (0.35, 0.39), 1.0: (0.30, 0.35), 1.3: (0.27, 0.32)}[spread]
    assert expected[0] <= med <= expected[1] and lo >= 0.2 and hi <= 0.4
    med_other, lo, hi = _median_quantiles(XT[~own])
    assert 0.05 <= med_other <= 0.15 and med - med_other > 0.15
    med, lo, hi = _median_quantiles(TT[np.triu_indices(len(TT), 1)])
    assert 0.65 <= med <= 0.75 and lo >= 0.6 and hi <= 0.9
    cap = (X[data.caption_images] * data.caption_embeddings).sum(axis=1)
    assert 0.33 <= np.median(cap) <= 0.43
    # Liang et al.'s gap: the distance between the modality means
    gap = np.linalg.norm(X.mean(0) - np.vstack([T, data.caption_embeddings]).mean(0))
    assert 1.0 <= gap <= 1.15


def test_modality_gap_cosine_formula_and_cones():
    kw = dict(n_samples=300, n_clusters=5, n_features=64, n_captions=20, random_state=3)
    data = make_clip_blobs(modality_gap=0.5, **kw)
    X, T = data.X, np.vstack([data.text_embeddings, data.caption_embeddings])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(T, axis=1), 1, atol=1e-5)
    # same-modality cosine = g + (1 - g) cos(contents) >= 2g - 1; cross-modality is far lower
    assert (X @ X.T).min() >= 0.0 - 1e-6 and (T @ T.T).min() >= 0.0 - 1e-6
    # two separable cones: a hyperplane through the origin splits images from texts
    w = X.mean(0) - T.mean(0)
    assert (X @ w).min() > 0 > (T @ w).max()
    # larger gap, narrower cones, lower image-text cosines
    wider = make_clip_blobs(modality_gap=0.2, **kw)
    assert np.median(X @ X.T) > np.median(wider.X @ wider.X.T)

    def matched(d):  # image to the anchors of its own class
        sims = d.X @ d.text_embeddings.T
        return np.median(sims[d.y[:, None] == d.text_labels[None]])

    assert matched(data) < matched(wider) - 0.1


def test_modality_gap_keeps_the_content_structure():
    # the gap changes cosine levels, not which text is nearest to an image
    kw = dict(n_samples=500, n_clusters=8, n_features=64, spread=1.0,
              center_similarity=0.2, n_distractor_texts=20, random_state=0)
    flat, gap = make_clip_blobs(**kw), make_clip_blobs(modality_gap=0.65, **kw)
    np.testing.assert_array_equal(flat.y, gap.y)
    np.testing.assert_array_equal(flat.text_labels, gap.text_labels)
    nearest_flat = flat.text_labels[(flat.X @ flat.text_embeddings.T).argmax(1)]
    nearest_gap = gap.text_labels[(gap.X @ gap.text_embeddings.T).argmax(1)]
    assert (nearest_flat == nearest_gap).mean() > 0.97
    assert (gap.X @ gap.centers.T).argmax(1).tolist() == (flat.X @ flat.centers.T).argmax(1).tolist()


def test_no_gap_leaves_earlier_data_unchanged():
    # new draws (captions, offsets) come last: without them a seed gives the old data
    kw = dict(n_samples=80, n_clusters=4, n_features=16, n_hub_texts=2,
              n_polysemous_texts=2, misaligned_fraction=0.2, random_state=5)
    a, b = make_clip_blobs(**kw), make_clip_blobs(n_captions=7, **kw)
    for key in ("X", "y", "centers", "text_embeddings"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a.caption_embeddings.shape == (0, 16) and a.caption_labels.shape == (0,)


def test_hubs_have_the_highest_conformity_under_the_gap():
    # Levi & Gilboa: cosine to the modality mean ("conformity") is high for generic texts
    data = make_clip_blobs(n_samples=200, n_clusters=8, n_features=64, n_hub_texts=5,
                           n_distractor_texts=20, modality_gap=0.65, random_state=0)
    T, kind = data.text_embeddings, data.text_kind
    conformity = T @ _unit(T.mean(0))
    assert conformity[kind == "hub"].min() > conformity[kind != "hub"].max()


def test_captions_describe_their_image():
    data = make_clip_blobs(n_samples=300, n_clusters=6, n_features=64, spread=1.0,
                           n_captions=60, caption_detail=0.5, random_state=0)
    C = data.caption_embeddings
    assert C.shape == (60, 64) and C.dtype == np.float32
    assert data.caption_names.shape == (60,) and len(set(data.caption_names.tolist())) == 60
    np.testing.assert_array_equal(data.caption_labels, data.y[data.caption_images])
    # a caption is nearer its own image than its class centre is (it holds attributes) ...
    own_image = (C * data.X[data.caption_images]).sum(1)
    centre_to_image = (data.centers[data.caption_labels] * data.X[data.caption_images]).sum(1)
    assert (own_image > centre_to_image).mean() > 0.9
    # ... and names the right class
    assert ((C @ data.centers.T).argmax(1) == data.caption_labels).mean() > 0.95
    # caption_detail=0 names the class only
    plain = make_clip_blobs(n_samples=300, n_clusters=6, n_features=64, spread=1.0,
                            n_captions=60, caption_detail=0.0, random_state=0)
    assert np.median((plain.caption_embeddings
                      * plain.X[plain.caption_images]).sum(1)) < np.median(own_image)


@pytest.mark.parametrize("kwargs, match", [
    (dict(modality_gap=1.0), "modality_gap"),
    (dict(modality_gap=-0.1), "modality_gap"),
    (dict(caption_detail=2.0), "caption_detail"),
    (dict(n_captions=-1), "n_captions"),
])
def test_bad_gap_and_caption_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_clip_blobs(**kwargs)


# --- what real collections have: hierarchy, generic texts, styles ----------------------

def test_defaults_give_the_data_of_earlier_versions():
    # values written by the version before the hierarchy and style options existed:
    # existing scenarios and seeds must keep their data
    a = make_clip_blobs(n_samples=40, n_clusters=3, n_features=8, n_hub_texts=1,
                        n_polysemous_texts=1, n_distractor_texts=2, misaligned_fraction=0.2,
                        anisotropy=1.0, n_captions=3, random_state=0)
    np.testing.assert_allclose(a.X[:2, :4], [[-0.08850123, 0.20830339, 0.09232461, 0.79394037],
                                             [0.66561323, -0.32589278, 0.06661187, -0.02312018]],
                               atol=1e-6)
    np.testing.assert_allclose(a.text_embeddings[-1, :4],
                               [0.752512, -0.11220924, 0.12232361, 0.26202294], atol=1e-6)
    np.testing.assert_allclose(a.caption_embeddings[-1, :4],
                               [0.504359, -0.4114576, -0.10430519, -0.11717103], atol=1e-6)
    np.testing.assert_array_equal(a.y[:8], [0, 2, 1, 1, 0, 1, 0, 2])
    b = make_clip_blobs(n_samples=40, n_clusters=3, n_features=8, n_captions=3,
                        modality_gap=0.65, random_state=1)
    np.testing.assert_allclose(b.X[0, :4], [-0.8370476, 0.1496406, -0.43566954, 0.09679738],
                               atol=1e-6)
    np.testing.assert_allclose(b.caption_embeddings[-1, :4],
                               [-0.06613162, -0.24554929, -0.62648606, 0.25728714], atol=1e-6)
    assert (a.superclasses == -1).all() and (a.styles == -1).all()
    assert (a.caption_styles == -1).all()


_REAL_KW = dict(n_samples=1200, n_clusters=12, n_features=128, n_superclasses=3,
                sibling_similarity=0.7, n_superclass_texts=2, n_generic_texts=6, n_styles=3,
                style_strength=1.0, n_captions=60, n_style_captions=9, random_state=0)


def test_siblings_are_closer_than_other_classes_and_hypernyms_sit_above_them():
    data = make_clip_blobs(**_REAL_KW)
    C, parent = data.centers, data.superclasses
    np.testing.assert_array_equal(parent, np.arange(12) % 3)
    sib = parent[:, None] == parent[None]
    off = ~np.eye(12, dtype=bool)
    cos = C @ C.T
    assert cos[sib & off].mean() == pytest.approx(0.7, abs=0.15)
    assert cos[sib & off].min() > cos[~sib].max()
    sup = data.text_kind == "superclass"
    assert sup.sum() == 6 and (data.text_labels[sup] == -1).all()
    nearest_parent = parent[(data.text_embeddings[sup] @ C.T).argmax(axis=1)]
    np.testing.assert_array_equal(nearest_parent, np.repeat(np.arange(3), 2))


def test_generic_texts_stay_close_to_many_images_after_centring():
    data = make_clip_blobs(**{**_REAL_KW, "n_hub_texts": 4})
    T, kind = data.text_embeddings, data.text_kind
    Tc = _unit(T - T.mean(axis=0))  # each modality centred
    Cc = _unit(data.centers - data.centers.mean(axis=0))

    def top3(rows):  # mean cosine to the 3 nearest centred classes
        return np.sort(rows @ Cc.T, axis=1)[:, -3:].mean(axis=1)

    # hubs (near the mean of all texts) lose their pull with centring, generic texts keep it
    assert top3(Tc[kind == "generic"]).min() > top3(Tc[kind == "hub"]).max()
    assert top3(Tc[kind == "generic"]).mean() > 0.3


def test_styles_are_shared_across_classes_and_style_captions_describe_them():
    data = make_clip_blobs(**_REAL_KW)
    assert set(data.styles.tolist()) == {0, 1, 2}
    # every style appears in every class
    for k in range(12):
        assert set(data.styles[data.y == k].tolist()) == {0, 1, 2}
    sty = data.caption_styles >= 0
    assert sty.sum() == 9 and (~sty).sum() == 60
    assert (data.caption_labels[sty] == -1).all() and (data.caption_images[sty] == -1).all()
    assert all("style" in n for n in data.caption_names[sty])
    # a style caption is nearer to the images of its style than to the others
    S = data.caption_embeddings[sty] @ data.X.T
    own = data.styles[None, :] == data.caption_styles[sty][:, None]
    assert ((S * own).sum(1) / own.sum(1) > (S * ~own).sum(1) / (~own).sum(1) + 0.2).all()
    # the style makes k-means on the images split by style rather than by class
    weak = make_clip_blobs(**{**_REAL_KW, "style_strength": 0.0})
    assert np.linalg.norm(data.X - weak.X, axis=1).mean() > 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_clusters=3, n_superclasses=4), "n_superclasses=4 must be <= n_clusters=3"),
        (dict(n_superclass_texts=2), "n_superclass_texts > 0 needs n_superclasses"),
        (dict(n_style_captions=2), "n_style_captions > 0 needs n_styles"),
        (dict(n_clusters=1, n_generic_texts=2), "n_clusters >= 2"),
        (dict(sibling_similarity=1.0), "sibling_similarity"),
        (dict(style_strength=-1.0), "style_strength"),
    ],
)
def test_bad_structure_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_clip_blobs(**kwargs)
