"""What a command-line user reads: help per command (snapshots), exit codes, messages
in option syntax, the random-weights note, --vocabulary-cache on its own.

Snapshots live in ``tests/cli/help/``; after a deliberate change of a help text,
rewrite them with ``SKCLIP_UPDATE_HELP=1 python -m pytest tests/cli/test_help_and_messages.py``.
"""

import argparse
import os
import re
from pathlib import Path

import pytest

from skclip.cli import build_parser, main

from .test_cluster_run import NOUNS, _save_images

HELP_DIR = Path(__file__).with_name("help")
SNAPSHOTS = {"skclip": [], "cluster": ["cluster"], "embed": ["embed"], "vocab": ["vocab"],
             "vocab-build": ["vocab", "build"], "assign": ["assign"], "edit": ["edit"],
             "export": ["export"], "benchmark": ["benchmark"]}


def _help(argv, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal width
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_help_snapshot(name, monkeypatch, capsys):
    text = _help(SNAPSHOTS[name], monkeypatch, capsys)
    path = HELP_DIR / f"{name}.txt"
    if os.environ.get("SKCLIP_UPDATE_HELP"):
        path.write_text(text)
    assert text == path.read_text(), f"help of {name!r} changed; see the module docstring"


def _subparsers(parser, prefix=()):
    """Every (command words, parser) under ``parser``, itself included."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from _subparsers(sub, (*prefix, word))


@pytest.mark.parametrize("words, parser", list(_subparsers(build_parser()))[1:],
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_help_mentions_only_its_own_options(words, parser):
    """No help text copied from another command names an option this one lacks."""
    own = {s for a in parser._actions for s in a.option_strings}
    texts = [parser.description or ""] + [a.help or "" for a in parser._actions]
    text = re.sub(r"'skclip [^']*'", "", " ".join(texts))  # quoted other commands are fine
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert mentioned <= own | {"--help"}, f"skclip {' '.join(words)}: {mentioned - own}"


def test_vocab_build_has_no_image_options(monkeypatch, capsys):
    text = _help(["vocab", "build"], monkeypatch, capsys)
    assert "--decoder" not in text and "--num-workers" not in text
    assert "texts per batch" in text and "images" not in text
    assert "fitted on a sample" not in _help(["embed"], monkeypatch, capsys)


@pytest.mark.parametrize("argv, message", [
    (["-k", "0"], "expected an integer >= 2"),
    (["-k", "1"], "expected an integer >= 2"),
    (["-k", "ten"], "expected an integer >= 2"),
    (["-k", "2", "--batch-size", "0"], "expected a positive integer"),
    (["-k", "2", "--num-workers", "-1"], "expected an integer >= 0"),
    (["-k", "2", "--k-range", "5:2"], "LOW:HIGH"),
    (["-k", "2", "--k-range", "2:5"], "--k-range needs --n-clusters auto"),
    (["-k", "2", "--fit-sample", "10"], "need --engine ray"),
    (["-k", "2", "--engine", "ray", "--fit-sample", "0"], "expected a positive integer"),
])
def test_bad_command_line_values_exit_2(tmp_path, argv, message, capsys):
    (tmp_path / "imgs").mkdir()
    assert main(["cluster", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_weights_errors_in_option_syntax(tmp_path, monkeypatch, capsys):
    from skclip.embed import _model

    def offline(name, tag, cache_dir):
        raise RuntimeError("no network")

    monkeypatch.setattr(_model, "_fetch_weights", offline)
    monkeypatch.setattr(_model, "_CACHE", {})
    _save_images(tmp_path / "photos", 4, seed=0)
    base = ["cluster", str(tmp_path / "photos"), "-k", "2", "--device", "cpu", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "o1")]) == 1
    err = capsys.readouterr().err
    assert "--pretrained PATH" in err and "--pretrained none" in err
    assert "pretrained=" not in err
    assert main([*base, "--out", str(tmp_path / "o2"), "--pretrained", "opnai"]) == 2
    err = capsys.readouterr().err
    assert "--pretrained opnai is neither" in err and "--pretrained none" in err
    assert main([*base, "--out", str(tmp_path / "o3"), "--model", "vit-b-32"]) == 2
    assert "did you mean 'ViT-B-32'?" in capsys.readouterr().err


def _run_tiny(tmp_path, tiny_model_name, *extra):
    (tmp_path / "nouns.txt").write_text("\n".join(NOUNS) + "\n")
    _save_images(tmp_path / "photos", 6, seed=0)
    return main(["cluster", str(tmp_path / "photos"), "-k", "2", "--model", tiny_model_name,
                 "--pretrained", "none", "--vocabulary", str(tmp_path / "nouns.txt"),
                 "--device", "cpu", *extra])


@pytest.mark.filterwarnings("error::skclip.exceptions.RandomWeightsWarning")
def test_random_weights_note_is_one_line_and_quiet_with_q(tmp_path, tiny_model_name, capsys):
    assert _run_tiny(tmp_path, tiny_model_name, "--out", str(tmp_path / "o1")) == 0
    err = capsys.readouterr().err
    assert err.count("random weights") == 1 and "skclip: note: --pretrained none" in err
    assert "Warning" not in err and "sys.exit" not in err
    assert _run_tiny(tmp_path, tiny_model_name, "--out", str(tmp_path / "o2"), "-q") == 0
    assert capsys.readouterr().err == ""


def test_vocabulary_cache_from_a_noun_list_needs_no_vocabulary(
        tmp_path, tiny_model_name, tiny_ckpt, monkeypatch, capsys):
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "cache"))
    (tmp_path / "nouns.txt").write_text("\n".join(NOUNS) + "\n")
    _save_images(tmp_path / "photos", 6, seed=0)
    vocab = tmp_path / "vocab.npz"
    common = ["--model", tiny_model_name, "--pretrained", str(tiny_ckpt), "--device", "cpu",
              "--quiet"]
    assert main(["vocab", "build", "--vocabulary", str(tmp_path / "nouns.txt"),
                 "--out", str(vocab), *common]) == 0
    assert main(["cluster", str(tmp_path / "photos"), "-k", "2", "--out", str(tmp_path / "o"),
                 "--vocabulary-cache", str(vocab), *common]) == 0, capsys.readouterr().err
    import json

    summary = json.loads((tmp_path / "o" / "clusters.json").read_text())
    named = {n["noun"] for c in summary["clusters"] for n in c["nouns"]}
    assert named and named <= set(NOUNS)
