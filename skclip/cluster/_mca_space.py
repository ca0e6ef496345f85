"""MCA's comparison space: where images meet the texts of the semantic space.

Private module of :class:`~skclip.cluster.MCAClustering`: the text set ``T`` chosen
by ``text_source``, each modality centred on its own mean (the modality gap), each
text pooled with its nearest texts (one concept, several names), and the final
semantic centres of the clusters.
"""

import numpy as np

from ._fusion import centred_unit
from ._text_pool import pool_texts

__all__ = ["comparison_space", "semantic_centers"]


def comparison_space(est, X, nouns, captions):
    """Texts ``T`` of ``text_source``, the modality means, and the images and texts
    as compared (centred and re-normalised; the texts then pooled): ``(texts, Xq, Tq)``; sets
    ``est.image_mean_`` and ``est.text_mean_``."""
    parts = {"nouns": [nouns], "captions": [captions], "both": [nouns, captions]}
    texts = np.vstack(parts[est.text_source])
    if texts.shape[0] == 0:
        raise ValueError(
            f"The semantic space {type(est.semantic_space_).__name__} selected no "
            f"texts for text_source={est.text_source!r}; MCA needs at least one."
        )
    d, center = X.shape[1], est.center_modalities
    est.image_mean_ = X.mean(axis=0) if center else np.zeros(d, dtype=X.dtype)
    # one text has no direction relative to its own mean
    est.text_mean_ = (texts.mean(axis=0) if center and len(texts) > 1
                      else np.zeros(d, dtype=X.dtype)).astype(X.dtype)
    Xq = centred_unit(X, est.image_mean_)
    Tq = pool_texts(centred_unit(texts.astype(X.dtype), est.text_mean_), est.text_pool)
    return texts, Xq, Tq


def semantic_centers(proba, Xq, Tq, texts, *, xi_c, xi_a):
    """Means of the ``xi_a`` texts nearest each final image centre, found in the
    comparison space (``Xq``, ``Tq``) and averaged in the input space (``texts``)."""
    import torch

    from ..neighbors import knn
    from ._mca_losses import semantic_centres

    def knn_fn(queries, base, k):
        return knn(queries, base, n_neighbors=k, exclude_self=False, device="cpu")[1]

    P, Xt, Tt = (torch.as_tensor(a, dtype=torch.float64) for a in (proba, Xq, Tq))
    _, nearest = semantic_centres(P, Xt, Tt, xi_c=xi_c, xi_a=xi_a, knn_fn=knn_fn)
    centres = texts[nearest.numpy()].astype(np.float64).mean(axis=1)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return (centres / np.maximum(norms, 1e-12)).astype(Xq.dtype)
