"""The WordNet 3.0 noun hierarchy read straight from the database files.

nltk's reader builds a ``Synset`` object per line of ``data.noun`` (glosses, examples,
sense keys, lemma objects): ~10 s for the 82,115 noun synsets on a laptop core, most
of a cold first run's WordNet cost. The vocabulary needs only the lemma names, the
hypernym pointers and the sense order, which the files state directly
(``wndb(5WN)``):

* ``data.noun``: ``offset lex_filenum ss_type w_cnt word lex_id ... p_cnt
  [pointer_symbol offset pos source/target]... | gloss``, ``w_cnt`` in hexadecimal;
* ``index.noun``: ``lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt
  offset...``, the offsets in WordNet's sense (frequency) order;
* ``noun.exc``: inflected form, then its base forms.

Every value equals what nltk's API gives for the same files, and the tests check it
against nltk: synset names ``lemma.n.NN`` (first lemma, lower-cased, and its position
among that lemma's senses), lemma names as written, the hypernym and instance-hypernym
pointers nltk returns (those with source/target ``0000``), and a lemma's sense rank as
``wn.synsets(lemma, "n")`` orders them (the lemma's own senses, then those of the base
forms ``morphy`` finds, the last position winning for a repeated synset).
"""

import re

import numpy as np

__all__ = ["parse_noun_files"]

# nltk's MORPHOLOGICAL_SUBSTITUTIONS for nouns (WordNet's morphy(7WN) detachment rules)
_NOUN_RULES = (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"),
               ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"))
_MARKER = re.compile(r"\([^()]*\)$")  # a syntactic marker such as "(a)" (adjectives only)
_VERSION = re.compile(r"Word[nN]et (\d+\+?|\d+\.\d+) Copyright")


def _lines(pointer, name):
    """Text lines of one database file (a folder or zip path pointer of nltk)."""
    with pointer.join(name).open() as fh:
        data = fh.read()
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return data.splitlines()


def _records(lines):
    """``(line number, fields)`` of the data lines (the licence header skipped)."""
    for number, line in enumerate(lines, 1):
        if line and not line[0].isspace():  # the licence header is indented
            yield number, line.split("|", 1)[0].split()


def _malformed(name, number, exc):
    return ValueError(f"WordNet file {name}, line {number}, is not in the WordNet 3.0 "
                      f"database format ({type(exc).__name__}: {exc})")


def _read_data(lines):
    """Offsets, lemma names and parent offsets of every synset, in file order."""
    offsets, lemmas, parents = [], [], []
    version = next((m.group(1) for line in lines if line[:1].isspace()
                    for m in [_VERSION.search(line)] if m), None)
    for number, fields in _records(lines):
        try:
            n_words = int(fields[3], 16)
            at = 4 + 2 * n_words
            n_pointers = int(fields[at])
            # nltk's hypernyms()/instance_hypernyms(): semantic pointers only (0000)
            up = [int(fields[p + 1]) for p in range(at + 1, at + 1 + 4 * n_pointers, 4)
                  if fields[p] in ("@", "@i") and fields[p + 3] == "0000"]
            offsets.append(int(fields[0]))
        except (ValueError, IndexError) as exc:
            raise _malformed("data.noun", number, exc) from exc
        lemmas.append(tuple(_MARKER.sub("", w) for w in fields[4:at:2]))
        parents.append(up)
    return offsets, lemmas, parents, version


def _read_index(lines):
    """``lemma -> [offset, ...]`` in sense order."""
    index = {}
    for number, fields in _records(lines):
        try:
            n_synsets, n_pointers = int(fields[2]), int(fields[3])
            start = 4 + n_pointers + 2
            index[fields[0]] = [int(o) for o in fields[start : start + n_synsets]]
            if len(index[fields[0]]) != n_synsets:
                raise ValueError(f"{n_synsets} senses announced, "
                                 f"{len(index[fields[0]])} offsets given")
        except (ValueError, IndexError) as exc:
            raise _malformed("index.noun", number, exc) from exc
    return index


def _read_exceptions(lines):
    return {f[0]: f[1:] for f in (line.split() for line in lines) if f}


def _morphy(form, index, exceptions):
    """nltk's ``_morphy(form, "n")``: the form and its base forms that are nouns."""
    if form in exceptions:
        candidates = exceptions[form]
    else:
        candidates = [form[: -len(old)] + new for old, new in _NOUN_RULES if form.endswith(old)]
    out = []
    for f in [form, *candidates]:
        if f in index and f not in out:
            out.append(f)
    return out


def _ancestors_and_depths(parents):
    """Transitive hypernym rows and ``min_depth`` by memoised walk over the DAG."""
    n = len(parents)
    depths = np.full(n, -1, dtype=np.int32)
    ancestors = [None] * n
    for i in range(n):
        stack = [i]
        while stack:
            j = stack[-1]
            if ancestors[j] is not None:
                stack.pop()
                continue
            todo = [p for p in parents[j] if ancestors[p] is None]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            acc = set(parents[j])
            for p in parents[j]:
                acc |= ancestors[p]
            ancestors[j] = frozenset(acc)
            depths[j] = 1 + min((depths[p] for p in parents[j]), default=-1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(a) for a in ancestors])
    flat = (a for anc in ancestors for a in sorted(anc))
    indices = np.fromiter(flat, dtype=np.int32, count=indptr[-1])
    return depths, indptr, indices


def parse_noun_files(pointer):
    """Parse the noun hierarchy of the WordNet database at ``pointer``.

    Parameters
    ----------
    pointer : nltk path pointer
        The WordNet folder (or nltk's zip entry) holding ``data.noun``,
        ``index.noun`` and ``noun.exc``.

    Returns
    -------
    parsed : dict
        ``version``; ``synsets`` (names, file order); ``lemmas`` (tuples of lemma
        names per synset); ``ranks`` (per lemma, its sense rank); ``depths``;
        ``indptr``/``indices`` (CSR rows of hypernym ancestors).
    """
    offsets, lemmas, parent_offsets, version = _read_data(_lines(pointer, "data.noun"))
    index = _read_index(_lines(pointer, "index.noun"))
    try:
        exceptions = _read_exceptions(_lines(pointer, "noun.exc"))
    except OSError:  # nltk needs it too; a database without it has no exceptions
        exceptions = {}
    row = {off: i for i, off in enumerate(offsets)}
    names = []
    for off, names_i in zip(offsets, lemmas):
        first = names_i[0].lower()
        if off not in index.get(first, ()):
            raise ValueError(f"WordNet's index.noun does not list synset {off:08d} under "
                             f"its lemma {first!r}: data.noun and index.noun do not match")
        names.append(f"{first}.n.{index[first].index(off) + 1:02d}")
    orders = {}
    ranks = []
    for off, names_i in zip(offsets, lemmas):
        rank = []
        for name in names_i:
            key = name.lower()
            order = orders.get(key)
            if order is None:  # wn.synsets(name, "n"): the last position of a repeat wins
                order = {}
                senses = [o for f in _morphy(key, index, exceptions) for o in index[f]]
                for r, o in enumerate(senses):
                    order[o] = r
                orders[key] = order
            rank.append(order.get(off, len(order)))
        ranks.append(tuple(rank))
    try:
        parents = [[row[o] for o in up] for up in parent_offsets]
    except KeyError as exc:
        raise ValueError(f"a hypernym pointer of data.noun names the missing synset "
                         f"{exc.args[0]:08d}") from None
    depths, indptr, indices = _ancestors_and_depths(parents)
    return {
        "version": version,
        "synsets": names,
        "lemmas": lemmas,
        "ranks": ranks,
        "depths": depths,
        "indptr": indptr,
        "indices": indices,
    }
