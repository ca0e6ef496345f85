"""The vocabulary file format: embeddings encoded once (e.g. on a GPU), used anywhere.

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

from ._text_cache import _weights_id, store_texts, unit_rows

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


def write_vocabulary_file(out, embedder, unique, templates, embeddings, vocabulary):
    """Write the embeddings of the distinct nouns ``unique`` to the ``.npz`` file ``out``.

    ``vocabulary`` names the vocabulary in the file's record (``"wordnet"``, ``"list"``,
    ...). The file is written atomically; ``.npz`` is appended to a name without it.
    Returns the path written.
    """
    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    meta = {"format": _FILE_FORMAT, "vocabulary": vocabulary,
            **_identity(embedder, unique, templates)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, embeddings=np.asarray(embeddings, dtype=np.float16),
                 nouns=np.asarray(unique), meta=np.asarray(json.dumps(meta)))
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
