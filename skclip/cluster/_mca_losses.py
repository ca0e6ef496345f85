"""Loss terms of MCA and its per-epoch pseudo-labels.

Private module. All functions take torch tensors of one mini-batch. Notation: ``p``
(B, K) image-head probabilities, ``q`` (B, K) text-head probabilities of the text
counterparts, ``z`` / ``zt`` (B, D) image / text projector outputs.

``[code-SIC]``: image consistency, negative-entropy balance, the centre-based
pseudo-labels (``pseudo_labels="counterpart"``, ``"image"``). ``[choice]``: the
pseudo-labels of the text clusters (the default, :func:`text_cluster_step`). ``[choice]`` (reconstructions of MCA's unpublished equations):
instance-, prototype- and semantic-level alignment.
"""

import torch
from torch.nn import functional as F

__all__ = [
    "image_consistency_loss",
    "balance_entropy",
    "info_nce",
    "instance_alignment_loss",
    "soft_prototypes",
    "prototype_alignment_loss",
    "semantic_alignment_loss",
    "mca_objective",
    "semantic_centres",
    "semantic_pseudo_labels",
    "text_cluster_step",
]

_EPS = 1e-8


def image_consistency_loss(p, p_neighbor):
    """SIC/SCAN consistency: ``-mean_i log <p_i, p_n(i)>`` (dot product clamped >= 1e-8)."""
    dot = (p * p_neighbor).sum(dim=1)
    return -torch.log(dot.clamp_min(_EPS)).mean()


def balance_entropy(p):
    """Entropy ``H(p_bar) = -sum_k p_bar_k log p_bar_k`` of the mean assignment.

    The objective *subtracts* ``lambda_ent * H``: high entropy = balanced clusters.
    """
    p_bar = p.mean(dim=0)
    return -(p_bar * torch.log(p_bar.clamp_min(_EPS))).sum()


def info_nce(a, b, tau):
    """Symmetric InfoNCE between unit rows ``a`` and ``b`` (row ``i`` of each is a pair).

    ``logits = a @ b.T / tau``; ``0.5 * [CE(logits, diag) + CE(logits.T, diag)]``.
    """
    logits = a @ b.T / tau
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def instance_alignment_loss(z, zt, tau):
    """Instance level: InfoNCE between each image embedding and its text counterpart."""
    return info_nce(F.normalize(z, dim=1), F.normalize(zt, dim=1), tau)


def soft_prototypes(p, z):
    """Soft cluster prototypes ``mu_k = normalise(sum_i p_ik z_i)``, shape (K, D)."""
    return F.normalize(p.T @ z, dim=1)


def prototype_alignment_loss(p, z, q, zt, tau):
    """Prototype level: InfoNCE over the K (image prototype, text prototype) pairs.

    Projector outputs are normalised before pooling, as in the instance level.
    """
    mu_img = soft_prototypes(p, F.normalize(z, dim=1))
    mu_txt = soft_prototypes(q, F.normalize(zt, dim=1))
    return info_nce(mu_img, mu_txt, tau)


def semantic_alignment_loss(logits_img, logits_txt, p, q, pseudo_labels):
    """Semantic level: CE of both heads' logits against the pseudo-labels, plus the
    cross-modal agreement ``-mean_i log <p_i, q_i>``."""
    ce = F.cross_entropy(logits_img, pseudo_labels) + F.cross_entropy(logits_txt, pseudo_labels)
    return ce + image_consistency_loss(p, q)


def mca_objective(
    out_img, out_nb, out_txt, pseudo_labels, *, lambda_ent, w_ins, w_pro, w_sem, tau_ins, tau_pro
):
    """Total MCA loss of one batch.

    ``out_img``, ``out_nb``, ``out_txt`` are ``(z, logits)`` pairs of the image head on
    the anchors, the image head on their sampled neighbours and the text head on the
    anchors' text counterparts. Returns ``(total, terms)``, ``terms`` a dict of detached
    0-d tensors (no device synchronisation per batch).
    """
    z, logits = out_img
    zt, logits_txt = out_txt
    p = torch.softmax(logits, dim=1)
    p_nb = torch.softmax(out_nb[1], dim=1)
    q = torch.softmax(logits_txt, dim=1)
    terms = {
        "consistency": image_consistency_loss(p, p_nb),
        "entropy": balance_entropy(p) + balance_entropy(q),
    }
    total = terms["consistency"] - lambda_ent * terms["entropy"]
    if w_ins:
        terms["instance"] = instance_alignment_loss(z, zt, tau_ins)
        total = total + w_ins * terms["instance"]
    if w_pro:
        terms["prototype"] = prototype_alignment_loss(p, z, q, zt, tau_pro)
        total = total + w_pro * terms["prototype"]
    if w_sem:
        terms["semantic"] = semantic_alignment_loss(logits, logits_txt, p, q, pseudo_labels)
        total = total + w_sem * terms["semantic"]
    return total, {name: value.detach() for name, value in terms.items()}


def semantic_centres(proba, X, texts, *, xi_c, xi_a, knn_fn):
    """Semantic centres of the clusters (SIC's adjusted centre-based mapping, a-b).

    a. image centre ``c_k`` = normalised mean of the ``max(1, floor(xi_c * N / K))``
       rows of ``X`` with the highest ``proba[:, k]``;
    b. semantic centre ``h_k`` = normalised mean of the ``xi_a`` texts nearest to
       ``c_k``; ``xi_a`` is capped at ``max(1, n_texts // K)`` so that a small text
       set does not make every centre the mean of all texts.

    ``knn_fn(queries, base, k)`` returns the indices of the ``k`` largest inner
    products (the project's k-NN). Returns ``(h (K, d), nearest (K, a))``, ``nearest``
    indexing ``texts``.
    """
    n, n_clusters = proba.shape
    top = max(1, int(xi_c * n / n_clusters))
    idx = torch.topk(proba, k=min(top, n), dim=0).indices  # (top, K)
    centres = F.normalize(X[idx].mean(dim=0), dim=1)  # (K, d)
    nearest = knn_fn(centres, texts, max(1, min(int(xi_a), texts.shape[0] // n_clusters)))
    return F.normalize(texts[nearest].mean(dim=1), dim=1), nearest


def semantic_pseudo_labels(proba, X, counterparts, texts, *, xi_c, xi_a, knn_fn):
    """Pseudo-labels from neighbouring texts: ``y_i = argmax_k cos(counterparts_i, h_k)``.

    ``h_k`` are the :func:`semantic_centres` of ``texts``; ``counterparts`` must live in
    the same space as ``texts`` (the attended text mixtures for MCA, or the images
    themselves for SIC's rule). Returns ``(labels (N,), h (K, d))``.
    """
    semantic, _ = semantic_centres(proba, X, texts, xi_c=xi_c, xi_a=xi_a, knn_fn=knn_fn)
    return torch.argmax(counterparts @ semantic.T, dim=1), semantic


def text_cluster_step(counterparts, centres):
    """Pseudo-labels from the clusters of the text counterparts: one k-means step.

    Each row of ``counterparts`` (unit text mixtures) gets the nearest of the unit
    ``centres`` (K, d); every centre then moves to the normalised mean of its rows.
    An empty cluster keeps its centre, so that cluster indices stay stable from one
    epoch to the next. Returns ``(labels (N,), new centres (K, d))``.

    Examples
    --------
    >>> import torch
    >>> from skclip.cluster._mca_losses import text_cluster_step
    >>> rows = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> labels, centres = text_cluster_step(rows, torch.eye(2))
    >>> labels.tolist(), centres.shape
    ([0, 0, 1], torch.Size([2, 2]))
    """
    labels = torch.argmax(counterparts @ centres.T, dim=1)
    sums = torch.zeros_like(centres).index_add_(0, labels, counterparts)
    filled = sums.norm(dim=1) > 0
    new = centres.clone()
    new[filled] = F.normalize(sums[filled], dim=1)
    return labels, new
