"""What a clustering run says about each cluster: confidence, naming nouns, representatives."""

import numpy as np

from .._arrays import unit_rows

#: Temperature of the softmax over cosine similarities to the cluster centres. CLIP's own
#: zero-shot classifier uses logit scale 100, i.e. this temperature.
CONFIDENCE_TEMPERATURE = 0.01

CONFIDENCE_DEFINITION = (
    "probability of the assigned cluster under the method's soft assignment: "
    "predict_proba for methods that have it (MCA); otherwise (CAE) a softmax over the cosine "
    f"similarities between the image's clustered features and the cluster centres at temperature "
    f"{CONFIDENCE_TEMPERATURE} (CLIP's zero-shot logit scale 100)"
)


def _unit_rows(A):
    return unit_rows(np.asarray(A, dtype=np.float64), tol=None, floor=1e-12, summation="norm")


def _softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _cluster_means(X, labels, n_clusters):
    means = np.zeros((n_clusters, X.shape[1]))
    np.add.at(means, labels, X)
    return means


def softmax_confidence(features, labels, centers=None, *, temperature=CONFIDENCE_TEMPERATURE):
    """Confidence of hard assignments from a softmax over cosines to the centres.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        The features the clusterer grouped (for CAE: its fused features).
    labels : array-like of shape (n_samples,)
        Assigned cluster of each row, in ``0 .. n_clusters - 1``.
    centers : array-like of shape (n_clusters, n_features), default=None
        Cluster centres; ``None`` uses the mean feature of each cluster.
    temperature : float, default=0.01
        Softmax temperature on the cosine scale.

    Returns
    -------
    confidence : ndarray of shape (n_samples,)
        Probability that the softmax gives to each row's assigned cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report import softmax_confidence
    >>> F = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> softmax_confidence(F, [0, 0, 1]).round(3)
    array([1., 1., 1.])
    """
    F = _unit_rows(features)
    labels = np.asarray(labels, dtype=np.int64)
    if centers is None:
        centers = _cluster_means(F, labels, int(labels.max()) + 1)
    C = _unit_rows(centers)
    proba = _softmax(F @ C.T / temperature)
    return proba[np.arange(len(labels)), labels]


def assignment_confidence(clusterer, X, labels):
    """Confidence of each image's cluster for a fitted skclip clusterer.

    Uses ``predict_proba`` when the clusterer has it (MCA); otherwise a softmax over
    cosines between ``clusterer.transform(X)`` and ``cluster_centers_`` when they live in
    the same space (CAE's fused features), else between ``X`` and the cluster means.
    See :data:`CONFIDENCE_DEFINITION`.

    Parameters
    ----------
    clusterer : fitted estimator
        The clusterer that produced ``labels``.
    X : ndarray of shape (n_samples, n_features)
        The image embeddings it was fitted on.
    labels : array-like of shape (n_samples,)
        Its ``labels_``.

    Returns
    -------
    confidence : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import AgglomerativeClustering
    >>> from skclip.report import assignment_confidence
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> clust = AgglomerativeClustering(n_clusters=2).fit(X)
    >>> bool((assignment_confidence(clust, X, clust.labels_) > 0.99).all())
    True
    """
    labels = np.asarray(labels, dtype=np.int64)
    if hasattr(clusterer, "predict_proba"):
        proba = np.asarray(clusterer.predict_proba(X))
        return proba[np.arange(len(labels)), labels]
    centers = getattr(clusterer, "cluster_centers_", None)
    if centers is not None and hasattr(clusterer, "transform"):
        features = np.asarray(clusterer.transform(X))
        if features.shape[1] == np.asarray(centers).shape[1]:
            return softmax_confidence(features, labels, centers)
    return softmax_confidence(X, labels)


def naming_vocabulary(clusterer, X, *, return_synsets=False):
    """Nouns and text embeddings to name the clusters of a fitted clusterer.

    The method's semantic space keeps only the nouns near a few image centres (five per
    300 images by default), too few to tell clusters apart on a small folder. When the
    space is a :class:`~skclip.semantic.SemanticSpaceBuilder`, a copy with
    ``selection=None`` gives its whole vocabulary (text embeddings come from the
    builder's cache; when the builder embedded its vocabulary in two stages, the
    one-prompt embeddings of the ranking stage); any other semantic space gives its
    fitted ``nouns_``.

    Parameters
    ----------
    clusterer : fitted estimator
        Exposing ``semantic_space_`` (or not: then no nouns).
    X : ndarray of shape (n_samples, n_features)
        The image embeddings it was fitted on.

    return_synsets : bool, default=False
        Also return the WordNet synset id of each noun (None where the space has none).

    Returns
    -------
    nouns : list of str or None
    noun_embeddings : ndarray of shape (m, n_features) or None
    synsets : list of str or None
        Only with ``return_synsets``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import naming_vocabulary
    >>> naming_vocabulary(KMeans(n_clusters=2, n_init=1).fit(np.eye(3)), np.eye(3))
    (None, None)
    """
    nouns, U, synsets, exact = _naming_rows(clusterer, X)
    if exact is not None:  # reduced-precision rows: every row in the encoder's precision
        U = exact(np.arange(len(nouns)))
    out = (None, None) if nouns is None else (nouns, U)
    return (*out, synsets) if return_synsets else out


def _naming_rows(clusterer, X):
    """``(nouns, embeddings, synsets, exact)`` of :func:`naming_vocabulary`.

    ``exact`` is None when the embeddings are the encoder's own; else they are the
    reduced-precision rows of the space's ranking stage (bfloat16, read back from its
    cache) and ``exact(idx)`` encodes rows ``idx`` in the encoder's precision (see
    :func:`skclip.semantic._candidates.rescore_near_selection`).
    """
    from sklearn.base import clone

    space = getattr(clusterer, "semantic_space_", None)
    if space is None:
        return None, None, None, None
    exact = None
    if hasattr(space, "get_params") and "selection" in space.get_params(deep=False):
        naming = clone(space).set_params(selection=None, captions=None)
        if getattr(space, "n_candidates_", 0) < getattr(space, "vocabulary_size_", 0):
            # a two-stage space encoded the whole vocabulary with one prompt only (its
            # ranking stage, cached): name with those rather than encode every template
            from ..semantic._candidates import exact_one_prompt, ranking_encoder
            from ..semantic._sources import encoder_factory
            from ..semantic._templates import RANKING_TEMPLATE

            naming.set_params(templates=[RANKING_TEMPLATE])
            if (getattr(space, "text_precision_", {}) or {}).get("ranking") not in (None, "fp32"):
                enc = encoder_factory(naming.embedder)()
                fast = ranking_encoder(enc)
                if fast is not enc:
                    naming.set_params(embedder=fast)
                    exact = exact_one_prompt(naming, enc)
        space = naming.fit(X)
    nouns = getattr(space, "nouns_", None)
    if nouns is None:
        return None, None, None, None
    synsets = getattr(space, "noun_synsets_", None)
    names = list(nouns)
    rows = None if exact is None else (lambda idx: exact(names, idx))
    return names, space.noun_embeddings_, None if synsets is None else list(synsets), rows


def summarize_clusters(X, labels, n_clusters, *, paths=None, nouns=None,
                       noun_embeddings=None, confidence=None, n_nouns=5,
                       n_representatives=12):
    """Describe each cluster: size, the nouns naming it, its most central images.

    Each cluster's centre is the normalised mean of its image embeddings. Nouns are
    ranked by *specificity*: their cosine to this centre minus their mean cosine to all
    non-empty centres, so a generic noun that is close to every image names no cluster
    (with a single cluster, the plain cosine). Representatives are the images with the
    highest cosine to the centre.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        L2-normalised image embeddings.
    labels : array-like of shape (n_samples,)
        Cluster of each image in ``0 .. n_clusters - 1``.
    n_clusters : int
        Number of clusters (empty clusters are listed with size 0).
    paths : sequence of str, default=None
        Name of each image; ``None`` names them by row index.
    nouns : sequence of str, default=None
        Noun vocabulary (the fitted semantic space's ``nouns_``).
    noun_embeddings : ndarray of shape (n_nouns, n_features), default=None
        Their text embeddings (``noun_embeddings_``).
    confidence : array-like of shape (n_samples,), default=None
        Per-image confidence, summarised as the cluster's mean.
    n_nouns : int, default=5
        Nouns listed per cluster.
    n_representatives : int, default=12
        Representative images listed per cluster.

    Returns
    -------
    clusters : list of dict
        One dict per cluster with keys ``cluster``, ``size``, ``mean_confidence``,
        ``nouns`` (``noun``, ``score`` = specificity, ``similarity`` = cosine),
        ``representatives`` (``path``, ``similarity``) and ``title``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report import summarize_clusters
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> out = summarize_clusters(X, [0, 0, 1], 2, nouns=["cat", "dog"], noun_embeddings=U)
    >>> [(c["size"], c["nouns"][0]["noun"]) for c in out]
    [(2, 'cat'), (1, 'dog')]
    """
    X = _unit_rows(X)
    labels = np.asarray(labels, dtype=np.int64)
    paths = [f"#{i}" for i in range(len(X))] if paths is None else [str(p) for p in paths]
    sizes = np.bincount(labels, minlength=n_clusters)
    centres = _unit_rows(_cluster_means(X, labels, n_clusters))
    specificity = similarity = None
    if nouns is not None and len(nouns):
        similarity = centres @ _unit_rows(noun_embeddings).T
        nonempty = sizes > 0
        specificity = similarity.copy()
        if nonempty.sum() > 1:
            specificity -= similarity[nonempty].mean(axis=0)
    clusters = []
    for k in range(n_clusters):
        members = np.flatnonzero(labels == k)
        entry = {"cluster": k, "size": int(sizes[k]), "mean_confidence": None,
                 "nouns": [], "representatives": []}
        if confidence is not None and len(members):
            entry["mean_confidence"] = round(float(np.mean(np.asarray(confidence)[members])), 4)
        if specificity is not None and len(members):
            seen = set()
            for j in np.argsort(-specificity[k], kind="stable"):
                if nouns[j] in seen:
                    continue
                seen.add(nouns[j])
                entry["nouns"].append({"noun": str(nouns[j]),
                                       "score": round(float(specificity[k, j]), 4),
                                       "similarity": round(float(similarity[k, j]), 4)})
                if len(entry["nouns"]) == n_nouns:
                    break
        sims = X[members] @ centres[k]
        for i in np.argsort(-sims, kind="stable")[:n_representatives]:
            entry["representatives"].append({"path": paths[members[i]],
                                             "similarity": round(float(sims[i]), 4)})
        names = [n["noun"] for n in entry["nouns"][:3]]
        entry["title"] = f"Cluster {k}" + (": " + ", ".join(names) if names else "")
        clusters.append(entry)
    return clusters


#: Images drawn on the report's map at most (a uniform sample above it).
MAP_MAX_POINTS = 3000
#: Up to this many points the map is a t-SNE embedding, above it a PCA projection.
TSNE_MAX_POINTS = 500


def map_coordinates(clusterer, X, labels, *, max_points=MAP_MAX_POINTS, random_state=0):
    """2-D positions of the images in the space the clusterer used, for the report's map.

    The rows (a uniform sample of ``max_points`` when there are more) are sent through
    ``clusterer.transform`` when it has one (the fused features of CAE and TAC, the
    unit images of CLIP k-means), else used as they are, then projected: t-SNE up to
    :data:`TSNE_MAX_POINTS` points, the first two principal components above.
    Coordinates are scaled to ``[0, 1]``.

    Parameters
    ----------
    clusterer : fitted estimator
        Provides the space (``transform``), optional.
    X : ndarray of shape (n_samples, n_features)
        The image embeddings it was fitted on.
    labels : array-like of shape (n_samples,)
        Cluster of each image.
    max_points : int, default=3000
        Points drawn at most.
    random_state : int, default=0
        Seeds the sample and t-SNE.

    Returns
    -------
    projection : dict
        ``method`` ("tsne" or "pca"), ``rows`` (the drawn rows of ``X``), ``xy``
        (ndarray of shape (len(rows), 2)) and ``labels`` of those rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report._summary import map_coordinates
    >>> X = np.random.RandomState(0).normal(size=(600, 8))
    >>> m = map_coordinates(None, X, np.arange(600) % 3, max_points=550)
    >>> m["method"], m["xy"].shape, float(m["xy"].min()), float(m["xy"].max())
    ('pca', (550, 2), 0.0, 1.0)
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    rng = np.random.RandomState(random_state)
    rows = np.arange(len(X))
    if len(X) > max_points:
        rows = np.sort(rng.choice(len(X), max_points, replace=False))
    F = X[rows]
    if hasattr(clusterer, "transform"):
        try:
            F = clusterer.transform(F)
        except Exception:  # noqa: BLE001 - a map of the embeddings is still a map
            F = X[rows]
    F = np.asarray(F, dtype=np.float64)
    F = F - F.mean(axis=0)
    method = "tsne" if 4 <= len(F) <= TSNE_MAX_POINTS else "pca"
    if method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, init="pca", random_state=random_state,
                  perplexity=min(30.0, (len(F) - 1) / 3)).fit_transform(F)
    else:
        _, _, Vt = np.linalg.svd(F, full_matrices=False)
        xy = F @ Vt[:2].T
        if xy.shape[1] < 2:  # one feature (or one row): a line
            xy = np.column_stack([xy, np.zeros(len(xy))])
    span = np.ptp(xy, axis=0)
    xy = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1.0)
    return {"method": method, "rows": rows, "xy": xy, "labels": labels[rows]}
