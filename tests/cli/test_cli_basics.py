"""``skclip --help/--version`` and the errors raised before any model is loaded."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skclip
from skclip.cli import main


def _images(folder, n, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for i in range(n):
        arr = rng.randint(0, 255, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:02d}.png")
    return folder


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"skclip {skclip.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["cluster", "--help"], ["embed", "--help"]])
def test_help(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skclip")
    if argv == ["cluster", "--help"]:
        for option in ("--n-clusters", "--method", "--pretrained", "--features", "--overwrite"):
            assert option in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "cluster" in capsys.readouterr().out


def test_bad_command_line_exits_2(capsys):
    assert main(["cluster", "somewhere"]) == 2  # --n-clusters and --out are required
    assert "required" in capsys.readouterr().err
    assert main(["cluster", "x", "-k", "2", "--out", "o", "--method", "nope"]) == 2


def test_import_is_light():
    code = "import sys, skclip.cli; print('torch' in sys.modules, 'open_clip' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "skclip", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"skclip {skclip.__version__}"


def test_console_script():
    script = Path(sys.executable).with_name("skclip")  # installed next to this python
    if not script.exists():
        pytest.skip("the skclip console script is not installed (pip install -e .)")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: skclip")


def _error(capsys, argv):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.startswith("skclip: error: ")
    return err


def test_missing_path(tmp_path, capsys):
    err = _error(capsys, ["cluster", str(tmp_path / "absent"), "-k", "2",
                          "--out", str(tmp_path / "o")])
    assert "path not found" in err and "absent" in err
    assert not (tmp_path / "o").exists()


def test_path_is_a_file(tmp_path, capsys):
    f = tmp_path / "a.png"
    f.write_bytes(b"x")
    assert "not a folder" in _error(capsys, ["cluster", str(f), "-k", "2", "--out",
                                             str(tmp_path / "o")])


def test_no_images_found(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no images here")
    err = _error(capsys, ["cluster", str(tmp_path / "docs"), "-k", "2", "--out",
                          str(tmp_path / "o")])
    assert "no images found" in err


def test_more_clusters_than_images(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "4", "--out",
                          str(tmp_path / "o")])
    assert "--n-clusters 4 is larger than the number of images (3)" in err


def test_non_empty_output_dir_needs_overwrite(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    out = tmp_path / "o"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "2", "--out", str(out)])
    assert "not empty" in err and "--overwrite" in err
    assert (out / "mine.txt").read_text() == "keep me"


def test_unwritable_output_dir(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "2",
                          "--out", str(blocker / "sub")])
    assert "cannot write to output folder" in err
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "2", "--out", str(blocker)])
    assert "not a folder" in err


def test_path_and_features_are_exclusive(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    assert main(["cluster", "-k", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "give a folder of images (PATH) or --features FILE.npz" in err and "both" not in err
    assert main(["cluster", str(tmp_path / "imgs"), "--features", str(tmp_path / "f.npz"),
                 "-k", "2", "--out", str(tmp_path / "o")]) == 2
    assert "not both" in capsys.readouterr().err


def test_missing_vocabulary_and_features_files(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "2", "--out",
                          str(tmp_path / "o"), "--vocabulary", str(tmp_path / "nouns.txt")])
    assert "vocabulary file not found" in err
    err = _error(capsys, ["cluster", "--features", str(tmp_path / "f.npz"), "-k", "2",
                          "--out", str(tmp_path / "o")])
    assert "features file not found" in err


def test_features_with_too_few_rows(tmp_path, capsys):
    from skclip.datasets import save_features

    f = save_features(tmp_path / "f.npz", np.eye(3, 8, dtype=np.float32))
    err = _error(capsys, ["cluster", "--features", str(f), "-k", "5", "--out",
                          str(tmp_path / "o")])
    assert "larger than the number of images (3)" in err


def test_embed_refuses_to_overwrite(tmp_path, capsys):
    _images(tmp_path / "imgs", 3)
    target = tmp_path / "f.npz"
    target.write_bytes(b"old")
    err = _error(capsys, ["embed", str(tmp_path / "imgs"), "--out", str(target)])
    assert "--overwrite" in err
    assert target.read_bytes() == b"old"


def test_invalid_embedder_parameter_is_reported(tmp_path, tiny_model_name, capsys):
    _images(tmp_path / "imgs", 3)
    (tmp_path / "nouns.txt").write_text("cat\ndog\n")
    err = _error(capsys, ["cluster", str(tmp_path / "imgs"), "-k", "2", "--out",
                          str(tmp_path / "o"), "--model", tiny_model_name, "--pretrained",
                          "none", "--vocabulary", str(tmp_path / "nouns.txt"),
                          "--device", "nowhere", "--quiet"])
    assert "device" in err and "could be read" not in err
