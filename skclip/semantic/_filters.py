"""Vocabulary selection rules (user guide, "Vocabulary": SIC/MCA, TAC and CAE rules).

Each function takes unit-row numpy arrays and returns indices (ascending) or a boolean
mask over the vocabulary. Similarities are computed in torch blocks, so an ImageNet
scale problem (4,271 centres x 146k nouns) never holds the full score matrix.
"""

import warnings

import numpy as np

_BLOCK_ELEMENTS = 1 << 24  # ~64 MB of float32 scores per block


def _as_tensor(A, device):
    import torch

    with warnings.catch_warnings():
        # cached embeddings are read-only arrays; the tensors made here are only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(np.ascontiguousarray(A, dtype=np.float32), device=device)


def topk_per_center(centers, emb, k, *, device="cpu"):
    """For every centre, the ``k`` rows of ``emb`` with the highest cosine.

    Parameters
    ----------
    centers : ndarray (n_centers, d), unit rows
    emb : ndarray (m, d), unit rows
    k : int
    device : torch.device or str

    Returns
    -------
    top : ndarray of int, shape (n_centers, min(k, m))
        Row ``a`` lists centre ``a``'s best rows, best first.
    best : ndarray of float, shape (m,)
        ``max_a cos(c_a, u_j)`` for every row (the relevance score).
    """
    from ..neighbors import knn

    k = min(int(k), len(emb))
    C = np.ascontiguousarray(centers, dtype=np.float32)
    U = np.ascontiguousarray(emb, dtype=np.float32)
    _, top = knn(C, U, n_neighbors=k, device=device)
    best, _ = knn(U, C, n_neighbors=1, device=device)
    return top.astype(np.int64), best[:, 0].astype(np.float64)


def best_excess(centers, emb, thresholds, *, device="cpu"):
    """``max_a (cos(c_a, u_j) - thresholds[a])`` for every row ``u_j`` of ``emb``.

    How far each row is above (or below, when negative) the score it would need to
    enter the selection of its most favourable centre; computed in blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.semantic._filters import best_excess
    >>> emb = np.eye(3, dtype=np.float32)
    >>> best_excess(emb[:2], emb, np.array([0.5, 0.25])).round(2)
    array([ 0.5 ,  0.75, -0.25])
    """
    import torch

    U = _as_tensor(emb, device)
    C = _as_tensor(centers, device)
    t = _as_tensor(thresholds, device)
    step = max(1, _BLOCK_ELEMENTS // max(1, len(centers)))
    out = [(U[s : s + step] @ C.T - t).max(dim=1).values.cpu() for s in range(0, len(U), step)]
    return torch.cat(out).numpy().astype(np.float64)


def select_center_topk(centers, emb, k, *, device="cpu"):
    """CAE's rule: the union over centres of each centre's top-``k`` rows.

    Returns
    -------
    indices : ndarray of int, ascending
    scores : ndarray of float, ``max_a cos(c_a, u_j)`` of the selected rows

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.semantic._filters import select_center_topk
    >>> emb = np.eye(4, dtype=np.float32)
    >>> centers = np.array([[1, 0, 0, 0], [0, 0.8, 0.6, 0]], dtype=np.float32)
    >>> select_center_topk(centers, emb, 1)[0]
    array([0, 1])
    """
    top, best = topk_per_center(centers, emb, k, device=device)
    idx = np.unique(top)
    return idx, best[idx]


def select_tac(centers, emb, k, *, temperature=1.0, device="cpu"):
    """TAC's rule: each row joins its most probable centre; centres keep their ``k`` best.

    ``P = softmax over centres of cos(c_a, u_j) / temperature``; row ``j`` goes to
    ``argmax_a P_aj`` with confidence ``max_a P_aj``; each centre keeps its ``k`` most
    confident rows.

    Returns
    -------
    indices : ndarray of int, ascending
    scores : ndarray of float, the confidences of the selected rows
    """
    import torch

    U = _as_tensor(emb, device)
    C = _as_tensor(centers, device)
    step = max(1, _BLOCK_ELEMENTS // max(1, len(centers)))
    conf, owner = [], []
    for start in range(0, len(U), step):
        P = torch.softmax((U[start : start + step] @ C.T) / temperature, dim=1)
        c, a = P.max(dim=1)
        conf.append(c.cpu())
        owner.append(a.cpu())
    conf = torch.cat(conf).numpy().astype(np.float64)
    owner = torch.cat(owner).numpy()
    order = np.lexsort((-conf, owner))  # by centre, most confident first
    sorted_owner = owner[order]
    first = np.searchsorted(sorted_owner, sorted_owner, side="left")
    rank = np.arange(len(order)) - first
    idx = np.sort(order[rank < k])
    return idx, conf[idx]


def uniqueness_mask(emb, gamma_u):
    """SIC's uniqueness filter: keep rows with ``cos(u_j, mean direction) < 1 - gamma_u``.

    The mean direction is the normalised mean of all rows of ``emb`` (the whole
    vocabulary), so generic nouns near the centroid of text space are dropped.
    """
    mean = emb.astype(np.float64).mean(axis=0)
    mean /= max(np.linalg.norm(mean), np.finfo(np.float64).tiny)
    return emb.astype(np.float64) @ mean < 1.0 - gamma_u


def depth_mask(depths, min_depth):
    """MCA's hierarchy filter: keep synsets at depth >= ``min_depth``; unknown (-1) pass."""
    depths = np.asarray(depths)
    return (depths < 0) | (depths >= min_depth)
