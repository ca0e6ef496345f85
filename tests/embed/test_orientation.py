"""Photos as people see them: EXIF orientation is applied before preprocessing.

The JPEGs are made here: an upright picture (red top half, blue bottom half) is stored
turned, with the EXIF tag that tells viewers how to turn it back, as phones do.
"""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from skclip.embed import CLIPEmbedder
from skclip.embed._images import load_rgb
from skclip.embed._pixels import PixelDataset
from skclip.report import thumbnail_data_uri

pytestmark = pytest.mark.filterwarnings("ignore:CLIPEmbedder.*random weights:UserWarning")

ORIENTATION = 0x0112
# EXIF orientation -> how the stored pixels were turned from the upright picture
STORED = {
    1: lambda im: im,
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),  # viewer turns 90 deg clockwise
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def upright(height=64, width=32):
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[: height // 2, :, 0] = 255  # red top
    arr[height // 2 :, :, 2] = 255  # blue bottom
    return Image.fromarray(arr)


def save_turned(path, orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    STORED[orientation](upright()).save(path, format="JPEG", quality=95, exif=exif)
    return path


def assert_upright(image):
    arr = np.asarray(image.convert("RGB")).astype(int)
    assert arr.shape == (64, 32, 3)
    top, bottom = arr[:24].mean(axis=(0, 1)), arr[-24:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60, top  # red on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # blue at the bottom


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_loader_turns_photos_upright(tmp_path, orientation):
    path = save_turned(tmp_path / f"photo-{orientation}.jpg", orientation)
    with Image.open(path) as raw:
        turned = raw.size != (32, 64)
    assert turned == (orientation in (6, 8))  # stored sideways on disk
    assert_upright(load_rgb(path))
    assert_upright(load_rgb(str(path)))
    with Image.open(path) as im:  # a PIL image opened by the user keeps its tag too
        assert_upright(load_rgb(im))


def test_embedder_sees_upright_pixels(tmp_path, monkeypatch):
    paths = [str(save_turned(tmp_path / f"p{o}.jpg", o)) for o in STORED]
    seen = PixelDataset(paths, lambda im: torch.from_numpy(np.asarray(im).copy()))
    for i in range(len(paths)):
        _, kind, pixels, error = seen[i]
        assert error is None and kind == "float"  # a transform that cannot be split
        assert_upright(Image.fromarray(pixels.numpy()))


def test_embeddings_follow_orientation(tmp_path, tiny_model_name):
    """The same picture, stored turned or upright, gives (nearly) the same embedding."""
    emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)
    paths = [save_turned(tmp_path / f"p{o}.jpg", o) for o in (1, 6, 8, 3)]
    X = emb.fit_transform(paths)
    cos = X @ X[0]
    assert np.all(cos[1:] > 0.99), cos
    # decoding on the model's device honours the EXIF orientation too
    Xt = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", decoder="torchvision",
                      verbose=0).fit_transform(paths)
    assert np.all(Xt @ Xt[0] > 0.99)
    assert np.all(np.sum(X * Xt, axis=1) > 0.98)
    sideways = emb.transform([np.asarray(STORED[6](upright()))])  # what was read before
    assert float(sideways[0] @ X[0]) < cos[1:].min()


def test_report_thumbnails_are_upright(tmp_path):
    path = save_turned(tmp_path / "side.jpg", 6)
    uri = thumbnail_data_uri(path, size=64)
    thumb = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert_upright(thumb)
