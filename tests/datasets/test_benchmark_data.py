"""The benchmark datasets on tiny fake trees and archives (no network)."""

import json
import pickle
import urllib.error

import numpy as np
import pytest
from PIL import Image

from skclip.datasets import BENCHMARK_DATASETS, benchmark_dataset_info, load_benchmark_dataset
from skclip.datasets._benchmark_data import _imagenet_lists


def _touch_tree(root, classes, n, ext=".jpg"):
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / c / f"{i:03d}{ext}").touch()


def _cifar_batch(path, rng, n, n_classes, label_key):
    data = rng.randint(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [i % n_classes for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({b"data": data, label_key: labels, b"filenames": [b"x"] * n}, fh)
    return data, np.array(labels)


def _read_png(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_catalogue_and_shipped_lists():
    assert BENCHMARK_DATASETS == ("cifar10", "cifar20", "stl10", "imagenet10", "imagenet-dogs",
                                  "tiny-imagenet", "imagenet", "folder")
    sizes = {n: len(benchmark_dataset_info(n).class_names) for n in BENCHMARK_DATASETS[:-1]}
    assert sizes == {"cifar10": 10, "cifar20": 20, "stl10": 10, "imagenet10": 10,
                     "imagenet-dogs": 15, "tiny-imagenet": 200, "imagenet": 1000}
    splits = {n: benchmark_dataset_info(n).split for n in BENCHMARK_DATASETS}
    assert splits == {"cifar10": "test", "cifar20": "test", "stl10": "test",
                      "imagenet10": "train", "imagenet-dogs": "train", "tiny-imagenet": "train",
                      "imagenet": "val", "folder": "all"}
    for name, pairs in _imagenet_lists().items():
        wnids = [w for w, _ in pairs]
        assert len(set(wnids)) == len(wnids) and all(w[0] == "n" and len(w) == 9 for w in wnids)
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'; choose from cifar10"):
        benchmark_dataset_info("cifar11")


def test_shipped_lists_equal_the_published_files(assets_dir):
    folder = assets_dir / "imagenet-class-lists"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    files = {"imagenet10": "imagenet_10.txt", "imagenet-dogs": "imagenet_dog.txt",
             "tiny-imagenet": "imagenet_tiny.txt"}
    lists = _imagenet_lists()
    for name, file in files.items():
        lines = [ln.split(" ", 1) for ln in (folder / file).read_text().splitlines() if ln]
        assert lists[name] == [[w, n.strip()] for w, n in lines], name
    full = json.loads("{" + (folder / "imagenet-classes.txt").read_text().strip().rstrip(",")
                      + "}")
    assert lists["imagenet"] == [full[str(i)] for i in range(1000)]


def test_cifar10_archive_written_once_as_lossless_pngs(tmp_path):
    rng = np.random.RandomState(0)
    data, labels = _cifar_batch(tmp_path / "raw" / "cifar-10-batches-py" / "test_batch", rng,
                                30, 10, b"labels")
    cache = tmp_path / "cache"
    ds = load_benchmark_dataset("cifar10", tmp_path / "raw", cache_dir=cache, verbose=False)
    assert ds.split == "test" and len(ds.paths) == 30 and ds.class_names[0] == "airplane"
    assert ds.root == str(cache / "datasets" / "cifar10" / "test")
    # label i holds the images i, i+10, i+20; pixels survive the round trip
    first = ds.paths[ds.y.tolist().index(3)]
    assert first.endswith("/cat/03.png")
    np.testing.assert_array_equal(_read_png(first), data[3].reshape(3, 32, 32).transpose(1, 2, 0))
    assert sorted(ds.y.tolist()) == sorted(labels.tolist())
    mtime = (cache / "datasets" / "cifar10" / "test" / "cat" / "03.png").stat().st_mtime_ns
    again = load_benchmark_dataset("cifar10", tmp_path / "raw" / "cifar-10-batches-py",
                                   cache_dir=cache, limit=2, verbose=False)
    assert (cache / "datasets" / "cifar10" / "test" / "cat" / "03.png").stat().st_mtime_ns == mtime
    assert len(again.paths) == 20 and np.bincount(again.y).tolist() == [2] * 10


def test_cifar20_uses_the_superclasses(tmp_path):
    rng = np.random.RandomState(1)
    _, labels = _cifar_batch(tmp_path / "cifar-100-python" / "test", rng, 40, 20,
                             b"coarse_labels")
    ds = load_benchmark_dataset("cifar20", tmp_path, cache_dir=tmp_path / "c", verbose=False)
    assert len(ds.class_names) == 20 and ds.class_names[0] == "aquatic_mammals"
    assert np.bincount(ds.y).tolist() == [2] * 20


def test_stl10_binary_matches_torchvision_reader(tmp_path):
    from torchvision.datasets import STL10

    rng = np.random.RandomState(2)
    raw = tmp_path / "stl10_binary"
    raw.mkdir()
    rng.randint(0, 256, size=(12 * 3 * 96 * 96,), dtype=np.uint8).tofile(raw / "test_X.bin")
    y = np.array([1 + i % 10 for i in range(12)], dtype=np.uint8)
    y.tofile(raw / "test_y.bin")
    ds = load_benchmark_dataset("stl10", tmp_path, cache_dir=tmp_path / "c", verbose=False)
    tv = STL10.__new__(STL10)
    tv.root, tv.base_folder = str(tmp_path), "stl10_binary"
    images, labels = tv._STL10__loadfile("test_X.bin", "test_y.bin")  # (n, 3, 96, 96)
    i = 11  # label 1 -> "bird", the second of its class
    path = [p for p, lab in zip(ds.paths, ds.y) if lab == labels[i]][1]
    assert path.endswith("/bird/11.png")
    np.testing.assert_array_equal(_read_png(path), images[i].transpose(1, 2, 0))


def test_class_folder_tree_with_split_and_missing_classes(tmp_path):
    classes = list(benchmark_dataset_info("cifar10").class_names)
    _touch_tree(tmp_path / "test", classes + ["extra"], 3)
    ds = load_benchmark_dataset("cifar10", tmp_path, limit=2)
    assert ds.root == str(tmp_path / "test") and ds.ignored_classes == ["extra"]
    assert len(ds.paths) == 20 and ds.paths[0].endswith("test/airplane/000.jpg")
    (tmp_path / "test" / "truck").rename(tmp_path / "test" / "lorry")
    with pytest.raises(ValueError, match=r"1 of its 10 class folders are missing \(truck\)"):
        load_benchmark_dataset("cifar10", tmp_path)


def test_cifar20_from_fine_class_folders(tmp_path):
    fine = ["beaver", "dolphin", "aquarium_fish", "orchid"]
    _touch_tree(tmp_path, fine, 2)
    with pytest.raises(ValueError, match="96 of its 100 class folders are missing"):
        load_benchmark_dataset("cifar20", tmp_path)


def test_imagenet_subsets_select_by_wnid(tmp_path):
    info = benchmark_dataset_info("imagenet10")
    _touch_tree(tmp_path / "train", info.class_ids + ["n01440764"], 4, ext=".JPEG")
    ds = load_benchmark_dataset("imagenet10", tmp_path, limit=3)
    assert ds.split == "train" and ds.class_names[0] == "king_penguin"
    assert ds.ignored_classes == ["n01440764"] and len(ds.paths) == 30
    with pytest.raises(ValueError, match="has no split 'test'"):
        load_benchmark_dataset("imagenet10", tmp_path, split="test")
    with pytest.raises(ValueError, match="missing"):
        load_benchmark_dataset("imagenet-dogs", tmp_path)
    with pytest.raises(ValueError, match="local ImageNet folder: pass --data"):
        load_benchmark_dataset("imagenet")


def test_tiny_imagenet_val_annotations(tmp_path):
    wnids = benchmark_dataset_info("tiny-imagenet").class_ids
    val = tmp_path / "val"
    (val / "images").mkdir(parents=True)
    rows = []
    for i, w in enumerate(wnids):
        name = f"val_{i}.JPEG"
        (val / "images" / name).touch()
        rows.append(f"{name}\t{w}\t0\t0\t10\t10")
    (val / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    ds = load_benchmark_dataset("tiny-imagenet", tmp_path, split="val")
    assert len(ds.paths) == 200 and ds.y.tolist() == list(range(200))


def test_fewer_images_than_classes_and_empty_class(tmp_path):
    _touch_tree(tmp_path, ["a", "b", "c"], 1)
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_benchmark_dataset("folder", tmp_path / "a")  # a flat folder: no classes
    _touch_tree(tmp_path / "cifar", benchmark_dataset_info("cifar10").class_names, 0)
    _touch_tree(tmp_path / "cifar", ["cat", "dog"], 2)
    with pytest.raises(ValueError, match="holds 4 image.* for 10 classes.*fewer images than"):
        load_benchmark_dataset("cifar10", tmp_path / "cifar")
    info = benchmark_dataset_info("stl10")
    _touch_tree(tmp_path / "stl", info.class_names, 0)
    _touch_tree(tmp_path / "stl", info.class_names[:5], 3)
    with pytest.raises(ValueError, match="no images for the class"):
        load_benchmark_dataset("stl10", tmp_path / "stl")
    with pytest.raises(ValueError, match="positive integer"):
        load_benchmark_dataset("folder", tmp_path, limit=0)


def test_offline_download_failure_says_how_to_pass_data(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(RuntimeError, match="could not download CIFAR-10 .*pass --data DIR"):
        load_benchmark_dataset("cifar10", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_benchmark_dataset("stl10", cache_dir=tmp_path, download=False)
