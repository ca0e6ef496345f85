"""The text-embedding cache gives the same rows fresh, from memory and from disk."""

import numpy as np

from skclip.semantic import _text_cache


class _Encoder:
    model, pretrained = "toy-model", "toy-weights"

    def encode_text(self, texts):
        rng = np.random.RandomState(len(texts))
        return rng.standard_normal((len(texts), 16)).astype(np.float32) * 3.7


def test_fresh_and_cached_rows_are_identical(tmp_path):
    texts = [f"word{i}" for i in range(50)]
    _text_cache.clear_memory_cache()
    fresh = np.array(_text_cache.embed_texts(_Encoder(), texts, cache_dir=tmp_path))
    _text_cache.clear_memory_cache()
    cached = _text_cache.embed_texts(_Encoder(), texts, cache_dir=tmp_path)
    np.testing.assert_array_equal(cached, fresh)  # bitwise: a warm run sees the cold rows
    rows = np.random.RandomState(1).standard_normal((50, 16)).astype(np.float32)
    other = texts[::-1]
    _text_cache.store_texts(_Encoder(), other, ("{}",), rows, cache_dir=tmp_path)
    in_memory = np.array(_text_cache.lookup_texts(_Encoder(), other, ("{}",), cache_dir=tmp_path))
    _text_cache.clear_memory_cache()
    from_disk = _text_cache.lookup_texts(_Encoder(), other, ("{}",), cache_dir=tmp_path)
    np.testing.assert_array_equal(from_disk, in_memory)
    np.testing.assert_allclose(from_disk, _text_cache.unit_rows(rows), atol=1e-3)
    _text_cache.clear_memory_cache()
