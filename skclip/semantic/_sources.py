"""Turn the builder's ``vocabulary`` / ``captions`` parameters into embedded texts."""

import os
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array

from ._captions import read_captions
from ._templates import resolve_templates
from ._text_cache import embed_texts, unit_rows
from ._wordnet import wordnet_nouns

#: vocabulary names -> wordnet_nouns options
WORDNET_VOCABULARIES = {
    "wordnet": {"lemmas": "all", "underscores": False},
    "wordnet-tac": {"lemmas": "all", "underscores": True},
    "wordnet-sic": {"lemmas": "first", "underscores": True},
}


_DEDUPED = {}


@dataclass
class TextSet:
    """Embedded texts before selection (internal)."""

    names: list
    embeddings: np.ndarray  # (m, d) float32 unit rows
    synsets: list = None  # per row, synset id or None
    synset_rows: np.ndarray = None  # per row, row in all_synsets or -1
    depths: np.ndarray = None  # per row, min_depth or -1
    indptr: np.ndarray = None  # ancestor CSR over all_synsets (WordNet only)
    indices: np.ndarray = None

    def __post_init__(self):
        m = len(self.names)
        if self.synsets is None:
            self.synsets = [None] * m
        if self.synset_rows is None:
            self.synset_rows = np.full(m, -1, dtype=np.int64)
        if self.depths is None:
            self.depths = np.full(m, -1, dtype=np.int64)


def is_text_list(value):
    """True for a non-string sequence whose items are all strings."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return False
    if isinstance(value, np.ndarray) and value.dtype.kind not in "USO":
        return False
    try:
        items = list(value)
    except TypeError:
        return False
    return all(isinstance(v, str) for v in items)


def embeddings_array(value, what):
    """Validate user-provided text embeddings: 2-D, finite, at least one row; unit rows."""
    try:
        A = check_array(value, dtype=[np.float64, np.float32], ensure_2d=True, input_name=what)
    except (ValueError, TypeError) as exc:
        if what in str(exc):
            raise
        # e.g. "could not convert string to float": say which parameter and what it takes
        raise type(exc)(f"{what} must be a list of str or an (m, d) array of text "
                        f"embeddings; got {type(value).__name__} that is neither ({exc})") from exc
    return unit_rows(A)


def _dedupe_wordnet(vocab):
    """One row per distinct prompt string, represented by its most frequent sense."""
    key = id(vocab)
    if _DEDUPED.get(key, (None,))[0] is vocab:
        return _DEDUPED[key][1]
    best = {}
    for i, (name, rank) in enumerate(zip(vocab.names, vocab.sense_ranks)):
        j = best.get(name)
        if j is None or rank < vocab.sense_ranks[j]:
            best[name] = i
    rows = np.fromiter(best.values(), dtype=np.int64, count=len(best))
    _DEDUPED.clear()  # keep one: the vocabulary objects are memoised by wordnet_nouns
    _DEDUPED[key] = (vocab, rows)
    return rows


def noun_texts(builder, encoder, check_dim=None):
    """The full vocabulary of ``builder`` as a :class:`TextSet`.

    ``encoder`` is a zero-argument callable returning the text encoder, so that no
    model is loaded when the vocabulary is given as embeddings. ``check_dim(d)`` is
    called as soon as the text dimension is known (before encoding everything).
    """
    vocabulary = builder.vocabulary
    if isinstance(vocabulary, str):
        if vocabulary not in WORDNET_VOCABULARIES:
            raise ValueError(
                f"vocabulary={vocabulary!r}: expected one of {sorted(WORDNET_VOCABULARIES)}, "
                "a list of nouns or an (m, d) array of text embeddings"
            )
        if builder.noun_names is not None:
            raise ValueError("noun_names only applies when vocabulary is an array of embeddings")
        vocab = wordnet_nouns(builder.wordnet_path, **WORDNET_VOCABULARIES[vocabulary])
        rows = _dedupe_wordnet(vocab)
        names = [vocab.names[i] for i in rows]
        emb = _embed(builder, encoder, names, resolve_templates(builder.templates), check_dim)
        return TextSet(
            names=names,
            embeddings=emb,
            synsets=[vocab.synsets[i] for i in rows],
            synset_rows=vocab.synset_index[rows],
            depths=vocab.depths[rows],
            indptr=vocab.ancestor_indptr,
            indices=vocab.ancestor_indices,
        )
    if is_text_list(vocabulary):
        if builder.noun_names is not None:
            raise ValueError("noun_names only applies when vocabulary is an array of embeddings")
        names = list(dict.fromkeys(s.strip() for s in vocabulary if s.strip()))
        if not names:
            raise ValueError("vocabulary is an empty list of nouns")
        emb = _embed(builder, encoder, names, resolve_templates(builder.templates), check_dim)
        return TextSet(names=names, embeddings=emb)
    emb = embeddings_array(vocabulary, "vocabulary")
    if builder.noun_names is None:
        names = [f"noun{j}" for j in range(len(emb))]
    else:
        names = [str(n) for n in builder.noun_names]
        if len(names) != len(emb):
            raise ValueError(
                f"noun_names has {len(names)} entries but vocabulary has {len(emb)} rows"
            )
    return TextSet(names=names, embeddings=emb)


def caption_texts(builder, encoder, dim, check_dim=None):
    """The caption corpus of ``builder`` as a :class:`TextSet` (possibly empty)."""
    captions = builder.captions
    if captions is None:
        return TextSet(names=[], embeddings=np.zeros((0, dim), dtype=np.float32))
    if isinstance(captions, (str, os.PathLike)) or is_text_list(captions):
        names = read_captions(captions)
        if not names:
            return TextSet(names=[], embeddings=np.zeros((0, dim), dtype=np.float32))
        return TextSet(names=names, embeddings=_embed(builder, encoder, names, ("{}",), check_dim))
    emb = embeddings_array(captions, "captions")
    return TextSet(names=[f"caption{j}" for j in range(len(emb))], embeddings=emb)


def _embed(builder, encoder, texts, templates, check_dim):
    return embed_texts(
        encoder(), texts, templates, cache=builder.cache, cache_dir=builder.cache_dir,
        verbose=builder.verbose, check_dim=check_dim,
    )
