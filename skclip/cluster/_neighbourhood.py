"""Fusion weights from each view's agreement with the image's own neighbourhood (CAE).

For image ``i`` with views ``z^0_i`` (the centred image), ``z^1_i`` (noun
counterpart) and ``z^2_i`` (caption counterpart), ``N(i)`` is its ``k`` nearest
neighbours in the *image* view among a fixed reference set of training images (the
image's look-alikes; near-duplicates of ``i`` itself are left out). The agreement of
view ``m`` with that neighbourhood is a chance-corrected similarity::

    local_m(i)  = mean_{j in N(i)} cos(z^m_i, z^m_j)
    global_m(i) = mean_{j in R}    cos(z^m_i, z^m_j)        (R: the whole reference set)
    kappa_m(i)  = (local_m(i) - global_m(i)) / (1 - global_m(i))

``kappa = 1``: the view describes ``i`` exactly as it describes ``i``'s look-alikes
and differently from a typical image; ``kappa = 0``: the look-alikes are no closer
than anyone (a view that says the same of every image, such as a generic noun, scores
0, not 1). The weights are ``softmax_m(kappa_m(i) / gamma)``: they move toward the
texts where the texts agree with the image's neighbourhood and toward the image where
they do not. The neighbourhood is small (``k = 10``), a scale at which the image's
neighbours share its class *and* its nuisance (style), so every view is judged by
the same look-alikes; the global term is what keeps a view that lumps many images
together (a style caption shared across classes) from scoring as if it were specific.
Every view is centred before (the modality means are removed), so a common offset
of a modality (the modality gap) leaves the weights unchanged.
"""

import numpy as np

# reference images (evenly spaced training rows) and neighbours per image
_N_REFERENCE, _N_NEIGHBOURS = 2048, 10
# reference rows at least this similar to the query are the query itself (or a copy)
_DUPLICATE = 1.0 - 1e-5


def reference_rows(n_samples):
    """Indices of the reference images: ``min(n, 2048)`` evenly spaced training rows."""
    r = min(int(n_samples), _N_REFERENCE)
    return np.unique(np.linspace(0, n_samples - 1, r).round().astype(np.int64))


def neighbourhood_scores(Z, reference, k=_N_NEIGHBOURS):
    """Agreement ``kappa`` (b, M) of each view of rows ``Z`` with their neighbourhood.

    ``Z``: list of M unit-row torch tensors (b, d), view 0 the image; ``reference``:
    list of M unit-row tensors (r, d), the same views of the reference images. See the
    module docstring. Rows whose global similarity is 1 (the view is constant) score 0.
    """
    import torch

    S = Z[0] @ reference[0].T
    S = S.masked_fill(S > _DUPLICATE, -3.0)  # leave the query itself out
    k = max(1, min(k, S.shape[1] - 1)) if S.shape[1] > 1 else 1
    idx = S.topk(k, dim=1).indices  # (b, k)
    scores = []
    for z, ref in zip(Z, reference):
        local = torch.einsum("bd,bkd->b", z, ref[idx]) / k
        glob = z @ ref.mean(dim=0)
        room = 1.0 - glob
        kappa = torch.where(room > 1e-6, (local - glob) / room.clamp(min=1e-6),
                            torch.zeros_like(room))
        scores.append(kappa.clamp(-1.0, 1.0))
    return torch.stack(scores, dim=1)


def neighbourhood_weights(Z, reference, gamma, k=_N_NEIGHBOURS):
    """Per-sample fusion weights ``softmax_m(kappa_m / gamma)`` (b, M), rows sum to 1."""
    import torch

    return torch.softmax(neighbourhood_scores(Z, reference, k) / gamma, dim=1)
