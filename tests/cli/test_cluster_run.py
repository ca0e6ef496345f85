"""End-to-end ``skclip cluster`` / ``skclip embed`` runs with a tiny random CLIP model.

Every run goes through ``main([...])`` in-process. The cache tests use a checkpoint
the test saves (``--pretrained PATH``, the offline path): random weights
(``--pretrained none``) are never cached because they change at every load.
"""

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skclip.cli import main

NOUNS = ["cat", "dog", "car", "truck", "ship", "plane", "bird", "frog", "horse", "deer",
         "flower", "tree"]
COMMON = ["--vocabulary", None, "--device", "cpu", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def nouns_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "nouns.txt"
    path.write_text("# one noun per line\n" + "\n".join(NOUNS) + "\n\n")
    return path


def _save_images(folder, n, seed, colour=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    for i in range(n):
        arr = rng.randint(0, 80, size=(24, 24, 3), dtype=np.uint8)
        if colour is not None:
            arr[..., colour] += 170
        Image.fromarray(arr).save(folder / f"{i:02d}.jpg", quality=90)
    return sorted(str(p) for p in folder.glob("*.jpg"))


def _corrupt(folder):
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG file at all")
    good = (folder / "00.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    return [str(folder / "broken.jpg"), str(folder / "truncated.jpg")]


def _args(model, nouns, pretrained):
    args = list(COMMON)
    args[1] = str(nouns)
    return args + ["--model", model, "--pretrained", str(pretrained)]


def read_outputs(out):
    """Parse the three outputs and check that they agree with each other."""
    out = Path(out)
    with (out / "assignments.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((out / "clusters.json").read_text())
    assert list(rows[0]) == ["path", "cluster", "confidence", "outlier"]
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == summary["n_images"]
    k = summary["n_clusters"]
    labels = [int(r["cluster"]) for r in rows]
    assert all(0 <= c < k for c in labels)
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
    sizes = Counter(labels)
    assert [c["cluster"] for c in summary["clusters"]] == list(range(k))
    assert [c["size"] for c in summary["clusters"]] == [sizes.get(i, 0) for i in range(k)]
    by_path = dict(zip(paths, labels))
    for c in summary["clusters"]:
        assert all(by_path[r["path"]] == c["cluster"] for r in c["representatives"])
        assert len(c["representatives"]) == min(c["size"], 12)
    page = (out / "report.html").read_text()
    assert page.count('<section class="cluster"') == k
    return rows, summary, page


def test_cluster_skips_corrupt_files_and_caches(tmp_path, tiny_model_name, tiny_ckpt,
                                                nouns_file, monkeypatch, capsys):
    good = _save_images(tmp_path / "photos", 16, seed=0)
    bad = _corrupt(tmp_path / "photos")
    args = _args(tiny_model_name, nouns_file, tiny_ckpt)

    assert main(["cluster", str(tmp_path / "photos"), "-k", "3", "--out",
                 str(tmp_path / "o1"), *args]) == 0
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "truncated.jpg" in err
    rows, summary, page = read_outputs(tmp_path / "o1")
    assert sorted(r["path"] for r in rows) == good  # every readable image once, no others
    assert sorted(s["path"] for s in summary["skipped"]) == bad
    assert all(s["error"] for s in summary["skipped"])
    assert summary["embedding"] == {"n_found": 18, "n_cached": 0, "n_embedded": 16,
                                    "n_skipped": 2}
    assert summary["method"] == "cae" and summary["pretrained"] == str(tiny_ckpt)
    for c in summary["clusters"]:
        assert c["size"] == 0 or all(n["noun"] in NOUNS for n in c["nouns"])
    assert "broken.jpg" in page and page.count("<img ") - min(len(summary["outliers"]), 48) == sum(
        min(c["size"], 12) for c in summary["clusters"])

    # another K: everything comes from the cache, the image tower is never called
    from skclip.embed import CLIPEmbedder

    def no_embedding(self, X):
        raise AssertionError("images were embedded again")

    with monkeypatch.context() as m:
        m.setattr(CLIPEmbedder, "transform", no_embedding)
        assert main(["cluster", str(tmp_path / "photos"), "-k", "4", "--out",
                     str(tmp_path / "o2"), *args]) == 0
    rows2, summary2, _ = read_outputs(tmp_path / "o2")
    assert summary2["embedding"] == {"n_found": 18, "n_cached": 16, "n_embedded": 0,
                                     "n_skipped": 2}
    assert sorted(r["path"] for r in rows2) == good and summary2["n_clusters"] == 4

    # an edited file is embedded again; the rest still comes from the cache
    Image.new("RGB", (24, 24), "white").save(good[3])
    assert main(["cluster", str(tmp_path / "photos"), "-k", "4", "--out",
                 str(tmp_path / "o2"), "--overwrite", *args]) == 0
    _, summary3, _ = read_outputs(tmp_path / "o2")
    assert summary3["embedding"]["n_cached"] == 15
    assert summary3["embedding"]["n_embedded"] == 1


def test_cluster_is_reproducible_with_captions(tmp_path, tiny_model_name, tiny_ckpt,
                                                nouns_file, capsys):
    _save_images(tmp_path / "photos", 12, seed=1)
    captions = tmp_path / "captions.txt"
    captions.write_text("a dog runs on the grass\na red car in the street\na boat at sea\n")
    args = _args(tiny_model_name, nouns_file, tiny_ckpt) + ["--captions", str(captions)]
    for out in ("a", "b"):
        assert main(["cluster", str(tmp_path / "photos"), "-k", "3", "--seed", "7",
                     "--out", str(tmp_path / out), *args]) == 0
    assert (tmp_path / "a" / "assignments.csv").read_text() == \
        (tmp_path / "b" / "assignments.csv").read_text()
    read_outputs(tmp_path / "a")
    capsys.readouterr()
    assert main(["cluster", str(tmp_path / "photos"), "-k", "3", "--out", str(tmp_path / "c"),
                 *args[:-1], str(tmp_path / "absent.txt")]) == 1
    assert "captions file not found" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # checked before anything is written


def test_captions_default_coco_and_none(tmp_path, tiny_model_name, tiny_ckpt, nouns_file):
    """CAE's caption view: the shipped corpus with 'coco' (the builder's default), none
    with 'none'."""
    from skclip.report import load_model

    _save_images(tmp_path / "photos", 10, seed=2)
    base = ["cluster", str(tmp_path / "photos"), "-k", "2",
            *_args(tiny_model_name, nouns_file, tiny_ckpt)]
    modalities = {}
    for name, extra in (("coco", ["--captions", "coco"]), ("none", ["--captions", "none"])):
        assert main([*base, "--out", str(tmp_path / name), *extra]) == 0
        clusterer = load_model(tmp_path / name / "model.joblib").clusterer
        modalities[name] = clusterer.modalities_
        assert (len(clusterer.captions_) > 0) == (name != "none")
    assert "captions" in modalities["coco"] and "captions" not in modalities["none"]


def test_all_files_unreadable(tmp_path, tiny_model_name, tiny_ckpt, nouns_file, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"not a png")
    status = main(["cluster", str(folder), "-k", "2", "--out", str(tmp_path / "o"),
                   *_args(tiny_model_name, nouns_file, tiny_ckpt)])
    assert status == 1
    assert "none of the 3 images" in capsys.readouterr().err


def test_embed_labelled_folder_then_cluster_features(tmp_path, tiny_model_name, tiny_ckpt,
                                                     nouns_file, capsys):
    from skclip.datasets import load_features

    root = tmp_path / "data"
    reds = _save_images(root / "red", 6, seed=2, colour=0)
    blues = _save_images(root / "blue", 5, seed=3, colour=2)
    (root / "red" / "zz-broken.jpg").write_bytes(b"garbage")
    feats = tmp_path / "feats.npz"
    assert main(["embed", str(root), "--out", str(feats), "--model", tiny_model_name,
                 "--pretrained", str(tiny_ckpt), "--device", "cpu", "--quiet"]) == 0
    assert "zz-broken.jpg" in capsys.readouterr().err
    data = load_features(feats)
    assert data.X.shape == (11, 32) and data.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, rtol=1e-4)
    assert data.class_names == ["blue", "red"]
    assert sorted(data.paths) == sorted(blues + reds)
    assert [data.class_names[y] for y in data.y] == [Path(p).parent.name for p in data.paths]
    assert data.model == f"{tiny_model_name}/{tiny_ckpt}"

    # the model and its checkpoint are read from the features file
    out = tmp_path / "clusters"
    assert main(["cluster", "--features", str(feats), "-k", "2", "--out", str(out),
                 "--vocabulary", str(nouns_file), "--device", "cpu", "--quiet"]) == 0
    rows, summary, page = read_outputs(out)
    assert sorted(r["path"] for r in rows) == sorted(blues + reds)
    assert summary["model"] == tiny_model_name and summary["pretrained"] == str(tiny_ckpt)
    assert summary["input"] == str(feats) and summary["embedding"] is None
    shown = sum(min(c["size"], 12) for c in summary["clusters"])
    assert page.count("<img ") - min(len(summary["outliers"]), 48) == shown


def test_cluster_features_with_text_embeddings_and_mca(tmp_path):
    """A features file holding its own vocabulary needs no CLIP model at all."""
    from skclip.datasets import make_clip_blobs, save_features

    blobs = make_clip_blobs(n_samples=60, n_clusters=3, n_features=16, random_state=0)
    feats = save_features(tmp_path / "f.npz", blobs.X, text_embeddings=blobs.text_embeddings,
                          text_names=blobs.text_names, model="no-such-model/none")
    out = tmp_path / "o"
    assert main(["cluster", "--features", str(feats), "-k", "3", "--method", "mca",
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    rows, summary, page = read_outputs(out)
    assert [r["path"] for r in rows] == [f"#{i}" for i in range(60)]
    names = set(np.asarray(blobs.text_names).tolist())
    assert all(n["noun"] in names for c in summary["clusters"] for n in c["nouns"])
    assert summary["method"] == "mca" and "predict_proba" in summary["confidence"]
    assert "<img " not in page  # no image paths: placeholders only


def test_embed_mixed_folder_has_no_labels(tmp_path, tiny_model_name, tiny_ckpt):
    from skclip.datasets import load_features

    root = tmp_path / "mixed"
    paths = _save_images(root, 3, seed=4) + _save_images(root / "sub", 2, seed=5)
    feats = tmp_path / "f"  # ".npz" is appended
    assert main(["embed", str(root), "--out", str(feats), "--model", tiny_model_name,
                 "--pretrained", str(tiny_ckpt), "--device", "cpu", "--quiet"]) == 0
    data = load_features(tmp_path / "f.npz")
    assert data.y is None and data.class_names is None
    assert sorted(data.paths) == sorted(paths)


@pytest.mark.slow
def test_cluster_default_wordnet_vocabulary(tmp_path, tiny_model_name, tiny_ckpt, wordnet):
    """The default vocabulary: every WordNet noun, read offline from the system WordNet."""
    _save_images(tmp_path / "photos", 12, seed=6)
    out = tmp_path / "o"
    assert main(["cluster", str(tmp_path / "photos"), "-k", "2", "--out", str(out),
                 "--model", tiny_model_name, "--pretrained", str(tiny_ckpt),
                 "--device", "cpu", "--quiet"]) == 0
    _, summary, _ = read_outputs(out)
    assert summary["naming_nouns"] > 50_000
    assert all(len(c["nouns"]) == 5 for c in summary["clusters"] if c["size"])
