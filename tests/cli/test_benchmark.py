"""``skclip benchmark`` end to end on tiny class-folder trees with a tiny random CLIP model."""

import hashlib
import json
import urllib.error

import numpy as np
import pytest
from PIL import Image

from skclip.cli import main
from skclip.datasets import benchmark_dataset_info, make_clip_blobs, save_features
from skclip.report import benchmark_markdown, summarize_runs, weights_sha256

NOUNS = ["cat", "dog", "car", "truck", "ship", "plane", "bird", "frog", "horse", "deer",
         "flower", "tree", "house", "road", "river", "chair", "table", "apple", "boat",
         "mountain", "cloud", "fish", "bridge", "lamp"]
RUN_FIELDS = {"dataset", "split", "n", "method", "seed", "ACC", "NMI", "ARI", "seconds",
              "versions", "model", "pretrained", "weights_sha256", "n_clusters"}


def _tree(root, classes, n):
    rng = np.random.RandomState(0)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.randint(0, 60, size=(24, 24, 3), dtype=np.uint8)
            arr[..., k % 3] += 180
            Image.fromarray(arr).save(root / c / f"{i:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def nouns_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "nouns.txt"
    path.write_text("\n".join(NOUNS) + "\n")
    return path


@pytest.fixture
def common(tiny_model_name, nouns_file, tiny_ckpt):
    return ["--model", tiny_model_name, "--pretrained", str(tiny_ckpt), "--vocabulary",
            str(nouns_file), "--device", "cpu", "--batch-size", "8", "--quiet"]


def test_every_method_end_to_end(tmp_path, common, tiny_ckpt):
    data = _tree(tmp_path / "imgs", ["red", "green", "blue"], 6)
    out = tmp_path / "out"
    rc = main(["benchmark", "folder", "--data", str(data), "--out", str(out), "--seeds", "1",
               *common])
    assert rc == 0, (out / "results.md").read_text() if (out / "results.md").is_file() else rc
    payload = json.loads((out / "results.json").read_text())
    runs = payload["runs"]
    assert [(r["method"], r["seed"]) for r in runs] == [
        (m, 0) for m in ("kmeans", "tac", "cae", "mca")]
    for r in runs:
        assert RUN_FIELDS <= set(r), RUN_FIELDS - set(r)
        assert r["n"] == 18 and r["n_clusters"] == 3 and r["split"] == "all"
        assert 0 <= r["ACC"] <= 100 and r["seconds"] >= 0
        assert r["pretrained"] == str(tiny_ckpt) and len(r["weights_sha256"]) == 64
        assert {"skclip", "torch", "sklearn", "numpy"} <= set(r["versions"])
    protocol = payload["protocols"][0]
    assert protocol["embedding"]["n_embedded"] == 18 and protocol["seeds"] == [0]
    md = (out / "results.md").read_text()
    assert "| Method | skclip ACC | skclip NMI | skclip ARI | fit s |" in md
    for label in ("CLIP k-means", "TAC (no train)", "CAE", "MCA"):
        assert f"| {label} |" in md
    assert "K = 3 (the number of classes)" in md and "Hungarian" in md
    # a second run into the same folder needs --overwrite
    assert main(["benchmark", "folder", "--data", str(data), "--out", str(out), *common]) == 1


def test_limit_seeds_cache_and_weights_hash(tmp_path, common, tiny_ckpt, capsys):
    classes = benchmark_dataset_info("cifar10").class_names
    data = _tree(tmp_path / "cifar" / "test", classes, 3)
    out = tmp_path / "out"
    argv = ["benchmark", "cifar10", "--data", str(tmp_path / "cifar"), "--out", str(out),
            "--methods", "kmeans", "--seeds", "0,3", "--limit", "2", *common]
    assert main(argv) == 0, capsys.readouterr().err
    payload = json.loads((out / "results.json").read_text())
    runs = payload["runs"]
    assert [r["seed"] for r in runs] == [0, 3] and {r["n"] for r in runs} == {20}
    assert {r["dataset"] for r in runs} == {"cifar10"} and runs[0]["split"] == "test"
    assert runs[0]["weights_sha256"] == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert payload["protocols"][0]["data"] == str(data)
    md = (out / "results.md").read_text()
    assert "at most 2 images per class (--limit)" in md
    # the tiny model is not the published backbone: no published numbers beside it
    assert "74.2 / 70.3 / 61.6" not in md and "this run used" in md
    # embedded once: a second run reads every embedding from the cache
    assert main(argv + ["--overwrite"]) == 0
    stats = json.loads((out / "results.json").read_text())["protocols"][0]["embedding"]
    assert (stats["n_cached"], stats["n_embedded"]) == (20, 0)


def test_weights_hash_without_weights_file(tmp_path):
    assert weights_sha256("ViT-B-32", None) is None
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    assert weights_sha256("any", f) == hashlib.sha256(b"weights").hexdigest()


def test_features_file_with_the_published_backbone(tmp_path):
    blobs = make_clip_blobs(n_samples=60, n_clusters=3, n_features=16, spread=0.3,
                            random_state=0)
    f = save_features(tmp_path / "cifar10.npz", blobs.X, y=blobs.y,
                      class_names=blobs.class_names, model="ViT-B-32/openai", split="test")
    out = tmp_path / "out"
    rc = main(["benchmark", "cifar10", "--features", str(f), "--out", str(out), "--methods",
               "kmeans", "--seeds", "2", "--device", "cpu", "--quiet"])
    assert rc == 0
    md = (out / "results.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| CLIP k-means |"))
    assert row.endswith("| 74.2 / 70.3 / 61.6 |") and "100.0 ± 0.0" in row
    assert "| TAC (trained) | – | – | – | – | 92.3 / 84.1 / 83.9 |" in md
    assert "the papers' own, not measured by skclip" in md and "ICML 2024" in md


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "cifar11"], "unknown dataset 'cifar11'"),
    (["benchmark", "imagenet10"], "local ImageNet folder: pass --data"),
    (["benchmark", "folder"], "needs --data"),
])
def test_bad_dataset_arguments(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert message in capsys.readouterr().err


def test_missing_classes_and_too_few_images(tmp_path, capsys, common):
    classes = benchmark_dataset_info("stl10").class_names
    _tree(tmp_path / "stl", [c for c in classes if c not in ("monkey", "ship")], 1)
    assert main(["benchmark", "stl10", "--data", str(tmp_path / "stl"), "--out",
                 str(tmp_path / "o1"), *common]) == 1
    err = capsys.readouterr().err
    assert "2 of its 10 class folders are missing (monkey, ship)" in err
    _tree(tmp_path / "stl2", classes, 0)  # every class folder, one image in all
    _tree(tmp_path / "stl2", ["truck"], 1)
    assert main(["benchmark", "stl10", "--data", str(tmp_path / "stl2"), "--out",
                 str(tmp_path / "o2"), *common]) == 1
    assert "fewer images than classes" in capsys.readouterr().err


def test_offline_download_failure(tmp_path, monkeypatch, capsys):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd, "STL10", offline)
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "cache"))
    assert main(["benchmark", "stl10", "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "could not download STL-10" in err and "pass --data DIR" in err


@pytest.mark.parametrize("flag, value", [("--methods", "kmeans,nope"), ("--seeds", "0"),
                                         ("--limit", "0")])
def test_bad_command_lines(tmp_path, flag, value):
    assert main(["benchmark", "folder", "--out", str(tmp_path), flag, value]) == 2


def test_summary_and_markdown_record_errors():
    runs = [{"dataset": "folder", "method": "kmeans", "seed": s, "ACC": a, "NMI": 50.0,
             "ARI": 40.0, "seconds": 1.0} for s, a in ((0, 60.0), (1, 80.0))]
    runs.append({"dataset": "folder", "method": "mca", "seed": 0, "error": "ValueError: x"})
    summary = summarize_runs(runs)
    assert summary[("folder", "kmeans")]["ACC"] == (70.0, 10.0)
    assert summary[("folder", "mca")] == {"error": "ValueError: x"}
    md = benchmark_markdown([{"dataset": "folder", "split": "all", "seeds": [0, 1]}], runs)
    assert "- split: all: every image of the class-folder tree" in md
    other = benchmark_markdown([{"dataset": "cifar10", "split": "train", "seeds": [0]}], [])
    assert "- split: train: not the published protocol's split, which is the test split" in other
    assert "| CLIP k-means | 70.0 ± 10.0 | 50.0 ± 0.0 | 40.0 ± 0.0 | 1.00 | – |" in md
    assert "| MCA | error | error | error | – | – |" in md and "- mca: error: ValueError: x" in md


def test_command_line_names_match_the_library():
    from skclip.cli import _benchmark
    from skclip.datasets import BENCHMARK_DATASETS
    from skclip.report import BENCHMARK_METHODS

    assert _benchmark._DATASETS == BENCHMARK_DATASETS
    assert _benchmark._METHODS == BENCHMARK_METHODS
