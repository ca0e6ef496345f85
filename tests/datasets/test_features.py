import numpy as np
import pytest

from skclip.datasets import load_features, make_clip_blobs, save_features


@pytest.fixture
def blobs():
    return make_clip_blobs(n_samples=40, n_clusters=3, n_features=8, n_hub_texts=1,
                           random_state=0)


def test_round_trip_all_fields(tmp_path, blobs):
    paths = [f"img/{i}.jpg" for i in range(40)]
    out = save_features(tmp_path / "f.npz", blobs.X, y=blobs.y,
                        class_names=["a", "b", "c"], model="ViT-B-32/openai", split="test",
                        paths=paths, text_embeddings=blobs.text_embeddings,
                        text_names=blobs.text_names)
    assert out == tmp_path / "f.npz"
    data = load_features(out)
    np.testing.assert_array_equal(data.X, blobs.X)
    np.testing.assert_array_equal(data.y, blobs.y)
    np.testing.assert_array_equal(data.text_embeddings, blobs.text_embeddings)
    assert data.X.dtype == np.float32 and data.y.dtype == np.int64
    assert data.class_names == ["a", "b", "c"]
    assert data.model == "ViT-B-32/openai" and data.split == "test"
    assert data.paths == paths
    assert data.text_names == blobs.text_names.tolist()
    assert data.format_version == 1
    # plain npz, no pickle needed
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["format"]) == "skclip-features"


def test_round_trip_minimal_and_suffix(tmp_path, blobs):
    out = save_features(tmp_path / "sub" / "minimal", blobs.X)
    assert out.name == "minimal.npz" and out.is_file()
    data = load_features(out)
    assert data.y is None and data.class_names is None and data.model is None
    assert data.text_embeddings is None and data.paths is None


def test_float16_is_kept_on_disk_and_loaded_as_float32(tmp_path, blobs):
    out = save_features(tmp_path / "h.npz", blobs.X.astype(np.float16))
    with np.load(out) as npz:
        assert npz["X"].dtype == np.float16
    assert load_features(out).X.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(X=np.ones(5)), ValueError, "2-D"),
        (dict(X=np.ones((2, 3), dtype=int)), TypeError, "floats"),
        (dict(X=np.array([[np.nan, 1.0]])), ValueError, "NaN"),
        (dict(X=np.ones((3, 2)), y=[0, 1]), ValueError, r"shape \(3,\)"),
        (dict(X=np.ones((3, 2)), y=[0, 1, -1]), ValueError, "non-negative"),
        (dict(X=np.ones((3, 2)), y=[0.5, 1, 0]), TypeError, "integer"),
        (dict(X=np.ones((3, 2)), y=[0, 1, 2], class_names=["a", "b"]), ValueError,
         "only 2 class_names"),
        (dict(X=np.ones((3, 2)), class_names=["a", "a"]), ValueError, "duplicates"),
        (dict(X=np.ones((3, 2)), paths=["a"]), ValueError, "paths has 1"),
        (dict(X=np.ones((3, 2)), text_embeddings=np.ones((4, 5))), ValueError,
         "same CLIP model"),
        (dict(X=np.ones((3, 2)), text_embeddings=np.ones((4, 2)), text_names=["x"]),
         ValueError, "text_names has 1"),
        (dict(X=np.ones((3, 2)), text_names=["x"]), ValueError, "without text_embeddings"),
        (dict(X=np.ones((3, 2)), model=3), TypeError, "single string"),
    ],
)
def test_save_rejects_bad_input(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        save_features(tmp_path / "bad.npz", **kwargs)
    assert not (tmp_path / "bad.npz").exists()


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="features file not found"):
        load_features(tmp_path / "nope.npz")


def test_load_not_an_npz(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_features(bad)


def test_load_npz_without_X(tmp_path):
    np.savez(tmp_path / "other.npz", features=np.ones((2, 2)))
    with pytest.raises(ValueError, match="no 'X' array"):
        load_features(tmp_path / "other.npz")


def test_load_pickled_objects_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", X=np.ones((2, 2)), class_names=np.array([1, "a"], object))
    with pytest.raises(ValueError, match="pickle"):
        load_features(tmp_path / "obj.npz")


def test_load_inconsistent_file(tmp_path):
    np.savez(tmp_path / "inc.npz", X=np.ones((3, 2), np.float32), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"inc.npz: y must have shape"):
        load_features(tmp_path / "inc.npz")


def test_load_wrong_format_and_future_version(tmp_path):
    np.savez(tmp_path / "fmt.npz", X=np.ones((2, 2)), format=np.array("other"))
    with pytest.raises(ValueError, match="format is 'other'"):
        load_features(tmp_path / "fmt.npz")
    np.savez(tmp_path / "ver.npz", X=np.ones((2, 2)), format_version=np.array(99))
    with pytest.raises(ValueError, match="upgrade skclip"):
        load_features(tmp_path / "ver.npz")
    np.savez(tmp_path / "key.npz", X=np.ones((2, 2)), labels=np.array([0, 1]))
    with pytest.raises(ValueError, match="unknown keys"):
        load_features(tmp_path / "key.npz")


def test_plain_npz_with_X_and_y_is_accepted(tmp_path):
    np.savez(tmp_path / "plain.npz", X=np.ones((3, 2)), y=np.array([0, 1, 1]))
    data = load_features(tmp_path / "plain.npz")
    assert data.X.dtype == np.float32 and data.y.tolist() == [0, 1, 1]
