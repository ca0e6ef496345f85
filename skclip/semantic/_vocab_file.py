"""Vocabulary embeddings as a portable file: encode once (e.g. on a GPU), use anywhere.

A vocabulary file (``.npz``) holds the distinct nouns, their template-ensembled
embeddings (float16) and what they were made with: model name, weights identity (an
open_clip tag, or the size and SHA-256 of a checkpoint file), templates and a hash of
the nouns. It is checked against the run that uses it, so a file made with another
model, other weights, other templates or another vocabulary is refused with a
message naming the difference, never silently used.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ._text_cache import _weights_id, cache_key, embed_texts, store_texts, unit_rows

_FILE_FORMAT = 1


def _nouns_digest(unique):
    digest = hashlib.sha256()
    for text in unique:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()[:32]


def _identity(embedder, unique, templates):
    return {
        "model": os.fspath(getattr(embedder, "model", "")),
        "weights": _weights_id(getattr(embedder, "pretrained", None)),
        "templates": list(templates),
        "nouns": _nouns_digest(unique),
        "n_nouns": len(unique),
    }


def build_vocabulary_cache(embedder=None, vocabulary="wordnet", templates="tac7", *, out=None,
                           cache=True, cache_dir=None, wordnet_path=None, verbose=1):
    """Encode a whole noun vocabulary with a template ensemble; cache it and/or save it.

    What ``skclip vocab build`` runs. The result goes to the text cache (so later fits
    with the same model, weights, templates and vocabulary use it) and, with ``out``,
    to a file that :class:`SemanticSpaceBuilder` reads with ``vocabulary_cache=`` on
    another machine (encode once on a GPU, cluster on CPUs).

    Parameters
    ----------
    embedder : CLIPEmbedder or object with ``encode_text``, default=None
        The text encoder; it must name real weights (``model`` and ``pretrained``
        attributes; random weights cannot be reused). None means ``CLIPEmbedder()``.
    vocabulary : {"wordnet", "wordnet-tac", "wordnet-sic"} or list of str, default="wordnet"
        As in :class:`SemanticSpaceBuilder`.
    templates : str or list of str, default="tac7"
        As in :class:`SemanticSpaceBuilder` (``"tac7"`` for CAE and TAC, ``"photo"``
        for MCA).
    out : str or path-like, default=None
        Also write the embeddings to this ``.npz`` file.
    cache : bool, default=True
        Write the text cache (``get_cache_dir(cache_dir)/text``).
    cache_dir : str or path-like, default=None
    wordnet_path : str or path-like, default=None
    verbose : int, default=1
        Progress bar when positive.

    Returns
    -------
    path : pathlib.Path or None
        The file written (None without ``out``).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from skclip.semantic import SemanticSpaceBuilder, build_vocabulary_cache
    >>> class Encoder:  # stands in for a CLIPEmbedder with real weights
    ...     model, pretrained = "toy-model", "toy-weights"
    ...     def encode_text(self, texts):
    ...         return np.array([[len(t), t.count("a"), 1.0] for t in texts], np.float32)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> nouns = ["cat", "dog", "zebra", "aardvark"]
    >>> path = build_vocabulary_cache(Encoder(), nouns, "tac7", out=folder / "vocab.npz",
    ...                               cache=False, verbose=0)
    >>> space = SemanticSpaceBuilder(embedder=Encoder(), vocabulary=nouns, templates="tac7",
    ...                              vocabulary_cache=path, topk_nouns=1, cache=False)
    >>> space.fit(np.ones((4, 3), np.float32)).nouns_
    ['aardvark']
    """
    from ._builder import SemanticSpaceBuilder
    from ._sources import noun_rows
    from ._templates import resolve_templates

    builder = SemanticSpaceBuilder(embedder=embedder, vocabulary=vocabulary, templates=templates,
                                   wordnet_path=wordnet_path)
    encoder = builder._encoder_factory()()
    templates = resolve_templates(templates)
    unique = list(dict.fromkeys(noun_rows(builder).names))
    if cache_key(encoder, unique, templates) is None:
        raise ValueError(
            "the encoder names no reusable weights (pretrained=None draws random ones): "
            "vocabulary embeddings can only be cached for a pretrained tag or checkpoint."
        )
    E = embed_texts(encoder, unique, templates, cache=cache, cache_dir=cache_dir,
                    verbose=verbose,
                    desc=f"encoding {len(unique):,} nouns x {len(templates)} templates")
    if out is None:
        return None
    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    meta = {"format": _FILE_FORMAT, "vocabulary": vocabulary if isinstance(vocabulary, str)
            else "list", **_identity(encoder, unique, templates)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, embeddings=np.asarray(E, dtype=np.float16), nouns=np.asarray(unique),
                 meta=np.asarray(json.dumps(meta)))
    os.replace(tmp, out)
    return out


def read_vocabulary_file(path, embedder, names, templates, *, cache=True, cache_dir=None,
                         verbose=0):
    """Embeddings of ``names`` from a vocabulary file, after checking it fits this run.

    Installs them in the text cache as well. Raises ``ValueError`` naming what
    differs (model, weights, templates or nouns).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            E = data["embeddings"]
            nouns = data["nouns"].tolist()
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read the vocabulary file {path}: {exc}") from exc
    unique = list(dict.fromkeys(names))
    want = _identity(embedder, unique, templates)
    for field, what in (("model", "model"), ("weights", "pretrained weights"),
                        ("templates", "templates"), ("nouns", "vocabulary")):
        if meta.get(field) != want[field]:
            got, need = meta.get(field), want[field]
            if field == "nouns":
                got, need = f"{meta.get('n_nouns')} nouns", f"{want['n_nouns']} nouns"
            raise ValueError(
                f"the vocabulary file {path} was built for other {what} ({got!r}; this run "
                f"uses {need!r}); rebuild it with 'skclip vocab build' or drop "
                "--vocabulary-cache."
            )
    if nouns != unique or E.ndim != 2 or len(E) != len(unique):
        raise ValueError(f"the vocabulary file {path} is damaged (nouns and embeddings differ)")
    E = unit_rows(E)
    store_texts(embedder, unique, templates, E, cache=cache, cache_dir=cache_dir)
    if len(unique) == len(names):
        return E
    row = {t: i for i, t in enumerate(unique)}
    return E[[row[t] for t in names]]
