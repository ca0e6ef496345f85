"""Caption corpora readers: lists, plain files, Flickr token files, COCO JSON."""

import json

import pytest

from skclip.semantic import read_captions


def test_list_is_stripped_and_deduplicated():
    got = read_captions(["  A dog.", "A dog.", "", "a\tcat  on a  mat ", "A dog."])
    assert got == ["A dog.", "a cat on a mat"]
    assert read_captions(["x", "x"], dedupe=False) == ["x", "x"]


def test_non_strings_are_rejected():
    with pytest.raises(TypeError, match="strings"):
        read_captions(["ok", 3])
    with pytest.raises(TypeError, match="list of str or a path"):
        read_captions(12)


def test_plain_text_file(tmp_path):
    path = tmp_path / "caps.txt"
    path.write_text("a red car\n\n  a red car \na blue boat\n", encoding="utf-8")
    assert read_captions(path) == ["a red car", "a blue boat"]
    assert read_captions(str(path), format="lines") == ["a red car", "a blue boat"]


def test_flickr_token_format_is_sniffed(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("a.jpg#0\tA dog runs .\na.jpg#1\tA dog runs .\nb.jpg#0\tTwo cats .\n")
    assert read_captions(path) == ["A dog runs .", "Two cats ."]
    assert read_captions(path, images=["b.jpg"]) == ["Two cats ."]


def test_flickr_bad_line_names_the_line(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("a.jpg#0\tA dog .\nnot a token line\n")
    with pytest.raises(ValueError, match=r"tokens.txt:2"):
        read_captions(path, format="flickr")


def test_coco_json_and_plain_json_list(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "1.jpg"}, {"id": 2, "file_name": "2.jpg"}],
        "annotations": [
            {"image_id": 1, "id": 10, "caption": "A man on a horse."},
            {"image_id": 2, "id": 11, "caption": " A bowl of fruit. "},
            {"image_id": 2, "id": 12, "caption": "A man on a horse."},
        ],
    }
    path = tmp_path / "caps.json"
    path.write_text(json.dumps(coco))
    assert read_captions(path) == ["A man on a horse.", "A bowl of fruit."]
    assert read_captions(path, images=["2.jpg"]) == ["A bowl of fruit.", "A man on a horse."]
    plain = tmp_path / "list.json"
    plain.write_text(json.dumps(["one", "two", "one"]))
    assert read_captions(plain) == ["one", "two"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"captions": []}))
    with pytest.raises(ValueError, match="annotations"):
        read_captions(bad)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_captions(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="format"):
        read_captions(["a"], format="csv")
    with pytest.raises(ValueError, match="images="):
        read_captions(["a"], images=["x.jpg"])


def test_flickr8k_asset(assets_dir):
    path = assets_dir / "captions" / "Flickr8k.token.txt"
    raw = read_captions(path, dedupe=False)
    assert len(raw) == 40460
    assert raw[0] == "A child in a pink dress is climbing up a set of stairs in an entry way ."
    unique = read_captions(path)
    assert len(set(unique)) == len(unique) and 39000 < len(unique) < 40460
    train = read_captions(path, images=assets_dir / "captions" / "Flickr_8k.trainImages.txt",
                          dedupe=False)
    assert len(train) == 30000  # 6,000 training images x 5 captions


def test_coco_asset(assets_dir):
    path = assets_dir / "captions" / "coco_captions_val2017.json"
    raw = read_captions(path, dedupe=False)
    assert len(raw) == 25014
    assert raw[0] == "A black Honda motorcycle parked in front of a garage."
    assert len(read_captions(path)) <= 25014
