"""Synthetic CLIP-like data with a known cluster and text structure."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._arrays import unit_rows

__all__ = ["make_clip_blobs"]


def _unit(A):
    return unit_rows(A, tol=None, floor=1e-12, summation="norm")


def _noisy(rng, centers, scale, basis=None, exponent=0.0):
    """Unit rows ``centers + noise``; the noise has norm about ``scale``.

    With ``basis`` (an orthonormal (d, d) matrix), the noise variance along column
    ``i`` decays as ``(i + 1) ** -exponent``: most of it lies in a few shared
    directions, as the nuisance variation (background, pose, style) of real CLIP
    embeddings does.
    """
    centers = np.atleast_2d(centers)
    d = centers.shape[1]
    if basis is None:
        return _unit(centers + rng.standard_normal(centers.shape) * (scale / np.sqrt(d)))
    weights = (np.arange(d) + 1.0) ** -exponent
    weights /= weights.sum()
    noise = (rng.standard_normal(centers.shape) * (scale * np.sqrt(weights))) @ basis.T
    return _unit(centers + noise)


def _class_sizes(n_samples, n_clusters, imbalance):
    """Geometric class sizes, largest / smallest = ``imbalance``, summing to n_samples."""
    if n_clusters == 1:
        return np.array([n_samples])
    weights = imbalance ** (-np.arange(n_clusters) / (n_clusters - 1))
    # one sample per class is guaranteed, the rest is shared in proportion (largest remainder)
    extra = n_samples - n_clusters
    raw = extra * weights / weights.sum()
    sizes = np.floor(raw).astype(int)
    order = np.argsort(-(raw - sizes), kind="stable")
    sizes[order[: extra - sizes.sum()]] += 1
    return sizes + 1


# cosine between the image and the text modality offsets (see make_clip_blobs)
_OFFSET_COSINE = 0.1


def _modality_offsets(rng, d):
    """Unit image and text offsets with cosine ``_OFFSET_COSINE``, and their span's basis."""
    Q = np.linalg.qr(rng.standard_normal((d, 2)))[0]
    u_img = Q[:, 0]
    u_txt = _OFFSET_COSINE * Q[:, 0] + np.sqrt(1 - _OFFSET_COSINE**2) * Q[:, 1]
    return u_img, u_txt, Q


def _into_cone(E, basis, offset, share):
    """Unit rows ``sqrt(1 - share) * content + sqrt(share) * offset``.

    ``content`` is ``E`` projected on the orthogonal complement of ``basis`` (the span
    of both offsets) and renormalised, so that two rows of one modality have cosine
    ``share + (1 - share) * cos(content_i, content_j)`` exactly.
    """
    if len(E) == 0:
        return E
    content = _unit(E - (E @ basis) @ basis.T)
    return _unit(np.sqrt(1 - share) * content + np.sqrt(share) * offset)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "spread": [Interval(Real, 0, None, closed="left")],
        "imbalance": [Interval(Real, 1, None, closed="left")],
        "n_texts_per_cluster": [Interval(Integral, 0, None, closed="left")],
        "n_hub_texts": [Interval(Integral, 0, None, closed="left")],
        "n_polysemous_texts": [Interval(Integral, 0, None, closed="left")],
        "n_distractor_texts": [Interval(Integral, 0, None, closed="left")],
        "misaligned_fraction": [Interval(Real, 0, 1, closed="both")],
        "text_spread": [Interval(Real, 0, None, closed="left")],
        "center_similarity": [Interval(Real, 0, 1, closed="left")],
        "anisotropy": [Interval(Real, 0, None, closed="left")],
        "n_captions": [Interval(Integral, 0, None, closed="left")],
        "caption_detail": [Interval(Real, 0, 1, closed="both")],
        "modality_gap": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_clip_blobs(
    n_samples=1000,
    n_clusters=10,
    n_features=64,
    *,
    spread=0.3,
    imbalance=1.0,
    n_texts_per_cluster=5,
    n_hub_texts=0,
    n_polysemous_texts=0,
    n_distractor_texts=0,
    misaligned_fraction=0.0,
    text_spread=0.2,
    center_similarity=0.0,
    anisotropy=0.0,
    n_captions=0,
    caption_detail=0.5,
    modality_gap=0.0,
    random_state=None,
):
    """Generate CLIP-like image and text embeddings with a known structure.

    Class centres are random unit vectors in ``n_features`` dimensions. Each image
    embedding is its class centre plus isotropic Gaussian noise of norm about
    ``spread``, projected back on the unit sphere. The text vocabulary mimics what
    CLIP clustering methods see in a WordNet vocabulary:

    * ``n_texts_per_cluster`` anchors per class, near the class centre (noise of norm
      about ``text_spread``);
    * a ``misaligned_fraction`` of those class anchors sits near the centre of a
      *different* class while keeping its own label: a wrong image-text alignment;
    * ``n_polysemous_texts`` anchors halfway between two classes;
    * ``n_hub_texts`` generic anchors near the mean direction of all the other texts,
      about equally similar to every class (hubs in the k-NN sense);
    * ``n_distractor_texts`` anchors of concepts absent from the images: random
      directions drawn like class centres (most of a WordNet vocabulary).

    Captions (``n_captions``) describe single images: the class centre moved a
    ``caption_detail`` share of the way towards one image (its attributes).

    **CLIP's modality gap** (``modality_gap > 0``). In CLIP each modality occupies
    its own narrow cone, and the means of the image and of the text embeddings are
    far apart, from initialisation on (Liang et al., "Mind the Gap", NeurIPS 2022);
    raw image and text embeddings lie on two separable ellipsoid shells that are not
    centred at the origin, and the cosine of an embedding to its modality mean
    (its "conformity") is high for generic texts (Levi & Gilboa, "The
    Double-Ellipsoid Geometry of CLIP", ICML 2025). Here every embedding becomes
    ``sqrt(1 - g) * content + sqrt(g) * offset``, with ``g = modality_gap``, the
    content (everything above) projected orthogonally to two unit offsets, one for
    the images and one for all texts (hubs, distractors and captions included), at
    cosine 0.1 to each other. Two embeddings of one modality then have cosine
    ``g + (1 - g) * cos(contents)``; an image and a text have
    ``0.1 * g + (1 - g) * cos(contents)``. The images' anisotropic nuisance makes
    their cone an ellipsoid; hubs, near the mean of the texts, have the highest
    conformity.

    ``modality_gap=0.65`` is calibrated to published CLIP ViT-B/32 statistics
    (matched image-text cosine about 0.25-0.33, image-image 0.5-0.9, text-text
    0.6-0.9). Measured on ``n_samples=2000, n_clusters=10, n_features=64,
    center_similarity=0.2, anisotropy=2.0, modality_gap=0.65`` (median [10%, 90%]
    quantiles; ``tests/datasets/test_synthetic.py`` pins these ranges):

    ========================  =================  =================  =================
    cosine                    ``spread=0.6``     ``spread=1.0``     ``spread=1.3``
    ========================  =================  =================  =================
    image-image, same class   0.93 [0.83, 0.97]  0.87 [0.70, 0.95]  0.83 [0.63, 0.93]
    image-image, other class  0.69 [0.61, 0.76]  0.68 [0.55, 0.79]  0.67 [0.52, 0.81]
    image-anchor, own class   0.37 [0.32, 0.39]  0.33 [0.26, 0.37]  0.30 [0.22, 0.35]
    image-anchor, other       0.11 [0.05, 0.15]  0.10 [0.05, 0.15]  0.10 [0.04, 0.14]
    image-its caption         0.40 [0.39, 0.41]  0.39 [0.36, 0.40]  0.38 [0.35, 0.39]
    anchor-anchor             0.70 [0.64, 0.77]  0.70 [0.64, 0.77]  0.70 [0.64, 0.77]
    ========================  =================  =================  =================

    The distance between the modality means is 1.08 (Liang et al. report 0.82 for
    CLIP); conformity (cosine to the text mean) is 0.96 for hubs and 0.84 for class
    anchors. The matched-minus-unmatched margin (about 0.2) is larger than CLIP's
    (about 0.1): the texts here are more informative than real prompts.

    This is a check of mechanics, not a model of real CLIP quality.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of image embeddings.
    n_clusters : int, default=10
        Number of classes (``n_samples >= n_clusters``).
    n_features : int, default=64
        Embedding dimension.
    spread : float, default=0.3
        Norm of the image noise relative to the unit class centre (0 = every image
        is its centre). Larger is harder.
    imbalance : float, default=1.0
        Ratio between the largest and the smallest class (sizes decrease
        geometrically from class 0 to class ``n_clusters - 1``). 1 = balanced.
    n_texts_per_cluster : int, default=5
        Text anchors per class.
    n_hub_texts : int, default=0
        Generic anchors near the mean of all other texts (label -1).
    n_polysemous_texts : int, default=0
        Anchors close to two random distinct classes (needs ``n_clusters >= 2``).
    n_distractor_texts : int, default=0
        Anchors of absent concepts (label -1), drawn as extra class centres.
    misaligned_fraction : float, default=0.0
        Fraction (rounded) of the class anchors placed near a wrong class centre.
    text_spread : float, default=0.2
        Norm of the noise added to text anchors.
    center_similarity : float, default=0.0
        Expected cosine between two class centres (CLIP embeddings of one dataset
        share a common direction). Larger is harder. Must be in ``[0, 1)``.
    anisotropy : float, default=0.0
        Decay exponent of the image-noise spectrum: the noise variance along the
        ``i``-th of a random set of orthogonal directions (shared by all classes) is
        proportional to ``(i + 1) ** -anisotropy``. 0 is isotropic noise, which is
        easy to cluster in high dimension; around 1, noise concentrated in a few
        nuisance directions makes k-means split classes the wrong way, as on real
        CLIP features.
    n_captions : int, default=0
        Captions, each describing one random image (``caption_*`` outputs).
    caption_detail : float, default=0.5
        How far (0 to 1) a caption moves from its class centre towards its image:
        0 names only the class, 1 describes the whole image, nuisance included.
    modality_gap : float, default=0.0
        Share ``g`` in ``[0, 1)`` of each embedding's squared norm along its
        modality's offset (see above). 0 puts texts in the images' space (the data
        of earlier versions, seed for seed); 0.65 is CLIP-like. The default stays 0
        so that a seed gives the same data as before the option existed.
    random_state : int, RandomState instance or None, default=None
        Seed; the same seed gives the same output.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` (n_samples, n_features) float32 unit rows; ``y`` (n_samples,) int64;
        ``centers`` (n_clusters, n_features) float32 unit rows; ``class_names``;
        ``text_embeddings`` (m, n_features) float32 unit rows; ``text_labels`` (m,)
        int64, the class a text names (-1 for hubs and distractors; the first class
        for polysemous texts); ``text_secondary_labels`` (m,) int64, the second class of a
        polysemous text (-1 otherwise); ``text_kind`` (m,) str in {"class",
        "polysemous", "distractor", "hub"}; ``text_misaligned`` (m,) bool; ``text_names`` (m,)
        str. Text rows are ordered: class anchors by class, polysemous,
        distractors, hubs. ``caption_embeddings`` (L, n_features) float32 unit rows;
        ``caption_labels`` (L,) int64, the class of the described image;
        ``caption_images`` (L,) int64, its index in ``X``; ``caption_names`` (L,) str.
        With ``modality_gap > 0``, ``centers`` are in the images' cone.

    Examples
    --------
    >>> from skclip.datasets import make_clip_blobs
    >>> data = make_clip_blobs(n_samples=60, n_clusters=3, n_features=16,
    ...                        n_hub_texts=2, random_state=0)
    >>> data.X.shape, data.text_embeddings.shape
    ((60, 16), (17, 16))
    >>> sorted(set(data.text_labels.tolist()))
    [-1, 0, 1, 2]

    With CLIP's modality gap, images and texts sit in two cones:

    >>> clip = make_clip_blobs(n_samples=300, n_clusters=3, n_features=64,
    ...                        n_captions=30, modality_gap=0.65, random_state=0)
    >>> clip.caption_embeddings.shape
    (30, 64)
    >>> image_image = clip.X @ clip.X.T
    >>> image_text = clip.X @ clip.text_embeddings.T
    >>> bool(image_image.min() > 0.5 and image_text.max() < 0.5)
    True
    """
    if n_samples < n_clusters:
        raise ValueError(
            f"n_samples={n_samples} must be >= n_clusters={n_clusters} "
            "(every class gets at least one sample)."
        )
    if n_clusters < 2 and (n_polysemous_texts > 0 or misaligned_fraction > 0):
        raise ValueError(
            "n_polysemous_texts > 0 and misaligned_fraction > 0 need n_clusters >= 2."
        )
    rng = check_random_state(random_state)
    d = n_features

    # class centres sharing a common direction: cos(c_i, c_j) ~= center_similarity
    shared = _unit(rng.standard_normal(d))
    own = _unit(rng.standard_normal((n_clusters, d)))
    centers = _unit(np.sqrt(center_similarity) * shared + np.sqrt(1 - center_similarity) * own)

    # images
    sizes = _class_sizes(n_samples, n_clusters, imbalance)
    y = np.repeat(np.arange(n_clusters), sizes)
    y = y[rng.permutation(n_samples)]
    basis = None
    if anisotropy > 0:
        basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = _noisy(rng, centers[y], spread, basis, anisotropy)

    # class anchors, some misaligned (near another class, label kept)
    class_names = [f"class{k}" for k in range(n_clusters)]
    cls_labels = np.repeat(np.arange(n_clusters), n_texts_per_cluster)
    n_cls = len(cls_labels)
    placed = cls_labels.copy()
    misaligned = np.zeros(n_cls, dtype=bool)
    n_mis = int(round(misaligned_fraction * n_cls))
    if n_mis:
        idx = rng.choice(n_cls, size=n_mis, replace=False)
        shift = rng.randint(1, n_clusters, size=n_mis)
        placed[idx] = (cls_labels[idx] + shift) % n_clusters
        misaligned[idx] = True
    T_cls = _noisy(rng, centers[placed], text_spread) if n_cls else np.zeros((0, d))
    names = [f"class{k}_text{t}" for k in range(n_clusters) for t in range(n_texts_per_cluster)]

    # polysemous anchors: between two distinct classes
    poly_a = np.zeros(n_polysemous_texts, dtype=np.int64)
    poly_b = np.zeros(n_polysemous_texts, dtype=np.int64)
    for p in range(n_polysemous_texts):
        poly_a[p], poly_b[p] = rng.choice(n_clusters, size=2, replace=False)
    T_poly = (
        _noisy(rng, _unit(centers[poly_a] + centers[poly_b]), text_spread)
        if n_polysemous_texts
        else np.zeros((0, d))
    )
    names += [f"poly{a}_{b}_text{p}" for p, (a, b) in enumerate(zip(poly_a, poly_b))]

    # distractors: centres of concepts that no image shows
    T_dis = _unit(np.sqrt(center_similarity) * shared + np.sqrt(1 - center_similarity)
                  * _unit(rng.standard_normal((n_distractor_texts, d))))
    names += [f"distractor{j}" for j in range(n_distractor_texts)]

    # hubs: near the mean direction of the other texts (of the centres if none)
    if n_hub_texts:
        others = np.vstack([T_cls, T_poly, T_dis])
        mean = others.mean(axis=0) if len(others) else centers.mean(axis=0)
        T_hub = _noisy(rng, np.tile(_unit(mean), (n_hub_texts, 1)), text_spread)
    else:
        T_hub = np.zeros((0, d))
    names += [f"hub{h}" for h in range(n_hub_texts)]

    # captions: each describes one image, its class and part of its nuisance
    cap_images = rng.randint(n_samples, size=n_captions) if n_captions else np.zeros(0, int)
    C = centers[y[cap_images]]
    T_cap = (_noisy(rng, C + caption_detail * (X[cap_images] - C), text_spread)
             if n_captions else np.zeros((0, d)))

    T = np.vstack([T_cls, T_poly, T_dis, T_hub])
    if modality_gap > 0:
        # two narrow cones, one offset per modality (drawn last: seeds without a gap
        # give the same data as before the option existed)
        u_img, u_txt, basis = _modality_offsets(rng, d)
        X = _into_cone(X, basis, u_img, modality_gap)
        centers = _into_cone(centers, basis, u_img, modality_gap)
        T = _into_cone(T, basis, u_txt, modality_gap)
        T_cap = _into_cone(T_cap, basis, u_txt, modality_gap)

    n_unlabelled = n_distractor_texts + n_hub_texts
    text_labels = np.concatenate([cls_labels, poly_a, np.full(n_unlabelled, -1)])
    secondary = np.concatenate(
        [np.full(n_cls, -1), poly_b, np.full(n_unlabelled, -1)]
    ).astype(np.int64)
    kind = (["class"] * n_cls + ["polysemous"] * n_polysemous_texts
            + ["distractor"] * n_distractor_texts + ["hub"] * n_hub_texts)
    return Bunch(
        X=X.astype(np.float32),
        y=y.astype(np.int64),
        centers=centers.astype(np.float32),
        class_names=np.array(class_names),
        text_embeddings=T.astype(np.float32),
        text_labels=text_labels.astype(np.int64),
        text_secondary_labels=secondary,
        text_kind=np.array(kind, dtype="<U10"),
        text_misaligned=np.concatenate(
            [misaligned, np.zeros(n_polysemous_texts + n_unlabelled, dtype=bool)]
        ),
        text_names=np.array(names, dtype=str),
        caption_embeddings=T_cap.reshape(-1, d).astype(np.float32),
        caption_labels=y[cap_images].astype(np.int64),
        caption_images=cap_images.astype(np.int64),
        caption_names=np.array([f"caption{i}_image{j}" for i, j in enumerate(cap_images)],
                               dtype=str).reshape(-1),
    )
