"""Kernel helpers shared by the solvers of :mod:`skclip.ot`.

The entropic kernel ``exp(-C/eps + ...)`` is built in log units and exponentiated by
:func:`flushed_exp_`, which flushes entries too small to count to zero (subnormal
floats slow every later product). Column sums over many rows are accumulated in
float64 (:func:`colsum`): float32 rounding would otherwise put a floor of ~1e-6 under
the reachable marginal error. ``TAU`` bounds the drift of the scalings between two
rebuilds of a stored kernel.
"""

import math

# Scalings may drift by at most exp(TAU) from their value at the last kernel rebuild.
# Kernel entries are <= 1 after a rebuild, so exp(2 * TAU) must stay far from overflow,
# and entries lost to underflow (< ~1e-38 in float32) stay negligible after scaling.
TAU = {4: 15.0, 8: 50.0}

# Log-kernel entries below these are flushed to 0: just above the smallest normal
# float (e^-87 in float32, e^-708 in float64), and far enough below 1 that the scaling
# drift allowed by TAU (e^+-15, e^+-50) can never make a flushed entry count.
LOG_FLUSH = {4: -87.0, 8: -700.0}


def flushed_exp_(out):
    """In-place ``exp`` of log-kernel entries (all <= 0), flushing subnormals to 0.

    At eps = 0.01 most entries of exp(-C/eps) underflow to subnormal floats, which
    make every later matrix product on x86 CPUs 5-13x slower; entries that small
    change no row or column sum at working precision.
    """
    import torch

    torch.nn.functional.threshold_(out, LOG_FLUSH.get(out.element_size(), -87.0), -math.inf)
    return out.exp_()


def colsum(K, w, chunk=2048):
    """``K^T w`` with float64 accumulation across row chunks.

    A float32 sum over hundreds of thousands of rows drifts by ~1e-6 relative, which
    would put a floor under the reachable marginal error; chunking costs no extra pass.
    """
    import torch

    n = K.shape[0]
    if K.dtype == torch.float64 or n <= chunk:
        return torch.mv(K.t(), w)
    acc = torch.zeros(K.shape[1], dtype=torch.float64, device=K.device)
    for i in range(0, n, chunk):
        acc += torch.mv(K[i : i + chunk].t(), w[i : i + chunk])
    return acc.to(K.dtype)


def progress(verbose, max_iter):
    from tqdm.auto import tqdm

    return tqdm(total=max_iter, desc="sinkhorn", disable=not verbose, leave=False)
