"""Networks of MCA: cluster heads (image and text) and the image-to-text attention.

Private module. Everything here is a reconstruction (ALGORITHMS.md §2.4, ``[choice]``):
the heads follow TAC's ``ClusterHead`` (Linear -> BatchNorm1d -> ReLU -> Linear,
truncated-normal init with std 0.02), the attention is one-head cross-attention with
the image as the query over its nearest texts.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ClusterHead", "TextAttention", "MCANetworks"]


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
                nn.Linear(n_features, hidden_dim),
                nn.BatchNorm1d(hidden_dim),
                nn.ReLU(),
            )
            self.classifier = nn.Linear(hidden_dim, n_clusters)
            _init_linear(self.projector[0], generator)
        else:
            self.projector = nn.Identity()
            self.classifier = nn.Linear(n_features, n_clusters)
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

    ``alpha_ij = softmax_j((W_q x_i) . (W_k v_j) / (sqrt(d) * tau))`` and the text
    counterpart ``s_i = normalise(sum_j alpha_ij W_v v_j)``, weights initialised to
    the identity, so that at ``tau -> 0`` the counterpart is TAC's softmax retrieval
    of the nearest text.

    The query and key maps enter the scores only through ``W_q^T W_k``, which is
    learned as one ``d x d`` matrix (``bilinear``): the same family of scores for
    3 fewer ``d x d`` products per sample and step than two factors. The values are
    computed as ``W_v (sum_j alpha_ij v_j)``: one product per image, not per text.
    """

    def __init__(self, n_features, *, tau=1.0):
        super().__init__()
        self.tau = float(tau)
        self.bilinear = nn.Linear(n_features, n_features, bias=False)  # x -> W_k^T W_q x
        self.value = nn.Linear(n_features, n_features, bias=False)
        with torch.no_grad():
            nn.init.eye_(self.bilinear.weight)
            nn.init.eye_(self.value.weight)

    def forward(self, x, texts):
        """``x`` (B, d) images, ``texts`` (B, n_t, d) their nearest texts -> (s, alpha)."""
        scale = math.sqrt(x.shape[1]) * self.tau
        scores = torch.einsum("bd,bnd->bn", self.bilinear(x), texts) / scale
        alpha = torch.softmax(scores, dim=1)
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
    def full_pass(self, X, texts, txt_idx, block):
        """Image-head probabilities and text counterparts of all rows, in eval mode.

        ``txt_idx`` (N, n_t) indexes each image's nearest texts. Memory is
        O(block * n_t * d). The training mode is restored afterwards.
        """
        was_training = self.training
        self.eval()
        proba, counterparts = [], []
        for i in range(0, X.shape[0], block):
            x = X[i : i + block]
            proba.append(torch.softmax(self.image_head(x)[1], dim=1))
            counterparts.append(self.attention(x, texts[txt_idx[i : i + block]])[0])
        self.train(was_training)
        return torch.cat(proba), torch.cat(counterparts)
