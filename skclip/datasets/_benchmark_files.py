"""The archives torchvision downloads (CIFAR-10, CIFAR-100, STL-10), read and written as images.

The benchmark embeds image *files* (so that the per-file embedding cache of ``skclip
cluster`` serves it too). The CIFAR pickles and the STL-10 binaries are therefore read
here and written once, losslessly, as PNG files of a class-folder tree under the cache
directory: ``<cache>/datasets/<dataset>/<split>/<class>/<index>.png``. A marker file
records a fingerprint of the source, so a different copy of the archive is written again.

torchvision is used only to download and extract the archives; the files are read here,
so that a copy extracted by hand (``--data``) needs no checksum and tests can use tiny
fake archives.
"""

import hashlib
import os
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np

__all__ = ["RAW_FOLDERS", "download_raw", "find_raw", "materialize_raw", "read_raw"]

# dataset -> the folder the official archive extracts to, and the torchvision class
RAW_FOLDERS = {
    "cifar10": ("cifar-10-batches-py", "CIFAR10"),
    "cifar20": ("cifar-100-python", "CIFAR100"),
    "stl10": ("stl10_binary", "STL10"),
}
_FILES = {  # (dataset, split) -> the files of the split, relative to the raw folder
    ("cifar10", "train"): [f"data_batch_{i}" for i in range(1, 6)],
    ("cifar10", "test"): ["test_batch"],
    ("cifar20", "train"): ["train"],
    ("cifar20", "test"): ["test"],
    ("stl10", "train"): ["train_X.bin", "train_y.bin"],
    ("stl10", "test"): ["test_X.bin", "test_y.bin"],
}
_MARKER = ".skclip-complete"


def find_raw(name, root):
    """The extracted archive folder of ``name`` at or just below ``root``, or None."""
    if name not in RAW_FOLDERS or root is None:
        return None
    root = Path(root)
    folder = RAW_FOLDERS[name][0]
    for cand in (root / folder, root):
        if cand.name == folder and cand.is_dir():
            return cand
    return None


def _unpickle(path):
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable CIFAR batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch:
        raise ValueError(f"{path} is not a CIFAR batch (no 'data' entry)")
    return batch


def read_raw(name, folder, split):
    """Images and labels of one split of an extracted archive.

    Returns
    -------
    images : ndarray of shape (n, height, width, 3), uint8
    y : ndarray of shape (n,), int64
        Labels in the archive's class order (CIFAR-100: the 20 superclasses).
    """
    folder = Path(folder)
    files = [folder / f for f in _FILES[(name, split)]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the file(s) {', '.join(missing)} of the "
                                f"{split} split")
    if name == "stl10":
        raw = np.fromfile(files[0], dtype=np.uint8)
        if raw.size % (3 * 96 * 96):
            raise ValueError(f"{files[0]}: size {raw.size} is not a multiple of 3x96x96")
        # stored column-major per channel: (n, 3, width, height)
        images = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
        y = np.fromfile(files[1], dtype=np.uint8).astype(np.int64) - 1
    else:
        label_key = b"labels" if name == "cifar10" else b"coarse_labels"
        batches = [_unpickle(f) for f in files]
        data = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{folder}: CIFAR rows must hold 3072 bytes, got {data.shape}")
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    if len(y) != len(images):
        raise ValueError(f"{folder}: {len(images)} images but {len(y)} labels ({split} split)")
    return np.ascontiguousarray(images), y


def _fingerprint(name, folder, split):
    digest = hashlib.sha1(f"{name}/{split}".encode())
    for f in _FILES[(name, split)]:
        with open(Path(folder) / f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def materialize_raw(name, folder, split, class_names, target, *, verbose=True):
    """Write the images of a split as ``target/<class>/<index>.png`` once; return ``target``.

    Nothing is written when ``target`` already holds the images of the same source.
    """
    from PIL import Image
    from tqdm.auto import tqdm

    target = Path(target)
    stamp = _fingerprint(name, folder, split)
    marker = target / _MARKER
    if marker.is_file() and marker.read_text().strip() == stamp:
        return target
    images, y = read_raw(name, folder, split)
    if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
        raise ValueError(f"{folder}: labels outside 0..{len(class_names) - 1} in the "
                         f"{split} split")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for c in class_names:
        (tmp / c).mkdir(parents=True)
    width = len(str(len(y)))
    for i in tqdm(range(len(y)), desc=f"writing {name} {split} images", unit="img",
                  disable=not verbose):
        Image.fromarray(images[i]).save(tmp / class_names[y[i]] / f"{i:0{width}d}.png")
    (tmp / _MARKER).write_text(stamp + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def download_raw(name, root, split, *, title):
    """Download and extract the archive of ``name`` into ``root`` with torchvision.

    Returns the extracted folder; a failed download (no internet) raises ``RuntimeError``
    saying how to pass the files instead.
    """
    folder, cls_name = RAW_FOLDERS[name]
    Path(root).mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # fail in a minute, not never, without a network
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        if name == "stl10":
            cls(os.fspath(root), split=split, download=True)
        else:
            cls(os.fspath(root), train=split == "train", download=True)
    except Exception as exc:  # URLError, HTTPError, checksum errors: all say the same
        raise RuntimeError(
            f"could not download {title} into {root} ({type(exc).__name__}: {exc}). "
            f"Without internet access, pass --data DIR: the extracted '{folder}' folder "
            f"(or the folder holding it), or a class-folder tree DIR/<class>/<image> "
            f"(DIR/{split}/<class>/<image> also works)."
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
    found = find_raw(name, root)
    if found is None:
        raise RuntimeError(f"the {title} download into {root} did not yield a '{folder}' "
                           "folder")
    return found
