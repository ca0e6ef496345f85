"""Text counterparts of images and their adaptive fusion (CAE and TAC).

Shared by :class:`CAEClustering` and :class:`TACClustering`. Everything here works on
row blocks, so memory is O(block x m) whatever the number of images: the caller
loops over blocks with :func:`fused_features`, which writes into preallocated numpy
outputs.
"""

import numpy as np

from .._arrays import unit_rows
from ..ot import plan_rows, semirelaxed_potential, sinkhorn_cosine
from ..ot._plan_rows import topk_rows_block, update_certificate


def column_potential(X, T, *, eps, max_iter, tol, relax_columns, block_size, device, verbose,
                     topk=None, column_penalty=None):
    """Sinkhorn column potential ``g`` (m,) of images ``X`` to texts ``T`` (cost 1 - cos).

    Uniform marginals. ``relax_columns=True`` keeps only the row constraint, whose
    plan rows are the softmax retrieval of TAC: ``g = 0`` without any pass over the
    cost (at ImageNet scale a pass is 2 n m d FLOP). ``topk`` selects the sparse
    balanced solver (see :func:`skclip.ot.sinkhorn_cosine`). ``column_penalty`` (with
    ``relax_columns=True``): the semi-relaxed transport of
    :func:`skclip.ot.semirelaxed_potential`. Returns ``(g, n_iter)``. A sparse solve
    whose certificate fails falls back to the dense solver (with a warning); a
    non-finite ``g`` raises.
    """
    if relax_columns and column_penalty:
        res = semirelaxed_potential(X, T, eps=eps, rho=column_penalty, max_iter=max_iter,
                                    tol=tol, block=block_size if isinstance(block_size, int)
                                    else 8192, device=device)
        if not res.converged:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"semi-relaxed transport stopped after {res.n_iter} passes with "
                          f"residual {res.err:.2e} > tol={tol}", ConvergenceWarning,
                          stacklevel=3)
        return np.asarray(res.g, dtype=X.dtype), int(res.n_iter)
    if relax_columns:
        return np.zeros(len(T), dtype=X.dtype), 0
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    kw = dict(eps=eps, max_iter=max_iter, tol=tol, return_plan=False, block_size=block_size,
              device=device, verbose=verbose)
    res = sinkhorn_cosine(X, T, topk=topk, **kw)  # warns when its certificate fails
    if res.topk is not None and not (res.converged and np.isfinite(np.asarray(res.g)).all()):
        # never continue on a failed sparse solve: solve on the full cost instead
        warnings.warn(f"sparse transport (topk={res.topk}) failed (certified error "
                      f"{res.err:.2e}); solving on the full cost instead", ConvergenceWarning,
                      stacklevel=3)
        res = sinkhorn_cosine(X, T, topk=None, **kw)  # warns itself if it fails too
    n_iter = int(res.n_iter)
    g = np.asarray(res.g, dtype=X.dtype)
    if not np.isfinite(g).all():
        raise ValueError("the column potential has non-finite entries; increase ot_eps")
    return g, n_iter


# Entries below this carry no weight at float32/float64 resolution (rows sum to 1).
# They are set to 0 because subnormal floats (e.g. exp(-100) at gamma or eps = 0.01)
# make CPU matrix products 10-100x slower.
_NEGLIGIBLE = 1e-20


def _drop_negligible(A):
    return A.masked_fill_(A.abs() < _NEGLIGIBLE, 0.0)


def centred_unit(A, mean):
    """Unit rows of ``A - mean`` (numpy; a new array). Rows equal to ``mean`` stay zero.

    Removes a modality's offset (CLIP puts images and texts in two narrow cones
    whose means differ: the "modality gap") so that cosines compare directions
    inside the modality; ``mean = 0`` only normalises.
    """
    A = np.asarray(A) - np.asarray(mean, dtype=A.dtype)
    return unit_rows(A, tol=None, out=A)


def _normalize(Z):
    return unit_rows(Z, tol=None, floor=1e-12)


def _on_device(arrays, device):
    """Torch copies on ``device`` of a list of arrays (None entries kept); None -> None."""
    import torch

    if arrays is None:
        return None
    return [None if A is None else torch.as_tensor(A).to(device) for A in arrays]


def counterpart(Xb, T, g, eps, weight_by_similarity, topk=None, tol=0.0, stats=None,
                keys=None):
    """Normalised text counterpart of unit image rows ``Xb`` (b, d), torch in/out.

    Row i: ``normalise(sum_j P_ij * max(S_ij, 0)^w * t_j)`` with ``S = Xb K^T``,
    ``P_ij = softmax_j((g_j - (1 - S_ij)) / eps)`` (the row-normalised OT plan for the
    column potential ``g``; ``g = 0`` gives the softmax retrieval) and ``w = 1`` when
    ``weight_by_similarity`` (CAE), ``w = 0`` otherwise (TAC). With ``topk`` the sum
    runs over each row's certified top-k texts (:func:`skclip.ot._plan_rows.topk_rows_block`:
    at most ``tol`` of the row's plan mass left out), O(b * k * d) instead of
    O(b * m * d); ``stats`` (a dict) collects the certificate. ``keys`` (m, d): the
    texts ``K`` the images are compared with (e.g. pooled with their nearest texts,
    :func:`skclip.cluster._text_pool.pool_texts`); None means ``K = T``.
    """
    S = Xb @ (T if keys is None else keys).T
    if topk is not None:
        return _normalize(_sparse_counterpart(S, T, g, eps, weight_by_similarity, topk, tol,
                                              stats))
    P = plan_rows(1.0 - S, g, eps)
    if weight_by_similarity:
        P = similarity_weights(P, S)
    return _normalize(_drop_negligible(P) @ T)


def similarity_weights(P, S):
    """Plan entries weighted by the similarity, ``P_ij * max(S_ij, 0)`` (torch).

    After centring, similarities can be negative: ``P_ij * S_ij`` would then point
    the counterpart away from the very texts the plan chose (its sign flips once
    normalised). Negative similarities weigh 0 instead, and a row whose positive
    part carries almost no plan mass (``sum_j P_ij max(S_ij, 0) <= 1e-4 sum_j P_ij``,
    e.g. all its kept texts have ``S_ij <= 0``) keeps its plan weights ``P_ij``. The
    relative floor (rather than exactly 0) makes the rule agree between a dense row
    and its top-k truncation, which leaves out at most ``ot_tol`` of the mass.
    """
    W = P * S.clamp(min=0)
    empty = W.sum(dim=1) <= _SIGN_FLOOR * P.sum(dim=1)
    if bool(empty.any()):
        W[empty] = P[empty]
    return W


# A row whose similarity-weighted plan mass is below this share of its plan mass
# keeps the plan weights (see similarity_weights).
_SIGN_FLOOR = 1e-4


def _sparse_counterpart(S, T, g, eps, weight_by_similarity, topk, tol, stats):
    """``sum_j P_ij S_ij^w t_j`` over the certified top-k texts of each row (unnormalised)."""
    import torch

    out = S.new_empty((S.shape[0], T.shape[1]))
    V = S if not bool(g.any()) else S + g[None, :]  # scores: the plan row is softmax(V / eps)
    groups = topk_rows_block(V, eps, topk, tol)
    for rows, idx, P, _ in groups:
        if idx is None:  # dense rows (a flat softmax): one matrix product
            W = similarity_weights(P, S[rows]) if weight_by_similarity else P
            out[rows] = _drop_negligible(W) @ T
            continue
        if weight_by_similarity:
            P = similarity_weights(P, S[rows[:, None], idx])  # r x w entries, not r rows
        out[rows] = torch.nn.functional.embedding_bag(idx, T, per_sample_weights=P,
                                                      mode="sum")
    if stats is not None:
        update_certificate(stats, groups)
    return out


def fusion_weights(Z, gamma):
    """Per-sample softmax over modalities of cos(z^m, prototype) / gamma, (b, M).

    ``Z`` is a list of M unit-row tensors (b, d); the prototype is their mean.
    ``gamma=None`` gives uniform weights (plain concatenation).
    """
    import torch

    b, M = Z[0].shape[0], len(Z)
    if gamma is None or M == 1:
        return torch.full((b, M), 1.0 / M, dtype=Z[0].dtype, device=Z[0].device)
    proto = _normalize(sum(Z) / M)
    cos = torch.stack([(z * proto).sum(dim=1) for z in Z], dim=1)
    return _drop_negligible(torch.softmax(cos / gamma, dim=1))


def fuse(Z, W, fusion):
    """Fused, L2-normalised features from modalities ``Z`` and weights ``W`` (b, M)."""
    import torch

    if fusion == "weighted_sum":
        F = sum(W[:, m : m + 1] * z for m, z in enumerate(Z))
    else:  # "weighted_concat", and "concat" (called with uniform weights)
        F = torch.cat([W[:, m : m + 1] * z for m, z in enumerate(Z)], dim=1)
    return _normalize(F)


def counterparts(Xb, texts, potentials, eps, weight_by_similarity, hierarchical,
                 topk=None, tol=0.0, stats=None, keys=None):
    """The text counterparts of unit image rows ``Xb`` (torch), one per text set.

    ``hierarchical=True``: the second text set (captions) is queried with
    ``normalise(x + x^1)``, the image together with its first counterpart (nouns),
    instead of the image alone; see :func:`hierarchical_queries`. ``topk``, ``tol``
    and ``stats`` (one dict per text set, or None) go to :func:`counterpart`, and
    ``keys`` (one array per text set, or None) too.
    """
    Z = []
    for k, (T, g) in enumerate(zip(texts, potentials)):
        q = _normalize(Xb + Z[0]) if hierarchical and k == 1 else Xb
        Z.append(counterpart(q, T, g, eps, weight_by_similarity, topk, tol,
                             None if stats is None else stats[k],
                             None if keys is None else keys[k]))
    return Z


def hierarchical_queries(X, T, g, *, eps, weight_by_similarity, block_size, device,
                         topk=None, tol=0.0, keys=None):
    """``normalise(x + x^u)`` for unit image rows ``X`` (numpy in and out).

    The queries of the caption transport when captions are aligned under the nouns:
    ``x^u`` is the counterpart of ``x`` over the texts ``T`` (compared as ``keys``)
    with potential ``g``.
    """
    import torch

    out = np.empty_like(X)
    T_dev, g_dev = torch.as_tensor(T).to(device), torch.as_tensor(g).to(device)
    K_dev = None if keys is None else torch.as_tensor(keys).to(device)
    with torch.no_grad():
        for s in range(0, len(X), block_size):
            Xb = torch.as_tensor(X[s : s + block_size]).to(device)
            xu = counterpart(Xb, T_dev, g_dev, eps, weight_by_similarity, topk, tol,
                             keys=K_dev)
            out[s : s + block_size] = _normalize(Xb + xu).cpu().numpy()
    return out


def view_rows(X, texts, potentials, *, eps, weight_by_similarity, block_size, device,
              hierarchical=False, topk=None, tol=0.0, keys=None):
    """The views of unit image rows ``X``: ``[X, counterparts...]``, numpy arrays (n, d)."""
    import torch

    out = [X] + [np.empty_like(X) for _ in texts]
    T_dev, g_dev, K_dev = (_on_device(A, device) for A in (texts, potentials, keys))
    with torch.no_grad():
        for s in range(0, len(X), block_size):
            Xb = torch.as_tensor(X[s : s + block_size]).to(device)
            for m, z in enumerate(counterparts(Xb, T_dev, g_dev, eps, weight_by_similarity,
                                               hierarchical, topk, tol, keys=K_dev),
                                  start=1):
                out[m][s : s + block_size] = z.cpu().numpy()
    return out


def fused_features(X, texts, potentials, *, eps, weight_by_similarity, gamma, fusion,
                   block_size, device, hierarchical=False, verbose=0, topk=None, tol=0.0,
                   stats=None, reference=None, keys=None, share=1.0):
    """Fused features ``F`` and fusion weights ``W`` of unit image rows ``X``, numpy out.

    ``texts`` and ``potentials`` list the text sets in use (nouns, captions) and their
    column potentials; modality 0 is the image itself. Rows are processed in blocks
    of ``block_size`` on ``device``. ``hierarchical``: see :func:`counterparts`.
    ``topk`` (None: dense rows) and ``tol`` are passed to :func:`counterpart`;
    ``stats`` is then a list of one dict per text set that receives the certificate.
    ``reference`` (the views of reference images, from :func:`view_rows`): weights
    from each view's agreement with the images' neighbourhoods instead of
    :func:`fusion_weights`: each image's own agreement moved toward the view's mean
    by ``share`` (:func:`skclip.cluster._neighbourhood.shrunk_weights`; 1: the image's
    own, :func:`~skclip.cluster._neighbourhood.neighbourhood_weights`; 0: one weight
    per view, :func:`~skclip.cluster._neighbourhood.view_weights`).
    ``keys``: see :func:`counterparts`.
    """
    import torch

    from ._neighbourhood import neighbourhood_weights, shrunk_weights, view_scores, view_weights

    n, d = X.shape
    M = 1 + len(texts)
    width = d if fusion == "weighted_sum" else d * M
    F = np.empty((n, width), dtype=X.dtype)
    W = np.empty((n, M), dtype=X.dtype)
    T_dev, g_dev, K_dev = (_on_device(A, device) for A in (texts, potentials, keys))
    ref = _on_device(reference, device)
    shared = kbar = None  # the views' mean agreement, from the reference alone: once
    if ref is not None and fusion != "concat" and M > 1 and share < 1:
        with torch.no_grad():
            if share > 0:
                kbar = view_scores(ref)
            else:
                shared = _drop_negligible(view_weights(ref, gamma))
    starts = range(0, n, block_size)
    if verbose and len(starts) > 1:  # no bar for one step
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="CAE features", unit="block")
    with torch.no_grad():
        for s in starts:
            Xb = torch.as_tensor(X[s : s + block_size]).to(device)
            Z = [Xb] + counterparts(Xb, T_dev, g_dev, eps, weight_by_similarity,
                                    hierarchical, topk, tol, stats, keys=K_dev)
            if shared is not None:
                Wb = shared.expand(Xb.shape[0], M)
            elif kbar is not None:
                Wb = _drop_negligible(shrunk_weights(Z, ref, gamma, kbar, share))
            elif ref is not None and fusion != "concat" and len(Z) > 1:
                Wb = _drop_negligible(neighbourhood_weights(Z, ref, gamma))
            else:
                Wb = fusion_weights(Z, None if fusion == "concat" else gamma)
            F[s : s + block_size] = fuse(Z, Wb, fusion).cpu().numpy()
            W[s : s + block_size] = Wb.cpu().numpy()
    return F, W
