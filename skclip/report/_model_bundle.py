"""``model.joblib``: a fitted clusterer, its embedder's settings and the edits made since.

:class:`ClusterModel` is what ``skclip cluster`` saves and ``skclip assign`` / ``skclip
edit`` load. It labels new embeddings exactly as the clusterer's ``predict`` does, then
replays the edits in order (a merge relabels, a split sends the rows of the split
cluster to the nearest of its sub-centres), so a later ``assign`` honours merges and
splits. Cluster ids are stable: a merge keeps the smallest id of the group, a split
retires the id and gives its parts new ids that were never used before.

Per image it also gives a confidence (the clusterer's soft assignment, see
:data:`skclip.report.CONFIDENCE_DEFINITION`; a merge adds the merged clusters'
probabilities, a split shares its cluster's probability among the parts by a softmax
over the cosines to their centres) and an outlier flag (:data:`OUTLIER_RULE`).
"""

import numpy as np
from sklearn.utils import Bunch

from ._outliers import OUTLIER_WHISKER, centre_distances, outlier_thresholds
from ._summary import CONFIDENCE_TEMPERATURE, _naming_rows

__all__ = ["ClusterModel", "load_model", "save_model"]

_FORMAT = "skclip-cluster-model/1"
_SHORTLIST = 50  # naming nouns kept per cluster (by cosine and by specificity)


def _unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=-1, keepdims=True), 1e-12)


def _softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


class ClusterModel:
    """A fitted clusterer that can label new images and be merged, renamed and split.

    Build one with :meth:`from_fitted`; save and load it with :func:`save_model` and
    :func:`load_model`.

    Attributes
    ----------
    clusterer : fitted estimator
        The clusterer as fitted (never refitted nor modified).
    embedder : dict or None
        Settings of the image embedder that made the fitted embeddings (``model``,
        ``pretrained``, ``device``...), to embed new images the same way.
    skclip_version : str
        The version that wrote the model.
    cluster_ids : list of int
        The current cluster ids, increasing.
    names : dict of int to str
        Names given with :meth:`rename`.
    run : dict or None
        Run metadata of ``clusters.json`` (set by :func:`skclip.report.write_report`).
    edits : list of dict
        What was done, in order (``{"op": "merge", "ids": [...], "into": id}``,
        ``{"op": "rename", "id": id, "name": str}``, ``{"op": "split", "id": id,
        "into": [...]}``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import ClusterModel
    >>> X = np.repeat(np.eye(3), 10, axis=0) + 0.01 * np.random.RandomState(0).rand(30, 3)
    >>> model = ClusterModel.from_fitted(KMeans(3, n_init=3, random_state=0).fit(X), X)
    >>> model.cluster_ids
    [0, 1, 2]
    >>> into = model.merge([2, 1], X)
    >>> model.cluster_ids, sorted(set(model.predict(X).tolist()))
    ([0, 1], [0, 1])
    """

    def __init__(self, clusterer, *, embedder=None, whisker=OUTLIER_WHISKER):
        from .. import __version__

        self.clusterer = clusterer
        self.embedder = None if embedder is None else dict(embedder)
        self.whisker = whisker
        self.skclip_version = __version__
        self.run = None

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_fitted(cls, clusterer, X, *, embedder=None, whisker=OUTLIER_WHISKER):
        """Wrap a fitted clusterer; calibrate centres and outlier fences on ``X``.

        Parameters
        ----------
        clusterer : fitted estimator
            With ``predict``; ``predict_proba``, ``transform`` and ``cluster_centers_``
            are used when present.
        X : ndarray of shape (n_samples, n_features)
            The embeddings it was fitted on.
        embedder : dict, default=None
            Settings of the embedder (stored as they are).
        whisker : float, default=1.5
            Of the outlier fence (:data:`OUTLIER_RULE`).

        Returns
        -------
        model : ClusterModel
        """
        model = cls(clusterer, embedder=embedder, whisker=whisker)
        X = np.asarray(X)
        k0 = int(getattr(clusterer, "n_clusters_", None) or clusterer.n_clusters)
        model._base_ids = list(range(k0))
        model._steps, model.edits, model.names = [], [], {}
        model._next_id = k0
        F = model.features(X)
        model._base_centres = None
        if model._centres_in_space(F) is None:  # e.g. MCA: centres of the unit images
            labels = np.asarray(clusterer.predict(X), dtype=np.int64)
            means = np.zeros((k0, F.shape[1]))
            np.add.at(means, labels, F)
            model._base_centres = _unit(means)
        model._naming = _naming_shortlist(clusterer, X, np.asarray(clusterer.predict(X)), k0)
        model.recalibrate(X)
        return model

    def _centres_in_space(self, F):
        centres = getattr(self.clusterer, "cluster_centers_", None)
        if centres is None or np.asarray(centres).shape[1] != F.shape[1]:
            return None
        return np.asarray(centres)

    # -- labelling ----------------------------------------------------------------------
    @property
    def cluster_ids(self):
        return sorted(self._centres)

    def features(self, X):
        """The clustered space: ``clusterer.transform(X)`` when its centres live there
        (CAE's fused features), else the L2-normalised ``X``."""
        X = np.asarray(X)
        centres = getattr(self.clusterer, "cluster_centers_", None)
        if centres is not None and hasattr(self.clusterer, "transform"):
            F = np.asarray(self.clusterer.transform(X))
            if F.shape[1] == np.asarray(centres).shape[1]:
                return _unit(F)
        return _unit(X)

    def _base(self, X, F):
        labels = np.asarray(self.clusterer.predict(X), dtype=np.int64)
        if hasattr(self.clusterer, "predict_proba"):
            P = np.asarray(self.clusterer.predict_proba(X), dtype=np.float64)
        else:
            C = self._centres_in_space(F)
            C = self._base_centres if C is None else C
            P = _softmax(F @ _unit(C).T / CONFIDENCE_TEMPERATURE)
        return labels, {k: P[:, k] for k in self._base_ids}

    def _replay(self, X, F, upto=None):
        labels, P = self._base(X, F)
        for step in self._steps[:upto]:
            if step["op"] == "merge":
                labels[np.isin(labels, step["ids"])] = step["into"]
                P[step["into"]] = sum(P.pop(k) for k in step["ids"])
            else:  # split
                rows = labels == step["id"]
                S = F @ _unit(step["centres"]).T
                labels[rows] = np.asarray(step["into"])[S[rows].argmax(axis=1)]
                share = _softmax(S / CONFIDENCE_TEMPERATURE) * P.pop(step["id"])[:, None]
                P.update({k: share[:, j] for j, k in enumerate(step["into"])})
        return labels, P

    def assign(self, X):
        """Label, confidence, centre distance and outlier flag of each embedding.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Image embeddings from the same embedder as the fitted ones.

        Returns
        -------
        result : Bunch
            ``labels`` (int ids), ``confidence`` (in [0, 1]), ``distance`` (cosine
            distance to the cluster's centre) and ``outlier`` (bool).
        """
        X = np.asarray(X)
        F = self.features(X)
        labels, P = self._replay(X, F)
        conf = np.zeros(len(X))
        for k, p in P.items():
            rows = labels == k
            conf[rows] = p[rows]
        dist = centre_distances(F, labels, self._centres)
        fence = np.array([self._thresholds.get(int(k), 2.0) for k in labels])
        return Bunch(labels=labels, confidence=np.clip(conf, 0.0, 1.0), distance=dist,
                     outlier=dist > fence)

    def predict(self, X):
        """Cluster id of each embedding (the clusterer's ``predict``, then the edits)."""
        X = np.asarray(X)
        return self._replay(X, self.features(X))[0]

    def recalibrate(self, X):
        """Recompute the centres and outlier fences of the current clusters on ``X``."""
        X = np.asarray(X)
        F = self.features(X)
        labels, P = self._replay(X, F)
        self._centres = {}
        for k in P:
            rows = labels == k
            self._centres[k] = _unit(F[rows].mean(axis=0)) if rows.any() else np.zeros(F.shape[1])
        self._thresholds = outlier_thresholds(centre_distances(F, labels, self._centres),
                                              labels, whisker=self.whisker)
        return self

    def centres(self):
        """Centre (unit) of each current cluster in the clustered space, as a dict."""
        return {k: v.copy() for k, v in self._centres.items()}

    @property
    def naming(self):
        """The naming shortlist saved at fit time: ``nouns``, ``synsets``, ``embeddings``
        (or None when the clusterer had no semantic space)."""
        return self._naming

    # -- edits --------------------------------------------------------------------------
    def _check_ids(self, ids):
        unknown = [k for k in ids if k not in self._centres]
        if unknown:
            raise ValueError(f"unknown cluster id(s) {', '.join(map(str, unknown))}; the "
                             f"clusters are {', '.join(map(str, self.cluster_ids))}")

    def merge(self, ids, X):
        """Merge clusters ``ids`` into the smallest of them; return that id.

        ``X`` are the fitted embeddings (centres and fences are recomputed on them).
        """
        ids = [int(k) for k in ids]
        if len(ids) < 2:
            raise ValueError(f"a merge needs at least two cluster ids, got {ids}")
        if len(set(ids)) < len(ids):
            raise ValueError(f"cannot merge a cluster with itself: {ids}")
        self._check_ids(ids)
        into = min(ids)
        self._steps.append({"op": "merge", "ids": ids, "into": into})
        self.edits.append({"op": "merge", "ids": ids, "into": into})
        for k in ids:
            if k != into:
                self.names.pop(k, None)
        self.recalibrate(X)
        return into

    def rename(self, cluster_id, name):
        """Name cluster ``cluster_id`` (kept by later merges into it)."""
        self._check_ids([int(cluster_id)])
        name = str(name).strip()
        if not name:
            raise ValueError(f"the new name of cluster {cluster_id} is empty")
        self.names[int(cluster_id)] = name
        self.edits.append({"op": "rename", "id": int(cluster_id), "name": name})

    def split(self, cluster_id, n_parts, X, *, random_state=0):
        """Re-cluster cluster ``cluster_id`` into ``n_parts``; return the new ids.

        Spherical k-means (20 restarts) on the members' features in the clustered space.
        """
        from ..kmeans import kmeans

        cluster_id, n_parts = int(cluster_id), int(n_parts)
        self._check_ids([cluster_id])
        if n_parts < 2:
            raise ValueError(f"a split needs at least 2 parts, got {n_parts}")
        X = np.asarray(X)
        F = self.features(X)
        members = F[self._replay(X, F)[0] == cluster_id]
        if len(members) < n_parts:
            raise ValueError(f"cluster {cluster_id} has {len(members)} images; it cannot "
                             f"be split into {n_parts} parts")
        res = kmeans(members, n_parts, n_init=20, spherical=True, device="cpu",
                     random_state=random_state)
        into = list(range(self._next_id, self._next_id + n_parts))
        self._next_id += n_parts
        self._steps.append({"op": "split", "id": cluster_id, "into": into,
                            "centres": _unit(res.centers)})
        self.edits.append({"op": "split", "id": cluster_id, "into": into})
        self.names.pop(cluster_id, None)
        self.recalibrate(X)
        return into


def _naming_shortlist(clusterer, X, labels, k):
    """The nouns that may name a cluster or a part of one: per cluster, the
    ``_SHORTLIST`` nearest to its mean and the ``_SHORTLIST`` most specific."""
    nouns, U, synsets, exact = _naming_rows(clusterer, X)
    if nouns is None or not len(nouns):
        return None
    U = _unit(U)
    means = np.zeros((k, np.asarray(X).shape[1]))
    np.add.at(means, labels, _unit(X))
    n = min(_SHORTLIST, len(nouns))
    if exact is not None:
        # bfloat16 rows: the rows that can enter a shortlist (by cosine, or by
        # specificity = cosine to the mean minus its average over clusters) are encoded
        # again in float32, so the shortlist and its embeddings are the float32 ones
        from ..semantic._candidates import rescore_near_selection

        M = _unit(means)
        C = np.vstack([M, M - M.mean(axis=0)])
        C = C[np.linalg.norm(C, axis=1) > 1e-9]  # one cluster: no specificity to rank by
        U, _, _ = rescore_near_selection(C, U, exact, n)  # unit rows put in unit rows
    sim = _unit(means) @ U.T
    spec = sim - sim.mean(axis=0)
    keep = np.unique(np.r_[np.argsort(-sim, axis=1)[:, :n].ravel(),
                           np.argsort(-spec, axis=1)[:, :n].ravel()])
    return {"nouns": [nouns[i] for i in keep],
            "synsets": None if synsets is None else [synsets[i] for i in keep],
            "embeddings": U[keep].astype(np.float32)}


def save_model(model, path):
    """Write ``model`` to ``path`` (joblib), atomically.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import ClusterModel, load_model, save_model
    >>> X = np.random.RandomState(0).rand(20, 3)
    >>> model = ClusterModel.from_fitted(KMeans(2, n_init=2, random_state=0).fit(X), X)
    >>> path = save_model(model, pathlib.Path(tempfile.mkdtemp()) / "model.joblib")
    >>> load_model(path).cluster_ids
    [0, 1]
    """
    from .._atomic import atomic_write

    with atomic_write(path, "wb") as fh:
        dump_model(model, fh)
    return path


def dump_model(model, fh):
    """Write ``model`` (with a format tag and its skclip version) to a binary file."""
    import joblib

    joblib.dump({"format": _FORMAT, "skclip_version": model.skclip_version, "model": model}, fh)


def load_model(path):
    """Read a ``model.joblib``; clear errors for a missing file or another version.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a skclip model, or written by another skclip version.
    """
    import pickle
    from pathlib import Path

    import joblib

    from .. import __version__

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: it is written by 'skclip cluster' "
                                "(run it again to get one)")
    try:
        payload = joblib.load(path)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError,
            ValueError) as exc:
        raise ValueError(f"{path} is not a readable skclip model ({type(exc).__name__}: "
                         f"{exc}); was it written by another skclip version?") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a skclip cluster model")
    if payload["skclip_version"] != __version__:
        raise ValueError(f"{path} was written by skclip {payload['skclip_version']}; this "
                         f"is skclip {__version__}. Run 'skclip cluster' again with this "
                         "version.")
    return payload["model"]
