"""The reference baselines of every CLIP-clustering paper (CLIP k-means, TAC without training).

* :class:`CLIPKMeans`: k-means on the L2-normalised image embeddings.
* :class:`TACClustering`: TAC without training, i.e. the softmax retrieval of
  selected nouns concatenated with the image, then k-means.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._autok import resolve_n_clusters
from ._base import _BaseCLIPClustering, _NearestCentreMixin
from ._fusion import fused_features
from ..kmeans import kmeans

_KMEANS_CONSTRAINTS = {
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "spherical": ["boolean"],
    "max_points_per_centroid": [Interval(Integral, 1, None, closed="left"), None],
}


class _FittedKMeans(_NearestCentreMixin):
    """Runs the project k-means on features and stores its result (mixin)."""

    def _fit_kmeans(self, F, device):
        k = resolve_n_clusters(self, F, spherical=self.spherical, device=device)
        res = kmeans(
            F,
            k,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            spherical=self.spherical,
            max_points_per_centroid=self.max_points_per_centroid,
            device=device,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
        )
        self.cluster_centers_ = np.asarray(res.centers)
        self.labels_ = np.asarray(res.labels)
        self.inertia_ = float(res.inertia)
        self.n_iter_ = int(res.n_iter)
        return self



class CLIPKMeans(_FittedKMeans, _BaseCLIPClustering):
    """k-means on L2-normalised CLIP image embeddings (the "CLIP k-means" baseline).

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters; ``"auto"`` chooses it from ``k_range`` by ``k_selection``
        on the unit image embeddings (:doc:`/user_guide/choosing`).
    k_range : tuple (low, high), list of int or None, default=None
        Candidates of ``n_clusters="auto"``; None means 2 to ``min(100, n_samples // 10)``.
    k_selection : {"davies_bouldin", "silhouette", "calinski_harabasz", \
            "stability"}, default="davies_bouldin"
        Criterion of ``n_clusters="auto"``, greater is better.
    n_init : int, default=20
        Restarts (SIC: sklearn ``KMeans(n_init=20)``; TAC: faiss nredo 20).
    max_iter : int, default=300
        Maximum iterations per restart.
    tol : float, default=1e-4
        Tolerance of the k-means stopping rule.
    spherical : bool, default=False
        ``True``: cosine k-means with renormalised centres (TAC's faiss
        ``spherical=True``); ``False``: Euclidean k-means as SIC's sklearn one.
    max_points_per_centroid : int or None, default=256
        With more than ``max_points_per_centroid * n_clusters`` images, the seeding,
        restarts and iterations run on a random subsample of that many images, then
        every image is assigned to its nearest centre (faiss's rule and default);
        ``None`` trains on every image (as scikit-learn's ``KMeans``).
    device : str, torch.device or None, default="auto"
        Torch device; ``"auto"`` picks CUDA when available, resolved at each call.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ initialisation.
    verbose : int, default=0
        Solver messages when > 0.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training image.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centres in the space of the normalised embeddings.
    inertia_ : float
        k-means objective of the kept restart.
    n_iter_ : int
        Iterations of the kept restart.
    n_clusters_ : int
        Number of clusters fitted: ``n_clusters``, or the K chosen by ``"auto"``.
    k_selection_scores_ : dict of int to float
        ``k_selection`` score of every scanned K (empty unless ``n_clusters="auto"``).
    n_features_in_ : int
        Dimension of the image embeddings.

    See Also
    --------
    CAEClustering, TACClustering : the same k-means on text-enriched features.

    Examples
    --------
    >>> from skclip.cluster import CLIPKMeans
    >>> from skclip.datasets import make_clip_blobs
    >>> data = make_clip_blobs(n_samples=200, n_clusters=4, n_features=16, random_state=0)
    >>> km = CLIPKMeans(n_clusters=4, n_init=3, random_state=0).fit(data.X)
    >>> km.cluster_centers_.shape
    (4, 16)
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in _BaseCLIPClustering._parameter_constraints.items()
            if k != "semantic_space"
        },
        **_KMEANS_CONSTRAINTS,
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        k_range=None,
        k_selection="davies_bouldin",
        n_init=20,
        max_iter=300,
        tol=1e-4,
        spherical=False,
        max_points_per_centroid=256,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_selection = k_selection
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.spherical = spherical
        self.max_points_per_centroid = max_points_per_centroid
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Cluster the normalised image embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        return self._fit_kmeans(X, self._device())

    def transform(self, X):
        """The L2-normalised embeddings (the space of ``cluster_centers_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        X_unit : ndarray of shape (n_samples, n_features)
            Rows scaled to unit norm.
        """
        check_is_fitted(self)
        X_unit = self._validate_X(X, reset=False)
        # rows already of unit norm come back uncopied: the output must not alias X
        return X_unit.copy() if np.may_share_memory(X_unit, X) else X_unit


class TACClustering(_FittedKMeans, _BaseCLIPClustering):
    """TAC without training: softmax noun retrieval, concatenation, k-means.

    Li et al. (ICML-24), training-free variant (TAC's official code): each image's text
    counterpart is ``normalise(sum_j softmax_j(cos(x, u_j) / tau) u_j)`` over the
    selected nouns; ``[x, x^u]`` is clustered by k-means.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters; ``"auto"`` chooses it from ``k_range`` by ``k_selection``
        on the concatenated features (computed once) (:doc:`/user_guide/choosing`).
    k_range : tuple (low, high), list of int or None, default=None
        Candidates of ``n_clusters="auto"``; None means 2 to ``min(100, n_samples // 10)``.
    k_selection : {"davies_bouldin", "silhouette", "calinski_harabasz", \
            "stability"}, default="silhouette"
        Criterion of ``n_clusters="auto"``, greater is better.
    semantic_space : estimator or None, default=None
        Object giving the nouns (protocol in :mod:`skclip.semantic`); cloned
        and fitted on ``X``. ``None`` builds TAC's selection:
        ``SemanticSpaceBuilder(vocabulary="wordnet", templates="tac7",
        selection="tac", n_centers="auto", topk_nouns=5)``. Captions are ignored.
    tau : float, default=0.005
        Retrieval softmax temperature (TAC's value).
    n_init : int, default=20
        k-means restarts (TAC: nredo 20).
    max_iter : int, default=300
        Maximum k-means iterations (TAC: niter 300).
    tol : float, default=1e-4
        k-means tolerance.
    spherical : bool, default=True
        Spherical k-means as TAC's faiss k-means.
    max_points_per_centroid : int or None, default=256
        With more than ``max_points_per_centroid * n_clusters`` images, k-means trains
        on a random subsample of that many and then assigns every image (faiss's rule
        and default, as in TAC); ``None`` trains on every image.
    batch_size : int or None, default=None
        Rows per retrieval block; ``None`` means 8192 (TAC's).
    device : str, torch.device or None, default="auto"
        Torch device; ``"auto"`` picks CUDA when available, resolved at each call.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisation.
    verbose : int, default=0
        Progress bars when > 0.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training image.
    cluster_centers_ : ndarray of shape (n_clusters, 2 * n_features)
        Centres in the concatenated space (the space of :meth:`transform`).
    inertia_ : float
        k-means objective of the kept restart.
    n_iter_ : int
        Iterations of the kept restart.
    semantic_space_ : estimator
        The fitted semantic space.
    nouns_ : list of str
        Selected nouns.
    noun_embeddings_ : ndarray of shape (m, n_features)
        Their unit embeddings.
    n_clusters_ : int
        Number of clusters fitted: ``n_clusters``, or the K chosen by ``"auto"``.
    k_selection_scores_ : dict of int to float
        ``k_selection`` score of every scanned K (empty unless ``n_clusters="auto"``).
    n_features_in_ : int
        Dimension of the image embeddings.

    See Also
    --------
    CAEClustering : OT alignment instead of softmax retrieval, plus captions.

    Examples
    --------
    >>> from skclip.cluster import TACClustering
    >>> from skclip.datasets import make_clip_blobs
    >>> from skclip.semantic import SemanticSpaceBuilder
    >>> data = make_clip_blobs(n_samples=200, n_clusters=4, n_features=16, random_state=0)
    >>> space = SemanticSpaceBuilder(vocabulary=data.text_embeddings)
    >>> tac = TACClustering(n_clusters=4, semantic_space=space, random_state=0).fit(data.X)
    >>> tac.transform(data.X).shape
    (200, 32)
    """

    _parameter_constraints: dict = {
        **_BaseCLIPClustering._parameter_constraints,
        **_KMEANS_CONSTRAINTS,
        "tau": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        k_range=None,
        k_selection="silhouette",
        semantic_space=None,
        tau=0.005,
        n_init=20,
        max_iter=300,
        tol=1e-4,
        spherical=True,
        max_points_per_centroid=256,
        batch_size=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_selection = k_selection
        self.semantic_space = semantic_space
        self.tau = tau
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.spherical = spherical
        self.max_points_per_centroid = max_points_per_centroid
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _default_semantic_space(self):
        return self._wordnet_space("tac", selection="tac", n_centers="auto", topk_nouns=5,
                                   device=self.device)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Select nouns, retrieve each image's counterpart, concatenate, cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        nouns, _ = self._fit_semantic_space(X)
        if len(nouns) == 0:
            raise ValueError("The semantic space selected no nouns; TAC needs at least one.")
        self.nouns_ = list(getattr(self.semantic_space_, "nouns_", []))
        self.noun_embeddings_ = nouns
        device = self._device()
        return self._fit_kmeans(self._fused(X, device), device)

    def _fused(self, X, device):
        T = self.noun_embeddings_.astype(X.dtype, copy=False)
        F, _ = fused_features(
            X,
            [T],
            [np.zeros(len(T), dtype=X.dtype)],  # g = 0: plain softmax retrieval
            eps=self.tau,
            weight_by_similarity=False,
            gamma=None,
            fusion="concat",
            block_size=8192 if self.batch_size is None else self.batch_size,
            device=device,
            verbose=self.verbose,
        )
        return F

    def transform(self, X):
        """Normalised ``[x, x^u]`` of ``X`` (the space of ``cluster_centers_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        F : ndarray of shape (n_samples, 2 * n_features)
            Concatenated, L2-normalised features.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._fused(X, self._device())
