"""One real local Ray (2 CPUs) for the whole tests/scale package, and a tiny model file.

Ray workers are separate processes: the tiny open_clip model is given to them as the
path of its JSON config (a name registered in this process would be unknown there).
"""

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_CONFIG, require

NOUNS = ["cat", "dog", "car", "truck", "ship", "plane", "bird", "frog", "horse", "deer",
         "flower", "tree"]


@pytest.fixture(scope="package")
def ray_local():
    require("ray", "ray.data", "pyarrow")
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="package")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale_cfg") / "skclip-tiny-scale.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


@pytest.fixture(scope="package")
def nouns_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale_vocab") / "nouns.txt"
    path.write_text("\n".join(NOUNS) + "\n")
    return path


@pytest.fixture(scope="package")
def image_folder(tmp_path_factory):
    """30 small JPEGs in three colour groups, plus one corrupt file."""
    root = tmp_path_factory.mktemp("scale_images")
    rng = np.random.RandomState(0)
    for i in range(30):
        arr = rng.randint(0, 80, size=(24, 24, 3), dtype=np.uint8)
        arr[..., i % 3] += 170
        Image.fromarray(arr).save(root / f"{i:02d}.jpg", quality=90)
    (root / "zz_broken.jpg").write_bytes(b"this is not a JPEG file at all")
    return root
