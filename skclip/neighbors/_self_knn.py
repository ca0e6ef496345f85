"""Exact k-NN of a set of points among themselves, each pair's product computed once.

The search of ``X`` in itself is symmetric: ``<x_a, x_b> = <x_b, x_a>``. The rows are
cut into blocks; the diagonal blocks ``X_I X_I^T`` fill every row's list first, then
each off-diagonal block ``S = X_I X_J^T`` (``I < J``) is computed once and serves the
rows of ``I`` (its rows) and the rows of ``J`` (its columns): half the products of a
plain search. Only the entries of ``S`` at or above a row's current k-th value can
enter its list; they are few once the diagonal blocks have set the thresholds, so a
block costs one compare pass per direction on top of its product, not a top-k.
Lists are kept in decreasing value, ties towards the smaller index (the convention
of :func:`._topk.topk_rows`), so the result does not depend on the block size.
"""

from ._topk import topk_rows

__all__ = ["knn_self_symmetric"]

_MIN_BLOCK = 64


def _merge(vals, inds, owners, cand_vals, cand_inds):
    """Merge candidates ``(owners[c], cand_inds[c], cand_vals[c])`` into the lists.

    ``vals``/``inds`` (n, k) hold each row's list sorted by value (descending),
    then index (ascending); empty slots are ``(-inf, -1)``.
    """
    import torch

    k = vals.shape[1]
    order = torch.argsort(owners, stable=True)
    owners, cand_vals, cand_inds = owners[order], cand_vals[order], cand_inds[order]
    rows, counts = torch.unique_consecutive(owners, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(owners), device=owners.device) - torch.repeat_interleave(starts, counts)
    row_of = torch.repeat_interleave(torch.arange(len(rows), device=owners.device), counts)
    width = int(counts.max())
    pad_v = torch.full((len(rows), width), -torch.inf, dtype=vals.dtype, device=vals.device)
    pad_i = torch.full((len(rows), width), -1, dtype=inds.dtype, device=inds.device)
    pad_v[row_of, slot] = cand_vals
    pad_i[row_of, slot] = cand_inds
    all_v = torch.cat([vals[rows], pad_v], dim=1)
    all_i = torch.cat([inds[rows], pad_i], dim=1)
    by_index = torch.argsort(all_i, dim=1)
    all_v, all_i = torch.gather(all_v, 1, by_index), torch.gather(all_i, 1, by_index)
    top = torch.sort(all_v, dim=1, descending=True, stable=True).indices[:, :k]
    vals[rows] = torch.gather(all_v, 1, top)
    inds[rows] = torch.gather(all_i, 1, top)


def knn_self_symmetric(X, k, block_size):
    """``(similarities, indices)`` (n, k) of the k largest ``<x_a, x_b>``, ``b != a``.

    ``X`` is a 2-D float tensor with ``k <= n - 1``; rows whose products could
    overflow the float type raise ValueError (checked once on the row norms).
    """
    import torch

    n = X.shape[0]
    sq_norms = (X.double() ** 2).sum(dim=1)
    if n and float(sq_norms.max()) >= torch.finfo(X.dtype).max:
        raise ValueError(
            "the inner products of X and Y overflow the float type (NaN similarities); "
            "normalise the rows first")
    # at least 64 rows per block: below that, the per-block steps cost more than the products
    n_blocks = max(1, -(-n // max(int(block_size), _MIN_BLOCK)))
    edges = [round(i * n / n_blocks) for i in range(n_blocks + 1)]
    blocks = list(zip(edges[:-1], edges[1:]))
    vals = torch.full((n, k), -torch.inf, dtype=X.dtype, device=X.device)
    inds = torch.full((n, k), -1, dtype=torch.int64, device=X.device)
    for a0, a1 in blocks:  # diagonal blocks: every row's first list and threshold
        S = X[a0:a1] @ X[a0:a1].T
        S.fill_diagonal_(-torch.inf)
        kk = min(k, a1 - a0 - 1)
        if kk > 0:
            v, i = topk_rows(S, kk)
            vals[a0:a1, :kk], inds[a0:a1, :kk] = v, i + a0
    buf = torch.empty(max(b - a for a, b in blocks) ** 2, dtype=X.dtype, device=X.device)
    for bi, (a0, a1) in enumerate(blocks):
        A = X[a0:a1]
        for b0, b1 in blocks[bi + 1:]:
            # one output buffer for every block: a fresh 64 MB array per block costs
            # its page faults (15% of the product's time on CPU)
            S = torch.mm(A, X[b0:b1].T, out=buf[: (a1 - a0) * (b1 - b0)].view(a1 - a0, b1 - b0))
            # entries at or above the row's current k-th value (for the rows of A) or
            # the column's (for the rows of B): one scan of S for both
            row_thr, col_thr = vals[a0:a1, -1:], vals[b0:b1, -1][None, :]
            r, c = torch.nonzero((S >= row_thr) | (S >= col_thr), as_tuple=True)
            if not len(r):
                continue
            v = S[r, c]
            for_row = v >= row_thr[r, 0]
            for_col = v >= col_thr[0, c]
            if bool(for_row.any()):
                _merge(vals, inds, r[for_row] + a0, v[for_row], c[for_row] + b0)
            if bool(for_col.any()):
                _merge(vals, inds, c[for_col] + b0, v[for_col], r[for_col] + a0)
    return vals, inds
