"""Fixtures shared by the command-line tests."""

import pytest


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_model_name):
    """A checkpoint of the tiny model with fixed random weights, saved as a user would
    keep one for offline use (``--pretrained PATH``): the same embeddings in every run,
    and cached ones."""
    import open_clip
    import torch

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), path)
    return path
