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
    """A ``torch.Generator`` on ``device`` seeded from ``random_state``.

    Seeding goes through :func:`sklearn.utils.check_random_state`, so an int, a
    ``RandomState`` or ``None`` behave as in scikit-learn. The global torch seed is
    never touched.
    """
    import torch

    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    gen = torch.Generator(device=resolve_device(device))
    gen.manual_seed(seed)
    return gen
