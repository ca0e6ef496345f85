"""``skclip cluster|embed --engine ray`` give the local engine's files, plus Parquet."""

import csv
import json

import numpy as np
import pytest

from skclip.cli import main


def _common(tiny_config, nouns_file):
    return ["--model", tiny_config, "--pretrained", "none", "--vocabulary", str(nouns_file),
            "--device", "cpu", "--batch-size", "8", "--quiet"]


def _assignments(out):
    with (out / "assignments.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_cluster_engine_ray_matches_local(ray_local, tiny_config, nouns_file, image_folder,
                                          tmp_path, capsys):
    import pyarrow.parquet as pq

    args = ["cluster", str(image_folder), "-k", "3", *_common(tiny_config, nouns_file)]
    assert main(args + ["--out", str(tmp_path / "local")]) == 0
    assert main(args + ["--out", str(tmp_path / "ray"), "--engine", "ray",
                        "--fit-sample", "1000"]) == 0
    local, ray_rows = _assignments(tmp_path / "local"), _assignments(tmp_path / "ray")
    assert [r["path"] for r in ray_rows] == [r["path"] for r in local]
    assert [r["cluster"] for r in ray_rows] == [r["cluster"] for r in local]
    np.testing.assert_allclose([float(r["confidence"]) for r in ray_rows],
                               [float(r["confidence"]) for r in local], atol=2e-4)
    summary = json.loads((tmp_path / "ray" / "clusters.json").read_text())
    local_summary = json.loads((tmp_path / "local" / "clusters.json").read_text())
    assert summary["engine"] == "ray" and summary["fit_sample"] == 30
    assert summary["skipped"] == local_summary["skipped"] != []
    assert [c["size"] for c in summary["clusters"]] == \
        [c["size"] for c in local_summary["clusters"]]
    assert (tmp_path / "ray" / "report.html").is_file()
    assert (tmp_path / "ray" / "model.joblib").is_file()
    np.testing.assert_allclose(np.load(tmp_path / "ray" / "embeddings.npy"),
                               np.load(tmp_path / "local" / "embeddings.npy"), atol=1e-5)
    table = pq.read_table(tmp_path / "ray" / "assignments.parquet")
    assert table.column_names == ["path", "cluster", "confidence"]
    assert [str(c) for c in table.column("cluster").to_pylist()] == \
        [r["cluster"] for r in local]
    assert "zz_broken.jpg" in capsys.readouterr().err  # reported, as the local engine does


def test_cluster_features_engine_ray_fit_on_sample(ray_local, tmp_path):
    """A features file through the Ray engine, fitted on a sample: every row is labelled."""
    from skclip.datasets import make_clip_blobs, save_features

    data = make_clip_blobs(n_samples=60, n_clusters=3, n_features=32, random_state=0)
    paths = [f"img{i:03d}.jpg" for i in range(60)]
    feats = save_features(tmp_path / "f.npz", data.X, y=data.y, paths=paths,
                          text_embeddings=data.text_embeddings, text_names=data.text_names)
    out = tmp_path / "sample"
    args = ["cluster", "--features", str(feats), "-k", "3", "--method", "cae",
            "--device", "cpu", "--quiet", "--out", str(out),
            "--engine", "ray", "--fit-sample", "25", "--seed", "1"]
    assert main(args) == 0
    rows = _assignments(out)
    summary = json.loads((out / "clusters.json").read_text())
    assert [r["path"] for r in rows] == paths
    assert summary["fit_sample"] == 25 and summary["engine"] == "ray"
    assert sum(c["size"] for c in summary["clusters"]) == 60
    # model.joblib and embeddings.npy as the local engine writes them: the model fitted on
    # the sample predicts every row's cluster, and 'skclip edit' works on the folder
    from skclip.report import load_model

    bundle = load_model(out / "model.joblib")
    np.testing.assert_array_equal(np.load(out / "embeddings.npy"), data.X)
    assert bundle.clusterer.predict(data.X).tolist() == [int(r["cluster"]) for r in rows]
    assert main(["edit", str(out), "--rename", "0=first", "--quiet"]) == 0
    renamed = json.loads((out / "clusters.json").read_text())["clusters"][0]
    assert renamed["name"] == "first"


def test_embed_engine_ray_matches_local(ray_local, tiny_config, image_folder, tmp_path):
    import pyarrow.parquet as pq

    from skclip.datasets import load_features
    from skclip.scale._ray import embedding_matrix

    args = ["embed", str(image_folder), "--model", tiny_config, "--pretrained", "none",
            "--device", "cpu", "--batch-size", "8", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "local.npz")]) == 0
    assert main(args + ["--out", str(tmp_path / "ray.npz"), "--engine", "ray"]) == 0
    local, ray_f = load_features(tmp_path / "local.npz"), load_features(tmp_path / "ray.npz")
    assert list(ray_f.paths) == list(local.paths)
    np.testing.assert_allclose(ray_f.X, local.X, atol=2e-5)
    table = pq.read_table(tmp_path / "ray.parquet")
    assert table.column("path").to_pylist() == list(local.paths)
    np.testing.assert_allclose(embedding_matrix(table, "embedding"), local.X, atol=2e-5)


def test_engine_options_need_engine_ray(tmp_path, image_folder, capsys):
    base = ["cluster", str(image_folder), "-k", "2", "--out", str(tmp_path / "o")]
    assert main(base + ["--fit-sample", "10"]) == 2  # a bad command line
    assert "--fit-sample need --engine ray" in capsys.readouterr().err
    assert main(base + ["--engine", "ray", "--fit-sample", "0"]) == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err
