"""MCA: multi-level cross-modal alignment for image clustering (Qiu et al., AAAI-24).

Select a semantic space of WordNet nouns for the data, train an
image head and a text head on frozen CLIP features with image consistency, entropy
balance and instance-, prototype- and semantic-level image-text alignment.
Networks are in ``_mca_nets.py``, loss terms and pseudo-labels in ``_mca_losses.py``.
"""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._config import torch_generator
from ._autok import resolve_n_clusters
from ._base import _BaseCLIPClustering
from ._fusion import centred_unit

__all__ = ["MCAClustering"]

_BLOCK = 4096  # rows per block of the float64 image-head pass (predict_proba)
# rows per block of the per-epoch passes over the attention: a block's gathered texts
# (block * n_txt_neighbors * d floats, 10 MB at 512 x 10 x 512) stay in cache; 30% less
# CPU time per pass than 4096-row blocks on CPU, with bit-identical results
_PASS_BLOCK = 512
# min_steps="auto" never asks for more passes over the data than this (SIC's longest
# schedule, 100 epochs)
_MAX_AUTO_EPOCHS = 100


def _adam(params, **kwargs):
    """Adam with its fused kernel where torch has one for the device (CPU since torch
    2.4): on CPU the per-tensor loop costs as much as the batch's forward pass."""
    import torch

    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, foreach=True, **kwargs)


def _train(est, X, Xq, texts, *, device, generator):
    """Train MCA's networks.

    ``X`` (numpy, unit rows) feeds the heads and the image k-NN; ``Xq`` are the
    images in the space where they are compared with ``texts`` (both centred on
    their modality mean by default). Returns ``(nets, loss_curve, loss_terms,
    attention_peaks)``. ``generator`` (CPU) drives the init, the batch shuffles and
    the neighbour draws, so CPU and GPU see the same draws.
    """
    import torch
    from torch.nn import functional as F
    from tqdm.auto import trange

    from ..neighbors import knn
    from ._mca_losses import mca_objective, semantic_pseudo_labels
    from ._mca_nets import MCANetworks

    def knn_fn(queries, base, k):
        return knn(queries, base, n_neighbors=k, exclude_self=False, device=device)[1]

    n, d = X.shape
    Xt = torch.as_tensor(X, dtype=torch.float32).to(device)
    Qt = torch.as_tensor(Xq, dtype=torch.float32).to(device)
    Tt = torch.as_tensor(texts, dtype=torch.float32).to(device)
    k_img = min(est.n_img_neighbors, n - 1)
    txt_idx = knn_fn(Qt, Tt, min(est.n_txt_neighbors, Tt.shape[0]))
    nets = MCANetworks(d, est.n_clusters_, head=est.head, hidden_dim=est.hidden_dim,
                       tau_attn=est.tau_attn, generator=generator).to(device)
    if est.neighbor_space == "image":
        img_nb = knn(Xt, n_neighbors=k_img, exclude_self=True, device=device)[1]
    else:
        # each image with its initial text counterpart (the softmax retrieval over
        # its nearest texts): the neighbours of both modalities together
        mixtures = nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK)[1]
        fused = torch.nn.functional.normalize(Qt + mixtures, dim=1)
        img_nb = knn(fused, n_neighbors=k_img, exclude_self=True, device=device)[1]
        del fused, mixtures
    optimiser = _adam(nets.parameters(), lr=est.lr, weight_decay=est.weight_decay)
    weights = dict(lambda_ent=est.lambda_ent, w_ins=est.w_ins, w_pro=est.w_pro,
                   w_sem=est.w_sem, tau_ins=est.tau_ins, tau_pro=est.tau_pro)
    n_batches = max(1, min(-(-n // est.batch_size), n // 2))  # batches of >= 2 (BatchNorm)
    if est.min_steps == "auto":  # 20 steps per cluster, in at most 100 passes over the data
        min_steps = min(20 * est.n_clusters_, _MAX_AUTO_EPOCHS * n_batches)
    else:
        min_steps = est.min_steps
    n_epochs = max(est.epochs, -(-min_steps // n_batches))
    curve, terms, peaks = [], {}, []
    for _ in trange(n_epochs, desc="MCA epochs", disable=not est.verbose):
        # pseudo-labels of the epoch from the current heads (SIC: at the epoch start),
        # in one space: the attended mixtures and the semantic centres are both means
        # of the (centred) texts
        proba, mixtures, peak = nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK)
        peaks.append(float(peak.mean()))
        anchor = Qt if est.pseudo_labels == "image" else mixtures
        pseudo, _ = semantic_pseudo_labels(proba, Qt, anchor, Tt, xi_c=est.xi_c,
                                           xi_a=est.xi_a, knn_fn=knn_fn)
        totals, parts = [], []
        # near-equal splits of a permutation: no sample dropped
        for idx in torch.tensor_split(torch.randperm(n, generator=generator), n_batches):
            pick = torch.randint(k_img, (len(idx),), generator=generator).to(device)
            idx = idx.to(device)
            x = Xt[idx]
            # embedding() is the row gather Tt[txt_idx[idx]], 2-3x faster on CPU
            counterpart, _ = nets.attention(Qt[idx], F.embedding(txt_idx[idx], Tt))
            loss, batch_terms = mca_objective(
                nets.image_head(x), nets.image_head(Xt[img_nb[idx, pick]]),
                nets.text_head(counterpart), pseudo[idx], **weights)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            totals.append(loss.detach())
            parts.append(batch_terms)
        curve.append(float(torch.stack(totals).mean()))
        for name in parts[0]:
            terms.setdefault(name, []).append(float(torch.stack([p[name] for p in parts]).mean()))
    # final attention peaks: the image head is not needed (fit computes its own pass)
    peaks.append(float(nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK, heads=False)[2].mean()))
    return nets, curve, terms, peaks


class MCAClustering(_BaseCLIPClustering):
    """Clustering of CLIP image embeddings by multi-level cross-modal alignment.

    MCA (Qiu, Zhang, Chen, Cai; AAAI-24) trains a cluster head on frozen CLIP image
    embeddings, supervised by a small semantic space of WordNet nouns selected for
    the data: the images are aligned with their text counterparts at the instance,
    prototype and semantic levels. The method, and where each default comes from,
    are described in the user guide ("What CAE and MCA do").

    **What follows the paper and what is reconstructed.** The paper's method section
    was not available. Verified from its abstract and first page [paper]: pseudo-labels
    from CLIP text; a smaller, better semantic space from WordNet (uniqueness,
    image-centre relevance and hierarchy filters); alignment at the instance,
    prototype and semantic levels; image consistency learning with nearest
    neighbours and negative entropy; an attention network; trainable image and text
    heads on frozen features. Taken from the official code of its predecessor SIC
    (same authors) [code-SIC]: the uniqueness and relevance filters, the image
    consistency loss over a random one of the k nearest image neighbours, the
    negative-entropy weight 5, the per-epoch centre-based pseudo-labels
    (``xi_c``, ``xi_a``), the weight 0.1 of the pseudo-label term, Adam with
    ``weight_decay=1e-4``. Reconstructions [choice], each a parameter: the hierarchy
    filter's rule, the head shape (TAC's cluster head), the attention network and
    its temperature, the form of the three alignment losses and their weights, the
    use of the attended counterpart for pseudo-labels, the centring of each
    modality before images and texts are compared, and the fixed number of epochs
    without model selection (SIC selects its epoch with test labels; this never
    does). Departures from the
    predecessors, each documented below: ``epochs=8`` of ``batch_size=512`` at
    ``lr=1e-3`` (TAC's regime) instead of SIC's batch 128 at 1e-4 for up to 100
    epochs (CPU budget), ``min_steps``, the cap on ``xi_a`` and one matrix for
    ``W_q^T W_k``.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters K. ``"auto"`` chooses it from ``k_range`` by
        ``k_selection`` before training, by k-means on the (centred) image
        embeddings; the default semantic space then uses the chosen K (user guide:
        "Choosing the number of clusters").
    k_range : tuple (low, high), list of int or None, default=None
        Candidates of ``n_clusters="auto"``: every K from ``low`` to ``high``, or the
        listed K; ``None`` means 2 to ``min(100, n_samples // 10)``.
    k_selection : {"davies_bouldin", "silhouette", "calinski_harabasz", \
            "stability"}, default="davies_bouldin"
        Criterion of ``n_clusters="auto"``, greater is better: minus the
        Davies-Bouldin index (chosen by measurement on planted data), the mean cosine
        silhouette on a sample, Calinski-Harabasz, or the adjusted Rand agreement of
        k-means fitted on two halves of the data.
    semantic_space : estimator or None, default=None
        Object that selects the texts (protocol in :mod:`skclip.cluster._base`),
        cloned and fitted on ``X``. ``None`` builds
        ``SemanticSpaceBuilder(vocabulary="wordnet", templates="photo",
        selection="mca", n_centers=n_clusters, gamma_u=0.05, gamma_r=500,
        hier_min_depth=6)``: prompts "a photo of a {noun}" [code-SIC], k-means
        centres of the images, the 500 nouns nearest each centre, the uniqueness
        filter [code-SIC] and a WordNet depth filter [choice].
    text_source : {"nouns", "captions", "both"}, default="nouns"
        Texts of the semantic space used as the set T [choice]; MCA uses nouns.
    head : {"mlp", "linear"}, default="mlp"
        ``"mlp"``: Linear -> BatchNorm -> ReLU -> Linear, the projector being the
        first three layers (TAC's cluster head) [choice]. ``"linear"``: SIC's single
        Linear(d, K); its projector is the identity.
    hidden_dim : int or None, default=None
        Width of the MLP head; ``None`` means ``max(n_features, 64)``, i.e. the
        embedding dimension for CLIP features (TAC's head).
    n_img_neighbors : int, default=20
        k of the image k-NN; one of the k is drawn at random for every anchor every
        time it is visited [code-SIC]. Capped at ``n_samples - 1``.
    n_txt_neighbors : int, default=10
        Texts attended by each image (its nearest texts in T) [choice].
    tau_attn : float, default=0.01
        Temperature of the attention network [choice]: each image attends over its
        ``n_txt_neighbors`` nearest texts with scores ``x^T W v / tau_attn`` and
        values ``W_v v``. ``W`` stands for ``W_q^T W_k`` and is learned as one
        matrix (same scores, fewer products); ``W`` and ``W_v`` start at the
        identity, so the scores start as cosines over ``tau_attn``. The cosines of
        an image's nearest texts differ by a few hundredths, so the temperature
        must be on that scale for the attention to select among them: 0.01 is
        twice TAC's retrieval temperature (0.005), which is a softmax over the
        whole vocabulary rather than over 10 candidates. The dot-product
        attention scaling ``1 / sqrt(d)`` (tau = 1) leaves the weights uniform.
        ``attention_peak_`` records how selective it is.
    center_modalities : bool, default=True
        Compare images with texts after centring each modality on its own mean
        (images on the mean training image, texts on the mean selected text) and
        re-normalising [choice]. CLIP puts images and texts in two narrow cones
        with different means (the modality gap, Liang et al., NeurIPS 2022), so raw
        image-text cosines are dominated by where each text sits in its cone;
        generic "hub" texts near the text mean become near-random directions after
        centring. Used for the nearest texts of each image, the attention, the
        semantic centres and the pseudo-labels; the heads see the raw embeddings,
        so ``predict`` needs neither mean. ``False`` compares raw cosines (SIC, TAC).
    neighbor_space : {"image", "image+text"}, default="image"
        Space of the ``n_img_neighbors`` nearest neighbours of the image consistency
        loss. ``"image"``: cosine of the image embeddings [code-SIC].
        ``"image+text"`` [choice]: each (centred) image plus its initial text
        counterpart (the attention at initialisation, i.e. the softmax retrieval
        over its nearest texts), normalised, as TAC mines neighbours in its
        retrieved-text space. It propagates wrong image-text alignments into the
        neighbours: on planted data with misaligned text anchors it lost 5-15 ACC
        points to ``"image"``, which keeps the image evidence independent of the
        texts. Same cost (one d-dimensional k-NN).
    lambda_ent : float, default=5.0
        Weight of the negative entropy of both heads' mean assignments [code-SIC].
    w_ins, w_pro, w_sem : float, default=1.0, 1.0, 0.1
        Weights of the instance-, prototype- and semantic-level alignment [choice];
        ``w_sem`` is SIC's beta. 0 switches a term off (ablations).
    tau_ins, tau_pro : float, default=0.5
        InfoNCE temperatures of the instance and prototype levels [choice].
    pseudo_labels : {"counterpart", "image"}, default="counterpart"
        Pseudo-labels from the nearest semantic centre of the attended text
        mixture ``sum_j alpha_ij v_j`` (MCA variant [choice]) or of the image itself
        (SIC's rule). The mixture is taken before ``W_v``, in the space of the
        texts that also make the semantic centres: labels never compare two
        spaces while ``W_v`` trains.
    xi_c : float, default=0.9
        Share of ``n_samples / K`` top-scoring images that define a cluster's image
        centre [code-SIC].
    xi_a : int, default=30
        Texts nearest to an image centre averaged into its semantic centre
        [code-SIC]; capped at ``max(1, n_texts // n_clusters)`` so that a small text
        set does not give every cluster the same centre.
    epochs : int, default=8
        Fixed number of passes over the data; the last model is kept, there is no
        model selection [choice] (SIC: up to 100 epochs of batch 128 at lr 1e-4,
        the epoch picked with test labels): an epoch over 50k x 512 embeddings costs
        about 3.7 s on 2 idle CPU cores (12 products with 512 x 512 weights per
        sample and step), so the default is 8 epochs of batch 512 at lr 1e-3 (TAC's
        regime, about 780 steps), which keeps a default fit of 50k images under a
        minute on 2 cores (``benchmarks/bench_mca.py``). Raise it on a GPU.
    min_steps : int or "auto", default="auto"
        Minimum number of optimiser steps: small datasets (few batches per epoch) run
        ``ceil(min_steps / n_batches)`` epochs when that is more than ``epochs``
        [choice]. Still a fixed schedule, decided before training. ``"auto"`` is
        ``20 * n_clusters`` (200 at K=10): a batch holds about ``batch_size / K``
        images of each cluster, so a K-way head needs a number of steps that grows
        with K for every cluster to be visited as often (on planted data with K=50
        and 3,000 images, 200 steps left the head at 49% ACC and still improving;
        1,000 reached 81%), but in at most 100 passes over the data (SIC's longest
        schedule): with few images per cluster (fewer than about
        ``5 * batch_size``), 20 steps per cluster would revisit every image
        hundreds of times (341 passes at K=200 with 6,000 images) for no gain
        (planted data, K=200: 91.8% ACC after 100 passes, 91.2% after 341, at a
        third of the time). 0 disables it.
    batch_size : int, default=512
        Mini-batch size. Deviation: SIC uses 128 with lr 1e-4; the default follows
        TAC's cluster-head training (batch 512, lr 1e-3), 4x fewer optimiser steps
        per epoch with a learning rate scaled up for the short schedule. Batches are
        equal-sized splits of a random permutation (no sample dropped).
    lr : float, default=1e-3
        Adam learning rate (constant). See ``batch_size``.
    weight_decay : float, default=1e-4
        Adam weight decay [code-SIC]; SIC uses 0.009 for ImageNet-Dogs.
    device : str, torch.device or None, default="auto"
        Torch device, resolved at every call (CUDA when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the semantic space (when ``None`` is given), the head initialisation,
        the batch shuffles and the neighbour draws through a ``torch.Generator``;
        global seeds are never touched. Same seed, same device: same labels.
    verbose : int, default=0
        Progress bar over epochs when > 0.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Argmax of the image head on the training embeddings.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Image prototypes in the input space: normalised ``sum_i p_ik x_i`` with
        ``p`` the final image-head probabilities.
    semantic_centers_ : ndarray of shape (n_clusters, n_features)
        Final semantic centres: normalised mean of the ``xi_a`` texts nearest each
        final image centre (found after centring, averaged as given).
    semantic_space_ : estimator
        The fitted semantic space.
    image_head_, text_head_, attention_ : torch.nn.Module
        Trained networks, on the CPU, in eval mode.
    loss_curve_ : list of float
        Mean total loss of each epoch.
    attention_peak_ : list of float
        Mean over the training images of the largest attention weight, at the start
        of each epoch and after training (``n_iter_ + 1`` values); uniform attention
        gives ``1 / n_txt_neighbors``.
    image_mean_, text_mean_ : ndarray of shape (n_features,)
        Modality means subtracted before images and texts are compared (zeros when
        ``center_modalities=False``; the text mean is also zero for a single text).
    loss_terms_ : dict of str to list of float
        Mean of each loss term per epoch: ``"consistency"``, ``"entropy"`` (of both
        heads, subtracted with weight ``lambda_ent``) and, when their weight is not 0,
        ``"instance"``, ``"prototype"``, ``"semantic"``.
    n_clusters_ : int
        Number of clusters fitted: ``n_clusters``, or the K chosen by ``"auto"``.
    k_selection_scores_ : dict of int to float
        ``k_selection`` score of every scanned K (empty unless ``n_clusters="auto"``).
    n_iter_ : int
        Number of epochs run (``epochs``, or more for small data; see ``min_steps``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    CAEClustering : Training-free CLIP clustering by OT-based semantic alignment.

    Notes
    -----
    Rows of ``X`` are L2-normalised. ``predict`` needs only the image head: an unseen
    image needs no text. After training, clusters are renumbered so that
    the non-empty ones on the training data come first; ``predict`` uses the same
    numbering. Inference runs in float64 so that predictions do not depend on how
    the input is batched.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster import MCAClustering
    >>> from skclip.datasets import make_clip_blobs
    >>> from skclip.semantic import SemanticSpaceBuilder
    >>> data = make_clip_blobs(n_samples=120, n_clusters=3, n_features=16,
    ...                        random_state=0)
    >>> space = SemanticSpaceBuilder(vocabulary=data.text_embeddings,
    ...                              selection="none")
    >>> mca = MCAClustering(n_clusters=3, semantic_space=space, epochs=5,
    ...                     random_state=0, device="cpu").fit(data.X)
    >>> mca.labels_.shape, mca.cluster_centers_.shape
    ((120,), (3, 16))
    >>> mca.predict(data.X[:4]).tolist() == mca.labels_[:4].tolist()
    True
    """

    _parameter_constraints: dict = {
        **_BaseCLIPClustering._parameter_constraints,
        "text_source": [StrOptions({"nouns", "captions", "both"})],
        "head": [StrOptions({"mlp", "linear"})],
        "hidden_dim": [Interval(Integral, 1, None, closed="left"), None],
        "n_img_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_txt_neighbors": [Interval(Integral, 1, None, closed="left")],
        "tau_attn": [Interval(Real, 0, None, closed="neither")],
        "center_modalities": ["boolean"],
        "neighbor_space": [StrOptions({"image", "image+text"})],
        "lambda_ent": [Interval(Real, 0, None, closed="left")],
        "w_ins": [Interval(Real, 0, None, closed="left")],
        "w_pro": [Interval(Real, 0, None, closed="left")],
        "w_sem": [Interval(Real, 0, None, closed="left")],
        "tau_ins": [Interval(Real, 0, None, closed="neither")],
        "tau_pro": [Interval(Real, 0, None, closed="neither")],
        "pseudo_labels": [StrOptions({"counterpart", "image"})],
        "xi_c": [Interval(Real, 0, 1, closed="right")],
        "xi_a": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "min_steps": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        k_range=None,
        k_selection="davies_bouldin",
        semantic_space=None,
        text_source="nouns",
        head="mlp",
        hidden_dim=None,
        n_img_neighbors=20,
        n_txt_neighbors=10,
        tau_attn=0.01,
        center_modalities=True,
        neighbor_space="image",
        lambda_ent=5.0,
        w_ins=1.0,
        w_pro=1.0,
        w_sem=0.1,
        tau_ins=0.5,
        tau_pro=0.5,
        pseudo_labels="counterpart",
        xi_c=0.9,
        xi_a=30,
        epochs=8,
        min_steps="auto",
        batch_size=512,
        lr=1e-3,
        weight_decay=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_selection = k_selection
        self.semantic_space = semantic_space
        self.text_source = text_source
        self.head = head
        self.hidden_dim = hidden_dim
        self.n_img_neighbors = n_img_neighbors
        self.n_txt_neighbors = n_txt_neighbors
        self.tau_attn = tau_attn
        self.center_modalities = center_modalities
        self.neighbor_space = neighbor_space
        self.lambda_ent = lambda_ent
        self.w_ins = w_ins
        self.w_pro = w_pro
        self.w_sem = w_sem
        self.tau_ins = tau_ins
        self.tau_pro = tau_pro
        self.pseudo_labels = pseudo_labels
        self.xi_c = xi_c
        self.xi_a = xi_a
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _default_semantic_space(self):
        from ..semantic import SemanticSpaceBuilder

        return SemanticSpaceBuilder(
            vocabulary="wordnet",
            templates="photo",
            selection="mca",
            n_centers=getattr(self, "n_clusters_", self.n_clusters),
            gamma_u=0.05,
            gamma_r=500,
            hier_min_depth=6,
            random_state=self.random_state,
            verbose=self.verbose,
        )

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Select the semantic space and train the heads on image embeddings ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings (L2-normalised inside).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : MCAClustering
            Fitted estimator.
        """
        import torch

        X = self._validate_X(X, reset=True)
        if X.shape[0] < 2:
            raise ValueError(
                f"MCAClustering needs at least 2 samples to find image neighbours, got "
                f"n_samples={X.shape[0]}."
            )
        d = X.shape[1]
        center = self.center_modalities
        resolve_n_clusters(self, centred_unit(X, X.mean(axis=0)) if center else X,
                           spherical=True, device=self._device())
        texts = self._texts(*self._fit_semantic_space(X, self.n_clusters_))
        self.image_mean_ = X.mean(axis=0) if center else np.zeros(d, dtype=X.dtype)
        # one text has no direction relative to its own mean
        self.text_mean_ = (texts.mean(axis=0) if center and len(texts) > 1
                           else np.zeros(d, dtype=X.dtype)).astype(X.dtype)
        Xq = centred_unit(X, self.image_mean_)
        Tq = centred_unit(texts.astype(X.dtype), self.text_mean_)
        device = self._device()
        generator = torch_generator(self.random_state, "cpu")
        nets, curve, terms, peaks = _train(self, X, Xq, Tq, device=device, generator=generator)
        self.image_head_ = nets.image_head.cpu().eval()
        self.text_head_ = nets.text_head.cpu().eval()
        self.attention_ = nets.attention.cpu().eval()
        self.loss_curve_ = curve
        self.loss_terms_ = terms
        self.n_iter_ = len(curve)
        self.attention_peak_ = peaks

        proba = self._proba(X)
        labels = proba.argmax(axis=1)
        # used clusters first, so that labels_ are 0..r-1 and predict agrees
        sizes = np.bincount(labels, minlength=self.n_clusters_)
        order = np.concatenate([np.flatnonzero(sizes > 0), np.flatnonzero(sizes == 0)])
        for head in (self.image_head_, self.text_head_):
            head.permute_clusters(torch.as_tensor(order))
        proba = proba[:, order]
        self.labels_ = proba.argmax(axis=1)
        centers = proba.T @ X
        norms = np.linalg.norm(centers, axis=1, keepdims=True)
        self.cluster_centers_ = (centers / np.maximum(norms, 1e-12)).astype(X.dtype)
        self.semantic_centers_ = self._semantic_centers(proba, Xq, Tq, texts)
        return self

    def _texts(self, nouns, captions):
        """The text set T chosen by ``text_source``."""
        parts = {"nouns": [nouns], "captions": [captions], "both": [nouns, captions]}
        texts = np.vstack(parts[self.text_source])
        if texts.shape[0] == 0:
            raise ValueError(
                f"The semantic space {type(self.semantic_space_).__name__} selected no "
                f"texts for text_source={self.text_source!r}; MCA needs at least one."
            )
        return texts

    def _semantic_centers(self, proba, Xq, Tq, texts):
        """Means of the ``xi_a`` texts nearest each final image centre, found in the
        comparison space (``Xq``, ``Tq``) and averaged in the input space (``texts``)."""
        import torch

        from ..neighbors import knn
        from ._mca_losses import semantic_centres

        def knn_fn(queries, base, k):
            return knn(queries, base, n_neighbors=k, exclude_self=False, device="cpu")[1]

        P, Xt, Tt = (torch.as_tensor(a, dtype=torch.float64) for a in (proba, Xq, Tq))
        _, nearest = semantic_centres(P, Xt, Tt, xi_c=self.xi_c, xi_a=self.xi_a,
                                      knn_fn=knn_fn)
        centres = texts[nearest.numpy()].astype(np.float64).mean(axis=1)
        norms = np.linalg.norm(centres, axis=1, keepdims=True)
        return (centres / np.maximum(norms, 1e-12)).astype(Xq.dtype)

    def _proba(self, X):
        """Image-head softmax of normalised ``X``, computed in float64 on CPU."""
        import torch

        head = copy.deepcopy(self.image_head_).double().eval()
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], _BLOCK):
                block = torch.as_tensor(X[start : start + _BLOCK], dtype=torch.float64)
                out.append(torch.softmax(head(block)[1], dim=1).numpy())
        return np.concatenate(out).astype(X.dtype)

    def predict_proba(self, X):
        """Soft cluster assignments: the image head's softmax.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to 1.
        """
        check_is_fitted(self)
        return self._proba(self._validate_X(X, reset=False))

    def predict(self, X):
        """Cluster of each image: argmax of the image head (no text needed).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            CLIP image embeddings.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster index of each sample.
        """
        return self.predict_proba(X).argmax(axis=1)
