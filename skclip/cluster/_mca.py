"""MCA: multi-level cross-modal alignment for image clustering (Qiu et al., AAAI-24).

Select a semantic space of WordNet nouns for the data, train an
image head and a text head on frozen CLIP features with image consistency, entropy
balance and instance-, prototype- and semantic-level image-text alignment.
The training loop is in ``_mca_train.py``, the networks in ``_mca_nets.py``, loss
terms and pseudo-labels in ``_mca_losses.py``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._config import torch_generator
from ._autok import resolve_n_clusters
from ._base import _BaseCLIPClustering
from ._fusion import centred_unit
from ._mca_space import comparison_space, semantic_centers
from ._mca_train import train_mca

__all__ = ["MCAClustering"]


class MCAClustering(_BaseCLIPClustering):
    """Clustering of CLIP image embeddings by multi-level cross-modal alignment.

    MCA (Qiu, Zhang, Chen, Cai; AAAI-24) trains a cluster head on frozen CLIP image
    embeddings, supervised by a small semantic space of WordNet nouns selected for
    the data: the images are aligned with their text counterparts at the instance,
    prototype and semantic levels. The method, and where each default comes from,
    are described in the user guide ("What CAE and MCA do").

    The paper's method section was not available: defaults tagged [code-SIC] come from
    the official code of its predecessor SIC (same authors), [choice] marks our
    reconstructions; the user guide's "Where MCA's defaults come from" gives the
    source of each.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters; ``"auto"`` chooses it from ``k_range`` by ``k_selection``
        on the centred image embeddings, before training; the default semantic space then
        uses the chosen K (:doc:`/user_guide/choosing`).
    k_range : tuple (low, high), list of int or None, default=None
        Candidates of ``n_clusters="auto"``; None means 2 to ``min(100, n_samples // 10)``.
    k_selection : {"davies_bouldin", "silhouette", "calinski_harabasz", \
            "stability"}, default="davies_bouldin"
        Criterion of ``n_clusters="auto"``, greater is better.
    semantic_space : estimator or None, default=None
        Object that selects the texts (protocol in :mod:`skclip.semantic`), cloned and
        fitted on ``X``. ``None`` builds ``SemanticSpaceBuilder(vocabulary="wordnet",
        templates="photo", selection="mca", n_centers=n_clusters, gamma_u=0.05,
        gamma_r=500, hier_min_depth=6)``.
    text_source : {"nouns", "captions", "both"}, default="nouns"
        Texts of the semantic space used as the set T [choice]; MCA uses nouns.
    text_pool : int, default=3
        Each text meets the images as the normalised mean of itself and its
        ``text_pool - 1`` nearest texts (after centring) [choice]: a concept has
        several names, a distractor near an image by chance (by its style or noise)
        has none, so pooling keeps the images' nearest texts on their class (user
        guide, "MCA stage by stage"). 1 compares the texts as given.
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
        Temperature of the attention network over each image's ``n_txt_neighbors``
        nearest texts [choice]; ``attention_peak_`` records how selective it is
        (:doc:`/user_guide/methods`).
    center_modalities : bool, default=True
        Compare images with texts after centring each modality on its own mean and
        re-normalising (the modality gap) [choice]; the heads see the raw
        embeddings. ``False`` compares raw cosines (SIC, TAC).
    neighbor_space : {"image", "image+text"}, default="image"
        Space of the neighbours of the image consistency loss: the image embeddings
        [code-SIC], or each image plus its initial text counterpart (TAC's
        retrieved-text space) [choice].
    lambda_ent : float, default=5.0
        Weight of the negative entropy of both heads' mean assignments [code-SIC].
    w_ins, w_pro, w_sem : float, default=1.0, 1.0, 1.0
        Weights of the instance-, prototype- and semantic-level alignment [choice]:
        the three levels weigh the same. SIC's beta (the weight of its pseudo-label
        term) is 0.1, which lets the image neighbours and the entropy balance
        override pseudo-labels that are more accurate than the head (user guide,
        "MCA stage by stage"). 0 switches a term off (ablations).
    tau_ins, tau_pro : float, default=0.5
        InfoNCE temperatures of the instance and prototype levels [choice].
    pseudo_labels : {"text-clusters", "counterpart", "image"}, \
            default="text-clusters"
        Where the pseudo-labels come from [choice]. ``"text-clusters"``: the clusters
        of the images' attended text mixtures (spherical k-means before the first
        epoch, then one k-means step per epoch), which do not depend on the image
        head, so image neighbourhoods that follow a nuisance (style) cannot steer
        them. ``"counterpart"``: SIC's centre-based mapping (``xi_c``, ``xi_a``)
        applied to the attended mixture; ``"image"``: to the image (SIC's rule).
        User guide, "MCA: heads trained with three levels of alignment".
    xi_c : float, default=0.9
        Share of ``n_samples / K`` top-scoring images that define a cluster's image
        centre [code-SIC] (``pseudo_labels="counterpart"`` or ``"image"``, and
        ``semantic_centers_``).
    xi_a : int, default=30
        Texts nearest to an image centre averaged into its semantic centre
        [code-SIC]; capped at ``max(1, n_texts // n_clusters)`` so that a small text
        set does not give every cluster the same centre.
    epochs : int, default=8
        Fixed number of passes over the data; the last model is kept, there is no
        model selection [choice]. Raise it on a GPU.
    min_steps : int or "auto", default="auto"
        Minimum number of optimiser steps: small datasets run ``ceil(min_steps /
        n_batches)`` epochs when that is more than ``epochs``; ``"auto"`` is ``20 *
        n_clusters`` in at most 100 passes over the data. 0 disables it.
    batch_size : int, default=512
        Mini-batch size (TAC's regime; SIC: 128); batches are equal-sized splits of a
        random permutation (no sample dropped).
    lr : float, default=1e-3
        Adam learning rate (constant).
    weight_decay : float, default=1e-4
        Adam weight decay [code-SIC]; SIC uses 0.009 for ImageNet-Dogs.
    device : str, torch.device or None, default="auto"
        Torch device, resolved at every call (CUDA when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the semantic space (when ``None`` is given), the head initialisation,
        the k-means of the pseudo-labels, the batch shuffles and the neighbour draws
        through a ``torch.Generator`` of its own. With an int or a ``RandomState``,
        the global torch and numpy random states are neither read nor changed
        (``None`` draws one seed from numpy's global state, as scikit-learn does).
        Same seed, same device: same labels.
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
        final image centre (found after centring and pooling, averaged as given).
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
        "text_pool": [Interval(Integral, 1, None, closed="left")],
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
        "pseudo_labels": [StrOptions({"text-clusters", "counterpart", "image"})],
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
        text_pool=3,
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
        w_sem=1.0,
        tau_ins=0.5,
        tau_pro=0.5,
        pseudo_labels="text-clusters",
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
        self.text_pool = text_pool
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
        return self._wordnet_space(
            "mca", selection="mca", n_centers=getattr(self, "n_clusters_", self.n_clusters),
            gamma_u=0.05, gamma_r=500, hier_min_depth=6)

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
        center = self.center_modalities
        resolve_n_clusters(self, centred_unit(X, X.mean(axis=0)) if center else X,
                           spherical=True, device=self._device())
        space = self._fit_semantic_space(X, self.n_clusters_)
        texts, Xq, Tq = comparison_space(self, X, *space)
        device = self._device()
        generator = torch_generator(self.random_state, "cpu")
        nets, curve, terms, peaks = train_mca(self, X, Xq, Tq, device=device,
                                             generator=generator)
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
        self.semantic_centers_ = semantic_centers(proba, Xq, Tq, texts, xi_c=self.xi_c,
                                                  xi_a=self.xi_a)
        return self

    def _proba(self, X):
        """Image-head softmax of normalised ``X``, computed in float64 on CPU."""
        from ._mca_nets import head_proba

        return head_proba(self.image_head_, X)

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
