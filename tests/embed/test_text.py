"""Fast text encoding: truncated context must equal open_clip's full-context encode_text."""

import json

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from skclip.embed import CLIPEmbedder, load_clip
from skclip.embed import _text
from skclip.embed._text import encode_texts, supports_truncation

pytestmark = pytest.mark.filterwarnings("ignore:CLIPEmbedder.*random weights:UserWarning")

CPU = torch.device("cpu")

TEXTS = [
    "a photo of a dog.",
    "",
    "a photo of a golden retriever.",
    "cat",
    "a blurry photo of a hot-air balloon over the mountains at dawn, seen from far away.",  # > 16
    "a photo of a dog.",
    "an origami crane",
    "été, façade, naïve",
    "a photo of a chrysanthemum.",
]


def reference(model, tokenizer, texts):
    with torch.inference_mode():
        return F.normalize(model.encode_text(tokenizer(texts)), dim=-1).numpy()


@pytest.fixture(scope="module")
def pool_variants(tiny_model_name, tmp_path_factory):
    """Tiny configs with each text pooling of open_clip's CLIP tower."""
    from tests.conftest import TINY_CONFIG

    names = {"argmax": tiny_model_name}
    folder = tmp_path_factory.mktemp("pool_configs")
    for pool in ("eos", "first", "last"):
        text_cfg = dict(TINY_CONFIG["text_cfg"], pool_type=pool, eos_id=49407)
        path = folder / f"skclip-tiny-pool-{pool}.json"
        path.write_text(json.dumps(dict(TINY_CONFIG, text_cfg=text_cfg)))
        open_clip.add_model_config(path)
        names[pool] = path.stem
    return names


@pytest.mark.parametrize("pool", ["argmax", "eos", "first"])
def test_truncated_equals_encode_text(pool_variants, pool):
    model, _, tokenizer = load_clip(pool_variants[pool], None, CPU)
    assert model.text_pool_type == pool and supports_truncation(model)
    fast = encode_texts(model, tokenizer, TEXTS, device=CPU, batch_size=2)
    assert fast.dtype == np.float32 and fast.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(fast, reference(model, tokenizer, TEXTS), atol=1e-4, rtol=0)
    np.testing.assert_allclose(fast[0], fast[5], atol=1e-6)  # duplicates, wherever their batch


SHORT = ["a dog", "a photo of a dog.", "cat", "a b"]  # 4, 8, 3, 4 tokens with <start>, <end>


def _recorded_shapes(module, model, tokenizer, texts, batch_size=1):
    seen = []
    hook = module.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[:2])))
    try:
        out = encode_texts(model, tokenizer, texts, device=CPU, batch_size=batch_size)
    finally:
        hook.remove()
    np.testing.assert_allclose(out, reference(model, tokenizer, texts), atol=1e-4, rtol=0)
    return seen


def test_batches_are_sorted_and_cut_to_their_longest_text(tiny_model_name, monkeypatch):
    model, _, tokenizer = load_clip(tiny_model_name, None, CPU)
    monkeypatch.setattr(_text, "_standard_blocks", lambda model: False)  # level 1 only
    seen = _recorded_shapes(model.transformer, model, tokenizer, SHORT)
    # sorted by length; <= 16 tokens a batch (batch_size=1 text at the 16-token context),
    # each cut to its longest text
    assert seen == [(3, 4), (1, 8)]


def test_shared_prefix_is_encoded_once(tiny_model_name):
    model, _, tokenizer = load_clip(tiny_model_name, None, CPU)
    first_block = model.transformer.resblocks[0].ln_1
    seen = _recorded_shapes(first_block, model, tokenizer, SHORT)
    # each batch: its shared prefix once (1 row), then the rows from there on:
    # ["cat", "a b", "a dog"] share <start>; "a photo of a dog." alone: 7 tokens | <end>
    assert seen == [(1, 1), (3, 3), (1, 7), (1, 1)]
    template = [f"a photo of a {w}." for w in ("dog", "cat", "bird", "truck")]
    seen = _recorded_shapes(first_block, model, tokenizer, template, batch_size=1)
    # "<start> a photo of a" once for both batches, then "{w} . <end>"
    assert seen == [(1, 5), (2, 3), (2, 3)]


def test_batches_trade_padding_against_passes():
    lengths = [3, 3, 4, 4, 4, 4, 9, 16]
    # free passes: never pad; a length group is split evenly to fit the token budget
    assert list(_text._batches(lengths, 12, overhead=0)) == [(0, 2), (2, 4), (4, 6), (6, 7), (7, 8)]
    # expensive passes and room: one padded batch
    assert list(_text._batches(lengths, 1000, overhead=1000)) == [(0, 8)]
    # in between: the short texts share a batch, the long ones are not worth padding to
    assert list(_text._batches(lengths, 1000, overhead=5)) == [(0, 6), (6, 7), (7, 8)]
    for budget in (5, 16, 40):
        batches = list(_text._batches(lengths, budget))
        assert [i for b in batches for i in range(*b)] == list(range(len(lengths)))
        assert all(stop - start == 1 or (stop - start) * lengths[stop - 1] <= budget
                   for start, stop in batches)


def test_order_kept_across_tokenizer_chunks(tiny_model_name, monkeypatch):
    model, _, tokenizer = load_clip(tiny_model_name, None, CPU)
    monkeypatch.setattr(_text, "_TOKENIZE_CHUNK", 4)
    fast = encode_texts(model, tokenizer, TEXTS, device=CPU, batch_size=3)
    np.testing.assert_allclose(fast, reference(model, tokenizer, TEXTS), atol=1e-4, rtol=0)


def test_untruncatable_towers_fall_back(pool_variants):
    model, _, tokenizer = load_clip(pool_variants["last"], None, CPU)
    assert not supports_truncation(model)
    out = encode_texts(model, tokenizer, TEXTS, device=CPU, batch_size=4)
    np.testing.assert_allclose(out, reference(model, tokenizer, TEXTS), atol=1e-6, rtol=0)

    custom = open_clip.create_model(pool_variants["argmax"], force_custom_text=True).eval()
    assert hasattr(custom, "text") and not supports_truncation(custom)
    out = encode_texts(custom, tokenizer, TEXTS, device=CPU, batch_size=4)
    np.testing.assert_allclose(out, reference(custom, tokenizer, TEXTS), atol=1e-6, rtol=0)


def test_embedder_encode_text(tiny_model_name):
    emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    model, _, tokenizer = load_clip(tiny_model_name, None, CPU)
    out = emb.encode_text(TEXTS)
    np.testing.assert_allclose(out, reference(model, tokenizer, TEXTS), atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert emb.encode_text([]).shape == (0, 32)
    assert emb.encode_text(t for t in TEXTS[:2]).shape == (2, 32)
    with pytest.raises(TypeError, match="single string"):
        emb.encode_text("a photo of a dog.")
    with pytest.raises(TypeError, match="must all be str"):
        emb.encode_text(["a dog", 3])


def test_vit_b_32_truncated_equals_encode_text():
    """The real ViT-B-32 text tower (77 tokens, 12 layers), random weights."""
    model, _, tokenizer = load_clip("ViT-B-32", None, CPU)
    texts = [f"a photo of a {noun}." for noun in ("dog", "tabby cat", "sea anemone", "x")]
    texts += ["", "a bad photo of the espresso machine in a small kitchen."]
    fast = encode_texts(model, tokenizer, texts, device=CPU, batch_size=2)
    assert fast.shape == (len(texts), 512)
    np.testing.assert_allclose(fast, reference(model, tokenizer, texts), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_vit_b_32_many_prompts():
    model, _, tokenizer = load_clip("ViT-B-32", None, CPU)
    words = "dog cat airplane ship truck frog horse deer bird automobile".split()
    texts = [f"a {adj} photo of a {w}." for adj in ("good", "bad", "cropped", "") for w in words]
    texts += [" ".join(words[: k + 1]) * 3 for k in range(10)]  # some reach the 77-token cut
    fast = encode_texts(model, tokenizer, texts, device=CPU, batch_size=16)
    np.testing.assert_allclose(fast, reference(model, tokenizer, texts), atol=1e-4, rtol=0)


def test_identically_tokenized_texts_are_encoded_once(tiny_model_name, monkeypatch):
    model, _, tokenizer = load_clip(tiny_model_name, pretrained=None, device="cpu")
    seen = []
    original = _text._encode_truncated

    def spy(model, tokens, *args, **kwargs):
        seen.append(tokens.shape[0])
        return original(model, tokens, *args, **kwargs)

    monkeypatch.setattr(_text, "_encode_truncated", spy)
    texts = ["a photo of a Dog", "a photo of a cat", "a photo of a dog", "A photo of a  dog"]
    E = encode_texts(model, tokenizer, texts, device=torch.device("cpu"))
    assert sum(seen) == 2  # "dog" (three spellings) and "cat"
    np.testing.assert_array_equal(E[0], E[2])
    np.testing.assert_array_equal(E[0], E[3])
    ref = encode_texts(model, tokenizer, texts, device=torch.device("cpu"), truncate=False)
    np.testing.assert_allclose(E, ref, atol=1e-5)
