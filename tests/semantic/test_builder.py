"""SemanticSpaceBuilder: the protocol, the selection rules, transform and the text cache."""

import hashlib
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skclip.semantic import SemanticSpaceBuilder, TEMPLATES
from skclip.semantic import _text_cache
from skclip.semantic._text_cache import unit_rows


CALLS = []  # encode_text batch sizes of every HashEncoder (clones deep-copy encoders)


class HashEncoder:
    """A fast deterministic text encoder: each string hashes to a fixed vector."""

    def __init__(self, dim=16, pretrained="fake-weights"):
        self.model, self.pretrained, self.dim = "fake-model", pretrained, dim
        self.calls = CALLS

    def encode_text(self, texts):
        CALLS.append(len(texts))
        raw = b"".join(hashlib.blake2b(t.encode(), digest_size=self.dim).digest() for t in texts)
        E = np.frombuffer(raw, dtype=np.int8).reshape(len(texts), self.dim).astype(np.float32)
        return unit_rows(E)


def planted(rng, n_per=300, d=16, noise=0.05):
    """Three tight image clusters around e0, e1, e2 and a vocabulary holding them."""
    X = np.vstack([np.eye(d)[k] + noise * rng.standard_normal((n_per, d)) for k in range(3)])
    vocab = np.vstack([np.eye(d)[:3], unit_rows(rng.standard_normal((12, d))) * 0.3 + np.eye(d)[5]])
    return X.astype(np.float32), unit_rows(vocab)


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    _text_cache.clear_memory_cache()
    CALLS.clear()
    yield
    _text_cache.clear_memory_cache()


def test_protocol_with_given_embeddings(rng):
    X, vocab = planted(rng)
    names = [f"w{j}" for j in range(len(vocab))]
    space = SemanticSpaceBuilder(vocabulary=vocab, noun_names=names, topk_nouns=1,
                                 random_state=0)
    assert space.fit(X) is space
    assert space.centers_.shape == (3, 16)  # round(900 / 300)
    assert space.nouns_ == ["w0", "w1", "w2"]
    assert space.noun_synsets_ == [None, None, None]
    assert space.noun_embeddings_.dtype == np.float32
    np.testing.assert_allclose(space.noun_embeddings_, vocab[:3], atol=1e-6)
    assert space.captions_ == [] and space.caption_embeddings_.shape == (0, 16)
    assert space.caption_embeddings_.dtype == np.float32
    assert space.noun_scores_.shape == (3,) and np.all(space.noun_scores_ > 0.9)
    assert space.vocabulary_size_ == len(vocab) and space.n_features_in_ == 16


def test_given_embeddings_need_no_encoder(rng, monkeypatch):
    import skclip.embed

    def no_model(*a, **k):
        raise AssertionError("a text encoder was built for given embeddings")

    monkeypatch.setattr(skclip.embed, "CLIPEmbedder", no_model)
    X, vocab = planted(rng)
    space = SemanticSpaceBuilder(vocabulary=vocab, captions=vocab[:4] + 0.1, random_state=0).fit(X)
    assert space.captions_[0].startswith("caption")
    np.testing.assert_allclose(np.linalg.norm(space.caption_embeddings_, axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("selection", ["center_topk", "tac"])
def test_per_centre_rules_find_the_planted_nouns(selection, rng):
    X, vocab = planted(rng)
    space = SemanticSpaceBuilder(vocabulary=vocab, selection=selection, topk_nouns=1,
                                 random_state=0).fit(X)
    assert {"noun0", "noun1", "noun2"} <= set(space.nouns_)
    assert len(space.nouns_) == 3


def test_auto_centres_follow_n_over_300(rng):
    X = rng.standard_normal((301, 8))
    vocab = rng.standard_normal((10, 8))
    assert SemanticSpaceBuilder(vocabulary=vocab, random_state=0).fit(X).centers_.shape == (1, 8)
    wide = SemanticSpaceBuilder(vocabulary=vocab, random_state=0).fit(X[:, :8].repeat(2, 0)[:450])
    assert wide.centers_.shape == (2, 8)  # round(450 / 300)
    # TAC's table of centre counts: CIFAR-10, STL-10, ImageNet-10, ImageNet-Dogs, ImageNet
    builder = SemanticSpaceBuilder()
    counts = [builder._n_centers(n) for n in (50000, 5000, 13000, 19500, 1281167, 100)]
    assert counts == [167, 17, 43, 65, 4271, 1]
    space = SemanticSpaceBuilder(vocabulary=vocab, n_centers=5, random_state=0).fit(X)
    assert space.centers_.shape == (5, 8)
    with pytest.raises(ValueError, match="n_centers=400 is larger than n_samples=301"):
        SemanticSpaceBuilder(vocabulary=vocab, n_centers=400).fit(X)


def test_sic_relevance_and_uniqueness(rng):
    X, vocab = planted(rng)
    generic = unit_rows(vocab.mean(axis=0, keepdims=True))
    vocab = np.vstack([vocab, generic])
    g = len(vocab) - 1
    common = dict(vocabulary=vocab, selection="sic", n_centers=3, random_state=0)
    space = SemanticSpaceBuilder(gamma_r=1, gamma_u=None, **common).fit(X)
    assert space.nouns_ == ["noun0", "noun1", "noun2"]
    kept = SemanticSpaceBuilder(gamma_r=len(vocab), gamma_u=None, **common).fit(X)
    assert f"noun{g}" in kept.nouns_ and len(kept.nouns_) == len(vocab)
    dropped = SemanticSpaceBuilder(gamma_r=len(vocab), gamma_u=0.05, **common).fit(X)
    assert f"noun{g}" not in dropped.nouns_
    with pytest.raises(ValueError, match="kept no noun"):
        SemanticSpaceBuilder(gamma_r=len(vocab), gamma_u=2.0, **common).fit(X)


def test_selection_none_keeps_everything(rng):
    X, vocab = planted(rng)
    space = SemanticSpaceBuilder(vocabulary=vocab, selection=None).fit(X)
    assert len(space.nouns_) == len(vocab) and space.centers_.shape == (0, 16)
    alias = SemanticSpaceBuilder(vocabulary=vocab, selection="none").fit(X)
    assert alias.nouns_ == space.nouns_


def test_dimension_mismatch_is_a_clear_error(rng):
    X, vocab = planted(rng)
    with pytest.raises(ValueError, match="n_features = 10 but the vocabulary's text embeddings "
                                         "have dimension 16"):
        SemanticSpaceBuilder(vocabulary=vocab).fit(X[:, :10])
    with pytest.raises(ValueError, match="caption embeddings have dimension 8"):
        SemanticSpaceBuilder(vocabulary=vocab, captions=vocab[:, :8]).fit(X)
    enc = HashEncoder(dim=16)
    with pytest.raises(ValueError, match="same CLIP model"):
        SemanticSpaceBuilder(embedder=enc, vocabulary=["dog", "cat"]).fit(X[:, :12])


def test_transform_is_softmax_retrieval(rng):
    X, vocab = planted(rng)
    space = SemanticSpaceBuilder(vocabulary=vocab, selection=None, temperature=0.5).fit(X)
    S = space.transform(X[:7])
    Xn = unit_rows(X[:7], np.float64)
    P = np.exp(Xn @ vocab.T / 0.5)
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(S, unit_rows(P @ vocab, np.float64), atol=1e-5)
    assert S.dtype == np.float32
    sharp = clone(space).set_params(temperature=1e-3).fit(X).transform(X)
    np.testing.assert_allclose(sharp[:300], np.tile(vocab[0], (300, 1)), atol=1e-4)
    with pytest.raises(ValueError, match="16 features"):
        space.transform(X[:, :4])


def test_feature_names_and_pandas_output(rng):
    pd = pytest.importorskip("pandas")
    X, vocab = planted(rng)
    space = SemanticSpaceBuilder(vocabulary=vocab, random_state=0).set_output(transform="pandas")
    out = space.fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (900, 16)
    assert list(out.columns) == [f"semanticspacebuilder{i}" for i in range(16)]
    assert list(space.get_feature_names_out()) == list(out.columns)


def test_deterministic_clone_and_pickle(rng):
    X = rng.standard_normal((700, 8)).astype(np.float32)
    vocab = rng.standard_normal((60, 8))
    a = SemanticSpaceBuilder(vocabulary=vocab, random_state=3).fit(X)
    b = clone(a).fit(X)
    assert a.nouns_ == b.nouns_
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.transform(X[:5]), a.transform(X[:5]))


def test_invalid_parameters(rng):
    X, vocab = planted(rng)
    with pytest.raises(InvalidParameterError):
        SemanticSpaceBuilder(vocabulary=vocab, selection="best").fit(X)
    with pytest.raises(InvalidParameterError):
        SemanticSpaceBuilder(vocabulary="imagenet").fit(X)
    with pytest.raises(ValueError, match="noun_names has 2 entries"):
        SemanticSpaceBuilder(vocabulary=vocab, noun_names=["a", "b"]).fit(X)
    with pytest.raises(ValueError, match="noun_names only applies"):
        SemanticSpaceBuilder(embedder=HashEncoder(), vocabulary=["a"], noun_names=["a"]).fit(X)
    with pytest.raises(ValueError, match="empty list"):
        SemanticSpaceBuilder(embedder=HashEncoder(), vocabulary=[" "]).fit(X)
    with pytest.raises(ValueError, match="placeholder"):
        SemanticSpaceBuilder(embedder=HashEncoder(), vocabulary=["a"], templates=["no slot"]).fit(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SemanticSpaceBuilder(vocabulary=vocab).fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        SemanticSpaceBuilder(vocabulary=np.full((3, 16), np.nan)).fit(X)


def test_templates_average_unit_embeddings(rng):
    enc = HashEncoder()
    X = rng.standard_normal((20, 16))
    space = SemanticSpaceBuilder(embedder=enc, vocabulary=["dog", "red fox", "dog"],
                                 templates="tac7", selection=None).fit(X)
    assert space.nouns_ == ["dog", "red fox"]  # repeated nouns are kept once
    expected = unit_rows(sum(enc.encode_text([t.format(n) for n in space.nouns_])
                             for t in TEMPLATES["tac7"]))
    np.testing.assert_allclose(space.noun_embeddings_, expected, atol=2e-3)  # float16 cache
    photo = SemanticSpaceBuilder(embedder=enc, vocabulary=["dog"], selection=None).fit(X)
    np.testing.assert_allclose(photo.noun_embeddings_, enc.encode_text(["a photo of a dog."]),
                               atol=2e-3)


def test_text_cache_reused_across_fits(rng, tmp_path):
    enc = HashEncoder()
    X = rng.standard_normal((30, 16))
    space = SemanticSpaceBuilder(embedder=enc, vocabulary=["dog", "cat", "owl"],
                                 captions=["a dog on grass", "two cats"], templates="tac7",
                                 selection=None, cache_dir=tmp_path)
    first = space.fit(X).noun_embeddings_.copy()
    assert enc.calls == [3] * 7 + [2]  # 7 templates over the nouns, then the captions
    files = sorted((tmp_path / "text").glob("*.npy"))
    assert len(files) == 2
    clone(space).fit(X)  # memory cache
    _text_cache.clear_memory_cache()
    again = clone(space).fit(X)  # disk cache
    assert len(enc.calls) == 8
    np.testing.assert_array_equal(again.noun_embeddings_, first)
    clone(space).set_params(templates="photo").fit(X)  # other templates: other key
    assert enc.calls[8:] == [3]
    clone(space).set_params(vocabulary=["dog", "cat"]).fit(X)  # other vocabulary
    assert enc.calls[9:] == [2] * 7
    clone(space).set_params(cache=False).fit(X)
    assert len(enc.calls) == 16 + 8
    random_weights = HashEncoder(pretrained=None)  # never cached
    SemanticSpaceBuilder(embedder=random_weights, vocabulary=["dog"], selection=None,
                         cache_dir=tmp_path).fit(X).fit(X)
    assert CALLS[24:] == [1, 1]


def test_duck_typed_encoder_is_used_as_is(rng):
    enc = HashEncoder()
    SemanticSpaceBuilder(embedder=enc, vocabulary=["dog"], selection=None,
                         cache=False).fit(rng.standard_normal((5, 16)))
    assert enc.calls == [1]


def test_wordnet_vocabulary_mca_hierarchy(wordnet, rng):
    enc = HashEncoder()
    probe = SemanticSpaceBuilder(embedder=enc, vocabulary="wordnet", selection=None)
    # images sit on a deep noun (dog) and on two shallow ones (organism: 2, artifact: 4)
    anchors = enc.encode_text(["a photo of a dog.", "a photo of a organism.",
                               "a photo of a artifact."])
    X = np.vstack([a + 0.02 * rng.standard_normal((40, 16)) for a in anchors])
    full = probe.fit(X)
    assert len(full.nouns_) == full.vocabulary_size_ > 100000
    assert len(set(full.nouns_)) == len(full.nouns_)
    assert full.noun_synsets_[full.nouns_.index("dog")] == "dog.n.01"  # most frequent sense
    calls = len(enc.calls)
    common = dict(embedder=enc, vocabulary="wordnet", n_centers=3, gamma_r=20, gamma_u=None,
                  random_state=0)
    sic = SemanticSpaceBuilder(selection="sic", **common).fit(X)
    assert len(enc.calls) == calls  # the vocabulary embeddings came from the cache
    assert {"dog", "organism", "artifact"} <= set(sic.nouns_)
    mca = SemanticSpaceBuilder(selection="mca", hier_min_depth=6, **common).fit(X)
    assert "dog" in mca.nouns_ and "organism" not in mca.nouns_ and "artifact" not in mca.nouns_
    depths = {s.name(): s.min_depth() for s in map(wordnet.synset, mca.noun_synsets_)}
    assert min(depths.values()) >= 6


def test_clip_embedder_end_to_end(tiny_model_name, rng, tmp_path, monkeypatch):
    import open_clip
    import torch

    from skclip.embed import CLIPEmbedder

    model = open_clip.create_model(tiny_model_name, pretrained=None)
    ckpt = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    calls = []
    original = CLIPEmbedder.encode_text

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(CLIPEmbedder, "encode_text", counting)
    embedder = CLIPEmbedder(model=tiny_model_name, pretrained=str(ckpt), device="cpu", verbose=0)
    caps = tmp_path / "caps.txt"
    caps.write_text("a dog on the grass\na red car\n")
    X = rng.standard_normal((40, 32)).astype(np.float32)
    space = SemanticSpaceBuilder(embedder=embedder, vocabulary=["dog", "car", "tree", "boat"],
                                 captions=caps, topk_nouns=2, topk_captions=1, random_state=0)
    space.fit(X)
    assert calls == [4, 2]
    assert space.noun_embeddings_.shape == (2, 32) and space.caption_embeddings_.shape == (1, 32)
    # the given embedder was cloned, not fitted in place
    assert vars(embedder) == vars(CLIPEmbedder(**embedder.get_params()))
    _text_cache.clear_memory_cache()
    clone(space).fit(X)
    assert calls == [4, 2]  # second fit: disk cache
    with pytest.raises(ValueError, match="n_features = 16 but the vocabulary"):
        clone(space).set_params(cache=False).fit(X[:, :16])
