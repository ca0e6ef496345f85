"""The caption corpus shipped with skclip and its two-stage encoding."""

import numpy as np
import pytest

from skclip.semantic import SemanticSpaceBuilder, packaged_captions, read_captions
from skclip.semantic import _candidates, _captions, _sources, _text_cache
from skclip.semantic._text_cache import unit_rows
from tests.semantic.test_candidates import DIM, BagOfWordsEncoder, NoisyTwin


@pytest.fixture(autouse=True)
def _fresh():
    _text_cache.clear_memory_cache()
    yield
    _text_cache.clear_memory_cache()


def test_shipped_corpus_is_deduplicated_and_read_by_name():
    caps = packaged_captions("coco")
    assert len(caps) == 5000
    keys = [c.lower().rstrip(". ").strip() for c in caps]
    assert len(set(keys)) == len(caps) and all(keys)
    assert read_captions("coco") == caps
    with pytest.raises(ValueError, match="shipped"):
        packaged_captions("flickr")
    with pytest.raises(ValueError, match="images="):
        read_captions("coco", images=["a.jpg"])


def _slice(monkeypatch, n=400):
    """Offline tests use a small slice of the shipped corpus."""
    caps = packaged_captions("coco")[:n]
    monkeypatch.setattr(_captions, "packaged_captions", lambda name="coco": list(caps))
    return caps


def _images(enc, caps, rng, n=120):
    anchors = enc.encode_text(caps[:3])
    X = np.repeat(anchors, n // 3, axis=0) + 0.3 * rng.standard_normal((n, DIM))
    enc.prompts.clear()
    return X.astype(np.float32)


@pytest.mark.parametrize("noise", [1e-4, 2e-2])
def test_captions_in_two_stages_give_the_exact_selection(noise, rng, monkeypatch):
    caps = _slice(monkeypatch)
    enc, twin = BagOfWordsEncoder(), NoisyTwin(noise)
    X = _images(enc, caps, rng)
    common = dict(vocabulary=["dog", "cat", "car", "tree"], captions="coco", n_centers=3,
                  topk_nouns=1, topk_captions=5, cache=False, random_state=0)
    exact = SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    assert sum(p in set(caps) for p in enc.prompts) == len(caps)  # one stage: all exact
    enc.prompts.clear()
    monkeypatch.setattr(_candidates, "ranking_encoder", lambda e: twin)
    monkeypatch.setattr(_sources, "TWO_STAGE_MIN_CAPTIONS", 100)
    fast = SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    assert fast.captions_ == exact.captions_ and len(fast.captions_) >= 5
    np.testing.assert_allclose(fast.caption_embeddings_, exact.caption_embeddings_, atol=1e-6)
    np.testing.assert_allclose(fast.caption_scores_, exact.caption_scores_, atol=1e-6)
    assert len(twin.prompts) >= len(caps)  # every caption ranked by the twin
    n_exact_caps = sum(p in set(caps) for p in enc.prompts)
    assert len(fast.captions_) <= n_exact_caps < len(caps)  # only those near the selection
    # a corpus below the threshold is encoded once, exactly, whatever the encoder
    monkeypatch.setattr(_sources, "TWO_STAGE_MIN_CAPTIONS", len(caps) + 1)
    twin.prompts.clear()
    SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    assert not any(p in set(caps) for p in twin.prompts)


def test_cae_default_space_uses_the_shipped_captions_unless_turned_off():
    from skclip.cluster import CAEClustering

    assert CAEClustering(n_clusters=3)._default_semantic_space().captions == "coco"
    off = CAEClustering(n_clusters=3, use_captions=False)._default_semantic_space()
    assert off.captions is None
    from skclip.cluster import MCAClustering, TACClustering

    for cls in (MCAClustering, TACClustering):  # their defaults are unchanged
        assert cls(n_clusters=3)._default_semantic_space().captions is None


def test_shipped_captions_reach_cae(rng, monkeypatch):
    from skclip.cluster import CAEClustering

    caps = _slice(monkeypatch, 200)
    enc = BagOfWordsEncoder()
    X = _images(enc, caps, rng, n=150)
    space = SemanticSpaceBuilder(embedder=enc, vocabulary=["dog", "cat", "car", "tree", "sky"],
                                 captions="coco", topk_nouns=1, topk_captions=3, cache=False,
                                 random_state=0)
    cae = CAEClustering(n_clusters=3, semantic_space=space, kmeans_n_init=2, random_state=0,
                        device="cpu").fit(X)
    assert cae.modalities_ == ["image", "nouns", "captions"]
    assert set(cae.captions_) <= set(caps) and len(cae.captions_) >= 3
    assert np.isfinite(cae.transform(X)).all()
    np.testing.assert_allclose(np.linalg.norm(cae.caption_embeddings_, axis=1), 1, atol=1e-5)
    assert unit_rows(cae.caption_embeddings_).shape[1] == DIM
