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
import sys

import numpy as np


def compute_dtype(dtype):
    """The numpy dtype that data of ``dtype`` (numpy or torch) is computed in (see the module
    docstring)."""
    if _is_torch_dtype(dtype):
        if str(dtype) == "torch.float64":
            return np.dtype(np.float64)
        return np.dtype(np.float32 if dtype.is_floating_point else np.float64)
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype == np.float16 or dtype.name == "bfloat16":
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _is_torch_dtype(dtype):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(dtype, torch.dtype)


def _is_tensor(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


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


def numeric_2d(X, name="X"):
    """``X`` checked (numeric, 2-D) but not converted: the tensor itself, or a numpy view
    (no copy; a memory map stays on disk, to be read block by block)."""
    if _is_tensor(X):
        arr = X
    else:
        arr = np.asarray(X)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                         f"{tuple(arr.shape)}")
    return arr


def check_finite(x, name):
    """Raise ValueError when the array or tensor ``x`` holds NaN or infinity."""
    # a sum propagates NaN/inf in one fast pass; recheck exactly only if it overflowed
    if isinstance(x, np.ndarray):
        if x.size and not np.isfinite(x.sum()) and not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return
    import torch

    if x.numel() and not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinity")


def as_tensor(x, name, device=None, *, dtype=None, ndim=None):
    """``x`` (array-like or tensor) as a finite float tensor on ``device``: the one
    conversion of the library's numpy/torch entry points.

    numpy input goes through :func:`to_tensor` (no copy where the dtype and layout
    allow, read-only arrays and memory maps included); a tensor is moved and cast.

    Parameters
    ----------
    x : array-like or torch.Tensor
    name : str
        Named in the error messages.
    device : str, torch.device or None, default=None
        None leaves a tensor where it is and puts numpy input on the CPU.
    dtype : numpy or torch dtype, default=None
        None: the compute dtype of ``x`` (:func:`compute_dtype`).
    ndim : int or None, default=None
        Required number of dimensions.

    Returns
    -------
    tensor : torch.Tensor

    Raises
    ------
    TypeError
        For a non-numeric array.
    ValueError
        For another number of dimensions than ``ndim``, or NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip._arrays import as_tensor
    >>> as_tensor(np.arange(3), "x").dtype
    torch.float64
    >>> as_tensor(np.ones((2, 2), dtype=np.float16), "x", ndim=2).dtype
    torch.float32
    """
    import torch

    if isinstance(x, torch.Tensor):
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
        if dtype is None:
            dtype = getattr(torch, compute_dtype(x.dtype).name)
        elif not isinstance(dtype, torch.dtype):
            dtype = getattr(torch, np.dtype(dtype).name)
        x = x.to(device=device, dtype=dtype)
    else:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        if ndim is not None and arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(arr.shape)}")
        x = to_tensor(arr, device, dtype=dtype)
    check_finite(x, name)
    return x


def _unit_tolerance(dtype):
    return 1e-6 if str(dtype).endswith("float32") else 1e-12


def unit_rows(X, *, tol="auto", floor=None, summation="einsum", out=None, block_rows=2**16):
    """Rows of the float array or tensor ``X`` scaled to unit L2 norm: the library's one
    row normaliser.

    numpy in, numpy out; torch in, torch out. Zero rows stay zero.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n, d)
        Float rows (numpy with ``summation="norm"`` also takes one row of shape (d,)).
    tol : "auto", float or None, default="auto"
        When every row's norm is within ``tol`` of 1, ``X`` itself is returned, not
        a copy (CLIP features as skclip and most tools write them: a memory-mapped
        input stays on disk; numpy norms are then checked in blocks of ``block_rows``
        and the result is made writable, see :func:`writable`). "auto": 1e-6 in
        float32, 1e-12 otherwise. None: always divide.
    floor : float or None, default=None
        Norms are clamped below at ``floor`` before the division; None: the smallest
        normal number of the dtype.
    summation : {"einsum", "norm"}, default="einsum"
        How numpy sums the squares: ``np.einsum`` (no n x d temporary) or
        ``np.linalg.norm``. They agree to rounding, not bit for bit; each caller keeps
        the one its stored results were made with.
    out : ndarray or None, default=None
        numpy only: divide into ``out`` (may be ``X``: in place, no second n x d array).
    block_rows : int, default=65536
        Rows per block of the numpy check of ``tol``.

    Returns
    -------
    X_unit : ndarray or torch.Tensor of the shape and dtype of ``X``

    Examples
    --------
    >>> import numpy as np
    >>> from skclip._arrays import unit_rows
    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    >>> X = np.array([[1.0, 0.0]])
    >>> unit_rows(X) is X
    True
    """
    if _is_tensor(X):
        import torch

        norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
        if tol is not None:
            tol = _unit_tolerance(X.dtype) if tol == "auto" else tol
            if bool(((norms - 1.0).abs() <= tol).all()):
                return X
        return X / norms.clamp_min(torch.finfo(X.dtype).tiny if floor is None else floor)
    if tol is not None:
        tol = _unit_tolerance(X.dtype) if tol == "auto" else tol
        unit = True
        for start in range(0, X.shape[0], block_rows):
            block = X[start : start + block_rows]
            if np.abs(np.sqrt(np.einsum("ij,ij->i", block, block)) - 1.0).max(initial=0) > tol:
                unit = False
                break
        if unit:
            return writable(X)
    if summation == "einsum":
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]  # no n x d temporary
    elif summation == "norm":
        norms = np.linalg.norm(X, axis=-1, keepdims=True)
    else:
        raise ValueError(f"summation must be 'einsum' or 'norm', got {summation!r}")
    return np.divide(X, np.maximum(norms, np.finfo(X.dtype).tiny if floor is None else floor),
                     out=out)
