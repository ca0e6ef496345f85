"""WordNet 3.0 noun vocabulary, read with nltk, without ``nltk.download``.

The data is located by :func:`load_wordnet` (``_wordnet_files.py``), in this order:

1. nltk's own data (``corpora/wordnet.zip`` or ``corpora/wordnet`` on ``nltk.data.path``,
   searched like ``nltk.corpus.wordnet`` does);
2. a system WordNet 3.0 folder (``$WNSEARCHDIR``, Debian's ``/usr/share/wordnet``, the
   upstream ``/usr/local/WordNet-3.0/dict``). nltk cannot read it as is (no ``lexnames``
   file; path checks refuse folders outside ``nltk.data.path``), so a readable copy is
   built once under ``get_cache_dir()/nltk_data/corpora/wordnet`` and that data root is
   put first on ``nltk.data.path``;
3. otherwise a ``LookupError`` that says what to install.

The noun hierarchy (82,115 synsets) is parsed from the database files directly
(``_wordnet_parse.py``: the same values as nltk's API, ~5x faster than building nltk's
synset objects) and pickled under the cache directory, so only the first call in a
cache pays the parse (~2 s).
"""

import hashlib
import pickle
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._atomic import atomic_write
from .._config import get_cache_dir
from ._wordnet_files import _LOCK, _content_key, _locate
from ._wordnet_parse import parse_noun_files as _parse_nouns

_PARSE_VERSION = 2  # bump when the pickled layout below changes
_NOUNS = {}
_VOCABS = {}  # (id(parsed), lemmas, underscores) -> (parsed, NounVocabulary)


@dataclass(frozen=True)
class NounVocabulary:
    """WordNet noun records: one per (lemma, synset) pair, or one per synset.

    Attributes
    ----------
    names : list of str
        The prompt string of each record (underscores replaced by spaces unless kept).
    synsets : list of str
        The synset id of each record, e.g. ``"dog.n.01"``.
    depths : ndarray of int, shape (n_records,)
        ``min_depth()`` of the record's synset (``entity.n.01`` has depth 0).
    sense_ranks : ndarray of int, shape (n_records,)
        Rank of the record's synset among the noun senses of its lemma (0 = the most
        frequent sense, e.g. ``dog.n.01`` for "dog"; ``frank.n.02`` has rank 4).
    synset_index : ndarray of int, shape (n_records,)
        Row of the record's synset in ``all_synsets``.
    all_synsets : list of str
        Every noun synset, in ``wn.all_synsets("n")`` order.
    all_lemmas : list of tuple of str
        The lemma names of each synset, in WordNet order.
    ancestor_indptr, ancestor_indices : ndarray of int
        Hypernym ancestors (class and instance hypernyms, transitively) of synset ``s``
        are ``ancestor_indices[ancestor_indptr[s]:ancestor_indptr[s + 1]]``.

    Examples
    --------
    >>> from skclip.semantic import wordnet_nouns
    >>> vocab = wordnet_nouns()
    >>> i = vocab.names.index("Canis familiaris")
    >>> vocab.synsets[i], int(vocab.depths[i]), "canine.n.02" in vocab.ancestors(i)
    ('dog.n.01', 8, True)
    """

    names: list
    synsets: list
    depths: np.ndarray
    sense_ranks: np.ndarray
    synset_index: np.ndarray
    all_synsets: list = field(repr=False)
    all_lemmas: list = field(repr=False)
    ancestor_indptr: np.ndarray = field(repr=False)
    ancestor_indices: np.ndarray = field(repr=False)

    def __len__(self):
        return len(self.names)

    def ancestors(self, i):
        """Synset ids of the hypernym ancestors of record ``i``."""
        s = self.synset_index[i]
        rows = self.ancestor_indices[self.ancestor_indptr[s] : self.ancestor_indptr[s + 1]]
        return [self.all_synsets[a] for a in rows]


def _parsed_nouns(wordnet_path=None, cache=True):
    """The parsed noun hierarchy, from memory, the pickle cache, or nltk."""
    import nltk

    pointer = _locate(wordnet_path)
    key = f"{_content_key(pointer)}|{_PARSE_VERSION}|{nltk.__version__}"
    if key in _NOUNS:
        return _NOUNS[key]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = get_cache_dir(create=False) / "wordnet" / f"nouns-{digest}.pkl"
    parsed = None
    if cache and path.is_file():
        try:
            with open(path, "rb") as fh:
                parsed = pickle.load(fh)
            if not isinstance(parsed, dict):
                raise pickle.UnpicklingError(f"a {type(parsed).__name__}, not the parsed nouns")
        except Exception as exc:  # a damaged cache file of any kind: parse WordNet again
            warnings.warn(f"skclip: ignoring the damaged WordNet cache file {path} "
                          f"({type(exc).__name__}: {exc}); it is rebuilt.", UserWarning,
                          stacklevel=3)
            parsed = None
    if parsed is None:
        parsed = _parse_nouns(pointer)
        if cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, "wb") as fh:
                    pickle.dump(parsed, fh, protocol=pickle.HIGHEST_PROTOCOL)
            except OSError as exc:
                warnings.warn(f"skclip: cannot write the WordNet cache in {path.parent} "
                              f"({exc.strerror or exc}); running without it.", UserWarning,
                              stacklevel=3)
    _NOUNS[key] = parsed
    return parsed


def wordnet_nouns(wordnet_path=None, *, lemmas="all", underscores=False, cache=True):
    """WordNet 3.0 noun vocabulary with synset ids, depths and hypernym ancestors.

    Parameters
    ----------
    wordnet_path : str or path-like, default=None
        See :func:`load_wordnet`.
    lemmas : {"all", "first"}, default="all"
        ``"all"``: one record per (lemma, synset) pair (146,347 records in WordNet 3.0,
        the TAC list; a string may repeat across synsets). ``"first"``: one record per
        synset, its first lemma (82,115 records, the SIC list).
    underscores : bool, default=False
        Keep WordNet's underscores (``"physical_entity"``) as SIC and TAC do; by default
        they become spaces in the prompt strings. ``lemmas="first", underscores=True``
        gives SIC's ``noun.csv`` plus its last synset (``9/11``, which the file lacks),
        including ``entity``, which SIC's ``pd.read_csv`` silently drops as a header
        (``SemanticSpaceBuilder(vocabulary="wordnet-sic")`` drops both);
        ``lemmas="all", underscores=True`` reproduces the ``word`` column of TAC's
        ``WordNetNouns.csv``.
    cache : bool, default=True
        Read and write the parsed hierarchy under ``get_cache_dir()/wordnet``.

    Returns
    -------
    vocabulary : NounVocabulary
        Records in ``wn.all_synsets("n")`` order, lemmas in WordNet order. The object
        is memoised per process and shared: treat it as read-only.

    Examples
    --------
    >>> from skclip.semantic import wordnet_nouns
    >>> vocab = wordnet_nouns(lemmas="first")
    >>> len(vocab), vocab.names[:2], vocab.synsets[1]
    (82115, ['entity', 'physical entity'], 'physical_entity.n.01')
    """
    if lemmas not in ("all", "first"):
        raise ValueError(f"lemmas must be 'all' or 'first', got {lemmas!r}")
    with _LOCK:
        parsed = _parsed_nouns(wordnet_path, cache=cache)
        key = (id(parsed), lemmas, bool(underscores))
        if key not in _VOCABS or _VOCABS[key][0] is not parsed:
            _VOCABS[key] = (parsed, _records(parsed, lemmas, underscores))
        return _VOCABS[key][1]


def _records(parsed, lemmas, underscores):
    names, synset_index, ranks = [], [], []
    for s, (lemma_names, lemma_ranks) in enumerate(zip(parsed["lemmas"], parsed["ranks"])):
        n = 1 if lemmas == "first" else len(lemma_names)
        names.extend(lemma_names[:n])
        ranks.extend(lemma_ranks[:n])
        synset_index.extend([s] * n)
    if not underscores:
        names = [n.replace("_", " ") for n in names]
    synset_index = np.asarray(synset_index, dtype=np.int64)
    vocab = NounVocabulary(
        names=names,
        synsets=[parsed["synsets"][s] for s in synset_index],
        depths=parsed["depths"][synset_index].astype(np.int64),
        sense_ranks=np.asarray(ranks, dtype=np.int64),
        synset_index=synset_index,
        all_synsets=parsed["synsets"],
        all_lemmas=parsed["lemmas"],
        ancestor_indptr=parsed["indptr"],
        ancestor_indices=parsed["indices"],
    )
    for arr in (vocab.depths, vocab.sense_ranks, vocab.synset_index, vocab.ancestor_indptr,
                vocab.ancestor_indices):
        arr.flags.writeable = False  # memoised and shared: read-only
    return vocab
