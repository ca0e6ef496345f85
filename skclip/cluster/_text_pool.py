"""Texts pooled with their nearest texts: one concept, several names.

Shared by :class:`~skclip.cluster.MCAClustering` (its comparison space) and
:class:`~skclip.cluster.CAEClustering` (the retrieval of the text counterparts).
"""

import numpy as np

__all__ = ["pool_texts"]


def pool_texts(texts, n_pool):
    """Each unit row of ``texts`` replaced by the mean of itself and its ``n_pool - 1``
    nearest rows (cosine), not re-normalised; ``n_pool=1`` returns ``texts``.

    An image's inner product with a pooled text is its mean cosine with the text's
    neighbourhood. A concept is named by several texts (synonyms, hyponyms, prompt
    variants) that lie close together, so its pooled texts keep a norm near 1 and stay
    on the class; a text that lies near an image by chance (a distractor aligned with
    the image's style or noise) has scattered neighbours, and its pooled text is
    shorter and points elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.cluster._text_pool import pool_texts
    >>> T = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> pool_texts(T, 2).round(2)
    array([[0.9, 0.3],
           [0.9, 0.3],
           [0.4, 0.8]])
    """
    n_pool = min(int(n_pool), len(texts))
    if n_pool <= 1:
        return texts
    from ..neighbors import knn

    idx = knn(texts, n_neighbors=n_pool - 1, exclude_self=True, device="cpu")[1]
    pooled = (texts + texts[idx].astype(np.float64).sum(axis=1)) / n_pool
    return pooled.astype(texts.dtype)
