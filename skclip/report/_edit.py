"""Revise a clustered folder: merge, rename and split clusters, all files at once.

``skclip edit`` calls :func:`edit_cluster_folder`. The edits are applied, in the order
given, to the folder's :class:`ClusterModel` (``model.joblib``) on the fitted
embeddings (``embeddings.npy``); then ``assignments.csv``, ``clusters.json``,
``report.html``, ``model.joblib`` and ``embeddings.npy`` are replaced together
(:func:`skclip._atomic.replace_files`). A bad edit (an unknown id, a merge of a
cluster with itself, a split into fewer than 2 parts) raises before anything is
written, and an interrupted edit leaves the folder as it was or as it would be after
the edit, never a mix.
"""

import csv
import json
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["EDIT_OPS", "edit_cluster_folder", "read_cluster_folder"]

EDIT_OPS = ("merge", "rename", "split")


def read_cluster_folder(folder):
    """The model, fitted embeddings, image paths and summary of a ``skclip cluster`` folder.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``skclip cluster`` (an interrupted edit in it is settled
        first, see :func:`skclip._atomic.recover`).

    Returns
    -------
    folder : Bunch
        ``model`` (:class:`ClusterModel`), ``X`` (memory-mapped ``embeddings.npy``),
        ``paths`` (the rows of ``assignments.csv``), ``rows`` (its rows as dicts) and
        ``summary`` (``clusters.json``).

    Raises
    ------
    FileNotFoundError
        Not a folder, or a file is missing (e.g. written before skclip saved models).
    ValueError
        Written by another skclip version, or its files disagree.
    """
    from .. import __version__
    from .._atomic import recover
    from ._model_bundle import load_model
    from ._outputs import MODEL_FILES, OUTPUT_FILES

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"clusters folder not found: {folder}")
    recover(folder)
    missing = [n for n in (*OUTPUT_FILES[:2], *MODEL_FILES) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} has no {', '.join(missing)}: it is not a folder written by 'skclip "
            f"cluster' {__version__} (run 'skclip cluster ... --out {folder}' again)")
    summary = json.loads((folder / OUTPUT_FILES[1]).read_text(encoding="utf-8"))
    version = summary.get("skclip_version")
    if version != __version__:
        raise ValueError(f"{folder} was written by skclip {version}; this is skclip "
                         f"{__version__}. Run 'skclip cluster' again with this version.")
    model = load_model(folder / MODEL_FILES[0])
    with (folder / OUTPUT_FILES[0]).open(newline="", encoding="utf-8",
                                         errors="surrogateescape") as fh:
        rows = list(csv.DictReader(fh))
    X = np.load(folder / MODEL_FILES[1], mmap_mode="r")
    if len(X) != len(rows):
        raise ValueError(f"{folder}: embeddings.npy has {len(X)} rows but assignments.csv "
                         f"{len(rows)}; the folder was modified by hand")
    return Bunch(model=model, X=X, paths=[r["path"] for r in rows], rows=rows,
                 summary=summary)


def _apply(model, X, op, value, random_state):
    if op == "merge":
        return model.merge(value, X)
    if op == "rename":
        cluster_id, name = value
        return model.rename(cluster_id, name)
    if op == "split":
        cluster_id, n_parts = value
        return model.split(cluster_id, n_parts, X, random_state=random_state)
    raise ValueError(f"unknown edit {op!r}; expected one of {EDIT_OPS}")


def edit_cluster_folder(folder, edits, *, random_state=0):
    """Apply ``edits`` in order and rewrite the folder's outputs together.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``skclip cluster``.
    edits : list of (str, value)
        ``("merge", [id, id, ...])`` (into the smallest id), ``("rename", (id, name))``,
        ``("split", (id, n_parts))`` (new ids for the parts).
    random_state : int, default=0
        Seeds the k-means of splits.

    Returns
    -------
    result : Bunch
        ``files`` (the rewritten paths) and ``edits`` (the records added to
        ``clusters.json``'s ``edits`` list).

    Examples
    --------
    >>> import json, tempfile, pathlib, numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import edit_cluster_folder, write_report
    >>> X = np.repeat(np.eye(3), 10, axis=0) + 0.01 * np.random.RandomState(0).rand(30, 3)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_report(out, KMeans(3, n_init=3, random_state=0).fit(X), X, save_model=True)
    >>> done = edit_cluster_folder(out, [("merge", [0, 2]), ("rename", (1, "ones"))])
    >>> summary = json.loads((out / "clusters.json").read_text())
    >>> [(c["cluster"], c["size"]) for c in summary["clusters"]], summary["edits"][1]
    ([(0, 20), (1, 10)], {'op': 'rename', 'id': 1, 'name': 'ones'})
    """
    from ._outputs import write_report

    if not edits:
        raise ValueError("nothing to do: give at least one --merge, --rename or --split")
    folder = Path(folder)
    current = read_cluster_folder(folder)
    model, X = current.model, np.asarray(current.X)
    before = len(model.edits)
    for op, value in edits:
        _apply(model, X, op, value, random_state)
    skipped = [(s["path"], s["error"]) for s in current.summary.get("skipped", [])]
    files = write_report(folder, model, X, paths=current.paths, skipped=skipped,
                         run=model.run, save_model=True)
    return Bunch(files=files, edits=model.edits[before:])
