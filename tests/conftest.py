"""Shared fixtures: tiny random open_clip models, offline assets, strict-CI switches.

``SKCLIP_STRICT=1`` (set by ``.ci/run``) turns "skip because WordNet or Chromium is
missing" into a failure, so CI can never pass by skipping them.
"""

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


def skip_or_fail(reason):
    """Skip locally, fail under SKCLIP_STRICT=1 (CI)."""
    if STRICT:
        pytest.fail(f"{reason} (SKCLIP_STRICT=1: CI must not skip this)")
    pytest.skip(reason)


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
    except (LookupError, OSError) as exc:
        skip_or_fail(f"WordNet 3.0 is not installed: {exc}")


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
