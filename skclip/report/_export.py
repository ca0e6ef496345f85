"""Export a clustered folder: one folder of images per cluster, plus ``outliers/``."""

import csv
import json
import os
import re
import shutil
from pathlib import Path

__all__ = ["export_clusters"]

_UNSAFE = re.compile(r"[^\w\-. ]+")


def _folder_name(cluster_id, name):
    """``<id>-<name>``, the name reduced to letters, digits, ``-``, ``_`` and ``.``."""
    slug = _UNSAFE.sub("_", str(name or "")).strip(" ._").replace(" ", "_")[:80]
    return f"{cluster_id}-{slug}" if slug else str(cluster_id)


def _unique(target, used):
    """``target``, or ``stem-2.ext``... when an image of that name is already there."""
    name, n = target.name, 1
    while name in used:
        n += 1
        name = f"{target.stem}-{n}{target.suffix}"
    used.add(name)
    return target.with_name(name)


def export_clusters(folder, to, *, mode="link"):
    """Write one sub-folder per cluster of ``folder`` into ``to``, and ``outliers/``.

    Each cluster's folder is named ``<id>-<name>`` (its name from ``clusters.json``:
    the one given with ``skclip edit --rename`` or its best noun) and holds its images
    that are not outliers; the outliers (``outlier = 1`` in ``assignments.csv``) go to
    ``outliers/``. Images with the same file name get ``-2``, ``-3``... suffixes.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``skclip cluster`` (``assignments.csv``, ``clusters.json``).
    to : str or Path
        The export folder; it must not exist or be empty. It is built under a temporary
        name and renamed into place when complete.
    mode : {"link", "copy"}, default="link"
        Symbolic links to the images (absolute paths), or copies.

    Returns
    -------
    counts : dict of str to int
        Images per created folder.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> from sklearn.cluster import KMeans
    >>> from skclip.report import export_clusters, prepare_output_dir, write_report
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> paths = []
    >>> for i in range(6):
    ...     paths.append(str(tmp / f"{i}.png"))
    ...     Image.new("RGB", (4, 4)).save(paths[-1])
    >>> X = np.repeat(np.eye(2), 3, axis=0)
    >>> out = prepare_output_dir(tmp / "out")
    >>> _ = write_report(out, KMeans(2, n_init=1, random_state=0).fit(X), X, paths=paths)
    >>> sorted(export_clusters(tmp / "out", tmp / "export").items())
    [('0', 3), ('1', 3), ('outliers', 0)]
    """
    from .._atomic import atomic_directory
    from .._atomic import recover

    if mode not in ("link", "copy"):
        raise ValueError(f"mode must be 'link' or 'copy', got {mode!r}")
    folder, to = Path(folder), Path(to)
    for name in ("assignments.csv", "clusters.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name}: not a folder written by "
                                    "'skclip cluster'")
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise FileExistsError(f"export folder {str(to)!r} exists and is not empty; choose "
                              "another --to")
    recover(folder)
    summary = json.loads((folder / "clusters.json").read_text(encoding="utf-8"))
    names = {c["cluster"]: c.get("name") for c in summary["clusters"]}
    with (folder / "assignments.csv").open(newline="", encoding="utf-8",
                                           errors="surrogateescape") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "outlier" not in rows[0]:
        raise ValueError(f"{folder}/assignments.csv has no outlier column: written by an "
                         "older skclip; run 'skclip cluster' again")
    to.parent.mkdir(parents=True, exist_ok=True)
    if to.is_dir():
        to.rmdir()  # empty: replaced by the complete export below
    counts, used = {}, {}
    with atomic_directory(to) as tmp:
        for k in sorted(names):
            counts[_folder_name(k, names[k])] = 0
        counts["outliers"] = 0
        for sub in counts:
            (tmp / sub).mkdir()
        for r in rows:
            k = int(r["cluster"])
            sub = "outliers" if r["outlier"] == "1" else _folder_name(k, names.get(k))
            if sub not in counts:
                raise ValueError(f"assignments.csv names cluster {k}, which clusters.json "
                                 "does not list")
            src = Path(r["path"]).resolve()
            if not src.is_file():
                raise FileNotFoundError(f"image not found: {r['path']} (moved since "
                                        "'skclip cluster'?)")
            dst = _unique(tmp / sub / src.name, used.setdefault(sub, set()))
            if mode == "link":
                os.symlink(src, dst)
            else:
                shutil.copy2(src, dst)
            counts[sub] += 1
    return counts
