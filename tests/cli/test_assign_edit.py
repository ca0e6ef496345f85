"""``skclip assign`` / ``edit`` / ``export`` on a ``skclip cluster`` folder (tiny random
CLIP model saved as a checkpoint, so that new images are embedded the same way)."""

import csv
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skclip.cli import main

from .test_cluster_cifar import _chromium, _run_chromium
from .test_cluster_run import NOUNS, _save_images

FILES = ("assignments.csv", "clusters.json", "report.html", "model.joblib", "embeddings.npy")


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _snapshot(folder):
    return {n: (Path(folder) / n).read_bytes() for n in FILES}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_model_name):
    """24 images of 4 colours clustered into 6 clusters (checkpoint weights, cached)."""
    import open_clip
    import torch

    base = tmp_path_factory.mktemp("after")
    ckpt = base / "tiny.pt"
    torch.manual_seed(0)
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), ckpt)
    for c in range(3):
        _save_images(base / "photos" / f"c{c}", 6, seed=c, colour=c)
    _save_images(base / "photos" / "grey", 6, seed=9)
    nouns = base / "nouns.txt"
    nouns.write_text("\n".join(NOUNS))
    out = base / "clusters"
    common = ["--model", tiny_model_name, "--pretrained", str(ckpt), "--device", "cpu",
              "--batch-size", "8", "--quiet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKCLIP_CACHE", str(base / "cache"))
        assert main(["cluster", str(base / "photos"), "-k", "6", "--out", str(out),
                     "--vocabulary", str(nouns), *common]) == 0
    return base, out


@pytest.fixture
def folder(fitted, tmp_path, monkeypatch):
    """A private copy of the fitted folder (edits change it)."""
    base, out = fitted
    monkeypatch.setenv("SKCLIP_CACHE", str(base / "cache"))
    copy = tmp_path / "clusters"
    shutil.copytree(out, copy)
    return base, copy


def test_cluster_writes_model_outliers_and_hierarchy(fitted):
    from skclip.report import load_model

    base, out = fitted
    rows = _rows(out / "assignments.csv")
    assert list(rows[0]) == ["path", "cluster", "confidence", "outlier"]
    assert {r["outlier"] for r in rows} <= {"0", "1"}
    summary = json.loads((out / "clusters.json").read_text())
    assert summary["edits"] == [] and "Tukey" in summary["outlier_rule"]
    assert len(summary["outliers"]) == sum(r["outlier"] == "1" for r in rows)
    root = summary["hierarchy"]
    leaves = []

    def walk(node):
        if not node["children"]:
            leaves.append(node)
        else:
            assert node["size"] == sum(c["size"] for c in node["children"])
            assert isinstance(node["id"], str) and node["name"]
        for c in node["children"]:
            walk(c)

    walk(root)
    assert root["size"] == 24
    assert sorted(x["id"] for x in leaves) == [c["cluster"] for c in summary["clusters"]
                                               if c["size"]]
    model = load_model(out / "model.joblib")
    assert model.embedder["device"] == "auto" and model.embedder["model"] == "skclip-tiny-test"
    assert Path(model.embedder["pretrained"]).is_absolute()
    X = np.load(out / "embeddings.npy")
    assert [int(r["cluster"]) for r in rows] == model.predict(X).tolist()
    page = (out / "report.html").read_text()
    assert page.count('<details') >= 2 and "<script" not in page


def test_assign_reproduces_the_fit(folder, tmp_path):
    base, out = folder
    assert main(["assign", str(base / "photos"), "--from", str(out), "--out",
                 str(tmp_path / "new"), "--device", "cpu", "--quiet"]) == 0
    again = sorted(_rows(tmp_path / "new" / "assignments.csv"), key=lambda r: r["path"])
    assert again == sorted(_rows(out / "assignments.csv"), key=lambda r: r["path"])
    assert (tmp_path / "new" / "report.html").is_file()


def test_merge_rename_then_assign(folder, tmp_path):
    base, out = folder
    assert main(["edit", str(out), "--merge", "0,4", "--rename", "0=sports cars",
                 "--merge", "1,5,2", "--quiet"]) == 0
    summary = json.loads((out / "clusters.json").read_text())
    assert [c["cluster"] for c in summary["clusters"]] == [0, 1, 3]
    assert summary["edits"] == [{"op": "merge", "ids": [0, 4], "into": 0},
                                {"op": "rename", "id": 0, "name": "sports cars"},
                                {"op": "merge", "ids": [1, 5, 2], "into": 1}]
    assert summary["clusters"][0]["name"] == "sports cars"
    assert summary["clusters"][0]["title"] == "Cluster 0: sports cars"
    assert "sports cars" in (out / "report.html").read_text()
    labels = {int(r["cluster"]) for r in _rows(out / "assignments.csv")}
    assert labels <= {0, 1, 3}
    assert main(["assign", str(base / "photos"), "--from", str(out), "--out",
                 str(tmp_path / "new"), "--device", "cpu", "--quiet"]) == 0
    new = _rows(tmp_path / "new" / "assignments.csv")
    assert {int(r["cluster"]) for r in new} <= {0, 1, 3}  # never a merged-away id
    assert sorted(new, key=lambda r: r["path"]) == sorted(_rows(out / "assignments.csv"),
                                                          key=lambda r: r["path"])


def test_split_then_export(folder, tmp_path):
    base, out = folder
    sizes = {c["cluster"]: c["size"] for c in
             json.loads((out / "clusters.json").read_text())["clusters"]}
    big = max(sizes, key=sizes.get)
    assert main(["edit", str(out), "--split", f"{big}:2", "--quiet"]) == 0
    summary = json.loads((out / "clusters.json").read_text())
    ids = [c["cluster"] for c in summary["clusters"]]
    assert big not in ids and ids[-2:] == [6, 7]  # the parts get new ids, others keep theirs
    assert sum(c["size"] for c in summary["clusters"] if c["cluster"] in (6, 7)) == sizes[big]
    assert main(["export", str(out), "--to", str(tmp_path / "exp"), "--quiet"]) == 0
    rows = _rows(out / "assignments.csv")
    for c in summary["clusters"]:
        want = sum(r["cluster"] == str(c["cluster"]) and r["outlier"] == "0" for r in rows)
        sub = [d for d in (tmp_path / "exp").iterdir() if d.name.split("-")[0] == str(c["cluster"])]
        assert len(sub) == 1 and len(list(sub[0].iterdir())) == want
    links = list((tmp_path / "exp").rglob("*.jpg"))
    assert len(links) == 24 and all(p.is_symlink() and p.resolve().is_file() for p in links)
    assert len(list((tmp_path / "exp" / "outliers").iterdir())) == len(summary["outliers"])
    assert main(["export", str(out), "--to", str(tmp_path / "copies"), "--mode", "copy",
                 "--quiet"]) == 0
    assert not any(p.is_symlink() for p in (tmp_path / "copies").rglob("*.jpg"))
    assert main(["export", str(out), "--to", str(tmp_path / "exp"), "--quiet"]) == 1  # not empty


@pytest.mark.parametrize("argv, message", [
    (["--merge", "0,99"], "unknown cluster id(s) 99"),
    (["--merge", "3,3"], "cannot merge a cluster with itself"),
    (["--split", "2:1"], "at least 2 parts"),
    (["--rename", "42=x"], "unknown cluster id(s) 42"),
    (["--merge", "0,1", "--split", "1:2"], "unknown cluster id(s) 1"),  # merged away first
    ([], "nothing to do"),
])
def test_bad_edits_change_nothing(folder, capsys, argv, message):
    _, out = folder
    before = _snapshot(out)
    assert main(["edit", str(out), *argv, "--quiet"]) == 1
    assert message in capsys.readouterr().err
    assert _snapshot(out) == before


@pytest.mark.parametrize("argv", [["--merge", "0"], ["--split", "3"], ["--rename", "x"]])
def test_malformed_edit_options(folder, argv):
    assert main(["edit", str(folder[1]), *argv]) == 2


def test_from_folder_without_model_or_other_version(folder, tmp_path, capsys):
    base, out = folder
    (out / "model.joblib").rename(tmp_path / "model.joblib")
    assert main(["assign", str(base / "photos"), "--from", str(out), "--out",
                 str(tmp_path / "a")]) == 1
    assert "has no model.joblib" in capsys.readouterr().err
    (tmp_path / "model.joblib").rename(out / "model.joblib")
    summary = json.loads((out / "clusters.json").read_text())
    summary["skclip_version"] = "0.0.1"
    (out / "clusters.json").write_text(json.dumps(summary))
    for argv in (["assign", str(base / "photos"), "--from", str(out), "--out",
                  str(tmp_path / "b")], ["edit", str(out), "--merge", "0,1"]):
        assert main(argv) == 1
        assert "written by skclip 0.0.1" in capsys.readouterr().err


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from skclip.cli import main
    target, n = sys.argv[1], int(sys.argv[2])
    real = getattr(os, target)
    calls = [0]
    def killer(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9, half-way through the commit
        return real(*args, **kwargs)
    setattr(os, target, killer)
    main(["edit", sys.argv[3], "--merge", "0,1", "--rename", "2=two", "--quiet"])
""")


def test_kill_during_edit_leaves_old_or_new_never_a_mix(folder, tmp_path):
    """kill -9 while the files are written (fsync), at the commit point, and while they
    are renamed into place: the folder is then exactly the old one, or (once the next
    skclip command settles it) exactly the finished edit."""
    from skclip.report import read_cluster_folder

    base, out = folder
    old = _snapshot(out)
    done = tmp_path / "done"
    shutil.copytree(out, done)
    assert main(["edit", str(done), "--merge", "0,1", "--rename", "2=two", "--quiet"]) == 0
    new = _snapshot(done)
    text = ("assignments.csv", "clusters.json", "report.html", "embeddings.npy")
    for target, n, expect in [("fsync", 2, "old"), ("replace", 1, "old"),
                              ("replace", 3, "new"), ("replace", 5, "new")]:
        work = tmp_path / f"{target}{n}"
        shutil.copytree(out, work)
        proc = subprocess.run([sys.executable, "-c", _KILLER, target, str(n), str(work)],
                              capture_output=True, timeout=300)
        assert proc.returncode == -9, proc.stderr.decode()[-2000:]
        if expect == "old":  # before the commit point: the visible files are untouched
            assert {k: v for k, v in _snapshot(work).items()} == old
        read_cluster_folder(work)  # what every command does first: settle the folder
        assert not [p for p in work.iterdir() if p.name.startswith(".")]
        now = _snapshot(work)
        if expect == "old":
            assert now == old
        else:
            assert {k: now[k] for k in text} == {k: new[k] for k in text}


def test_tree_renders_in_chromium(fitted, tmp_path):
    import os

    binary = _chromium()
    _, out = fitted
    url = (out / "report.html").resolve().as_uri()
    dom = _run_chromium(binary, tmp_path, "--dump-dom", url).stdout
    summary = json.loads((out / "clusters.json").read_text())
    assert dom.count('<details class="tree"') == 1
    assert dom.count('<a href="#cluster-') >= 2 * sum(1 for c in summary["clusters"] if c["size"])
    shot = tmp_path / "tree.png"
    _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1000,700", url)
    with Image.open(shot) as im:
        assert im.size == (1000, 700)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # not blank
    keep = os.environ.get("SKCLIP_TREE_SCREENSHOT_TO")  # docs/_static/report_tree_screenshot.png
    if keep:
        shutil.copyfile(shot, keep)
