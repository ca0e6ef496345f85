"""Loading open_clip models once per process.

Every CLIP model the library touches goes through :func:`load_clip`, so an embedder
and a semantic space naming the same model share one copy in memory. Estimators never
hold the model themselves: they look it up here on each call, which keeps their
pickles small and lets an unpickled estimator reload lazily on its new machine.
"""

import logging
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
from typing import Any, Callable, NamedTuple

import torch

from .._config import resolve_device
from ..exceptions import UnknownModelError, UnknownWeightsError, WeightsUnavailableError

__all__ = ["LoadedCLIP", "load_clip", "clear_model_cache", "embedding_dim", "resolve_precision",
           "native_bf16_cpu"]

_CACHE = {}
_LOCK = threading.RLock()
_REGISTERED_CONFIGS = {}  # absolute path -> (mtime_ns, registered name)

_PRECISIONS = ("fp32", "fp16", "bf16")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")


class LoadedCLIP(NamedTuple):
    """What :func:`load_clip` returns; unpacks as ``model, preprocess, tokenizer``."""

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]


def resolve_precision(precision, device):
    """Return the concrete precision (``"fp32"``, ``"fp16"`` or ``"bf16"``).

    ``"auto"`` means fp32 on CPU, and bf16 on a GPU that supports it (else fp16).
    """
    if precision in _PRECISIONS:
        return precision
    if precision not in (None, "auto"):
        raise ValueError(f"precision must be 'auto' or one of {_PRECISIONS}, got {precision!r}.")
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def native_bf16_cpu():
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), per oneDNN."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _model_name(model):
    """The open_clip name of ``model``, registering it first when it is a JSON config."""
    import open_clip

    model = os.fspath(model)
    if not model.lower().endswith(".json"):
        if ":" in model or model in open_clip.list_models():
            return model, model  # hf-hub:/local-dir: schemas are open_clip's business
        match = _suggest(model, open_clip.list_models())
        hint = f" (did you mean {match!r}?)" if match else ""
        raise UnknownModelError(
            f"unknown open_clip model {model!r}{hint}; the names are listed by "
            "open_clip.list_models(), or give the path of an open_clip JSON model config.",
            suggestion=match)
    path = Path(model).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"model config file not found: {path}")
    mtime = path.stat().st_mtime_ns
    with _LOCK:
        if _REGISTERED_CONFIGS.get(str(path), (None,))[0] != mtime:
            open_clip.add_model_config(path)
            if path.stem not in open_clip.list_models():
                raise ValueError(
                    f"{path} is not an open_clip model config (it needs the keys "
                    "'embed_dim', 'vision_cfg' and 'text_cfg')."
                )
            _REGISTERED_CONFIGS[str(path)] = (mtime, path.stem)
    return path.stem, f"{path}@{mtime}"


def _pretrained_source(name, pretrained):
    """Check ``pretrained`` and return ``(value for open_clip, cache key part)``."""
    import open_clip

    if pretrained is None:
        return None, None
    pretrained = os.fspath(pretrained)
    path = Path(pretrained).expanduser()
    if path.is_file():
        resolved = path.resolve()
        return str(resolved), f"{resolved}@{resolved.stat().st_mtime_ns}"
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained in tags or ":" in name:
        return pretrained, pretrained
    if os.sep in pretrained or pretrained.lower().endswith(_CHECKPOINT_SUFFIXES):
        raise ValueError(f"checkpoint file not found: {path}")
    raise UnknownWeightsError(name, pretrained, tags)


def _suggest(name, known):
    """The known name that ``name`` nearly is (another case, a typo), or None."""
    import difflib

    folded = {k.lower(): k for k in known}
    return folded.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, known, n=1, cutoff=0.8)), None)


class _DropRandomInitNotice(logging.Filter):
    # open_clip logs these on the root logger: random weights are asked for explicitly
    # here, and a failed download is re-raised below with a message that says what to do.
    def filter(self, record):
        message = record.getMessage()
        return ("No pretrained weights loaded" not in message
                and "Failed to download weights" not in message)


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _hub_reachable(timeout=3.0):
    """Whether the Hugging Face hub accepts a connection (a few seconds at most).

    Behind a proxy the hub client is trusted to know better (True).
    """
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextmanager
def _offline_unless_reachable():
    """Hub calls in offline mode when the hub cannot be reached.

    Without network the hub client retries for about a minute before giving up; in
    offline mode it answers at once: the cached weights, or an error we re-raise with
    the offline options.
    """
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    if constants.HF_HUB_OFFLINE or _hub_reachable():
        yield
        return
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = False


def _create(name, pretrained, device, precision, cache_dir):
    import open_clip

    notice = _DropRandomInitNotice()
    logging.getLogger().addFilter(notice)
    is_tag = pretrained is not None and not os.path.isfile(pretrained)
    try:
        with _offline_unless_reachable() if is_tag else _nothing():
            if is_tag:  # fetch (or find) the weights before building the model
                _fetch_weights(name, pretrained, cache_dir)
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=device, precision=precision,
                cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            )
    except (RuntimeError, AssertionError, KeyError) as exc:
        if pretrained is None:
            raise
        if os.path.isfile(pretrained):
            raise ValueError(
                f"the checkpoint {pretrained} does not fit the model {name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        raise WeightsUnavailableError(name, pretrained, str(exc)) from exc
    finally:
        logging.getLogger().removeFilter(notice)
    model.eval()
    model.requires_grad_(False)
    return LoadedCLIP(model, preprocess, open_clip.get_tokenizer(name))


@contextmanager
def _nothing():
    yield


def _fetch_weights(name, tag, cache_dir):
    """Download (or find in the hub cache) the weights of an open_clip tag.

    Done before the model is built, so that a missing download fails in seconds.
    """
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    cfg = get_pretrained_cfg(name, tag)
    if not cfg:
        return
    try:
        download_pretrained(cfg, cache_dir=None if cache_dir is None else os.fspath(cache_dir))
    except (OSError, RuntimeError, ValueError) as exc:  # FileNotFoundError, hub errors
        raise RuntimeError(f"Failed to download weights for tag {tag!r}: {exc}") from exc


def load_clip(model="ViT-B-32", pretrained="openai", device="auto", precision="auto", *,
              cache_dir=None):
    """Load an open_clip model once per process and return it from memory afterwards.

    Parameters
    ----------
    model : str or path-like, default="ViT-B-32"
        An open_clip model name (``open_clip.list_models()``), an ``hf-hub:`` or
        ``local-dir:`` identifier, or the path of an open_clip JSON model config
        (registered with ``open_clip.add_model_config``; its file stem becomes the name).
    pretrained : str, path-like or None, default="openai"
        An open_clip pretrained tag, the path of a local checkpoint, or None for random
        weights.
    device : str or torch.device, default="auto"
        Resolved with :func:`skclip._config.resolve_device`.
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        ``"auto"`` is fp32 on CPU and bf16 (else fp16) on a GPU. A reduced precision
        asked for after fp32 rounds the fp32 model already in memory: with random
        weights (``pretrained=None``) the same draw instead of a new one, with a
        checkpoint the same values without reading it again.
    cache_dir : str or path-like, default=None
        Where open_clip downloads pretrained weights; None keeps its default (the
        Hugging Face cache). Not part of the cache key.

    Returns
    -------
    loaded : LoadedCLIP
        ``(model, preprocess, tokenizer)``: the model in eval mode without gradients,
        the image transform (PIL image -> tensor) and the tokenizer. Shared: do not
        modify the model in place.

    Examples
    --------
    >>> from skclip.embed import load_clip
    >>> model, preprocess, tokenizer = load_clip("ViT-B-32", pretrained=None, device="cpu")
    >>> load_clip("ViT-B-32", pretrained=None, device="cpu").model is model
    True
    """
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    name, model_key = _model_name(model)
    source, pretrained_key = _pretrained_source(name, pretrained)
    key = (model_key, pretrained_key, str(dev), prec)
    with _LOCK:
        if key not in _CACHE:
            base = _CACHE.get(key[:3] + ("fp32",))
            if prec != "fp32" and base is not None:
                # round the float32 model in memory (the same values open_clip's reduced
                # precision gives; random weights are drawn anew on each creation, and a
                # checkpoint need not be read and built twice)
                _CACHE[key] = _rounded_copy(base, prec)
            else:
                _CACHE[key] = _create(name, source, dev, prec, cache_dir)
        return _CACHE[key]


def _rounded_copy(loaded, precision):
    """``loaded`` with its weights rounded as open_clip's ``precision`` option rounds them."""
    import copy

    from open_clip.model import convert_weights_to_lp

    model = copy.deepcopy(loaded.model)
    model.__dict__.pop("_skclip_weights_token", None)  # other weights, other text-cache keys
    convert_weights_to_lp(model, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return LoadedCLIP(model, loaded.preprocess, loaded.tokenizer)


def embedding_dim(loaded):
    """Output dimension of a loaded CLIP model (image and text share it)."""
    model = loaded.model
    dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if isinstance(dim, int):
        return dim
    device = next(model.parameters()).device
    with torch.inference_mode():
        return int(model.encode_text(loaded.tokenizer([""]).to(device)).shape[-1])


def clear_model_cache():
    """Forget every model loaded by :func:`load_clip` (frees their memory).

    Examples
    --------
    >>> from skclip.embed import clear_model_cache
    >>> clear_model_cache()
    """
    with _LOCK:
        _CACHE.clear()


def _cache_size():
    return len(_CACHE)
