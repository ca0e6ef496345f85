"""The output folder of ``skclip cluster``: checks, ``assignments.csv``, ``clusters.json``."""

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from .._atomic import write_bytes

OUTPUT_FILES = ("assignments.csv", "clusters.json", "report.html")
#: what ``skclip assign`` and ``skclip edit`` read besides OUTPUT_FILES
MODEL_FILES = ("model.joblib", "embeddings.npy")
# file names that are not valid UTF-8 (held as lone surrogates by Python): the CSV keeps
# their original bytes, the JSON a \udcXX escape that loads back to the same str, the
# page a character reference that browsers show as a replacement character
_ERRORS = ("surrogateescape", "backslashreplace", "xmlcharrefreplace")


def prepare_output_dir(out, *, overwrite=False):
    """Create ``out`` (or check it) before any expensive work starts.

    Parameters
    ----------
    out : str or Path
        The output folder.
    overwrite : bool, default=False
        Allow a folder that already holds files. Only skclip's own output files are
        replaced, each atomically (the old file stays whole until the new one is
        complete); nothing else is deleted but the temporaries of skclip's outputs
        that an interrupted run left behind.

    Returns
    -------
    out : Path

    Raises
    ------
    FileExistsError
        ``out`` is a file, or a non-empty folder and ``overwrite`` is False.
    PermissionError
        ``out`` cannot be created or written to.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip.report import prepare_output_dir
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> prepare_output_dir(tmp / "clusters").is_dir()
    True
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output path {str(out)!r} exists and is not a folder")
    if out.is_dir():
        from .._atomic import recover

        recover(out)  # an interrupted write: finish it or undo it
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output folder {str(out)!r} is not empty; pass --overwrite to replace "
            "skclip's files in it, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".skclip-write-test-"):
            pass
    except OSError as exc:
        raise PermissionError(
            f"cannot write to output folder {str(out)!r}: {exc.strerror or exc}") from exc
    return out


def write_assignments(path, paths, labels, confidence, outlier=None):
    """Write ``assignments.csv``: one row per image (path, cluster, confidence[, outlier]).

    Parameters
    ----------
    path : str or Path
        File to write.
    paths : sequence of str
        Image names, in row order.
    labels : array-like of int
        Cluster of each image.
    confidence : array-like of float
        Confidence of each assignment, in [0, 1].
    outlier : array-like of bool, default=None
        Outlier flag of each image (an ``outlier`` column of 0/1; none when None).

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip.report import write_assignments
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "assignments.csv"
    >>> print(write_assignments(f, ["a.jpg", "b.jpg"], [1, 0], [0.9, 0.75]).read_text().strip())
    path,cluster,confidence
    a.jpg,1,0.9000
    b.jpg,0,0.7500
    """
    return write_bytes(path, _assignments_text(paths, labels, confidence, outlier), _ERRORS[0])


def _assignments_text(paths, labels, confidence, outlier=None):
    if not (len(paths) == len(labels) == len(confidence)):
        raise ValueError("paths, labels and confidence must have the same length")
    fh = io.StringIO(newline="")
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["path", "cluster", "confidence"] + ([] if outlier is None else ["outlier"]))
    flags = [[]] * len(paths) if outlier is None else [[int(bool(o))] for o in outlier]
    for p, k, c, o in zip(paths, labels, confidence, flags):
        w.writerow([str(p), int(k), f"{float(c):.4f}", *o])
    return fh.getvalue()


def write_clusters_json(path, summary):
    """Write ``clusters.json`` (the run's metadata and one entry per cluster).

    Parameters
    ----------
    path : str or Path
        File to write.
    summary : dict
        JSON-serialisable run summary (see :func:`skclip.report.write_report`).

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from skclip.report import write_clusters_json
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "clusters.json"
    >>> json.loads(write_clusters_json(f, {"clusters": []}).read_text())
    {'clusters': []}
    """
    return write_bytes(path, json.dumps(summary, indent=2, ensure_ascii=False), _ERRORS[1])


def write_report(out, clusterer, X, *, paths=None, skipped=(), run=None, n_nouns=5,
                 n_representatives=12, embedder=None, save_model=False):
    """Write ``assignments.csv``, ``clusters.json`` and ``report.html`` for a fitted clusterer.

    The files are replaced together (:func:`skclip._atomic.replace_files`): an
    interrupted call leaves the folder's old files or the new ones, never a mix.

    Parameters
    ----------
    out : str or Path
        Existing output folder (see :func:`prepare_output_dir`).
    clusterer : fitted estimator or ClusterModel
        With ``predict`` and ``n_clusters`` (``n_clusters_`` when fitted with
        ``n_clusters="auto"``: the chosen K and the score of every scanned K then go
        into ``clusters.json`` under ``k_selection``, with the comparison against the
        null reference, and the score curve to the top of the report); its
        ``semantic_space_``, when present, names the clusters (see
        :func:`skclip.report.naming_vocabulary`). The report also maps the images in
        the space of its ``transform``. A :class:`ClusterModel` (with its edits) is
        written as it is; a clusterer is wrapped in one
        (:meth:`ClusterModel.from_fitted`).
    X : ndarray of shape (n_samples, n_features)
        The image embeddings it was fitted on.
    paths : sequence of str, default=None
        Image path of each row (None: rows are named ``#i``, no thumbnails).
    skipped : sequence of (path, error), default=()
        Unreadable files, listed in ``clusters.json`` and the report.
    run : dict, default=None
        Run metadata stored at the top of ``clusters.json``.
    n_nouns, n_representatives : int, default=5, 12
        Nouns and representative images listed per cluster.
    embedder : dict, default=None
        Settings of the embedder, stored in ``model.joblib``.
    save_model : bool, default=False
        Also write ``model.joblib`` (the :class:`ClusterModel`) and ``embeddings.npy``
        (``X``, the rows of ``assignments.csv``), which ``skclip assign`` and ``skclip
        edit`` read.

    Returns
    -------
    files : list of Path
        The files written.

    Examples
    --------
    >>> import json, tempfile, pathlib, numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import write_report
    >>> X = np.random.RandomState(0).normal(size=(20, 4))
    >>> clust = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    >>> files = write_report(pathlib.Path(tempfile.mkdtemp()), clust, X)
    >>> [f.name for f in files]
    ['assignments.csv', 'clusters.json', 'report.html']
    >>> sum(c["size"] for c in json.loads(files[1].read_text())["clusters"])
    20
    """
    from .._atomic import replace_files
    from ._html import render_report, thumbnail_data_uri
    from ._model_bundle import ClusterModel
    from ._run_summary import run_summary
    from ._summary import map_coordinates

    X = np.asarray(X)
    model = clusterer
    if not isinstance(model, ClusterModel):
        model = ClusterModel.from_fitted(clusterer, X, embedder=embedder)
    model.run = dict(run or {})
    summary, assigned, names = run_summary(
        model, X, paths=paths, skipped=skipped, run=run, n_nouns=n_nouns,
        n_representatives=n_representatives)
    page = render_report(summary, n_thumbnails=n_representatives,
                         thumbnail=thumbnail_data_uri if paths is not None else lambda p: None,
                         projection=map_coordinates(model.clusterer, X, assigned.labels))
    texts = [_assignments_text(names, assigned.labels, assigned.confidence, assigned.outlier),
             json.dumps(summary, indent=2, ensure_ascii=False), page]
    contents = {name: text.encode("utf-8", errors)
                for name, text, errors in zip(OUTPUT_FILES, texts, _ERRORS)}
    if save_model:
        contents.update(_model_files(model, X))
    return replace_files(out, contents)


def _model_files(model, X):
    from ._model_bundle import dump_model

    return {MODEL_FILES[0]: lambda fh: dump_model(model, fh),
            # the dtype of the fit (float32 for CLIP), so that the model sees the same rows
            MODEL_FILES[1]: lambda fh: np.save(
                fh, X if X.dtype in (np.float32, np.float64) else X.astype(np.float32))}
