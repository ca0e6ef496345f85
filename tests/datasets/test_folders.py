import numpy as np
import pytest

from skclip.datasets import load_image_folder


def _touch(root, *names):
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_labelled_layout(tmp_path):
    _touch(tmp_path, "dog/b.jpg", "dog/a.JPEG", "cat/1.png", "cat/deep/2.jpg",
           "cat/notes.txt", "cat/.hidden.jpg", ".git/x.jpg", "empty/readme.md")
    data = load_image_folder(tmp_path)
    assert data.class_names == ["cat", "dog"]
    names = [p.replace(str(tmp_path) + "/", "") for p in data.paths]
    assert names == ["cat/1.png", "cat/deep/2.jpg", "dog/a.JPEG", "dog/b.jpg"]
    assert data.y.dtype == np.int64 and data.y.tolist() == [0, 0, 1, 1]
    assert data.root == str(tmp_path)


def test_flat_layout(tmp_path):
    _touch(tmp_path, "b.jpg", "a.png", "c.txt")
    data = load_image_folder(str(tmp_path))
    assert data.y is None and data.class_names is None
    assert [p.rsplit("/", 1)[1] for p in data.paths] == ["a.png", "b.jpg"]


def test_custom_extensions(tmp_path):
    _touch(tmp_path, "a.jpg", "b.raw")
    data = load_image_folder(tmp_path, extensions=("raw",))
    assert [p.rsplit("/", 1)[1] for p in data.paths] == ["b.raw"]


def test_mixed_layout_is_ambiguous(tmp_path):
    _touch(tmp_path, "top.jpg", "cls/a.jpg")
    with pytest.raises(ValueError, match="either root/<class>/<image>"):
        load_image_folder(tmp_path)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_image_folder(tmp_path / "missing")
    _touch(tmp_path, "file.jpg")
    with pytest.raises(NotADirectoryError):
        load_image_folder(tmp_path / "file.jpg")
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "empty", "x/readme.txt")
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path / "empty")
