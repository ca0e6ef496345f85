"""Small helpers shared by the examples: find the offline assets, make test images."""

import os
from pathlib import Path

import numpy as np
from PIL import Image


def assets_dir():
    """The assets folder named by ``SKCLIP_ASSETS`` if it exists, else None."""
    env = os.environ.get("SKCLIP_ASSETS")
    return Path(env) if env and Path(env).is_dir() else None


def example_images(folder, per_class=8, classes=("airplane", "cat", "ship")):
    """Write a few labelled images to ``folder`` and return (paths, labels).

    CIFAR-10 JPEGs when the assets are available, else coloured noise images.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    assets = assets_dir()
    paths, labels = [], []
    if assets is not None:
        from skclip.datasets import extract_image_archive, load_image_folder

        extract_image_archive(assets / "cifar10" / "cifar10-test.zip", folder,
                              classes=list(classes), per_class=per_class)
        data = load_image_folder(folder)
        position = np.array([list(classes).index(c) for c in data.class_names])
        paths, labels = list(data.paths), position[data.y]  # labels in `classes` order
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
