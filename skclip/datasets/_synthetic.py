"""Synthetic CLIP-like data with a known cluster and text structure."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_clip_blobs"]


def _unit(A):
    norms = np.linalg.norm(A, axis=-1, keepdims=True)
    return A / np.maximum(norms, 1e-12)


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
        distractors, hubs.

    Examples
    --------
    >>> from skclip.datasets import make_clip_blobs
    >>> data = make_clip_blobs(n_samples=60, n_clusters=3, n_features=16,
    ...                        n_hub_texts=2, random_state=0)
    >>> data.X.shape, data.text_embeddings.shape
    ((60, 16), (17, 16))
    >>> sorted(set(data.text_labels.tolist()))
    [-1, 0, 1, 2]
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
        text_embeddings=np.vstack([T_cls, T_poly, T_dis, T_hub]).astype(np.float32),
        text_labels=text_labels.astype(np.int64),
        text_secondary_labels=secondary,
        text_kind=np.array(kind, dtype="<U10"),
        text_misaligned=np.concatenate(
            [misaligned, np.zeros(n_polysemous_texts + n_unlabelled, dtype=bool)]
        ),
        text_names=np.array(names, dtype=str),
    )
