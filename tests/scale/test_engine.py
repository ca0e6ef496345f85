"""skclip.scale against a real local Ray: embed -> fit -> predict equals the local engine."""

import os
import sys
import warnings

import numpy as np
import pytest

from skclip import CAEClustering, CLIPEmbedder, make_clip_pipeline
from skclip.report import assignment_confidence
from skclip.semantic import SemanticSpaceBuilder

from .conftest import NOUNS


@pytest.fixture(scope="module")
def embedded(ray_local, tiny_config, image_folder):
    """The folder embedded once by the Ray engine, skipping the corrupt file."""
    from skclip.scale import embed, image_dataset

    return embed(image_dataset(image_folder), model=tiny_config, pretrained=None,
                 batch_size=8, on_error="skip", num_gpus=0)  # CPU actors, even on a GPU host


@pytest.fixture(scope="module")
def local(tiny_config, image_folder):
    """The local engine on the same folder (same random weights: one process cache)."""
    emb = CLIPEmbedder(model=tiny_config, pretrained=None, device="cpu", batch_size=8,
                       on_error="skip", verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X = emb.fit_transform(image_folder)
    return X, emb


def _rows(ds, *columns):
    from skclip.scale._ray import embedding_matrix

    batches = list(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    out = []
    for c in columns:
        if c == "embedding":
            out.append(np.concatenate([embedding_matrix(b, c) for b in batches]))
        else:
            out.append(np.concatenate([b.column(c).to_numpy(zero_copy_only=False)
                                       for b in batches]))
    return out


def _cae(tiny_config):
    space = SemanticSpaceBuilder(embedder=CLIPEmbedder(model=tiny_config, pretrained=None,
                                                       device="cpu", verbose=0),
                                 vocabulary=NOUNS)
    return CAEClustering(n_clusters=3, semantic_space=space, device="cpu", random_state=0)


def test_embeddings_match_local_engine(embedded, local):
    X_local, emb = local
    paths, X = _rows(embedded.dataset, "path", "embedding")
    assert list(paths) == emb.sources_  # input order kept
    np.testing.assert_allclose(X, X_local, atol=2e-5)
    assert embedded.n_images == 31 and embedded.embedding_dim == X_local.shape[1]


def test_corrupt_file_reported_like_local_engine(embedded, local):
    _, emb = local
    assert [(p, r) for p, r in embedded.dropped] == [(d.source, d.reason) for d in emb.dropped_]
    assert embedded.dropped[0][0].endswith("zz_broken.jpg")


def test_report_dropped_modes():
    from skclip.scale._embed import _report_dropped

    dropped = [("b.jpg", "OSError: broken")]
    _report_dropped(dropped, 2, "skip")
    with pytest.warns(UserWarning, match="1 of 2 images could not be read.*b.jpg"):
        _report_dropped(dropped, 2, "warn")
    with pytest.raises(ValueError, match="cannot read image 'b.jpg'"):
        _report_dropped(dropped, 2, "raise")
    with pytest.raises(ValueError, match="none of the 1 images could be read; first: b.jpg"):
        _report_dropped(dropped, 1, "skip")


def test_fit_predict_match_local_engine(embedded, local, tiny_config):
    from skclip.scale import fit, predict

    X_local, emb = local
    ref = _cae(tiny_config).fit(X_local)
    fitted = fit(_cae(tiny_config), embedded.dataset, sample_size=1000, random_state=0)
    np.testing.assert_array_equal(fitted.labels_, ref.labels_)
    out = predict(fitted, embedded.dataset, batch_size=7)  # batches cut across blocks
    assert out.schema().names == ["path", "cluster", "confidence"]
    paths, labels, conf = _rows(out, "path", "cluster", "confidence")
    assert list(paths) == emb.sources_
    np.testing.assert_array_equal(labels, ref.labels_)
    np.testing.assert_allclose(conf, assignment_confidence(ref, X_local, ref.labels_),
                               atol=1e-5)


def test_fit_on_sample_is_uniform_and_reproducible(embedded):
    from skclip.scale import sample_embeddings

    a = sample_embeddings(embedded.dataset, 10, random_state=0)
    b = sample_embeddings(embedded.dataset.repartition(3), 10, random_state=0)
    c = sample_embeddings(embedded.dataset, 10, random_state=1)
    _, X = _rows(embedded.dataset, "path", "embedding")
    assert a.shape == (10, X.shape[1])
    np.testing.assert_array_equal(a, b)  # independent of the block layout
    assert not np.array_equal(a, c)
    rows = {r.tobytes() for r in X}
    assert all(r.tobytes() in rows for r in a) and len({r.tobytes() for r in a}) == 10


def test_pipeline_tail_and_parquet(embedded, local, tiny_config, tmp_path):
    import pyarrow.parquet as pq

    from skclip.scale import fit, predict

    pipe = make_clip_pipeline("kmeans", 3, model=tiny_config, pretrained=None, device="cpu",
                              random_state=0)
    fitted = fit(pipe, embedded.dataset, sample_size=20, random_state=0)
    assert [name for name, _ in fitted.steps] == ["clust"]  # the embedder step dropped
    assert len(fitted[-1].labels_) == 20
    out = predict(fitted, embedded.dataset, keep_embedding=True)
    out.write_parquet(str(tmp_path / "res"))
    table = pq.read_table(tmp_path / "res")
    assert table.column_names == ["path", "cluster", "confidence", "embedding"]
    assert table.num_rows == 30
    assert set(table.column("cluster").to_pylist()) <= {0, 1, 2}


def test_worker_failure_is_retried(embedded, tiny_config, image_folder, tmp_path,
                                   monkeypatch):
    """An actor process that dies mid-batch is restarted by Ray and its batch re-run."""
    from skclip.scale import _embed, embed, image_dataset

    marker = tmp_path / "crashed"

    class CrashOnce(_embed._EmbedActor):  # shipped by value: this class is local
        def __call__(self, batch):
            if not marker.exists():
                marker.touch()
                os._exit(1)  # the whole worker process dies, as on a lost node
            return super().__call__(batch)

    monkeypatch.setattr(_embed, "_EmbedActor", CrashOnce)
    res = embed(image_dataset(image_folder), model=tiny_config, pretrained=None,
                batch_size=8, on_error="skip", concurrency=1, num_gpus=0)
    assert marker.exists()
    paths, X = _rows(res.dataset, "path", "embedding")
    ref_paths, ref_X = _rows(embedded.dataset, "path", "embedding")
    assert list(paths) == list(ref_paths)
    np.testing.assert_allclose(X, ref_X, atol=2e-5)


def test_bad_arguments(ray_local, tiny_config, image_folder, tmp_path):
    from skclip.scale import embed, fit, image_dataset, predict

    with pytest.raises(ValueError, match="image folder not found"):
        image_dataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="empty"):
        image_dataset([])
    ds = image_dataset([str(image_folder / "00.jpg")])
    with pytest.raises(ValueError, match="on_error"):
        embed(ds, model=tiny_config, on_error="ignore")
    with pytest.raises(ValueError, match="no column 'file'"):
        embed(ds, model=tiny_config, column="file")
    with pytest.raises(ValueError, match="sample_size"):
        fit(CAEClustering(n_clusters=2), ds, sample_size=0)
    with pytest.raises(TypeError, match="no predict"):
        predict(object(), ds)


def test_paths_from_parquet_and_csv_columns(ray_local, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from skclip.scale import image_dataset

    table = pa.table({"file": ["a.jpg", "b.jpg", "c.jpg"], "other": [1, 2, 3]})
    pq.write_table(table, tmp_path / "list.parquet")
    pcsv.write_csv(table, tmp_path / "list.csv")
    for name in ("list.parquet", "list.csv"):
        ds = image_dataset(tmp_path / name, column="file")
        assert ds.schema().names == ["path"]
        assert [r["path"] for r in ds.take_all()] == ["a.jpg", "b.jpg", "c.jpg"]
    with pytest.raises(ValueError, match="no column 'path'"):
        image_dataset(tmp_path / "list.parquet")


def test_import_skclip_does_not_import_ray():
    import subprocess

    code = "import sys, skclip, skclip.cli; skclip.cluster; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
def test_embed_on_gpu_actors_matches_cpu(ray_local, embedded, tiny_config, image_folder):
    """With GPUs in the cluster, actors take one each and give the CPU's embeddings."""
    import torch

    from skclip.scale import embed, image_dataset

    if not torch.cuda.is_available() or ray_local.cluster_resources().get("GPU", 0) < 1:
        pytest.skip("needs CUDA and a GPU in the Ray cluster")
    res = embed(image_dataset(image_folder), model=tiny_config, pretrained=None,
                batch_size=8, on_error="skip", precision="fp32")  # num_gpus="auto" -> 1
    paths, X = _rows(res.dataset, "path", "embedding")
    ref_paths, ref_X = _rows(embedded.dataset, "path", "embedding")
    assert list(paths) == list(ref_paths)
    np.testing.assert_allclose(X, ref_X, atol=5e-3)  # TF32 convolutions on the GPU
