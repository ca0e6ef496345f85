"""Two-stage vocabulary embedding, vocabulary files and the predecessors' exact lists."""

import hashlib

import numpy as np
import pytest
from sklearn.base import clone

from skclip.semantic import SemanticSpaceBuilder, TEMPLATES, build_vocabulary_cache
from skclip.embed import _model as _embed_model
from skclip.semantic import _candidates, _text_cache
from skclip.semantic._sources import noun_rows
from skclip.semantic._text_cache import unit_rows

DIM = 24


def _word_vector(word):
    raw = hashlib.blake2b(word.encode(), digest_size=DIM).digest()
    return np.frombuffer(raw, dtype=np.int8).astype(np.float32)


class BagOfWordsEncoder:
    """Each prompt = sum of its hashed words: templates shift every noun alike, as in CLIP."""

    def __init__(self, pretrained="bow-weights"):
        self.model, self.pretrained = "bow-model", pretrained
        self.prompts = []

    def encode_text(self, texts):
        self.prompts.extend(texts)
        rows = [sum(_word_vector(w) for w in t.replace(".", " ").split()) for t in texts]
        return unit_rows(np.asarray(rows, dtype=np.float32))


@pytest.fixture(autouse=True)
def _fresh():
    _text_cache.clear_memory_cache()
    yield
    _text_cache.clear_memory_cache()


def _words(n, seed=0):
    rng = np.random.RandomState(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return list(dict.fromkeys("".join(rng.choice(letters, 7)) for _ in range(n)))


def _images(enc, nouns, rng, n=120):
    """Images near three nouns' ensemble embeddings (the centres sit among the nouns)."""
    anchors = unit_rows(np.mean([enc.encode_text([t.format(w) for w in nouns[:3]])
                                 for t in TEMPLATES["tac7"]], axis=0))
    X = np.repeat(anchors, n // 3, axis=0) + 0.3 * rng.standard_normal((n, DIM))
    enc.prompts.clear()
    return X.astype(np.float32)


@pytest.mark.parametrize("selection", ["center_topk", "sic"])
def test_two_stage_equals_exhaustive_and_encodes_far_fewer_prompts(selection, rng):
    nouns = _words(3000)
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    common = dict(vocabulary=nouns, templates="tac7", selection=selection, n_centers=3,
                  topk_nouns=5, gamma_r=5, gamma_u=None, candidate_pool=300, cache=False,
                  random_state=0)
    fast = SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    n_fast = len(enc.prompts)
    exact = SemanticSpaceBuilder(embedder=enc, exact_vocabulary=True, **common).fit(X)
    n_exact = len(enc.prompts) - n_fast
    assert fast.nouns_ == exact.nouns_
    np.testing.assert_allclose(fast.noun_embeddings_, exact.noun_embeddings_, atol=1e-6)
    np.testing.assert_allclose(fast.noun_scores_, exact.noun_scores_, atol=1e-6)
    assert n_exact == 7 * len(nouns) and exact.n_candidates_ == len(nouns)
    assert fast.vocabulary_size_ == exact.vocabulary_size_ == len(nouns)
    assert fast.n_candidates_ <= 3 * 300
    assert n_fast == len(nouns) + 7 * fast.n_candidates_  # one ranking prompt per noun
    assert enc.prompts[0] == _candidates.RANKING_TEMPLATE.format(min(nouns, key=str.casefold))


class NoisyTwin(BagOfWordsEncoder):
    """A low-precision twin: the same prompts, rows perturbed by ``noise`` (like bfloat16)."""

    def __init__(self, noise):
        super().__init__(pretrained=f"bow-weights-noisy-{noise}")
        self.noise = noise

    def encode_text(self, texts):
        E = super().encode_text(texts)
        seeds = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "little")
                 for t in texts]
        noise = np.stack([np.random.RandomState(s).standard_normal(DIM) for s in seeds])
        return unit_rows(E + self.noise * noise.astype(np.float32))


@pytest.mark.parametrize("noise", [1e-4, 2e-2])
def test_low_precision_candidates_give_the_exact_selection(noise, rng, monkeypatch):
    nouns = _words(3000)
    enc, twin = BagOfWordsEncoder(), NoisyTwin(noise)
    monkeypatch.setattr(_candidates, "ranking_encoder", lambda e: twin)
    X = _images(enc, nouns, rng)
    common = dict(vocabulary=nouns, templates="tac7", n_centers=3, topk_nouns=5,
                  candidate_pool=300, cache=False, random_state=0)
    fast = SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    n_exact_prompts = len(enc.prompts)
    exact = SemanticSpaceBuilder(embedder=enc, exact_vocabulary=True, **common).fit(X)
    assert fast.nouns_ == exact.nouns_
    np.testing.assert_allclose(fast.noun_embeddings_, exact.noun_embeddings_, atol=1e-6)
    np.testing.assert_allclose(fast.noun_scores_, exact.noun_scores_, atol=1e-6)
    assert len(twin.prompts) == len(nouns) + 7 * fast.n_candidates_
    # only the candidates near the selection are encoded at full precision
    done = fast.text_precision_
    assert n_exact_prompts == done["rescored_ranking"] + 7 * done["rescored_candidates"]
    assert len(fast.nouns_) <= done["rescored_candidates"] < fast.n_candidates_
    assert noise > 1e-3 or done["rescored_ranking"] < len(nouns) // 2  # 2e-2: every row


def test_rescore_near_selection_widens_its_margin_until_the_errors_fit():
    rng = np.random.RandomState(0)
    exact = unit_rows(rng.standard_normal((2000, DIM)).astype(np.float32))
    approx = unit_rows(exact + 0.005 * rng.standard_normal(exact.shape).astype(np.float32))
    C = exact[:4]
    E, rows, margin = _candidates.rescore_near_selection(C, approx, lambda i: exact[i], k=10,
                                                         margin=1e-4)
    error = np.abs(C @ (exact[rows] - approx[rows]).T).max()
    assert margin >= 4 * error > 1e-4  # widened from the first margin
    np.testing.assert_array_equal(E[rows], exact[rows])
    top_exact = np.sort(np.argsort(-(C @ exact.T), axis=1)[:, :10], axis=1)
    top_cert = np.sort(np.argsort(-(C @ E.T), axis=1)[:, :10], axis=1)
    np.testing.assert_array_equal(top_cert, top_exact)
    assert len(rows) < len(exact) // 4


def test_two_stage_applies_only_where_it_is_exact(rng):
    nouns = _words(400)
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    base = dict(embedder=enc, vocabulary=nouns, n_centers=2, candidate_pool=16, cache=False,
                random_state=0)
    cases = [  # (extra params, two-stage expected)
        (dict(templates="tac7"), True),
        (dict(templates="photo"), False),  # one template: ranking = final embedding
        (dict(templates="tac7", selection="sic"), False),  # uniqueness needs all nouns
        (dict(templates="tac7", selection="tac"), False),  # softmax margins: too close
        (dict(templates="tac7", selection=None), False),
        (dict(templates="tac7", candidate_pool=150), False),  # pool > half the vocabulary
    ]
    for extra, two_stage in cases:
        space = SemanticSpaceBuilder(**{**base, **extra}).fit(X)
        assert (space.n_candidates_ < space.vocabulary_size_) == two_stage, extra


def test_default_pool_shares_a_budget_between_many_centres():
    """1,024 candidates per centre up to 5 centres, then 5,120 shared, at least 32 k."""
    builder = SemanticSpaceBuilder(templates="tac7", topk_nouns=5)
    per = [_candidates.candidates_per_center(builder, n, 119_034, 7)
           for n in (1, 5, 6, 10, 33, 100)]
    assert per == [1024, 1024, 854, 512, 160, 160]
    wide = SemanticSpaceBuilder(templates="tac7", topk_nouns=50)
    assert _candidates.candidates_per_center(wide, 1, 119_034, 7) == 1600
    # 100 centres of 160 stay two-stage on WordNet; on a small vocabulary they do not
    assert _candidates.candidates_per_center(builder, 100, 20_000, 7) is None


def test_cached_exhaustive_embeddings_are_preferred(rng, tmp_path):
    nouns = _words(600)
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    common = dict(embedder=enc, vocabulary=nouns, templates="tac7", n_centers=2,
                  candidate_pool=32, random_state=0, cache_dir=tmp_path)
    first = SemanticSpaceBuilder(**common).fit(X)
    assert first.n_candidates_ < len(nouns)
    _text_cache.clear_memory_cache()
    n = len(enc.prompts)
    again = SemanticSpaceBuilder(**common).fit(X)  # both stages from the disk cache
    assert len(enc.prompts) == n and again.nouns_ == first.nouns_
    SemanticSpaceBuilder(exact_vocabulary=True, **common).fit(X)
    n = len(enc.prompts)
    cached = SemanticSpaceBuilder(**common).fit(X)
    assert len(enc.prompts) == n  # nothing encoded: the exhaustive embeddings are cached
    assert cached.n_candidates_ == len(nouns)


def test_vocabulary_file_round_trip(tmp_path, rng):
    nouns = _words(500)
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    path = build_vocabulary_cache(enc, nouns, "tac7", out=tmp_path / "vocab", verbose=0,
                                  cache_dir=tmp_path / "gpu-box")
    assert path == tmp_path / "vocab.npz" and path.is_file()
    assert len(enc.prompts) == 7 * len(nouns)
    # another machine: an empty cache, the same weights
    _text_cache.clear_memory_cache()
    enc.prompts.clear()
    common = dict(vocabulary=nouns, templates="tac7", n_centers=2, candidate_pool=16,
                  random_state=0, cache_dir=tmp_path / "cpu-box")
    space = SemanticSpaceBuilder(embedder=enc, vocabulary_cache=path, **common).fit(X)
    assert enc.prompts == [] and space.n_candidates_ == len(nouns)
    exact = SemanticSpaceBuilder(embedder=enc, exact_vocabulary=True, cache=False,
                                 **common).fit(X)
    assert space.nouns_ == exact.nouns_
    np.testing.assert_allclose(space.noun_embeddings_, exact.noun_embeddings_, atol=2e-3)
    # installed in the cache: later runs need no file
    _text_cache.clear_memory_cache()
    enc.prompts.clear()
    assert SemanticSpaceBuilder(embedder=enc, **common).fit(X).nouns_ == space.nouns_
    assert enc.prompts == []
    mismatches = [
        (dict(embedder=BagOfWordsEncoder("other-weights")), "pretrained weights"),
        (dict(embedder=enc, templates="photo"), "templates"),
        (dict(embedder=enc, vocabulary=nouns[:-1]), "vocabulary .*499 nouns"),
    ]
    for extra, match in mismatches:
        with pytest.raises(ValueError, match=match):
            SemanticSpaceBuilder(**{**common, "vocabulary_cache": path, **extra}).fit(X)


def test_random_weights_cannot_be_built(tmp_path):
    with pytest.raises(ValueError, match="random ones"):
        build_vocabulary_cache(BagOfWordsEncoder(pretrained=None), ["cat"], out=tmp_path / "v")


def test_cache_key_ignores_auto_precision_and_checkpoint_location(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "b.pt"
    b.parent.mkdir()
    a.write_bytes(b"same weights")
    b.write_bytes(b"same weights")
    key = _text_cache.cache_key
    enc_a, enc_b = BagOfWordsEncoder(str(a)), BagOfWordsEncoder(str(b))
    enc_b.precision = "fp16"
    assert key(enc_a, ["cat"], ("{}",)) != key(enc_b, ["cat"], ("{}",))  # asked-for fp16
    enc_b.precision = "auto"  # a cache built on a GPU ("auto": bf16) serves a CPU
    assert key(enc_a, ["cat"], ("{}",)) == key(enc_b, ["cat"], ("{}",))
    b.write_bytes(b"other weights")
    assert key(enc_a, ["cat"], ("{}",)) != key(enc_b, ["cat"], ("{}",))
    assert key(enc_a, ["cat"], ("{}",)) != key(enc_a, ["cat"], ("{}.",))
    assert key(enc_a, ["cat"], ("{}",)) != key(BagOfWordsEncoder("x"), ["cat"], ("{}",))


# -- the predecessors' exact lists (issue: reproduce TAC and SIC) ------------------------
def test_exact_predecessor_vocabularies(wordnet):
    tac = noun_rows("wordnet-tac")
    sic = noun_rows("wordnet-sic")
    ours = noun_rows("wordnet")
    assert len(tac.names) == 146347  # every (lemma, synset) pair, repeats kept
    assert len(sic.names) == 82113  # without "entity" (pandas' header) and "9/11"
    assert sic.names[-1] == "window"  # the last line of SIC's noun.csv
    assert len(ours.names) == len(set(ours.names)) == 119034
    assert sic.names[:2] == ["physical_entity", "abstraction"]
    assert tac.names[:3] == ["entity", "physical_entity", "abstraction"]
    assert len(set(sic.names)) < len(sic.names) and len(set(tac.names)) < len(tac.names)
    assert TEMPLATES["sic"] == ("a photo of a {}",)
    assert TEMPLATES["tac7"][0] == "itap of a {}." and len(TEMPLATES["tac7"]) == 7


def test_exact_vocabulary_keeps_repeated_rows_through_fit(wordnet, rng):
    enc = BagOfWordsEncoder()
    X = rng.standard_normal((30, DIM)).astype(np.float32)
    space = SemanticSpaceBuilder(embedder=enc, vocabulary="wordnet-sic", templates="sic",
                                 selection=None, cache=False).fit(X)
    assert space.vocabulary_size_ == len(space.nouns_) == 82113
    assert len(enc.prompts) == len(set(space.nouns_))  # repeated strings encoded once
    assert enc.prompts[0] == "a photo of a physical_entity"
    assert clone(space).get_params()["vocabulary"] == "wordnet-sic"


def test_report_names_clusters_without_encoding_every_template(rng, tmp_path):
    """The report's naming vocabulary reuses the ranking stage of a two-stage space."""
    from skclip.report import naming_vocabulary

    nouns = _words(800)
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    space = SemanticSpaceBuilder(embedder=enc, vocabulary=nouns, templates="tac7", n_centers=2,
                                 candidate_pool=32, random_state=0, cache_dir=tmp_path)

    class Fitted:  # what a clusterer exposes
        semantic_space_ = space.fit(X)

    n = len(enc.prompts)
    names, emb = naming_vocabulary(Fitted(), X)
    assert names == nouns and emb.shape == (len(nouns), DIM)
    assert len(enc.prompts) == n  # the one-prompt embeddings were cached: nothing encoded


def test_random_weights_are_encoded_once_per_process(tiny_model_name, rng, monkeypatch):
    """No disk cache for random weights, but the same draw is not encoded twice."""
    from skclip.embed import CLIPEmbedder, clear_model_cache

    calls = []
    original = CLIPEmbedder.encode_text

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(CLIPEmbedder, "encode_text", counting)
    emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    X = rng.standard_normal((20, 32)).astype(np.float32)
    common = dict(embedder=emb, vocabulary=["cat", "dog", "car"], selection=None)
    first = SemanticSpaceBuilder(**common).fit(X)
    assert calls == [3]
    again = SemanticSpaceBuilder(**common).fit(X)
    assert calls == [3]  # same process, same random draw: from memory
    np.testing.assert_array_equal(first.noun_embeddings_, again.noun_embeddings_)
    clear_model_cache()  # a new draw: encoded again
    SemanticSpaceBuilder(**common).fit(X)
    assert calls == [3, 3]


def test_ranking_encoder_uses_bfloat16_only_where_it_is_safe_and_native(tmp_path, tiny_model_name,
                                                                         monkeypatch):
    import open_clip
    import torch

    from skclip import CLIPEmbedder

    other = BagOfWordsEncoder()
    assert _candidates.ranking_encoder(other) is other  # not a CLIPEmbedder: as given
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), weights)
    enc = CLIPEmbedder(model=tiny_model_name, pretrained=str(weights), device="cpu", verbose=0)
    assert _candidates.ranking_encoder(enc.set_params(precision="fp32")) is enc  # user's choice
    enc.set_params(precision="auto")
    monkeypatch.setattr(_embed_model, "native_bf16_cpu", lambda: False)
    assert _candidates.ranking_encoder(enc) is enc
    monkeypatch.setattr(_embed_model, "native_bf16_cpu", lambda: True)
    twin = _candidates.ranking_encoder(enc)
    assert twin is not enc and twin.precision == "bf16" and enc.precision == "auto"
    texts = ["a photo of a dog.", "a photo of a cat.", "a photo of a tree."]
    cos = np.sum(twin.encode_text(texts) * enc.encode_text(texts), axis=1)
    assert np.all(cos > 0.99), cos  # the same weights, rounded: the same ranking directions


def test_random_weights_twin_rounds_the_same_draw(tiny_model_name, monkeypatch):
    from skclip import CLIPEmbedder

    monkeypatch.setattr(_embed_model, "native_bf16_cpu", lambda: True)
    rand = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    twin = _candidates.ranking_encoder(rand)
    assert twin is not rand and twin.precision == "bf16"
    texts = ["a photo of a dog", "a photo of a cat", "a photo of a tree"]
    cos = np.sum(twin.encode_text(texts) * rand.encode_text(texts), axis=1)
    assert np.all(cos > 0.99), cos  # a fresh random draw would give unrelated rows


def test_ranking_pool_is_the_float32_one(rng, monkeypatch):
    """bfloat16-like ranking errors: the candidates are those of the exact ranking."""
    nouns = _words(3000)
    enc, twin = BagOfWordsEncoder(), NoisyTwin(2e-2)
    monkeypatch.setattr(_candidates, "ranking_encoder", lambda e: twin)
    X = _images(enc, nouns, rng)
    common = dict(vocabulary=nouns, templates="tac7", n_centers=3, topk_nouns=5,
                  candidate_pool=100, cache=False, random_state=0)
    fast = SemanticSpaceBuilder(embedder=enc, **common).fit(X)
    assert fast.text_precision_["rescored_ranking"] > 0
    exact_rank = unit_rows(enc.encode_text([f"a photo of a {n}" for n in nouns]))
    noisy_rank = unit_rows(twin.encode_text([f"a photo of a {n}" for n in nouns]))
    pool_exact = _candidates.candidate_nouns(fast.centers_, exact_rank, 100)
    pool_noisy = _candidates.candidate_nouns(fast.centers_, noisy_rank, 100)
    assert not np.array_equal(pool_exact, pool_noisy)  # the errors matter without the band
    assert fast.n_candidates_ == len(pool_exact)


def test_rescore_near_selection_band_only_rescores_near_the_boundary():
    rng = np.random.RandomState(1)
    exact = unit_rows(rng.standard_normal((3000, DIM)).astype(np.float32))
    approx = unit_rows(exact + 0.003 * rng.standard_normal(exact.shape).astype(np.float32))
    C = exact[:3]
    E, rows, margin = _candidates.rescore_near_selection(C, approx, lambda i: exact[i],
                                                         k=200, keep_exact=False)
    pool = _candidates.candidate_nouns(C, exact, 200)
    np.testing.assert_array_equal(_candidates.candidate_nouns(C, E, 200), pool)
    _, rows_all, _ = _candidates.rescore_near_selection(C, approx, lambda i: exact[i], k=200)
    assert len(rows) < len(rows_all) - 100  # rows well inside the pool are not re-scored


def test_report_naming_reads_the_ranking_whatever_its_case_order(rng, tmp_path):
    """The ranking stage encodes nouns case-folded side by side; the report's naming
    (the whole vocabulary in its own order) still finds those rows in the cache."""
    from skclip.report import naming_vocabulary

    nouns = [w.capitalize() if i % 3 == 0 else w for i, w in enumerate(_words(800))]
    assert nouns != sorted(nouns, key=str.casefold)  # not the ranking stage's order
    enc = BagOfWordsEncoder()
    X = _images(enc, nouns, rng)
    space = SemanticSpaceBuilder(embedder=enc, vocabulary=nouns, templates="tac7", n_centers=2,
                                 candidate_pool=32, random_state=0, cache_dir=tmp_path)

    class Fitted:
        semantic_space_ = space.fit(X)

    n = len(enc.prompts)
    names, emb = naming_vocabulary(Fitted(), X)
    assert names == nouns and len(enc.prompts) == n  # nothing encoded again
    np.testing.assert_allclose(
        emb, unit_rows(enc.encode_text([f"a photo of a {w}" for w in nouns])), atol=2e-3)


def test_report_naming_shortlist_is_the_float32_one_with_a_low_precision_ranking(
        rng, tmp_path, monkeypatch):
    from skclip.report._model_bundle import _naming_shortlist

    nouns = _words(3000)
    enc, twin = BagOfWordsEncoder(), NoisyTwin(2e-3)
    X = _images(enc, nouns, rng)
    labels = np.arange(len(X)) % 3
    common = dict(embedder=enc, vocabulary=nouns, templates="tac7", n_centers=3,
                  candidate_pool=100, random_state=0)

    exact_prompts = []  # float32 prompts of every copy (the builders clone the encoder)
    original = BagOfWordsEncoder.encode_text

    def counting(self, texts):
        if type(self) is BagOfWordsEncoder:
            exact_prompts.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(BagOfWordsEncoder, "encode_text", counting)

    def shortlist(cache_dir):
        class Fitted:
            semantic_space_ = SemanticSpaceBuilder(cache_dir=cache_dir, **common).fit(X)

        before = len(exact_prompts)  # the float32 prompts of the naming alone
        return _naming_shortlist(Fitted(), X, labels, 3), exact_prompts[before:]

    exact, _ = shortlist(tmp_path / "fp32")
    monkeypatch.setattr(_candidates, "ranking_encoder", lambda e: twin)
    fast, n_exact = shortlist(tmp_path / "reduced")
    assert fast["nouns"] == exact["nouns"]
    np.testing.assert_allclose(fast["embeddings"], exact["embeddings"], atol=2e-3)  # float16 cache
    assert 0 < len(n_exact) < len(nouns)  # only the rows near a shortlist boundary
    assert all(p.startswith("a photo of a ") for p in n_exact)
    _text_cache.clear_memory_cache()
    naive = unit_rows(twin.encode_text([f"a photo of a {w}" for w in nouns]))
    M = unit_rows(np.stack([X[labels == c].mean(axis=0) for c in range(3)]))
    top = np.unique(np.argsort(-(M @ naive.T), axis=1)[:, :50])
    top_exact = np.unique(np.argsort(-(M @ unit_rows(enc.encode_text(
        [f"a photo of a {w}" for w in nouns])).T), axis=1)[:, :50])
    assert not np.array_equal(top, top_exact)  # the noise matters without the re-scoring
