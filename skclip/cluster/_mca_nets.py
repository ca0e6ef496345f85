"""Networks of MCA: cluster heads (image and text) and the image-to-text attention.

Private module. Everything here is a reconstruction (the paper's network shapes are
not published): the heads follow TAC's ``ClusterHead`` (Linear -> BatchNorm1d ->
ReLU -> Linear, truncated-normal init with std 0.02), the attention is one-head
cross-attention with the image as the query over its nearest texts.
"""

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ClusterHead", "TextAttention", "MCANetworks", "head_proba"]

_BLOCK = 4096  # rows per block of the float64 pass of head_proba


def _linear(n_in, n_out, *, bias=True):
    """An ``nn.Linear`` whose weights are left for the caller to set.

    ``nn.Linear`` draws its default initialisation from the global torch generator;
    every layer here is initialised explicitly (``_init_linear`` with the fit's own
    generator, or the identity), so the default draw is skipped and the global random
    state is never consumed.
    """
    return nn.utils.skip_init(nn.Linear, n_in, n_out, bias=bias)


def _init_linear(layer, generator, std=0.02):
    """TAC's init: truncated normal weights (std 0.02), zero bias; seeded by ``generator``."""
    with torch.no_grad():
        nn.init.trunc_normal_(layer.weight, std=std, generator=generator)
        if layer.bias is not None:
            layer.bias.zero_()


class ClusterHead(nn.Module):
    """Cluster head ``f`` with its projector ``h``.

    ``head="mlp"``: ``h(x) = ReLU(BN(W1 x + b1))`` and ``f(x) = W2 h(x) + b2``.
    ``head="linear"`` (SIC's head): ``h`` is the identity and ``f(x) = W x + b``.
    ``forward`` returns ``(z, logits)``: the projector output (not normalised) and the
    pre-softmax cluster scores.
    """

    def __init__(self, n_features, n_clusters, *, head="mlp", hidden_dim=None, generator=None):
        super().__init__()
        # CLIP embeddings: the width of the input (TAC); tiny inputs get 64 units
        hidden_dim = max(n_features, 64) if hidden_dim is None else hidden_dim
        if head == "mlp":
            self.projector = nn.Sequential(
                _linear(n_features, hidden_dim),
                nn.BatchNorm1d(hidden_dim),
                nn.ReLU(),
            )
            self.classifier = _linear(hidden_dim, n_clusters)
            _init_linear(self.projector[0], generator)
        else:
            self.projector = nn.Identity()
            self.classifier = _linear(n_features, n_clusters)
        _init_linear(self.classifier, generator)

    def forward(self, x):
        z = self.projector(x)
        return z, self.classifier(z)

    def permute_clusters(self, order):
        """Reorder the output units so that new cluster ``k`` is old cluster ``order[k]``."""
        with torch.no_grad():
            self.classifier.weight.copy_(self.classifier.weight[order])
            self.classifier.bias.copy_(self.classifier.bias[order])


class TextAttention(nn.Module):
    """One-head cross-attention of an image over its ``n_t`` nearest texts.

    ``alpha_ij = softmax_j((W_q x_i) . (W_k v_j) / tau)`` and the text counterpart
    ``s_i = normalise(W_v m_i)`` with the attended mixture ``m_i = sum_j alpha_ij v_j``.
    Weights start at the identity, so that the scores start as the cosines
    ``cos(x_i, v_j) / tau`` and the counterpart as TAC's softmax retrieval over the
    nearest texts. Inputs are unit vectors: the scores are cosines, whose
    differences among the nearest texts are a few hundredths, so ``tau`` must be on
    that scale (TAC retrieves at 0.005) for the attention to select; the usual
    ``1 / sqrt(d)`` of dot-product attention would make it uniform.

    The query and key maps enter the scores only through ``W_q^T W_k``, which is
    learned as one ``d x d`` matrix (``bilinear``): the same family of scores for
    3 fewer ``d x d`` products per sample and step than two factors. The values are
    computed as ``W_v m_i``: one product per image, not per text.
    """

    def __init__(self, n_features, *, tau=0.01):
        super().__init__()
        self.tau = float(tau)
        self.bilinear = _linear(n_features, n_features, bias=False)  # x -> W_k^T W_q x
        self.value = _linear(n_features, n_features, bias=False)
        with torch.no_grad():
            nn.init.eye_(self.bilinear.weight)
            nn.init.eye_(self.value.weight)

    def weights(self, x, texts):
        """Attention weights ``alpha`` (B, n_t) of images ``x`` (B, d) over ``texts`` (B, n_t, d)."""
        scores = torch.einsum("bd,bnd->bn", self.bilinear(x), texts) / self.tau
        return torch.softmax(scores, dim=1)

    def mixture(self, x, texts):
        """Unit attended mixtures ``normalise(m_i)``, in the space of the texts, and ``alpha``."""
        alpha = self.weights(x, texts)
        return F.normalize(torch.einsum("bn,bnd->bd", alpha, texts), dim=1), alpha

    def forward(self, x, texts):
        """``x`` (B, d) images, ``texts`` (B, n_t, d) their nearest texts -> (s, alpha)."""
        alpha = self.weights(x, texts)
        mixed = torch.einsum("bn,bnd->bd", alpha, texts)
        return F.normalize(self.value(mixed), dim=1), alpha


class MCANetworks(nn.Module):
    """The three trained modules of MCA, kept together for one optimiser."""

    def __init__(self, n_features, n_clusters, *, head, hidden_dim, tau_attn, generator):
        super().__init__()
        self.image_head = ClusterHead(
            n_features, n_clusters, head=head, hidden_dim=hidden_dim, generator=generator
        )
        self.text_head = ClusterHead(
            n_features, n_clusters, head=head, hidden_dim=hidden_dim, generator=generator
        )
        self.attention = TextAttention(n_features, tau=tau_attn)

    @torch.no_grad()
    def full_pass(self, X, Q, texts, txt_idx, block, *, heads=True):
        """Image-head probabilities, attended text mixtures and attention peaks of all rows.

        ``X`` (N, d) are the head inputs, ``Q`` (N, d) the attention queries and
        ``txt_idx`` (N, n_t) indexes each image's nearest ``texts``. The mixtures are
        ``normalise(sum_j alpha_ij v_j)``, in the space of ``texts`` (before ``W_v``,
        so that pseudo-labels compare them with text centres of the same space); the
        peaks are ``max_j alpha_ij``. Runs in eval mode, memory O(block * n_t * d);
        the training mode is restored afterwards. ``heads=False`` skips the image
        head (the probabilities are then None).
        """
        was_training = self.training
        self.eval()
        proba, mixtures, peaks = [], [], []
        for i in range(0, X.shape[0], block):
            if heads:
                proba.append(torch.softmax(self.image_head(X[i : i + block])[1], dim=1))
            near = F.embedding(txt_idx[i : i + block], texts)  # texts[txt_idx[...]], faster
            mix, alpha = self.attention.mixture(Q[i : i + block], near)
            mixtures.append(mix)
            peaks.append(alpha.max(dim=1).values)
        self.train(was_training)
        return (torch.cat(proba) if heads else None), torch.cat(mixtures), torch.cat(peaks)


def head_proba(head, X):
    """Softmax of a trained ``head`` on the numpy rows ``X``, computed in float64 on
    the CPU block by block (a copy of the head: the fitted one is left as it is), so
    that the result does not depend on how the rows are batched."""
    head = copy.deepcopy(head).cpu().double().eval()
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], _BLOCK):
            block = torch.as_tensor(X[start : start + _BLOCK], dtype=torch.float64)
            out.append(torch.softmax(head(block)[1], dim=1).numpy())
    return np.concatenate(out).astype(X.dtype)
