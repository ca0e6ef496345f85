"""``skclip vocab build`` and the vocabulary flags of ``skclip cluster``."""

import json

import numpy as np
import pytest

from skclip.cli import main
from skclip.semantic import _text_cache

from .test_cluster_run import NOUNS, _save_images, read_outputs


@pytest.fixture
def nouns_file(tmp_path):
    path = tmp_path / "nouns.txt"
    path.write_text("\n".join(NOUNS) + "\n")
    return path


def _cluster(tmp_path, model, ckpt, nouns, out, *extra):
    return main(["cluster", str(tmp_path / "photos"), "-k", "2", "--out", str(tmp_path / out),
                 "--vocabulary", str(nouns), "--model", model, "--pretrained", str(ckpt),
                 "--device", "cpu", "--quiet", *extra])


def test_vocab_build_file_round_trip(tmp_path, tiny_model_name, tiny_ckpt, nouns_file,
                                     monkeypatch, capsys):
    _save_images(tmp_path / "photos", 8, seed=0)
    vocab = tmp_path / "vocab.npz"
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "gpu-cache"))
    assert main(["vocab", "build", "--model", tiny_model_name, "--pretrained", str(tiny_ckpt),
                 "--vocabulary", str(nouns_file), "--out", str(vocab), "--device", "cpu"]) == 0
    assert "into the text cache and" in capsys.readouterr().err
    with np.load(vocab) as data:
        meta = json.loads(str(data["meta"]))
        assert data["embeddings"].shape == (len(NOUNS), 32)
        assert data["nouns"].tolist() == NOUNS
    assert meta["templates"][0] == "itap of a {}." and len(meta["templates"]) == 7
    assert meta["weights"].startswith("file:")  # content hash, not the path
    assert main(["vocab", "build", "--model", tiny_model_name, "--pretrained", str(tiny_ckpt),
                 "--vocabulary", str(nouns_file), "--out", str(vocab)]) == 1  # exists
    # another machine: empty cache; the file gives every noun embedding, none is encoded
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "cpu-cache"))
    _text_cache.clear_memory_cache()
    from skclip.embed import CLIPEmbedder
    from skclip.semantic import packaged_captions

    shipped, encode = set(packaged_captions()), CLIPEmbedder.encode_text

    def no_text(self, texts):  # CAE's shipped captions are not in a vocabulary file
        if not set(texts) <= shipped:
            raise AssertionError("texts were encoded although the vocabulary file has them")
        return encode(self, texts)

    with monkeypatch.context() as m:
        m.setattr(CLIPEmbedder, "encode_text", no_text)
        assert _cluster(tmp_path, tiny_model_name, tiny_ckpt, nouns_file, "o1",
                        "--vocabulary-cache", str(vocab)) == 0
    _text_cache.clear_memory_cache()
    assert _cluster(tmp_path, tiny_model_name, tiny_ckpt, nouns_file, "o2",
                    "--exact-vocabulary", "--vocabulary-cache", str(vocab)) == 0
    names = [[n["noun"] for n in c["nouns"]] for c in read_outputs(tmp_path / "o1")[1]["clusters"]]
    again = [[n["noun"] for n in c["nouns"]] for c in read_outputs(tmp_path / "o2")[1]["clusters"]]
    assert names == again


def test_vocabulary_cache_mismatch_and_bad_options(tmp_path, tiny_model_name, tiny_ckpt,
                                                   nouns_file, capsys):
    _save_images(tmp_path / "photos", 6, seed=1)
    vocab = tmp_path / "vocab.npz"
    assert main(["vocab", "build", "--model", tiny_model_name, "--pretrained", str(tiny_ckpt),
                 "--vocabulary", str(nouns_file), "--out", str(vocab), "--method", "mca",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert _cluster(tmp_path, tiny_model_name, tiny_ckpt, nouns_file, "o1",
                    "--vocabulary-cache", str(vocab)) == 1  # built for MCA's template
    assert "other templates" in capsys.readouterr().err
    assert _cluster(tmp_path, tiny_model_name, tiny_ckpt, nouns_file, "o2",
                    "--vocabulary-cache", str(tmp_path / "absent.npz")) == 1
    assert "vocab build --out" in capsys.readouterr().err
    assert main(["vocab", "build", "--model", tiny_model_name, "--pretrained", "none"]) == 2
    assert "cannot be reused" in capsys.readouterr().err
