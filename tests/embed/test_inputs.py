"""CLIPEmbedder inputs: every accepted kind, unreadable files, input errors."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skclip.datasets import load_image_folder
from skclip.embed import CLIPEmbedder, DroppedImage

pytestmark = pytest.mark.filterwarnings("ignore:CLIPEmbedder.*random weights:UserWarning")


# -- image helpers, also used by the other embed tests (written, never downloaded) --

def random_images(n, size=(40, 48), seed=0):
    """``n`` random RGB images as a uint8 array (n, H, W, 3)."""
    return np.random.RandomState(seed).randint(0, 256, (n, *size, 3), dtype=np.uint8)


def write_images(folder, images, names, fmt="PNG"):
    """Save ``images[i]`` to ``folder / names[i]`` (lossless PNG by default); return paths."""
    paths = []
    for img, name in zip(images, names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path, format=fmt)
        paths.append(path)
    return paths


def write_truncated_jpeg(path, seed=1):
    """A JPEG cut in the middle: the header opens, decoding the pixels fails."""
    Image.fromarray(random_images(1, (64, 64), seed)[0]).save(path, format="JPEG", quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_not_an_image(path):
    """A text file with an image extension."""
    path.write_text("this is not an image\n")
    return path


@pytest.fixture
def embedder(tiny_model_name):
    return CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", verbose=0)


@pytest.fixture
def images():
    return random_images(5)


@pytest.fixture
def reference(embedder, images):
    return embedder.fit_transform(images)


def test_array_output_is_float32_unit_rows(embedder, images):
    X = embedder.fit_transform(images)
    assert X.shape == (5, 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert embedder.embedding_dim_ == 32
    np.testing.assert_array_equal(embedder.kept_indices_, np.arange(5))
    assert embedder.dropped_ == [] and embedder.sources_[0] == "<array[0]>"
    # different images give different embeddings: the model really looks at pixels
    assert np.abs(X[0] - X[1]).max() > 1e-3


def test_paths_pil_and_mixed_lists_match_array(tmp_path, embedder, images, reference):
    paths = write_images(tmp_path, images, [f"im{i}.png" for i in range(5)])
    np.testing.assert_allclose(embedder.transform([str(p) for p in paths]), reference, atol=1e-6)
    np.testing.assert_allclose(embedder.transform(paths), reference, atol=1e-6)  # pathlib
    np.testing.assert_allclose(embedder.transform(np.array([str(p) for p in paths])), reference,
                               atol=1e-6)
    assert embedder.sources_ == [str(p) for p in paths]
    pil = [Image.fromarray(im) for im in images]
    np.testing.assert_allclose(embedder.transform(pil), reference, atol=1e-6)
    np.testing.assert_allclose(embedder.fit_transform(iter(pil)), reference, atol=1e-6)
    mixed = [str(paths[0]), pil[1], images[2], pil[3], paths[4]]
    np.testing.assert_allclose(embedder.transform(mixed), reference, atol=1e-6)


def test_grayscale_and_rgba_files_are_converted(tmp_path, embedder, images):
    gray = tmp_path / "gray.png"
    Image.fromarray(images[0][..., 0]).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([images[1], np.full(images.shape[1:3], 255, np.uint8)])).save(rgba)
    X = embedder.fit_transform([gray, rgba])
    assert X.shape == (2, 32) and np.isfinite(X).all()


def test_directory_recursive_sorted_images_only(tmp_path, embedder, images, reference):
    names = ["b/z.png", "a/y.png", "a/deeper/x.png", "c.png", "a/b.png"]
    write_images(tmp_path, images, names)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "labels.csv").write_text("x,y")
    write_images(tmp_path, images[:1], [".hidden/secret.png", ".dot.png"])
    X = embedder.fit_transform(tmp_path)
    found = [Path(s).relative_to(tmp_path).as_posix() for s in embedder.sources_]
    assert sorted(found) == sorted(names)
    assert found == [n for n in found if not n.startswith(".")]
    assert embedder.transform(str(tmp_path)).shape == (5, 32)
    assert [Path(s).relative_to(tmp_path).as_posix() for s in embedder.sources_] == found
    # each row is the embedding of the file named in sources_
    order = [names.index(f) for f in found]
    np.testing.assert_allclose(X, reference[order], atol=1e-6)


def test_image_folder_dataset(tmp_path, embedder, images, reference):
    write_images(tmp_path, images, ["cat/0.png", "cat/1.png", "dog/2.png", "dog/3.png", "dog/4.png"])
    data = load_image_folder(tmp_path)
    X = embedder.fit_transform(data)
    np.testing.assert_allclose(X, reference, atol=1e-6)
    assert embedder.sources_ == data.paths


def test_num_workers_and_batch_size_do_not_change_results(tmp_path, embedder, images, reference):
    paths = write_images(tmp_path, images, [f"{i}.png" for i in range(5)])
    embedder.set_params(batch_size=2, num_workers=1)
    np.testing.assert_allclose(embedder.fit_transform(paths), reference, atol=1e-5)
    embedder.set_params(batch_size=1, num_workers=0)
    np.testing.assert_allclose(embedder.transform(images), reference, atol=1e-5)


@pytest.fixture
def with_bad_files(tmp_path, images):
    good = write_images(tmp_path, images[:3], ["0.png", "2.png", "4.png"])
    truncated = write_truncated_jpeg(tmp_path / "1_truncated.jpg")
    not_image = write_not_an_image(tmp_path / "3_text.jpg")
    return [good[0], truncated, good[1], not_image, good[2]], truncated, not_image


@pytest.mark.parametrize("bad", ["truncated", "not_image"])
def test_on_error_raise_names_the_file(embedder, with_bad_files, bad):
    paths, truncated, not_image = with_bad_files
    culprit = truncated if bad == "truncated" else not_image
    paths = [p for p in paths if p in (paths[0], culprit)]
    with pytest.raises(ValueError, match=culprit.name):
        embedder.fit_transform(paths)


@pytest.mark.parametrize("mode", ["skip", "warn"])
def test_on_error_skip_and_warn_drop_unreadable(embedder, images, reference, with_bad_files, mode):
    paths, truncated, not_image = with_bad_files
    embedder.set_params(on_error=mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = embedder.fit_transform(paths)
    dropped = [w for w in caught if "could not be read" in str(w.message)]
    messages = [str(w.message) for w in dropped]
    if mode == "warn":
        assert len(messages) == 1 and dropped[0].filename == __file__
        assert truncated.name in messages[0] and not_image.name in messages[0]
    else:
        assert messages == []
    np.testing.assert_allclose(X, reference[:3], atol=1e-6)
    np.testing.assert_array_equal(embedder.kept_indices_, [0, 2, 4])
    assert [d.index for d in embedder.dropped_] == [1, 3]
    assert all(isinstance(d, DroppedImage) for d in embedder.dropped_)
    assert embedder.dropped_[0].source == str(truncated)
    assert embedder.dropped_[1].source == str(not_image)
    assert embedder.sources_ == [str(paths[i]) for i in (0, 2, 4)]
    # dropped_ describes the latest call only
    embedder.transform(images)
    assert embedder.dropped_ == []


def test_missing_file_is_an_unreadable_input(tmp_path, embedder, images):
    path = write_images(tmp_path, images[:1], ["ok.png"])[0]
    missing = tmp_path / "gone.png"
    with pytest.raises(ValueError, match="gone.png"):
        embedder.fit_transform([path, missing])
    embedder.set_params(on_error="skip")
    assert embedder.transform([path, missing]).shape == (1, 32)


def test_all_inputs_unreadable_is_an_error(embedder, with_bad_files):
    _, truncated, not_image = with_bad_files
    embedder.set_params(on_error="skip")
    with pytest.raises(ValueError, match="none of the 2 images"):
        embedder.fit_transform([truncated, not_image])


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((2, 8, 8, 3), dtype=np.float32), TypeError, "uint8"),
        (np.zeros((4, 512), dtype=np.float32), TypeError, "uint8"),
        (np.zeros((2, 8, 8), dtype=np.uint8), ValueError, r"\(n_images, height, width, 3\)"),
        (np.zeros((2, 8, 8, 4), dtype=np.uint8), ValueError, r"\(n_images, height, width, 3\)"),
        (np.zeros((2, 0, 8, 3), dtype=np.uint8), ValueError, "no pixels"),
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), ValueError, "no images"),
        ([], ValueError, "no images"),
        ([1, 2], TypeError, "input 0 is a int"),
        ([np.zeros((8, 8), dtype=np.uint8)], TypeError, "input 0"),
        (3.5, TypeError, "float"),
    ],
)
def test_bad_inputs(embedder, X, error, match):
    with pytest.raises(error, match=match):
        embedder.fit(X)
    with pytest.raises(error, match=match):
        embedder.transform(X)


def test_bad_paths(tmp_path, embedder, images):
    with pytest.raises(ValueError, match="not found"):
        embedder.fit_transform(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no image files"):
        embedder.fit_transform(empty)
    single = write_images(tmp_path, images[:1], ["one.png"])[0]
    with pytest.raises(TypeError, match=r"\[path\]"):
        embedder.fit_transform(single)
