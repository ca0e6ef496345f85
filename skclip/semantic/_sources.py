"""Turn the builder's ``vocabulary`` / ``captions`` parameters into embedded texts."""

import os
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array

from . import _candidates
from ._candidates import rescore_near_selection, embed_vocabulary
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
#: Vocabularies that reproduce a predecessor's list row for row (repeated strings kept),
#: as the records it keeps. SIC's noun.csv stops one synset short of WordNet ("9/11",
#: the last noun synset, is absent) and SIC reads it with pandas, which takes the first
#: line ("entity") as the header: 82,113 nouns.
EXACT_VOCABULARIES = {"wordnet-tac": slice(None), "wordnet-sic": slice(1, -1)}


_DEDUPED = {}

#: Smaller caption corpora are encoded in one stage (a second stage would cost more
#: than it saves).
TWO_STAGE_MIN_CAPTIONS = 1000


@dataclass
class TextSet:
    """Embedded texts before selection (internal)."""

    names: list
    embeddings: np.ndarray  # (m, d) float32 unit rows
    synsets: list = None  # per row, synset id or None
    depths: np.ndarray = None  # per row, min_depth or -1
    vocabulary_size: int = None  # rows of the whole vocabulary (this set may be a subset)

    def __post_init__(self):
        m = len(self.names)
        if self.synsets is None:
            self.synsets = [None] * m
        if self.depths is None:
            self.depths = np.full(m, -1, dtype=np.int64)
        if self.vocabulary_size is None:
            self.vocabulary_size = m

    def subset(self, rows):
        """The rows ``rows`` (ascending indices) of this set, embeddings included."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self, names=[self.names[i] for i in rows],
            embeddings=None if self.embeddings is None else self.embeddings[rows],
            synsets=[self.synsets[i] for i in rows],
            depths=self.depths[rows],
        )


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


def encoder_factory(embedder):
    """A callable returning the text encoder of ``embedder``, built on first use only.

    None means ``CLIPEmbedder(verbose=0)``; an estimator is cloned. No model is loaded
    when every text is given as embeddings, and the encoder is never stored on an
    estimator (so it is never pickled).
    """
    box = []

    def encoder():
        if not box:
            if embedder is None:
                from ..embed import CLIPEmbedder

                box.append(CLIPEmbedder(verbose=0))  # the text stages show their own bars
            elif hasattr(embedder, "get_params"):
                box.append(clone(embedder))
            else:
                box.append(embedder)
        return box[0]

    return encoder


def noun_rows(vocabulary, noun_names=None, wordnet_path=None):
    """The whole ``vocabulary`` as a :class:`TextSet`, not yet embedded.

    ``vocabulary``, ``noun_names`` and ``wordnet_path`` are those of
    :class:`~skclip.semantic.SemanticSpaceBuilder`. Embeddings are filled in only when
    the vocabulary is given as an array.
    """
    if isinstance(vocabulary, str):
        if vocabulary not in WORDNET_VOCABULARIES:
            raise ValueError(
                f"vocabulary={vocabulary!r}: expected one of {sorted(WORDNET_VOCABULARIES)}, "
                "a list of nouns or an (m, d) array of text embeddings"
            )
        if noun_names is not None:
            raise ValueError("noun_names only applies when vocabulary is an array of embeddings")
        vocab = wordnet_nouns(wordnet_path, **WORDNET_VOCABULARIES[vocabulary])
        if vocabulary in EXACT_VOCABULARIES:
            rows = np.arange(len(vocab.names))[EXACT_VOCABULARIES[vocabulary]]
        else:
            rows = _dedupe_wordnet(vocab)
        return TextSet(
            names=[vocab.names[i] for i in rows],
            embeddings=None,
            synsets=[vocab.synsets[i] for i in rows],
            depths=vocab.depths[rows],
        )
    if is_text_list(vocabulary):
        if noun_names is not None:
            raise ValueError("noun_names only applies when vocabulary is an array of embeddings")
        names = list(dict.fromkeys(s.strip() for s in vocabulary if s.strip()))
        if not names:
            raise ValueError("vocabulary is an empty list of nouns")
        return TextSet(names=names, embeddings=None)
    emb = embeddings_array(vocabulary, "vocabulary")
    if noun_names is None:
        names = [f"noun{j}" for j in range(len(emb))]
    else:
        names = [str(n) for n in noun_names]
        if len(names) != len(emb):
            raise ValueError(
                f"noun_names has {len(names)} entries but vocabulary has {len(emb)} rows"
            )
    return TextSet(names=names, embeddings=emb)


def noun_texts(builder, encoder, check_dim=None, centers=None, device="cpu"):
    """The embedded vocabulary of ``builder``: all of it, or the candidates near ``centers``.

    ``encoder`` is a zero-argument callable returning the text encoder, so that no
    model is loaded when the vocabulary is given as embeddings. ``check_dim(d)`` is
    called as soon as the text dimension is known (before encoding everything). With
    a template ensemble the result may be the subset of candidates that
    :func:`~skclip.semantic._candidates.embed_vocabulary` keeps; its
    ``vocabulary_size`` is the size of the whole vocabulary.
    """
    rows = noun_rows(builder.vocabulary, builder.noun_names, builder.wordnet_path)
    if rows.embeddings is not None:
        return rows
    templates = resolve_templates(builder.templates)
    return embed_vocabulary(builder, encoder, rows, templates, check_dim, centers, device)


def caption_texts(builder, encoder, dim, check_dim=None, centers=None, device="cpu"):
    """The caption corpus of ``builder`` as a :class:`TextSet` (possibly empty).

    Captions have no template, so their two stages are those of the candidates of
    :func:`~skclip.semantic._candidates.embed_vocabulary`: every caption is encoded by
    the ranking encoder (bfloat16 on a CPU with native bfloat16, else the encoder
    itself, then a single stage), and only the captions that can enter a centre's
    ``topk_captions`` are encoded again in the encoder's precision
    (:func:`~skclip.semantic._candidates.rescore_near_selection`). With
    ``selection="center_topk"`` and at least :data:`TWO_STAGE_MIN_CAPTIONS` captions
    only; otherwise every caption is encoded once, exactly.
    """
    captions = builder.captions
    if captions is None:
        return TextSet(names=[], embeddings=np.zeros((0, dim), dtype=np.float32))
    if isinstance(captions, (str, os.PathLike)) or is_text_list(captions):
        names = read_captions(captions)
        if not names:
            return TextSet(names=[], embeddings=np.zeros((0, dim), dtype=np.float32))
        enc = encoder()
        fast = _candidates.ranking_encoder(enc)
        two_stage = (fast is not enc and builder.selection == "center_topk"
                     and len(names) >= TWO_STAGE_MIN_CAPTIONS
                     and centers is not None and len(centers) > 0)
        precision = " (bfloat16)" if two_stage else ""
        emb = _embed(builder, lambda: fast if two_stage else enc, names, ("{}",), check_dim,
                     desc=f"encoding {len(names):,} captions{precision}")
        if two_stage:
            def encode_exact(idx):
                return _embed(builder, encoder, [names[i] for i in idx], ("{}",), None,
                              desc=f"re-encoding {len(idx):,} captions near the selection")

            emb, _, _ = rescore_near_selection(centers, emb, encode_exact,
                                          int(builder.topk_captions), device=device)
        return TextSet(names=names, embeddings=emb)
    emb = embeddings_array(captions, "captions")
    return TextSet(names=[f"caption{j}" for j in range(len(emb))], embeddings=emb)


def _embed(builder, encoder, texts, templates, check_dim, desc=None):
    return embed_texts(
        encoder(), texts, templates, cache=builder.cache, cache_dir=builder.cache_dir,
        verbose=builder.verbose, check_dim=check_dim, desc=desc,
    )
