"""The datasets of the published CLIP clustering tables, as labelled lists of image files.

Every dataset ends up as a class-folder tree of image files (so that the per-file
embedding cache serves it):

* ``cifar10``, ``cifar20`` (CIFAR-100's 20 superclasses) and ``stl10``: the archive
  torchvision downloads into the cache on first use (or the extracted archive given as
  ``data``), written once as PNG files;
* ``imagenet10``, ``imagenet-dogs``, ``tiny-imagenet`` and ``imagenet``: a local
  ImageNet (or Tiny-ImageNet) folder, ``data/<split>/<wnid>/...``; the classes are
  selected by the published WNID lists shipped with the package;
* ``folder``: any ``data/<class>/<image>`` tree.

Any dataset also reads a class-folder tree whose sub-folders are named after its
classes (WNIDs or class names), so that everything works offline.
"""

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._config import get_cache_dir
from ._benchmark_files import RAW_FOLDERS, download_raw, find_raw, materialize_raw
from ._folders import IMAGE_EXTENSIONS, _images_under

__all__ = ["BENCHMARK_DATASETS", "benchmark_dataset_info", "load_benchmark_dataset"]

_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
            "truck")
_STL10 = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
# CIFAR-100's superclasses (as in its 'meta' file), each with its five fine classes
_CIFAR20 = {
    "aquatic_mammals": "beaver dolphin otter seal whale",
    "fish": "aquarium_fish flatfish ray shark trout",
    "flowers": "orchid poppy rose sunflower tulip",
    "food_containers": "bottle bowl can cup plate",
    "fruit_and_vegetables": "apple mushroom orange pear sweet_pepper",
    "household_electrical_devices": "clock keyboard lamp telephone television",
    "household_furniture": "bed chair couch table wardrobe",
    "insects": "bee beetle butterfly caterpillar cockroach",
    "large_carnivores": "bear leopard lion tiger wolf",
    "large_man-made_outdoor_things": "bridge castle house road skyscraper",
    "large_natural_outdoor_scenes": "cloud forest mountain plain sea",
    "large_omnivores_and_herbivores": "camel cattle chimpanzee elephant kangaroo",
    "medium_mammals": "fox porcupine possum raccoon skunk",
    "non-insect_invertebrates": "crab lobster snail spider worm",
    "people": "baby boy girl man woman",
    "reptiles": "crocodile dinosaur lizard snake turtle",
    "small_mammals": "hamster mouse rabbit shrew squirrel",
    "trees": "maple_tree oak_tree palm_tree pine_tree willow_tree",
    "vehicles_1": "bicycle bus motorcycle pickup_truck train",
    "vehicles_2": "lawn_mower rocket streetcar tank tractor",
}


@dataclass(frozen=True)
class _Spec:
    title: str
    source: str  # "torchvision", "imagenet" or "folder"
    splits: tuple
    split: str  # the split of the published protocol


@lru_cache(maxsize=1)
def _imagenet_lists():
    path = Path(__file__).with_name("data") / "imagenet_classes.json"
    return json.loads(path.read_text(encoding="utf-8"))


_SPECS = {
    "cifar10": _Spec("CIFAR-10", "torchvision", ("test", "train"), "test"),
    "cifar20": _Spec("CIFAR-100-20", "torchvision", ("test", "train"), "test"),
    "stl10": _Spec("STL-10", "torchvision", ("test", "train"), "test"),
    "imagenet10": _Spec("ImageNet-10", "imagenet", ("train", "val"), "train"),
    "imagenet-dogs": _Spec("ImageNet-Dogs", "imagenet", ("train", "val"),
                           "train"),
    "tiny-imagenet": _Spec("Tiny-ImageNet", "imagenet", ("train", "val"),
                           "train"),
    "imagenet": _Spec("ImageNet-1K", "imagenet", ("val", "train"), "val"),
    "folder": _Spec("image folder", "folder", ("all",), "all"),
}

#: Names accepted by :func:`load_benchmark_dataset`.
BENCHMARK_DATASETS = tuple(_SPECS)


def _key(name):
    """Folder-name matching: case, spaces and hyphens do not matter."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _classes(name):
    """``(class_names, layouts)``: the labels and the folder names that may hold each."""
    if name in ("cifar10", "stl10"):
        names = list(_CIFAR10 if name == "cifar10" else _STL10)
        return names, [{_key(c): i for i, c in enumerate(names)}]
    if name == "cifar20":
        names = list(_CIFAR20)
        fine = {_key(f): i for i, c in enumerate(names) for f in _CIFAR20[c].split()}
        return names, [{_key(c): i for i, c in enumerate(names)}, fine]
    pairs = _imagenet_lists()[name]
    return ([n for _, n in pairs],
            [{_key(w): i for i, (w, _) in enumerate(pairs)},
             {_key(n): i for i, (_, n) in enumerate(pairs)}])


def _spec(name):
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(BENCHMARK_DATASETS)}")
    return _SPECS[name]


def benchmark_dataset_info(name):
    """What :func:`load_benchmark_dataset` knows about a dataset before reading it.

    Parameters
    ----------
    name : str
        One of :data:`BENCHMARK_DATASETS`.

    Returns
    -------
    info : :class:`~sklearn.utils.Bunch`
        ``title``, ``source`` ("torchvision", "imagenet" or "folder"), ``splits``,
        ``split`` (the split of the published protocol), ``class_names`` (None for
        "folder"), ``class_ids`` (WNIDs for the ImageNet subsets, else the names).

    Examples
    --------
    >>> from skclip.datasets import benchmark_dataset_info
    >>> info = benchmark_dataset_info("imagenet10")
    >>> info.split, len(info.class_names), info.class_ids[0]
    ('train', 10, 'n02056570')
    """
    spec = _spec(name)
    names = ids = None
    if spec.source != "folder":
        names, _ = _classes(name)
        ids = ([w for w, _ in _imagenet_lists()[name]] if spec.source == "imagenet"
               else list(names))
    return Bunch(title=spec.title, source=spec.source, splits=spec.splits, split=spec.split,
                 class_names=names, class_ids=ids)


def _match(root, subdirs, layouts, class_names, title):
    """Pick the layout matching most sub-folders; name the classes it misses."""
    found = {_key(d.name): d for d in subdirs}
    best = max(layouts, key=lambda lay: sum(k in found for k in lay))
    missing = [k for k in best if k not in found]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more"
                                           if len(missing) > 20 else "")
        raise ValueError(
            f"{root} does not hold the classes of {title}: {len(missing)} of its "
            f"{len(best)} class folders are missing ({shown}). Expected one sub-folder per "
            f"class named after it (e.g. {next(iter(best))}).")
    ignored = sorted(d.name for k, d in found.items() if k not in best)
    return [(found[k], i) for k, i in best.items()], ignored


def _tiny_val(root):
    """Tiny-ImageNet's own val layout: ``val/images/*`` and ``val/val_annotations.txt``."""
    table = root / "val_annotations.txt"
    by_class = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and (root / "images" / parts[0]).is_file():
            by_class.setdefault(parts[1], []).append(root / "images" / parts[0])
    return by_class


def _tree(name, spec, root, limit):
    """Paths and labels of the dataset's classes in a class-folder tree at ``root``."""
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if spec.source == "folder":
        subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        files = {d: _images_under(d, IMAGE_EXTENSIONS) for d in subdirs}
        files = {d: f for d, f in files.items() if f}
        if not files:
            raise ValueError(f"{root} has no class sub-folders with images; the benchmark "
                             "needs root/<class>/<image> (the folder names are the labels)")
        pairs, ignored = [(d, i) for i, d in enumerate(files)], []
        class_names = [d.name for d in files]
    else:
        class_names, layouts = _classes(name)
        if name == "tiny-imagenet" and (root / "val_annotations.txt").is_file():
            by_class = _tiny_val(root)
            subdirs = [Path(w) for w in by_class]
            pairs, ignored = _match(root, subdirs, layouts, class_names, spec.title)
            files = {d: sorted(by_class[d.name]) for d, _ in pairs}
        else:
            subdirs = sorted(d for d in root.iterdir() if d.is_dir())
            pairs, ignored = _match(root, subdirs, layouts, class_names, spec.title)
            files = {d: _images_under(d, IMAGE_EXTENSIONS) for d, _ in pairs}
    paths, y, taken = [], [], {}
    for d, label in sorted(pairs, key=lambda p: (p[1], p[0].name)):
        chosen = files[d]
        if limit is not None:
            chosen = chosen[:max(0, limit - taken.get(label, 0))]
            taken[label] = taken.get(label, 0) + len(chosen)
        paths.extend(str(p) for p in chosen)
        y.extend([label] * len(chosen))
    return paths, np.asarray(y, dtype=np.int64), class_names, ignored


def _source_root(name, spec, data, split, download, cache, title):
    """The class-folder tree to read; torchvision archives are written as images first."""
    raw = find_raw(name, data)
    if data is not None and raw is None:
        return (data / split if (data / split).is_dir() else data), data
    if spec.source == "imagenet" and data is None:
        raise ValueError(
            f"{title} is read from a local ImageNet folder: pass --data DIR with "
            f"DIR/{split}/<wnid>/<image> (or DIR/<wnid>/<image>); the classes are selected "
            "by the published WNID list")
    if raw is None:
        downloads = cache / "datasets" / "downloads"
        raw = find_raw(name, downloads)
        if raw is None:
            if not download:
                raise FileNotFoundError(
                    f"{title} is not in the cache ({downloads}) and download=False; pass "
                    f"--data DIR with the extracted '{RAW_FOLDERS[name][0]}' folder or a "
                    "class-folder tree")
            raw = download_raw(name, downloads, split, title=title)
    return raw, raw


def load_benchmark_dataset(name, data=None, *, split=None, limit=None, download=True,
                           cache_dir=None, verbose=True):
    """The labelled image files of a benchmark dataset, ready to embed.

    Parameters
    ----------
    name : str
        One of :data:`BENCHMARK_DATASETS`: ``cifar10``, ``cifar20``, ``stl10``,
        ``imagenet10``, ``imagenet-dogs``, ``tiny-imagenet``, ``imagenet``, ``folder``.
    data : str or path-like, default=None
        Where the data is: an extracted torchvision archive (or the folder holding it),
        a local ImageNet (or Tiny-ImageNet) folder with ``<split>/<wnid>/`` sub-folders,
        or any class-folder tree ``data/<class>/<image>`` (``data/<split>/<class>/...``
        also works) whose folders are named after the dataset's classes (WNIDs or class
        names). None downloads CIFAR-10/100 and STL-10 into the cache (torchvision);
        the ImageNet datasets and ``folder`` need it.
    split : str, default=None
        The split to read; None is the split of the published protocol
        (:func:`benchmark_dataset_info`).
    limit : int, default=None
        Keep the first ``limit`` images of each class (a quick run).
    download : bool, default=True
        Allow downloading a torchvision archive that is not in the cache.
    cache_dir : str or path-like, default=None
        skclip's cache folder (default: ``SKCLIP_CACHE`` or ``~/.cache/skclip``).
    verbose : bool, default=True
        Progress bar while an archive is written as images.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``paths`` (list of str), ``y`` (int64 labels), ``class_names``, ``name``,
        ``title``, ``split``, ``root`` (the folder the images were read from),
        ``source`` and ``ignored_classes`` (sub-folders that are not classes of the
        dataset).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skclip.datasets import load_benchmark_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ["cat/1.jpg", "cat/2.jpg", "dog/1.png", "dog/2.png"]:
    ...         p = pathlib.Path(tmp, name)
    ...         p.parent.mkdir(exist_ok=True)
    ...         p.touch()
    ...     data = load_benchmark_dataset("folder", tmp, limit=1)
    >>> data.class_names, data.y.tolist()
    (['cat', 'dog'], [0, 1])
    """
    spec = _spec(name)
    split = spec.split if split is None else split
    if split not in spec.splits:
        raise ValueError(f"{spec.title} has no split {split!r}; choose from "
                         f"{', '.join(spec.splits)}")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    data = None if data is None else Path(os.fspath(data))
    if spec.source == "folder" and data is None:
        raise ValueError("the 'folder' dataset needs --data DIR (a DIR/<class>/<image> tree)")
    cache = get_cache_dir(cache_dir, create=False)
    root, origin = _source_root(name, spec, data, split, download, cache, spec.title)
    if spec.source == "torchvision" and find_raw(name, root) is not None:
        names, _ = _classes(name)
        root = materialize_raw(name, root, split, names,
                               cache / "datasets" / name / split, verbose=verbose)
    paths, y, class_names, ignored = _tree(name, spec, root, limit)
    if len(paths) < len(class_names):
        raise ValueError(f"{root} holds {len(paths)} image(s) for {len(class_names)} "
                         f"classes of {spec.title}: fewer images than classes")
    empty = [class_names[i] for i in range(len(class_names)) if not np.any(y == i)]
    if empty:
        raise ValueError(f"{root}: no images for the class(es) {', '.join(empty[:20])}")
    return Bunch(paths=paths, y=y, class_names=list(class_names), name=name,
                 title=spec.title, split=split, root=str(root), source=str(origin),
                 ignored_classes=ignored)
