"""Shared fixtures: tiny random open_clip models, offline assets, strict-CI switches.

``SKCLIP_STRICT=1`` (set by ``.ci/run``) turns "skip because WordNet, Chromium or an
optional extra is missing" into a failure, so CI can never pass by skipping them.

Optional extras (``pip install -e ".[test]"`` alone must pass the test suite):

* a test that needs one says so with ``@pytest.mark.requires("faiss")`` (module names,
  see ``EXTRAS``); it is skipped, naming the extra to install, when one is missing;
* a doctest cannot be marked: one that fails only because an optional module of
  ``EXTRAS`` is not installed, or because WordNet is not, is reported as skipped
  instead (the repository's top-level ``conftest.py``, whose hooks also reach the
  doctests of ``skclip/``). With the extra installed it runs.
"""

import functools
import importlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

TINY_MODEL = "skclip-tiny-test"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

STRICT = os.environ.get("SKCLIP_STRICT", "") not in ("", "0")


# An optional module (top-level name) -> the extra of pyproject.toml that installs it.
EXTRAS = {
    "faiss": "faiss",
    "ray": "scale",
    "pyarrow": "scale",
    "dask": "scale",
    "distributed": "scale",
    "matplotlib": "docs",
}

WORDNET_MISSING = ("needs WordNet 3.0: sudo apt-get install -y wordnet-base wordnet-sense-index, "
                   "or python -m nltk.downloader wordnet")


def skip_or_fail(reason):
    """Skip locally, fail under SKCLIP_STRICT=1 (CI)."""
    if STRICT:
        pytest.fail(f"{reason} (SKCLIP_STRICT=1: CI must not skip this)")
    pytest.skip(reason)


@functools.lru_cache(maxsize=None)
def missing_extra(module):
    """The one-line reason when optional ``module`` cannot be imported, else None."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS[module.partition(".")[0]]
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        return f"needs {module} (pip install -e '.[{extra}]'): {detail}"
    return None


def require(*modules):
    """Import optional ``modules`` or skip (fail under SKCLIP_STRICT=1), naming the extra."""
    for module in modules:
        reason = missing_extra(module)
        if reason is not None:
            skip_or_fail(reason)


@pytest.fixture(scope="session")
def tiny_model_name(tmp_path_factory):
    """Register a tiny open_clip config (random weights, milliseconds a batch)."""
    import open_clip

    path = tmp_path_factory.mktemp("openclip_cfg") / f"{TINY_MODEL}.json"
    path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(path)
    return TINY_MODEL


@pytest.fixture(scope="session")
def assets_dir():
    """The offline assets folder (SKCLIP_ASSETS, else an assets folder beside the repo)."""
    env = os.environ.get("SKCLIP_ASSETS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "assets")
    for cand in candidates:
        if cand.is_dir():
            return cand
    # The assets are not part of the project; their absence is a skip even in CI.
    pytest.skip("offline assets not found: set SKCLIP_ASSETS=/path/to/assets")


@pytest.fixture(scope="session")
def wordnet():
    """The WordNet corpus reader (nltk data or Debian's /usr/share/wordnet)."""
    from skclip.semantic import load_wordnet

    try:
        return load_wordnet()
    except LookupError:
        skip_or_fail(WORDNET_MISSING)
    except OSError as exc:
        skip_or_fail(f"WordNet 3.0 cannot be read: {exc}")


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(autouse=True)
def _random_weights_notice_per_test():
    """The random-weights notice is given once per process; tests each see it afresh."""
    import sys

    embedder = sys.modules.get("skclip.embed._embedder")  # not imported: nothing to reset
    if embedder is not None:
        embedder._RANDOM_WEIGHTS_WARNED.clear()


def pytest_configure(config):
    """Point SKCLIP_CACHE at a temporary folder for the whole session.

    Set here rather than in a fixture so that session-scoped fixtures (the WordNet
    copy) never write to the user's ~/.cache. An SKCLIP_CACHE set by the caller (CI
    sets a fresh folder) is respected.
    """
    if not os.environ.get("SKCLIP_CACHE"):
        os.environ["SKCLIP_CACHE"] = tempfile.mkdtemp(prefix="skclip-test-cache-")


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.requires("faiss", ...)``: skip the test when one is missing."""
    if STRICT:
        return  # pytest_runtest_setup fails them instead
    for item in items:
        for mark in item.iter_markers("requires"):
            reasons = [r for r in map(missing_extra, mark.args) if r is not None]
            if reasons:
                item.add_marker(pytest.mark.skip(reason=reasons[0]))


def pytest_runtest_setup(item):
    """Under SKCLIP_STRICT=1 a test whose ``requires`` module is missing fails."""
    for mark in item.iter_markers("requires"):
        require(*mark.args)

