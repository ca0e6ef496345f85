"""CAE: training-free hierarchical semantic alignment for image clustering.

The semantic space, modality centring, a transport of the images to each text set,
text counterparts, adaptive fusion, then k-means, or its over-clustered and merged
partition when that has the higher silhouette (``_merge.py``; the methods page gives
each step's source). No transport variant earned its place across the measured scenarios
(balanced OT lost on every one, semi-relaxed OT helped only long tails), so the
default is TAC's softmax retrieval and the transport solvers run only on request.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._autok import resolve_n_clusters
from ._base import _BaseCLIPClustering, _NearestCentreMixin
from ._cae_space import CAETextSideMixin, default_semantic_space, min_centers_for
from ._fusion import centred_unit
from ._merge import merged_kmeans

class CAEClustering(CAETextSideMixin, _NearestCentreMixin, _BaseCLIPClustering):
    """Training-free clustering of CLIP image embeddings by hierarchical semantic alignment.

    CAE (Zhu et al., AAAI-26) enriches every image embedding with two text
    counterparts, one from WordNet nouns (categories) and one from captions
    (attributes), obtained by entropic optimal transport to the texts of a semantic
    space selected for the data; the image and its counterparts are fused with
    per-sample adaptive weights and clustered by k-means (or, when its silhouette is
    higher, by k-means with twice the centres merged back to K, which lets cluster
    sizes follow the data: ``overclustering``). By default the transport
    is the softmax retrieval (the transport without its column constraint): balanced
    transport lost on every measured scenario, semi-relaxed transport won only on long
    tails (``relax_columns``, ``column_penalty``). Several steps are
    reconstructions, tagged [summary] (a third-party summary of the paper), [choice]
    (ours) or [measured] (chosen on planted data); :doc:`/user_guide/methods` explains
    each one. ``relax_columns=False, fusion="paper", gamma=0.01`` is the literal
    reading of the paper's summary.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters; ``"auto"`` chooses it from ``k_range`` by ``k_selection``
        on the fused features (computed once) (:doc:`/user_guide/choosing`).
    k_range : tuple (low, high), list of int or None, default=None
        Candidates of ``n_clusters="auto"``; None means 2 to ``min(100, n_samples // 10)``.
    k_selection : {"davies_bouldin", "silhouette", "calinski_harabasz", \
            "stability"}, default="silhouette"
        Criterion of ``n_clusters="auto"``, greater is better.
    semantic_space : estimator or None, default=None
        Object that selects the texts (protocol in :mod:`skclip.semantic`), cloned and
        fitted on ``X``. ``None`` builds ``SemanticSpaceBuilder(vocabulary="wordnet",
        templates="tac7", selection="center_topk", n_centers="auto", topk_nouns=5,
        topk_captions=5, captions="coco")`` with at least
        ``max(n_clusters, min(100, n // 30))`` centres [measured]: the captions are the
        COCO corpus shipped with skclip (:func:`skclip.semantic.packaged_captions`,
        CC BY 4.0), ``captions=None`` when ``use_captions=False``. A semantic space
        you pass brings its own captions, or none (see Examples).
    use_nouns : bool, default=True
        Use the noun counterpart (ablation switch).
    use_captions : bool, default=True
        Use the caption counterpart when the semantic space has captions; False also
        keeps the default semantic space from encoding the shipped corpus.
    ot_eps : float, default=0.01
        Entropic regularisation of the OT (cost ``1 - cos`` between centred
        embeddings), the temperature of the plan rows [choice].
    ot_iters : int, default=1000
        Maximum Sinkhorn iterations (``relax_columns=False`` only; it stops at ``ot_tol``).
    ot_tol : float, default=1e-6
        Sinkhorn tolerance on the marginal error [choice], and the largest plan mass
        a row may leave out of its top-k texts (``topk``).
    ot_batch : int or None, default=None
        Rows per block for Sinkhorn and the counterparts (memory O(ot_batch x
        n_texts)); ``None`` chooses (:doc:`/user_guide/gpu_memory`).
    topk : int, "auto" or None, default="auto"
        Texts kept per image for the counterparts, with at most ``ot_tol`` of the
        plan mass left out (:func:`skclip.ot.topk_plan_rows`;
        :doc:`/user_guide/gpu_memory`). ``None``: dense rows; ``"auto"``: 64 when a
        text set has more than 2,048 texts, else dense rows.
    relax_columns : bool, default=True
        ``True``: only the row constraint of the transport, a softmax retrieval at
        temperature ``ot_eps`` [measured]; ``False``: balanced OT, every selected
        text receives equal mass, as in the paper [summary]. Balanced OT scored
        below the softmax retrieval on every scenario measured (0.1 to 19 ACC points).
    column_penalty : float or None, default=None
        With ``relax_columns=True``, a positive ``rho`` makes the retrieval
        semi-relaxed transport: exact row masses, column masses charged
        ``rho * KL(received | uniform)`` (:func:`skclip.ot.semirelaxed_potential`). It
        helped only long tails and costs tens of passes over all image-text pairs: off.
    caption_query : {"image+nouns", "image"}, default="image+nouns"
        What the captions are transported from: the image with its noun counterpart,
        ``normalise(x + x^u)`` [choice] [measured], or the image alone (the summary's
        reading). Without nouns, or with ``fusion="paper"``, captions follow the image.
    weight_by_similarity : bool, default=True
        Counterpart ``sum_j T_ij max(S_ij, 0) t_j`` with the similarity factor ``S_ij``
        (negative after centring: it weighs 0 rather than flipping the sign; a row
        whose texts all have ``S_ij <= 0`` keeps ``T_ij``)
        [summary]; ``False`` gives ``sum_j T_ij t_j``.
    center_modalities : bool, default=True
        Subtract each modality's mean and renormalise before the transport and the
        fusion (the modality gap); the means are stored and reused by ``predict``
        and ``transform`` [measured]. Ignored by ``fusion="paper"``.
    fusion : {"weighted_sum", "weighted_concat", "concat", "paper"}, \
            default="weighted_sum"
        How the image and its counterparts are combined with the adaptive weights:
        their weighted sum [measured], weighted concatenation [choice], plain
        concatenation (TAC's fusion) or ``"paper"``, the weighted concatenation on
        uncentred embeddings; the result is L2-normalised.
    gamma : float, default=0.1
        Temperature of the fusion weights, a softmax over modalities of a score
        divided by ``gamma`` (see ``weighting``) [measured]; the summary's 0.01 makes
        them one-hot. Ignored by ``fusion="concat"``.
    weighting : {"neighbourhood", "neighbourhood_per_view", "neighbourhood_per_image", \
            "prototype"}, default="neighbourhood"
        Score of each modality in the fusion weights: its agreement with the 10
        nearest images as other modalities see them, chance-corrected [measured].
        ``"neighbourhood"``: per image, moved three quarters of the way to the
        modality's mean agreement over reference training images (30 per cluster,
        1,024 to 2,048); ``"neighbourhood_per_view"``: the mean alone, one weight per
        modality; ``"neighbourhood_per_image"``: the image's own; ``"prototype"``:
        ``cos(z^m, p)``, ``p`` the modalities' mean [summary]. ``fusion="paper"``
        always uses ``"prototype"`` (:doc:`/user_guide/methods`, step 5).
    text_pool : int, default=3
        Each centred noun meets the images as the mean of itself and its
        ``text_pool - 1`` nearest nouns (1: off): a category's several names lie close
        together and keep their score, a lone noun near an image by its style or noise
        loses it. Only the retrieval is pooled (the counterpart combines the nouns
        themselves; captions are not pooled) [measured]. Ignored by ``fusion="paper"``.
    overclustering : int, default=2
        k-means also runs with ``overclustering * K`` centres merged back to K by
        average linkage (cosine); the merged partition is kept when its silhouette
        is higher, which lets cluster sizes follow the data (long tails) [measured].
        1: k-means alone, as the paper; ignored by ``fusion="paper"`` (step 6).
    kmeans_n_init : int, default=20
        k-means restarts (TAC: nredo 20).
    kmeans_max_iter : int, default=300
        Maximum k-means iterations per restart (TAC: niter 300).
    kmeans_tol : float, default=1e-4
        k-means tolerance.
    spherical : bool, default=True
        Spherical (cosine) k-means on the fused features, as TAC's faiss k-means.
    device : str, torch.device or None, default="auto"
        Torch device; ``"auto"`` picks CUDA when available, resolved at each call.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisation.
    verbose : int, default=0
        Progress bars and solver messages when > 0.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training image.
    cluster_centers_ : ndarray of shape (n_clusters, n_fused_features)
        Centres in the fused space (the space of :meth:`transform`).
    inertia_ : float
        k-means objective of ``labels_`` around ``cluster_centers_``.
    n_iter_ : int
        k-means iterations of the kept restart.
    subcluster_centers_ : ndarray of shape (n_subclusters, n_fused_features)
        The centres ``predict`` assigns to: ``cluster_centers_``, or the
        ``overclustering * K`` centres of the merged partition.
    subcluster_labels_ : ndarray of shape (n_subclusters,)
        Cluster of each of them.
    merge_silhouettes_ : dict
        Silhouette of the k-means and the merged partitions (``"kmeans"``,
        ``"merged"``); empty when no merge was tried.
    ot_n_iter_ : dict
        Sinkhorn iterations per text set (``"nouns"``, ``"captions"``); 0 with
        ``relax_columns=True``, which needs none.
    ot_topk_ : dict
        Certificate of the top-k counterparts of the training images per text set
        (empty with dense rows): ``k``, ``n_rows``, ``n_widened`` (rows that needed
        more than ``k`` texts), ``max_width`` and ``max_outside_mass`` (the largest
        plan mass of a row outside its kept texts, ``<= ot_tol``).
    semantic_space_ : estimator
        The fitted semantic space.
    nouns_, captions_ : list of str
        Texts of the semantic space (empty when unused).
    noun_embeddings_, caption_embeddings_ : ndarray of shape (m, d), (L, d)
        Their unit embeddings (``(0, d)`` when unused).
    noun_pooled_ : ndarray of shape (m, n_features)
        The centred nouns as the images meet them, pooled (``text_pool``).
    g_u_, g_v_ : ndarray of shape (m,), (L,)
        Sinkhorn column potentials (zero with ``relax_columns=True``); ``predict``
        uses them to place new images.
    image_mean_, noun_mean_, caption_mean_ : ndarray of shape (n_features,)
        Modality means subtracted before the transport and the fusion (zero when
        not centring or when the text set is empty).
    modalities_ : list of str
        The fused modalities, among ``"image"``, ``"nouns"``, ``"captions"``.
    fusion_weights_ : ndarray of shape (n_samples, len(`modalities_`))
        Per-sample fusion weights (rows sum to 1; equal with ``"neighbourhood"``).
    fusion_reference_ : ndarray of shape (len(`modalities_`), n_reference, \
            n_features) or None
        The modalities of the reference images of the neighbourhood weightings
        (evenly spaced training rows, centred), which give the weights of new images
        in ``predict`` and ``transform``. None with ``"prototype"``.
    n_clusters_ : int
        Number of clusters fitted: ``n_clusters``, or the K chosen by ``"auto"``.
    k_selection_scores_ : dict of int to float
        ``k_selection`` score of every scanned K (empty unless ``n_clusters="auto"``).
    n_features_in_ : int
        Dimension of the image embeddings.

    See Also
    --------
    TACClustering : softmax retrieval of nouns, concatenation, k-means.
    CLIPKMeans : k-means on the image embeddings alone.

    Notes
    -----
    ``predict`` and ``transform`` centre new images with the stored ``image_mean_``
    and place them with the stored column potentials (the row of the plan of a new
    point given ``g``). With ``relax_columns=True`` a row depends on its image alone,
    so this is exact; with balanced transport it does not re-solve the problem and
    approximates what ``fit_predict`` on the enlarged data would give.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster import CAEClustering
    >>> from skclip.datasets import make_clip_blobs
    >>> from skclip.semantic import SemanticSpaceBuilder
    >>> data = make_clip_blobs(n_samples=300, n_clusters=3, n_features=32, random_state=0)
    >>> space = SemanticSpaceBuilder(vocabulary=data.text_embeddings,
    ...                              noun_names=list(data.text_names))
    >>> cae = CAEClustering(n_clusters=3, semantic_space=space, random_state=0)
    >>> labels = cae.fit_predict(data.X)
    >>> cae.transform(data.X).shape
    (300, 32)
    >>> bool(np.allclose(cae.fusion_weights_.sum(axis=1), 1))
    True

    The literal reading of the paper's summary (balanced transport, uncentred
    embeddings, prototype-weighted concatenation):

    >>> paper = CAEClustering(n_clusters=3, semantic_space=space, relax_columns=False,
    ...                       fusion="paper", gamma=0.01, random_state=0).fit(data.X)
    >>> paper.transform(data.X).shape
    (300, 64)

    With a text embedder, captions go through the builder (not run here: it needs
    CLIP weights):

    >>> from skclip import CLIPEmbedder
    >>> captions = [line.strip() for line in open("captions.txt")]  # doctest: +SKIP
    >>> space = SemanticSpaceBuilder(embedder=CLIPEmbedder(),
    ...                              captions=captions)  # doctest: +SKIP
    >>> CAEClustering(n_clusters=10, semantic_space=space).fit(X)  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        **_BaseCLIPClustering._parameter_constraints,
        "use_nouns": ["boolean"],
        "use_captions": ["boolean"],
        "ot_eps": [Interval(Real, 0, None, closed="neither")],
        "ot_iters": [Interval(Integral, 1, None, closed="left")],
        "ot_tol": [Interval(Real, 0, None, closed="left")],
        "ot_batch": [Interval(Integral, 1, None, closed="left"), None],
        "topk": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "relax_columns": ["boolean"],
        "column_penalty": [Interval(Real, 0, None, closed="left"), None],
        "caption_query": [StrOptions({"image+nouns", "image"})],
        "weight_by_similarity": ["boolean"],
        "center_modalities": ["boolean"],
        "fusion": [StrOptions({"weighted_sum", "weighted_concat", "concat", "paper"})],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "weighting": [StrOptions({"neighbourhood", "neighbourhood_per_view",
                                  "neighbourhood_per_image", "prototype"})],
        "text_pool": [Interval(Integral, 1, None, closed="left")],
        "overclustering": [Interval(Integral, 1, None, closed="left")],
        "kmeans_n_init": [Interval(Integral, 1, None, closed="left")],
        "kmeans_max_iter": [Interval(Integral, 1, None, closed="left")],
        "kmeans_tol": [Interval(Real, 0, None, closed="left")],
        "spherical": ["boolean"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        k_range=None,
        k_selection="silhouette",
        semantic_space=None,
        use_nouns=True,
        use_captions=True,
        ot_eps=0.01,
        ot_iters=1000,
        ot_tol=1e-6,
        ot_batch=None,
        topk="auto",
        relax_columns=True,
        column_penalty=None,
        caption_query="image+nouns",
        weight_by_similarity=True,
        center_modalities=True,
        fusion="weighted_sum",
        gamma=0.1,
        weighting="neighbourhood",
        text_pool=3,
        overclustering=2,
        kmeans_n_init=20,
        kmeans_max_iter=300,
        kmeans_tol=1e-4,
        spherical=True,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_selection = k_selection
        self.semantic_space = semantic_space
        self.use_nouns = use_nouns
        self.use_captions = use_captions
        self.ot_eps = ot_eps
        self.ot_iters = ot_iters
        self.ot_tol = ot_tol
        self.ot_batch = ot_batch
        self.topk = topk
        self.relax_columns = relax_columns
        self.column_penalty = column_penalty
        self.caption_query = caption_query
        self.weight_by_similarity = weight_by_similarity
        self.center_modalities = center_modalities
        self.fusion = fusion
        self.gamma = gamma
        self.weighting = weighting
        self.text_pool = text_pool
        self.overclustering = overclustering
        self.kmeans_n_init = kmeans_n_init
        self.kmeans_max_iter = kmeans_max_iter
        self.kmeans_tol = kmeans_tol
        self.spherical = spherical
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _min_centers_for(self, n_clusters, n_samples):
        return min_centers_for(n_clusters, n_samples)

    def _default_semantic_space(self):
        return default_semantic_space(self)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Select texts, align images to them by OT, fuse, and cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings (L2-normalised here).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        rng = check_random_state(self.random_state)
        device = self._device()
        nouns, captions = self._fit_semantic_space(X)
        space = self.semantic_space_
        keep_nouns = self.use_nouns and len(nouns) > 0
        keep_caps = self.use_captions and len(captions) > 0
        d = X.shape[1]
        self.nouns_ = list(getattr(space, "nouns_", [])) if keep_nouns else []
        self.noun_embeddings_ = nouns if keep_nouns else np.zeros((0, d), X.dtype)
        self.captions_ = list(getattr(space, "captions_", [])) if keep_caps else []
        self.caption_embeddings_ = captions if keep_caps else np.zeros((0, d), X.dtype)

        centre = self.center_modalities and self.fusion != "paper"
        mean = (lambda A: A.mean(axis=0) if centre and len(A)
                else np.zeros(d, dtype=X.dtype))
        self.image_mean_ = mean(X)
        self.noun_mean_ = mean(self.noun_embeddings_)
        self.caption_mean_ = mean(self.caption_embeddings_)
        X = centred_unit(X, self.image_mean_)
        U, V = self._texts(X.dtype)
        self._fit_pooled(U)
        self.ot_n_iter_ = {}
        self.g_u_ = self._potential(X, self.noun_pooled_, "nouns", device)
        self.g_v_ = self._potential(self._caption_queries(X, U, device), V, "captions", device)
        self.modalities_ = ["image"] + ["nouns"] * keep_nouns + ["captions"] * keep_caps

        self.fusion_reference_ = self._fit_reference(X, device)
        stats = [{}, {}]
        F, self.fusion_weights_ = self._fused(X, device, stats)
        names = [n for n in ("nouns", "captions") if n in self.modalities_]
        self.ot_topk_ = {name: {"k": self._topk(), **st} for name, st in zip(names, stats)
                         if st}
        del X  # only the fused features are needed now; frees n x d for large n
        k = resolve_n_clusters(self, F, spherical=self.spherical, device=device)
        factor = 1 if self.fusion == "paper" else self.overclustering
        res = merged_kmeans(F, k, factor=factor, n_init=self.kmeans_n_init,
                            max_iter=self.kmeans_max_iter, tol=self.kmeans_tol,
                            spherical=self.spherical, device=device, random_state=rng,
                            verbose=self.verbose)
        self.cluster_centers_ = res.centers
        self.labels_ = res.labels
        self.inertia_ = res.inertia
        self.n_iter_ = res.n_iter
        self.subcluster_centers_ = res.sub_centers
        self.subcluster_labels_ = res.sub_labels
        self.merge_silhouettes_ = res.silhouettes
        return self

    def transform(self, X):
        """Fused features of ``X`` (the space of ``cluster_centers_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        F : ndarray of shape (n_samples, n_fused_features)
            L2-normalised fused features.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        X = centred_unit(X, self.image_mean_.astype(X.dtype, copy=False))
        return self._fused(X, self._device())[0]
