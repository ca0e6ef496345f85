"""What ``clusters.json`` says about a :class:`ClusterModel` on its fitted images."""

import numpy as np

from ._hierarchy import Taxonomy, build_hierarchy
from ._outliers import OUTLIER_RULE
from ._summary import CONFIDENCE_DEFINITION, summarize_clusters

__all__ = ["run_summary"]


def _unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=-1, keepdims=True), 1e-12)


def _k_selection(clusterer):
    """``{"k_selection": ...}`` for a clusterer fitted with ``n_clusters="auto"``, else {}."""
    scores = getattr(clusterer, "k_selection_scores_", None)
    if not scores:
        return {}
    sel = {"criterion": clusterer.k_selection, "chosen": int(clusterer.n_clusters_),
           "scores": [{"k": int(k), "score": float(v)} for k, v in sorted(scores.items())]}
    null = getattr(clusterer, "k_selection_null_", None)
    if null is not None:
        sel["null_reference"] = dict(null)
        sel["structure"] = bool(null["structure"])
    return {"k_selection": sel}


def _taxonomy(synsets):
    if not synsets or all(s is None for s in synsets):
        return None
    try:
        return Taxonomy.from_wordnet()
    except (LookupError, OSError, ValueError):
        return None  # no WordNet here: shared nouns name the super-clusters


def run_summary(model, X, *, paths=None, skipped=(), run=None, n_nouns=5,
                n_representatives=12):
    """The summary written to ``clusters.json``, and the per-image assignment.

    Parameters
    ----------
    model : ClusterModel
    X : ndarray of shape (n_samples, n_features)
        The fitted embeddings.
    paths, skipped, run, n_nouns, n_representatives
        As for :func:`skclip.report.write_report`.

    Returns
    -------
    summary : dict
    assigned : Bunch
        :meth:`ClusterModel.assign` of ``X``.
    names : list of str
        Row names (paths, or ``#i``).
    """
    from .. import __version__

    X = np.asarray(X)
    names = [f"#{i}" for i in range(len(X))] if paths is None else [str(p) for p in paths]
    assigned = model.assign(X)
    ids = model.cluster_ids
    slot = {k: i for i, k in enumerate(ids)}
    slots = np.array([slot[int(k)] for k in assigned.labels], dtype=np.int64)
    naming = model.naming
    nouns = U = None
    if naming is not None:
        nouns, U = naming["nouns"], naming["embeddings"]
    clusters = summarize_clusters(X, slots, len(ids), paths=names, nouns=nouns,
                                  noun_embeddings=U, confidence=assigned.confidence,
                                  n_nouns=n_nouns, n_representatives=n_representatives)
    n_out = np.bincount(slots[assigned.outlier], minlength=len(ids))
    for entry, k in zip(clusters, ids):
        entry["cluster"] = k
        user = model.names.get(k)
        best = [n["noun"] for n in entry["nouns"][:3]]
        entry["name"] = user or (best[0] if best else None)
        entry["title"] = f"Cluster {k}" + (f": {user}" if user else
                                           (": " + ", ".join(best) if best else ""))
        entry["outliers"] = int(n_out[slot[k]])
    outliers = [{"path": names[i], "cluster": int(assigned.labels[i]),
                 "distance": round(float(assigned.distance[i]), 4)}
                for i in np.argsort(-assigned.distance, kind="stable") if assigned.outlier[i]]
    summary = {"skclip_version": __version__, **(run or {}), "n_images": len(X),
               "n_clusters": len(ids), **_k_selection(model.clusterer),
               "confidence": CONFIDENCE_DEFINITION,
               "naming_nouns": None if nouns is None else len(nouns),
               "outlier_rule": OUTLIER_RULE,
               "hierarchy": _hierarchy(model, X, slots, clusters, naming),
               "edits": list(model.edits),
               "clusters": clusters, "outliers": outliers,
               "skipped": [{"path": str(p), "error": str(e)} for p, e in skipped]}
    return summary, assigned, names


def _hierarchy(model, X, slots, clusters, naming):
    """``build_hierarchy`` over the non-empty clusters (None when there are none)."""
    keep = [i for i, c in enumerate(clusters) if c["size"]]
    if not keep:
        return None
    centres = model.centres()
    ids = [clusters[i]["cluster"] for i in keep]
    leaf_names = [clusters[i]["name"] or f"cluster {clusters[i]['cluster']}" for i in keep]
    synsets = taxonomy = spec = nouns = None
    if naming is not None:
        means = np.zeros((len(clusters), X.shape[1]))
        np.add.at(means, slots, _unit(X))
        sim = _unit(means[keep]) @ _unit(naming["embeddings"]).T
        spec = sim - sim.mean(axis=0) if len(keep) > 1 else sim
        nouns = naming["nouns"]
        if naming["synsets"] is not None:
            top = spec.argmax(axis=1)
            # a renamed cluster is no longer named by its noun: no synset for it
            synsets = [None if model.names.get(k) else naming["synsets"][j]
                       for k, j in zip(ids, top)]
            taxonomy = _taxonomy(synsets)
    return build_hierarchy(ids, np.stack([centres[k] for k in ids]),
                           [clusters[i]["size"] for i in keep], leaf_names,
                           synsets=synsets, taxonomy=taxonomy, specificity=spec, nouns=nouns)
