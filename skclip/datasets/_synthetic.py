"""Synthetic CLIP-like data with a known cluster and text structure."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._arrays import unit_rows
from ._synthetic_structure import check_structure, generic_means, superclass_means

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
        "n_superclasses": [Interval(Integral, 0, None, closed="left")],
        "sibling_similarity": [Interval(Real, 0, 1, closed="left")],
        "n_superclass_texts": [Interval(Integral, 0, None, closed="left")],
        "n_generic_texts": [Interval(Integral, 0, None, closed="left")],
        "n_styles": [Interval(Integral, 0, None, closed="left")],
        "style_strength": [Interval(Real, 0, None, closed="left")],
        "n_style_captions": [Interval(Integral, 0, None, closed="left")],
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
    n_superclasses=0,
    sibling_similarity=0.5,
    n_superclass_texts=0,
    n_generic_texts=0,
    n_styles=0,
    style_strength=0.0,
    n_style_captions=0,
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

    What real collections add (off by default): fine classes in superclasses with
    hypernyms (dog breeds, "dog"); generic nouns close to many images that survive
    centring ("object"); styles shared across classes ("at night") and captions that
    describe a style alone, not the object.

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
    n_superclasses : int, default=0
        Superclasses (0: no hierarchy); class ``k`` is a child of ``k % n_superclasses``.
    sibling_similarity : float, default=0.5
        Expected cosine between the own directions of two siblings (before
        ``center_similarity`` is mixed in).
    n_superclass_texts : int, default=0
        Hypernyms per superclass, near its children's mean (label -1).
    n_generic_texts : int, default=0
        Generic texts, each near the mean of a random half of the classes (label -1).
    n_styles : int, default=0
        Styles shared across classes; each image gets one at random.
    style_strength : float, default=0.0
        Norm of the unit style direction added to each image before normalisation.
    n_style_captions : int, default=0
        Captions of one random style alone (label -1), after the image captions.
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
        "polysemous", "distractor", "hub", "superclass", "generic"}; ``text_misaligned`` (m,) bool; ``text_names`` (m,)
        str. Text rows are ordered: class anchors by class, polysemous,
        distractors, hubs, hypernyms by superclass, generic texts. ``caption_embeddings`` (L, n_features) float32 unit rows;
        ``caption_labels`` (L,) int64, the class of the described image;
        ``caption_images`` (L,) int64, its index in ``X``; ``caption_names`` (L,) str;
        ``caption_styles`` (L,) int64, the style a style caption describes (-1 for
        image captions; style captions have label and image -1);
        ``superclasses`` (n_clusters,) int64, the parent of each class (-1 without
        hierarchy); ``styles`` (n_samples,) int64, each image's style (-1: none).
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
    if n_clusters < 2 and (n_polysemous_texts > 0 or misaligned_fraction > 0
                           or n_generic_texts > 0):
        raise ValueError(
            "n_polysemous_texts > 0, n_generic_texts > 0 and misaligned_fraction > 0 "
            "need n_clusters >= 2."
        )
    check_structure(n_clusters, n_superclasses, n_superclass_texts, n_styles,
                    n_style_captions)
    rng = check_random_state(random_state)
    d = n_features

    # class centres sharing a common direction: cos(c_i, c_j) ~= center_similarity
    shared = _unit(rng.standard_normal(d))
    own = _unit(rng.standard_normal((n_clusters, d)))
    parents = np.full(n_clusters, -1, dtype=np.int64)
    if n_superclasses:  # fine classes inside superclasses: siblings share a direction
        parents = np.arange(n_clusters, dtype=np.int64) % n_superclasses
        tops = _unit(rng.standard_normal((n_superclasses, d)))
        own = _unit(np.sqrt(sibling_similarity) * tops[parents]
                    + np.sqrt(1 - sibling_similarity) * own)
    centers = _unit(np.sqrt(center_similarity) * shared + np.sqrt(1 - center_similarity) * own)

    # images
    sizes = _class_sizes(n_samples, n_clusters, imbalance)
    y = np.repeat(np.arange(n_clusters), sizes)
    y = y[rng.permutation(n_samples)]
    basis = None
    if anisotropy > 0:
        basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = _noisy(rng, centers[y], spread, basis, anisotropy)
    style = np.full(n_samples, -1, dtype=np.int64)
    if n_styles:  # a style shared across classes (night, studio, sketch...) per image
        style_dirs = _unit(rng.standard_normal((n_styles, d)))
        style = rng.randint(n_styles, size=n_samples).astype(np.int64)
        X = _unit(X + style_strength * style_dirs[style])

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

    # hypernyms near their superclass, generic nouns near a random half of the classes
    T_sup = (_noisy(rng, np.repeat(_unit(superclass_means(centers, parents)),
                                   n_superclass_texts, axis=0), text_spread)
             if n_superclass_texts else np.zeros((0, d)))
    names += [f"super{s}_text{t}" for s in range(n_superclasses if n_superclass_texts else 0)
              for t in range(n_superclass_texts)]
    T_gen = (_noisy(rng, _unit(generic_means(rng, centers, n_generic_texts)), text_spread)
             if n_generic_texts else np.zeros((0, d)))
    names += [f"generic{j}" for j in range(n_generic_texts)]

    # captions: each describes one image, its class and part of its nuisance
    cap_images = rng.randint(n_samples, size=n_captions) if n_captions else np.zeros(0, int)
    C = centers[y[cap_images]]
    T_cap = (_noisy(rng, C + caption_detail * (X[cap_images] - C), text_spread)
             if n_captions else np.zeros((0, d)))
    # captions of a style or scene alone ("at night"), whatever the object
    cap_style = np.full(n_captions, -1, dtype=np.int64)
    if n_style_captions:
        which = rng.randint(n_styles, size=n_style_captions).astype(np.int64)
        T_cap = np.vstack([T_cap.reshape(-1, d), _noisy(rng, style_dirs[which], text_spread)])
        cap_style = np.concatenate([cap_style, which])

    T = np.vstack([T_cls, T_poly, T_dis, T_hub, T_sup, T_gen])
    if modality_gap > 0:
        # two narrow cones, one offset per modality (drawn last: seeds without a gap
        # give the same data as before the option existed)
        u_img, u_txt, basis = _modality_offsets(rng, d)
        X = _into_cone(X, basis, u_img, modality_gap)
        centers = _into_cone(centers, basis, u_img, modality_gap)
        T = _into_cone(T, basis, u_txt, modality_gap)
        T_cap = _into_cone(T_cap, basis, u_txt, modality_gap)

    n_unlabelled = n_distractor_texts + n_hub_texts + len(T_sup) + n_generic_texts
    text_labels = np.concatenate([cls_labels, poly_a, np.full(n_unlabelled, -1)])
    secondary = np.concatenate(
        [np.full(n_cls, -1), poly_b, np.full(n_unlabelled, -1)]
    ).astype(np.int64)
    kind = (["class"] * n_cls + ["polysemous"] * n_polysemous_texts
            + ["distractor"] * n_distractor_texts + ["hub"] * n_hub_texts
            + ["superclass"] * len(T_sup) + ["generic"] * n_generic_texts)
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
        caption_labels=np.concatenate([y[cap_images], np.full(n_style_captions, -1)]
                                      ).astype(np.int64),
        caption_images=np.concatenate([cap_images, np.full(n_style_captions, -1)]
                                      ).astype(np.int64),
        caption_names=np.array(
            [f"caption{i}_image{j}" for i, j in enumerate(cap_images)]
            + [f"caption{n_captions + i}_style{s}" for i, s in enumerate(cap_style[n_captions:])],
            dtype=str).reshape(-1),
        caption_styles=cap_style,
        superclasses=parents,
        styles=style,
    )

