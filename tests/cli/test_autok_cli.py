"""``skclip cluster --n-clusters auto``: the chosen K and its curve in clusters.json and
report.html, the map of the images, and the page rendered by headless Chromium."""

import re

import numpy as np
import pytest
from PIL import Image

from skclip.cli import main

from .test_cluster_cifar import _chromium, _run_chromium
from .test_cluster_run import read_outputs


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """A features file with its own vocabulary (no CLIP model): 4 planted clusters."""
    from skclip.datasets import make_clip_blobs, save_features

    base = tmp_path_factory.mktemp("autok")
    blobs = make_clip_blobs(n_samples=200, n_clusters=4, n_features=16, spread=0.3,
                            random_state=0)
    feats = save_features(base / "f.npz", blobs.X, text_embeddings=blobs.text_embeddings,
                          text_names=blobs.text_names, model="no-such-model/none")
    out = base / "out"
    argv = ["cluster", "--features", str(feats), "--n-clusters", "auto", "--k-range", "2:9",
            "--method", "cae", "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    return out


def test_auto_writes_chosen_k_and_curve(auto_run):
    rows, summary, page = read_outputs(auto_run)
    sel = summary["k_selection"]
    assert sel["criterion"] == "silhouette"  # CAE's default
    assert sel["chosen"] == summary["n_clusters"] == len(summary["clusters"])
    assert [s["k"] for s in sel["scores"]] == list(range(2, 10))
    best = max(sel["scores"], key=lambda s: s["score"])
    assert best["k"] == sel["chosen"]
    # the curve (one circle per scanned K) and the map (one per image) come first
    assert page.index("aria-label=\"silhouette by K\"") < page.index("map of the images")
    assert page.index("map of the images") < page.index('<section class="cluster"')
    assert page.count("<circle") == len(sel["scores"]) + len(rows)
    links = set(re.findall(r'<a href="#cluster-(\d+)"><g ', page))
    assert links == {str(c["cluster"]) for c in summary["clusters"] if c["size"]}
    assert "<script" not in page


def test_fixed_k_has_no_curve(tmp_path):
    from skclip.datasets import make_clip_blobs, save_features

    blobs = make_clip_blobs(n_samples=60, n_clusters=3, n_features=8, random_state=0)
    feats = save_features(tmp_path / "f.npz", blobs.X, text_embeddings=blobs.text_embeddings,
                          text_names=blobs.text_names, model="no-such-model/none")
    assert main(["cluster", "--features", str(feats), "-k", "3", "--out", str(tmp_path / "o"),
                 "--device", "cpu", "--quiet"]) == 0
    _, summary, page = read_outputs(tmp_path / "o")
    assert "k_selection" not in summary and "by K" not in page
    assert page.count("<circle") == 60  # the map of every image


@pytest.mark.parametrize("argv, message", [
    (["-k", "many"], "expected an integer >= 2 (one cluster is no clustering) or 'auto'"),
    (["-k", "auto", "--k-range", "9:2"], "LOW:HIGH"),
    (["-k", "auto", "--k-range", "x"], "LOW:HIGH"),
])
def test_bad_n_clusters_and_k_range(tmp_path, capsys, argv, message):
    assert main(["cluster", str(tmp_path), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_k_range_needs_auto(tmp_path, capsys):
    feats = tmp_path / "f.npy"
    np.save(feats, np.random.RandomState(0).normal(size=(30, 4)).astype(np.float32))
    assert main(["cluster", "--features", str(feats), "-k", "3", "--k-range", "2:5",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2  # a bad command line
    assert "--k-range needs --n-clusters auto" in capsys.readouterr().err


def test_auto_report_renders_in_chromium(auto_run, tmp_path):
    binary = _chromium()
    url = (auto_run / "report.html").resolve().as_uri()
    dom = _run_chromium(binary, tmp_path, "--dump-dom", url).stdout
    assert dom.count("<svg") == 3  # curve, map, sizes
    shot = tmp_path / "auto.png"
    _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1000,900", url)
    with Image.open(shot) as im:
        top = np.asarray(im.convert("RGB"))[:900]
    # the curve's line (#0969da) and the map's clusters are painted at the top of the page
    blue = np.all(np.abs(top.astype(int) - [9, 105, 218]) < 40, axis=2)
    assert blue.sum() > 200
    assert len({tuple(p) for p in top.reshape(-1, 3)[::7]}) > 50
