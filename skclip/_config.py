"""Process-wide configuration: device resolution, cache directory, torch seeding."""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

_DEFAULT_CACHE = Path("~/.cache/skclip")


def resolve_device(device="auto"):
    """Return the ``torch.device`` that ``device`` names, resolving ``"auto"`` now.

    ``"auto"`` picks CUDA when a GPU is visible, else the CPU. The caller must not
    write the result back to an estimator parameter: a fitted estimator moved to
    another machine resolves ``"auto"`` again there.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or device='cpu'."
        )
    return dev


def get_cache_dir(cache_dir=None, *, create=True):
    """Return the skclip cache directory.

    Order: the ``cache_dir`` argument, the ``SKCLIP_CACHE`` environment variable,
    then ``~/.cache/skclip``.
    """
    path = cache_dir if cache_dir is not None else os.environ.get("SKCLIP_CACHE")
    path = Path(path).expanduser() if path else _DEFAULT_CACHE.expanduser()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def torch_generator(random_state, device="cpu"):
    """A CPU ``torch.Generator`` seeded from ``random_state``.

    Every random draw of skclip (k-means seeds and restarts, subsamples, shuffles,
    neighbour picks) is made on the CPU with such a generator and the result moved
    to the compute device afterwards: CPU and CUDA generators give different
    streams, so this is what makes the same ``random_state`` give the same draws on
    every device. Seeding goes through :func:`sklearn.utils.check_random_state`, so
    an int, a ``RandomState`` or ``None`` behave as in scikit-learn. The global torch
    seed is never touched.

    Parameters
    ----------
    random_state : int, RandomState instance or None
    device : str or torch.device, default="cpu"
        Must name the CPU; present so that a caller cannot silently get a generator
        on another device.

    Returns
    -------
    generator : torch.Generator
        On the CPU.

    Examples
    --------
    >>> from skclip._config import torch_generator
    >>> torch_generator(0).device.type
    'cpu'
    """
    import torch

    if torch.device(device).type != "cpu":
        raise ValueError(
            f"torch_generator draws on the CPU only (got device={device!r}): draw there "
            "and move the result, so that results do not depend on the device."
        )
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen
