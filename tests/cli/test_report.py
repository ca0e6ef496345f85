"""skclip.report building blocks: cache, summaries, confidence, output files, HTML."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from skclip.report import (
    EmbeddingCache,
    prepare_output_dir,
    render_report,
    sizes_svg,
    softmax_confidence,
    summarize_clusters,
    write_assignments,
)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8), "blue").save(path)
    return path


def test_cache_roundtrip_and_invalidation(image):
    cache = EmbeddingCache("ViT-B-32", "openai")
    cache.put({str(image): np.arange(4, dtype=np.float32)})
    hits, failed = cache.get([str(image)])
    np.testing.assert_array_equal(hits[str(image)], np.arange(4))
    assert failed == {}
    # the same bytes at a new mtime, then new bytes: both are new files for the cache
    st = image.stat()
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.get([str(image)]) == ({}, {})
    cache.put({str(image): np.ones(4, dtype=np.float32)})
    Image.new("RGB", (9, 9), "red").save(image)
    assert cache.get([str(image)])[0] == {}


def test_cache_keyed_by_model_pretrained_and_precision(image, tmp_path):
    EmbeddingCache("ViT-B-32", "openai").put({str(image): np.ones(2, dtype=np.float32)})
    assert EmbeddingCache("ViT-B-32", "laion2b_s34b_b79k").get([str(image)])[0] == {}
    assert EmbeddingCache("ViT-B-16", "openai").get([str(image)])[0] == {}
    # another precision (a GPU's "auto") is another file; float32 is the default
    assert EmbeddingCache("ViT-B-32", "openai", precision="bf16").get([str(image)])[0] == {}
    assert len(EmbeddingCache("ViT-B-32", "openai", precision="fp32").get([str(image)])[0]) == 1
    with pytest.raises(ValueError, match="resolved, not 'auto'"):
        EmbeddingCache("ViT-B-32", "openai", precision="auto")
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"weights v1")
    EmbeddingCache("ViT-B-32", str(ckpt)).put({str(image): np.ones(2, dtype=np.float32)})
    assert len(EmbeddingCache("ViT-B-32", str(ckpt)).get([str(image)])[0]) == 1
    ckpt.write_bytes(b"weights v2, retrained")  # another checkpoint at the same path
    assert EmbeddingCache("ViT-B-32", str(ckpt)).get([str(image)])[0] == {}


def test_cache_remembers_failures(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    cache = EmbeddingCache("m", "p")
    cache.put({}, {str(bad): "cannot identify image file"})
    assert cache.get([str(bad)]) == ({}, {str(bad): "cannot identify image file"})


def test_softmax_confidence():
    F = np.array([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]])
    conf = softmax_confidence(F, [0, 1, 1], centers=[[1.0, 0.0], [0.0, 1.0]])
    assert conf[0] > 0.99 and conf[2] > 0.99
    assert conf[1] == pytest.approx(0.5, abs=0.02)  # equidistant from both centres
    assert np.all((conf >= 0) & (conf <= 1))


def test_summarize_clusters():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal([5, 0, 0], 0.1, (6, 3)), rng.normal([0, 5, 0], 0.1, (4, 3))])
    labels = np.array([0] * 6 + [1] * 4)
    U = np.array([[1.0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0.7], [1.0, 0.01, 0]])
    nouns = ["cat", "dog", "animal", "cat"]  # "cat" twice (two senses): listed once
    out = summarize_clusters(X, labels, 3, paths=[f"p{i}" for i in range(10)], nouns=nouns,
                             noun_embeddings=U, confidence=np.linspace(0, 1, 10),
                             n_nouns=3, n_representatives=5)
    assert [c["size"] for c in out] == [6, 4, 0]
    assert [n["noun"] for n in out[0]["nouns"]] == ["cat", "animal", "dog"]
    assert out[1]["nouns"][0]["noun"] == "dog"
    assert out[0]["title"] == "Cluster 0: cat, animal, dog"
    assert len(out[0]["representatives"]) == 5 and len(out[1]["representatives"]) == 4
    assert {r["path"] for r in out[1]["representatives"]} == {"p6", "p7", "p8", "p9"}
    sims = [r["similarity"] for r in out[0]["representatives"]]
    assert sims == sorted(sims, reverse=True)
    assert out[2] == {"cluster": 2, "size": 0, "mean_confidence": None, "nouns": [],
                      "representatives": [], "title": "Cluster 2"}
    assert out[1]["mean_confidence"] == pytest.approx(np.linspace(0, 1, 10)[6:].mean(), abs=1e-4)


def test_write_assignments_checks_lengths(tmp_path):
    with pytest.raises(ValueError, match="same length"):
        write_assignments(tmp_path / "a.csv", ["a"], [0, 1], [0.5, 0.5])
    write_assignments(tmp_path / "a.csv", ["x,y.jpg"], [3], [0.25])
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert rows == [{"path": "x,y.jpg", "cluster": "3", "confidence": "0.2500"}]


def test_prepare_output_dir(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []  # the write probe leaves nothing
    (out / "assignments.csv").write_text("old")
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_output_dir(out)
    assert prepare_output_dir(out, overwrite=True) == out


def test_render_report_escapes_and_stays_offline(image):
    summary = {"method": "cae", "input": "<b>in</b>", "clusters": [
        {"cluster": 0, "size": 2, "mean_confidence": 0.9, "title": "Cluster 0: <script>",
         "nouns": [{"noun": "a&b", "score": 0.1, "similarity": 0.3}],
         "representatives": [{"path": str(image), "similarity": 1.0},
                             {"path": "gone.jpg", "similarity": 0.5}]},
        {"cluster": 1, "size": 0, "mean_confidence": None, "title": "Cluster 1",
         "nouns": [], "representatives": []}],
        "skipped": [{"path": "bad<1>.jpg", "error": "cannot identify image file"}]}
    page = render_report(summary)
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&amp;b" in page
    assert page.count('<section class="cluster"') == 2
    assert page.count("<img ") == 1  # the missing file gets a placeholder, not a broken <img>
    assert "data:image/jpeg;base64," in page
    assert "default-src 'none'" in page  # CSP: the page cannot reach the network
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "bad&lt;1&gt;.jpg" in page


def test_sizes_svg_scales_to_many_clusters():
    svg = sizes_svg(list(range(200)))
    assert svg.count("<rect") == 200 and "<text" not in svg  # no unreadable labels
    assert 'href="#cluster-199"' in svg
