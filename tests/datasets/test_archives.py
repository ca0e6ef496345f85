"""``extract_image_archive``: class folders of a zip, unpacked flat per class."""

import zipfile

import numpy as np
import pytest

from skclip.datasets import extract_image_archive, load_image_folder


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, name.encode())
    return path


def test_per_class_and_balanced_subsets(tmp_path):
    names = [f"data/test/{c}/{i:02d}.jpg" for c in ("cat", "dog", "owl") for i in range(5)]
    archive = _zip(tmp_path / "a.zip", names + ["data/README.txt", "data/.hidden/x.jpg"])
    paths = extract_image_archive(archive, tmp_path / "per", per_class=2)
    assert [p.split("per/")[1] for p in paths] == [
        "cat/00.jpg", "cat/01.jpg", "dog/00.jpg", "dog/01.jpg", "owl/00.jpg", "owl/01.jpg"]
    assert (tmp_path / "per" / "dog" / "01.jpg").read_bytes() == b"data/test/dog/01.jpg"
    paths = extract_image_archive(archive, tmp_path / "n", n_images=7)
    data = load_image_folder(tmp_path / "n")
    assert len(paths) == 7 and np.bincount(data.y).tolist() == [3, 2, 2]
    assert len(extract_image_archive(archive, tmp_path / "all")) == 15
    paths = extract_image_archive(archive, tmp_path / "some", classes=["owl", "cat"],
                                  per_class=1)
    assert [p.split("some/")[1] for p in paths] == ["cat/00.jpg", "owl/00.jpg"]
    with pytest.raises(ValueError, match=r"classes \['emu'\] are not in"):
        extract_image_archive(archive, tmp_path / "x", classes=["cat", "emu"])


def test_cifar10_asset(assets_dir, tmp_path):
    paths = extract_image_archive(assets_dir / "cifar10" / "cifar10-test.zip", tmp_path,
                                  per_class=3)
    data = load_image_folder(tmp_path)
    assert len(paths) == 30 and "airplane" in data.class_names
    assert np.bincount(data.y).tolist() == [3] * 10


@pytest.mark.parametrize("names, match", [
    (["../evil/x.jpg"], "outside"),
    (["x.jpg"], "not in a class folder"),
    (["a/readme.txt"], "no images"),
    (["a/cat/1.jpg", "b/cat/1.jpg"], "both be written"),
])
def test_bad_archives(tmp_path, names, match):
    with pytest.raises(ValueError, match=match):
        extract_image_archive(_zip(tmp_path / "a.zip", names), tmp_path / "out")


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such archive"):
        extract_image_archive(tmp_path / "missing.zip", tmp_path)
    (tmp_path / "not.zip").write_text("plain text")
    with pytest.raises(ValueError, match="not a zip archive"):
        extract_image_archive(tmp_path / "not.zip", tmp_path)
    archive = _zip(tmp_path / "a.zip", ["a/cat/1.jpg"])
    for kwargs in ({"per_class": 0}, {"n_images": 1.5}, {"per_class": True}):
        with pytest.raises(ValueError, match="positive integer"):
            extract_image_archive(archive, tmp_path / "out", **kwargs)
