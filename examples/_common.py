"""Small helpers shared by the examples: find the offline assets, make test images."""

import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def assets_dir():
    """The shared assets folder if it is there (``SKCLIP_ASSETS``), else None."""
    env = os.environ.get("SKCLIP_ASSETS")
    for cand in [env, Path(__file__).resolve().parents[2] / "shared" / "assets"]:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def example_images(folder, per_class=8, classes=("airplane", "cat", "ship")):
    """Write a few labelled images to ``folder`` and return (paths, labels).

    CIFAR-10 JPEGs when the assets are available, else coloured noise images.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    assets = assets_dir()
    paths, labels = [], []
    if assets is not None:
        with zipfile.ZipFile(assets / "cifar10" / "cifar10-test.zip") as zf:
            names = sorted(zf.namelist())
            for label, cls in enumerate(classes):
                members = [n for n in names if f"/{cls}/" in n and n.endswith(".jpg")]
                for name in members[:per_class]:
                    target = folder / cls / Path(name).name
                    target.parent.mkdir(exist_ok=True)
                    target.write_bytes(zf.read(name))
                    paths.append(str(target))
                    labels.append(label)
        return paths, np.array(labels)
    rng = np.random.RandomState(0)
    for label, cls in enumerate(classes):
        base = rng.randint(0, 256, size=3)
        for k in range(per_class):
            pixels = np.clip(base + rng.randint(-30, 30, size=(32, 32, 3)), 0, 255)
            target = folder / cls / f"{k:04d}.png"
            target.parent.mkdir(exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(target)
            paths.append(str(target))
            labels.append(label)
    return paths, np.array(labels)
