"""numpy <-> torch without needless copies: dtypes, read-only arrays, memory maps.

The project's rules for floating-point input, in one place:

* float32 and float64 are preserved (as scikit-learn does);
* float16 and bfloat16 are computed in float32 (half precision is a storage format;
  float64 would double the memory and is slow on most GPUs);
* anything else numeric (integers, bool) is computed in float64.

A read-only memory map (``np.load(path, mmap_mode="r")``) is mapped a second time
copy-on-write, which gives a writable view of the same pages: torch can wrap it with
no copy (torch has no read-only tensors) and nothing is ever written to the file.
"""

import mmap

import numpy as np


def compute_dtype(dtype):
    """The numpy dtype that data of ``dtype`` is computed in (see the module docstring)."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype == np.float16 or dtype.name == "bfloat16":
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def validation_dtype(X):
    """``dtype=`` argument for scikit-learn's ``validate_data``: float16 -> float32."""
    dtype = getattr(X, "dtype", None)
    if dtype is not None and np.dtype(dtype) == np.float16:
        return np.float32
    return [np.float64, np.float32]


def _file_map(arr):
    """The top-level ``np.memmap`` over a file whose pages hold ``arr``, or None."""
    base = arr
    while base is not None:
        if isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap):
            return base if base.filename is not None else None
        base = getattr(base, "base", None)
    return None


def writable(arr):
    """``arr`` itself when writable, else a writable view without a copy, else a copy.

    Read-only memory maps are mapped again copy-on-write (mode ``"c"``): the same file
    pages, no copy, and writes (never made by skclip) would stay private. Other
    read-only arrays (a shared cache, ``np.broadcast_to``) are copied.
    """
    if arr.flags.writeable:
        return arr
    top = _file_map(arr)
    if top is not None:
        start = arr.__array_interface__["data"][0] - top.__array_interface__["data"][0]
        cow = np.memmap(top.filename, dtype=np.uint8, mode="c", offset=top.offset,
                        shape=(top.nbytes,))
        view = np.ndarray(arr.shape, dtype=arr.dtype, buffer=cow, offset=start,
                          strides=arr.strides)
        if view.flags.writeable:
            return view
    return np.array(arr)


def to_tensor(X, device=None, dtype=None):
    """A torch tensor of the array ``X`` on ``device`` in its compute dtype.

    No copy for a C-contiguous float32/float64 array on the CPU (read-only memory maps
    included, see :func:`writable`); the dtype conversion or the device transfer is the
    only copy otherwise. ``dtype`` (numpy or torch) overrides :func:`compute_dtype`.
    """
    import torch

    arr = np.asarray(X)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
    if dtype is None:
        target = compute_dtype(arr.dtype)
    elif isinstance(dtype, torch.dtype):
        target = np.dtype(str(dtype).replace("torch.", ""))
    else:
        target = np.dtype(dtype)
    if arr.dtype != target or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=target)  # the one copy, now writable
    else:
        arr = writable(arr)
    t = torch.from_numpy(arr)
    return t if device is None else t.to(device)


def _unit_tolerance(dtype):
    return 1e-6 if np.dtype(dtype) == np.float32 else 1e-12


def unit_rows(X, block_rows=2**16):
    """Rows of the float array ``X`` scaled to unit norm; ``X`` itself if they are.

    Rows already of unit norm (CLIP features as skclip and most tools write them) are
    not copied, which keeps a memory-mapped input on disk; the norms are computed in
    blocks. Otherwise a normalised copy is returned (zero rows stay zero). The result
    is always writable (see :func:`writable`).
    """
    tol = _unit_tolerance(X.dtype)
    unit = True
    for start in range(0, X.shape[0], block_rows):
        block = X[start : start + block_rows]
        if np.abs(np.sqrt(np.einsum("ij,ij->i", block, block)) - 1.0).max(initial=0) > tol:
            unit = False
            break
    if unit:
        return writable(X)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]  # no n x d temporary
    return X / np.maximum(norms, np.finfo(X.dtype).tiny)
