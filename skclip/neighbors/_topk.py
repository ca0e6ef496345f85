"""The library's one top-k search: the k largest entries of each row, ties by index.

``torch.topk`` chooses arbitrarily among equal values (the choice depends on the
device, the block and the number of threads). Here a tie across the k-th place is
resolved towards the smaller column index, so the kept set depends on the values
alone; with ``ordered=True`` (the k-NN lists) the kept entries are also ordered by
value, descending, then index, ascending.
"""

__all__ = ["topk_rows"]


def topk_rows(S, k, *, ordered=True):
    """``(values, indices)`` (b, k) of the ``k <= m`` largest entries of each row of ``S``.

    Ties across the k-th place go to the smaller column index. ``ordered=True``: each
    row sorted by value (descending), then index (ascending). ``ordered=False``: the
    kept set is the same, in ``torch.topk``'s order (cheaper: two sorts fewer), for
    callers that only sum over it.

    Examples
    --------
    >>> import torch
    >>> from skclip.neighbors._topk import topk_rows
    >>> vals, idx = topk_rows(torch.tensor([[1.0, 3.0, 3.0, 3.0]]), 2)
    >>> idx.tolist(), vals.tolist()
    ([[1, 2]], [[3.0, 3.0]])
    """
    import torch

    # One extra value shows the rows where the k-th value is shared with a column
    # left out (the (k+1)-th largest equals the k-th): the choice among equal values
    # is arbitrary in topk, so those rows are redone with a stable sort. (Counting the
    # row's entries equal to the k-th value costs a full pass over S: twice the top-k.)
    kk = min(k + 1, S.shape[1])
    vals, idx = torch.topk(S, kk, dim=1)
    redo = torch.nonzero(vals[:, kk - 1] == vals[:, k - 1]).flatten() if kk > k else vals[:0, 0]
    vals, idx = vals[:, :k], idx[:, :k]
    if len(redo):
        order = torch.sort(S[redo], dim=1, descending=True, stable=True).indices[:, :k]
        idx[redo] = order
        vals[redo] = torch.gather(S[redo], 1, order)
    if not ordered:
        return vals, idx
    # Among equal values kept, order by index (values descending, then index ascending).
    key = torch.sort(idx, dim=1).indices
    idx = torch.gather(idx, 1, key)
    vals = torch.gather(vals, 1, key)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices
    return torch.gather(vals, 1, order), torch.gather(idx, 1, order)
