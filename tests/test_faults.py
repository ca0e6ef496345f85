"""Fault injection: damaged caches, unwritable cache folders, runs killed mid-write.

Every scenario ends with a complete ``skclip cluster`` run (or ``write_report``) whose
outputs equal those of an undisturbed run. Read-only folders are tested twice: for
real with ``chmod`` (skipped as root, whom permissions do not stop) and simulated by
making SQLite and the file writes fail the way a read-only or full disk makes them
fail, which runs everywhere.
"""

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skclip.cli import main
from skclip.report import EmbeddingCache, prepare_output_dir, write_report
from skclip.report import _cache as cache_module
from skclip.report._outputs import OUTPUT_FILES
from skclip.semantic import _text_cache as text_cache_module

ROOT = Path(__file__).resolve().parents[1]
NOUNS = ["cat", "dog", "car", "tree", "boat", "bird"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_name):
    """12 images, a noun file, a checkpoint of the tiny model, and a reference run."""
    import open_clip
    import torch

    base = tmp_path_factory.mktemp("faults")
    folder = base / "images"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(12):
        arr = rng.randint(0, 80, size=(20, 20, 3), dtype=np.uint8)
        arr[..., i % 3] += 170
        Image.fromarray(arr).save(folder / f"{i:02d}.png")
    nouns = base / "nouns.txt"
    nouns.write_text("\n".join(NOUNS) + "\n")
    ckpt = base / "tiny.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), ckpt)
    setup = {"folder": folder, "nouns": nouns, "ckpt": ckpt, "model": tiny_model_name}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKCLIP_CACHE", str(base / "reference-cache"))
        text_cache_module.clear_memory_cache()
        assert _cluster(setup, base / "reference") == 0
    setup["reference"] = _outputs(base / "reference")
    return setup


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder for this test (and no in-memory text embeddings)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SKCLIP_CACHE", str(path))
    text_cache_module.clear_memory_cache()
    text_cache_module._WARNED.clear()
    yield path
    text_cache_module.clear_memory_cache()


def _cluster(setup, out, *extra):
    return main(["cluster", str(setup["folder"]), "-k", "3", "--out", str(out),
                 "--vocabulary", str(setup["nouns"]), "--model", setup["model"],
                 "--pretrained", str(setup["ckpt"]), "--device", "cpu", "--quiet", *extra])


def _outputs(out):
    """The run's outputs, minus what legitimately differs between runs."""
    out = Path(out)
    summary = json.loads((out / "clusters.json").read_text())
    summary.pop("embedding")  # cache statistics
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    return (out / "assignments.csv").read_text(), summary


def _n_cached(out):
    return json.loads((Path(out) / "clusters.json").read_text())["embedding"]["n_cached"]


def _messages(caught):
    return [str(w.message) for w in caught]


# --------------------------------------------------------------------------- damaged caches
def _damage(path, how):
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(b"not a database, a copy cut short " * 64)
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed-header":
        path.write_bytes(b"\0" * 100 + data[100:])
    elif how == "foreign-schema":
        path.unlink()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE emb (key TEXT PRIMARY KEY, vec BLOB, model TEXT)")
            db.execute("PRAGMA user_version = 7")
    elif how == "mangled-row":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE emb SET vec = X'00ff' WHERE rowid = 1")
    else:
        raise AssertionError(how)


def _filled_cache(tmp_path, n=40, d=8):
    images = []
    for i in range(n):
        p = tmp_path / f"img{i}.jpg"
        p.write_bytes(bytes([i]) * (i + 1))
        images.append(str(p))
    cache = EmbeddingCache("ViT-B-32", "openai", cache_dir=tmp_path / "cache")
    cache.put({p: np.full(d, i, np.float32) for i, p in enumerate(images)})
    return cache, images


@pytest.mark.parametrize(
    "how", ["garbage", "truncated", "zeroed-header", "foreign-schema", "mangled-row"])
def test_damaged_embedding_cache_is_moved_aside_and_rebuilt(tmp_path, how):
    cache, images = _filled_cache(tmp_path)
    _damage(cache.path, how)
    with pytest.warns(UserWarning, match="is damaged") as caught:
        healed = EmbeddingCache("ViT-B-32", "openai", cache_dir=tmp_path / "cache")
        hits, failed = healed.get(images)
    assert (hits, failed) == ({}, {})
    assert sum("is damaged" in m for m in _messages(caught)) == 1  # warned once
    assert str(healed.path) in _messages(caught)[0]
    aside = list(healed.path.parent.glob(healed.path.name + ".corrupt-*"))
    assert len(aside) == 1 and aside[0].stat().st_size > 0
    # the new cache works
    healed.put({images[0]: np.arange(8, dtype=np.float32)})
    hits, _ = EmbeddingCache("ViT-B-32", "openai", cache_dir=tmp_path / "cache").get(images)
    np.testing.assert_array_equal(hits[images[0]], np.arange(8))
    assert healed.disabled is None


def test_an_empty_cache_file_is_simply_a_new_cache(tmp_path):
    cache, images = _filled_cache(tmp_path)
    cache.path.write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to report
        assert EmbeddingCache("ViT-B-32", "openai", cache_dir=tmp_path / "cache").get(
            images) == ({}, {})


@pytest.mark.parametrize("which", ["embeddings", "texts"])
def test_cluster_run_after_a_damaged_cache(setup, cache, tmp_path, which):
    assert _cluster(setup, tmp_path / "run1") == 0
    folder, pattern = ("embeddings", "*.sqlite") if which == "embeddings" else ("text", "*.npy")
    files = sorted((cache / folder).glob(pattern))
    assert files, f"the first run wrote no {which} cache"
    for f in files:
        f.write_bytes(f.read_bytes()[:70])  # a copy cut short
    text_cache_module.clear_memory_cache()
    with pytest.warns(UserWarning, match="damaged"):
        assert _cluster(setup, tmp_path / "run1", "--overwrite") == 0
    assert _outputs(tmp_path / "run1") == setup["reference"]
    assert list((cache / folder).glob("*.corrupt-*"))
    # the rebuilt cache serves the next run, silently
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _cluster(setup, tmp_path / "run2") == 0
    assert not [m for m in _messages(caught) if "cache" in m]
    assert _n_cached(tmp_path / "run2") == 12
    assert _outputs(tmp_path / "run2") == setup["reference"]


def test_damaged_text_cache_file(tmp_path):
    class Encoder:
        model, pretrained, precision = "m", "tag", "fp32"

        def encode_text(self, texts):
            return np.array([[len(t), 1.0, t.count("a")] for t in texts], dtype=np.float32)

    texts = ["a", "bb", "cat", "a"]
    fresh = text_cache_module.embed_texts(Encoder(), texts, cache_dir=tmp_path)
    [path] = (tmp_path / "text").glob("*.npy")
    for damage in (lambda b: b[: len(b) - 5], lambda b: b"\x93NUMPY garbage",
                   lambda b: np.float32(np.nan).tobytes() * 40):
        path.write_bytes(damage(path.read_bytes()))
        text_cache_module.clear_memory_cache()
        text_cache_module._WARNED.clear()
        with pytest.warns(UserWarning, match=f"{path.name}.* is damaged"):
            again = text_cache_module.embed_texts(Encoder(), texts, cache_dir=tmp_path)
        np.testing.assert_array_equal(again, fresh)
        assert path.is_file()  # rewritten whole
    assert len(list((tmp_path / "text").glob("*.corrupt-*"))) >= 1


# --------------------------------------------------------------------------- unwritable caches
class _FailingConnection:
    """A sqlite3 connection whose writes fail like a read-only or full disk."""

    def __init__(self, db, message):
        self._db, self._message = db, message

    def execute(self, sql, *args):
        if not sql.lstrip().upper().startswith(("SELECT", "PRAGMA TABLE_INFO", "PRAGMA USER")):
            raise sqlite3.OperationalError(self._message)
        return self._db.execute(sql, *args)

    def executemany(self, sql, *args):
        raise sqlite3.OperationalError(self._message)

    def __getattr__(self, name):
        return getattr(self._db, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._db.__exit__(*exc)


def _simulate_unwritable(monkeypatch, message, error):
    real_connect = sqlite3.connect
    monkeypatch.setattr(cache_module.sqlite3, "connect",
                        lambda *a, **k: _FailingConnection(real_connect(*a, **k), message))

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(text_cache_module, "atomic_write", refuse)


@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_cluster_run_with_an_unwritable_cache(setup, cache, tmp_path, monkeypatch, kind):
    if kind == "read-only":
        message, error = "attempt to write a readonly database", PermissionError(
            errno.EACCES, "Permission denied")
    else:
        message, error = "database or disk is full", OSError(errno.ENOSPC,
                                                             "No space left on device")
    _simulate_unwritable(monkeypatch, message, error)
    with pytest.warns(UserWarning, match="running without a cache") as caught:
        assert _cluster(setup, tmp_path / "out") == 0
    assert _outputs(tmp_path / "out") == setup["reference"]
    assert any(message in m for m in _messages(caught))
    assert any(error.strerror in m for m in _messages(caught))


def test_cache_location_that_cannot_be_a_folder(setup, tmp_path, monkeypatch):
    """Works for root too: a file where the cache folder should be stops everybody."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv("SKCLIP_CACHE", str(blocker / "cache"))
    text_cache_module.clear_memory_cache()
    text_cache_module._WARNED.clear()
    with pytest.warns(UserWarning, match="running without a cache"):
        assert _cluster(setup, tmp_path / "out") == 0
    assert _outputs(tmp_path / "out") == setup["reference"]


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders; simulated above")
def test_read_only_cache_folder_for_real(setup, cache, tmp_path):
    assert _cluster(setup, tmp_path / "run1") == 0
    modes = {}
    for p in [cache, *cache.rglob("*")]:
        modes[p] = p.stat().st_mode
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        text_cache_module.clear_memory_cache()
        assert _cluster(setup, tmp_path / "run2") == 0  # reads still served
        assert _outputs(tmp_path / "run2") == setup["reference"]
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


# --------------------------------------------------------------------------- killed mid-write
_KILLED_WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from sklearn.cluster import KMeans
    import skclip._atomic as atomic
    from skclip.report import prepare_output_dir, write_report

    out, stop_at = sys.argv[1], sys.argv[2]
    real_fdopen = os.fdopen

    class Stuck:
        '''Writes half of the file, says so, then waits to be killed.'''
        def __init__(self, fh):
            self.fh = fh
        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            print("HALF", flush=True)
            time.sleep(120)
        def __getattr__(self, name):
            return getattr(self.fh, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    def fdopen(fd, *args, **kwargs):
        fh = real_fdopen(fd, *args, **kwargs)
        name = os.readlink(f"/proc/self/fd/{fd}")
        return Stuck(fh) if os.path.basename(name).startswith("." + stop_at) else fh

    atomic.os.fdopen = fdopen
    X = np.random.RandomState(1).normal(size=(30, 4))
    clust = KMeans(n_clusters=3, n_init=2, random_state=1).fit(X)
    write_report(prepare_output_dir(out, overwrite=True), clust, X)
    print("DONE", flush=True)
""")


def _reference_report(out, seed):
    from sklearn.cluster import KMeans

    X = np.random.RandomState(seed).normal(size=(30, 4))
    clust = KMeans(n_clusters=3, n_init=2, random_state=seed).fit(X)
    write_report(prepare_output_dir(out, overwrite=True), clust, X)
    return {f.name: f.read_bytes() for f in Path(out).iterdir()}


_KILL_POINTS = [(False, "clusters.json"), (True, "report.html")]  # quick profile
_KILL_POINTS += [pytest.param(previous, stop_at, marks=pytest.mark.slow)
                 for previous in (False, True) for stop_at in OUTPUT_FILES
                 if (previous, stop_at) not in _KILL_POINTS]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name open files")
@pytest.mark.parametrize(("previous", "stop_at"), _KILL_POINTS)
def test_killed_while_writing_outputs(tmp_path, stop_at, previous):
    out = tmp_path / "out"
    old = _reference_report(out, seed=0) if previous else {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(out), stop_at],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "HALF"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # all old or absent: the outputs are replaced together (killed before the commit
    # point, no new file is visible and every old one is intact)
    new = _reference_report(tmp_path / "expected", seed=1)
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == sorted(old)
    for name in names:
        assert (out / name).read_bytes() == old[name], name
    assert any(p.name.startswith(".") for p in out.iterdir())  # the half-written temporary
    # a new run over it: complete and correct, and the stale temporary is gone
    again = _reference_report(out, seed=1)
    assert again == new
    assert not any(p.name.startswith(".") for p in out.iterdir())


# --------------------------------------------------------------------------- WordNet caches
def test_damaged_or_unwritable_wordnet_cache(wordnet, tmp_path, monkeypatch):
    """The parsed-nouns pickle heals; an unwritable cache folder only warns."""
    import pickle

    from skclip.semantic import _wordnet, _wordnet_files

    calls = []

    def parse(pointer):  # the real parse takes seconds; the cache logic is what is tested
        calls.append(1)
        return {"version": "3.0", "synsets": ["dog.n.01"]}

    monkeypatch.setattr(_wordnet, "_parse_nouns", parse)
    monkeypatch.setattr(_wordnet, "_NOUNS", {})
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "cache"))
    first = _wordnet._parsed_nouns()
    [path] = (tmp_path / "cache" / "wordnet").glob("nouns-*.pkl")
    for damage in (b"\x80\x05garbage", pickle.dumps([1, 2])):
        path.write_bytes(damage)
        _wordnet._NOUNS.clear()
        with pytest.warns(UserWarning, match="damaged WordNet cache"):
            assert _wordnet._parsed_nouns() == first
        assert pickle.loads(path.read_bytes()) == first  # rewritten whole
    assert len(calls) == 3

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SKCLIP_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(_wordnet_files, "_READERS", {})
    _wordnet._NOUNS.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _wordnet._parsed_nouns() == first
    assert any("running without it" in m for m in _messages(caught)), _messages(caught)


def test_atomic_directory_replaces_whole_or_not_at_all(tmp_path):
    from skclip._atomic import atomic_directory

    target = tmp_path / "assignments.parquet"
    with atomic_directory(target) as tmp:
        (tmp / "part-0").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "part-0").write_text("half")
            raise RuntimeError("killed")
    assert (target / "part-0").read_text() == "old"
    with atomic_directory(target) as tmp:
        (tmp / "part-0").write_text("new")
        (tmp / "part-1").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["part-0", "part-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assignments.parquet"]
    # leftovers of a killed writer (a file and a folder) are cleared by the next run
    (tmp_path / ".assignments.csv.skclip-tmp-abc").write_text("half")
    (tmp_path / ".assignments.parquet.skclip-tmp-def").mkdir()
    prepare_output_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assignments.parquet"]
