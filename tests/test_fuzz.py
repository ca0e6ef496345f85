"""Fuzz campaign over the public entry points (hypothesis).

The contract under test: whatever the input, a public entry point either returns a
sane result (right shapes, finite values, labels in range) or raises ``ValueError`` /
``TypeError`` with a message that names the problem. No other exception, no silent
garbage. The CLI's contract is the same with exit statuses: 0 and complete outputs,
or 1/2 and one ``skclip: error:`` line naming the problem (no traceback).

Each campaign runs twice: a quick profile in the default test run (a few examples,
seconds) and a long one behind ``-m slow``. ``SKCLIP_FUZZ_STATS=FILE.json`` records
how many inputs each campaign tried and how they ended (benchmarks/RESULTS.md).
"""

import contextlib
import csv
import io
import json
import os
import tempfile
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests._spaces import DataAnchoredSpace, FixedTextSpace

QUICK = pytest.param(5, id="quick")
LONG = pytest.param(150, id="long", marks=pytest.mark.slow)
STATS = defaultdict(Counter)  # campaign -> {"tried": n, "ok": n, "ValueError": n, ...}


@pytest.fixture(scope="module", autouse=True)
def _write_stats():
    yield
    target = os.environ.get("SKCLIP_FUZZ_STATS")
    if target:
        old = json.loads(Path(target).read_text()) if Path(target).is_file() else {}
        for name, counts in STATS.items():
            merged = Counter(old.get(name, {}))
            merged.update(counts)
            old[name] = dict(merged)
        Path(target).write_text(json.dumps(old, indent=2, sort_keys=True))


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None, derandomize=n < 50,
                    suppress_health_check=list(HealthCheck))


def _expect_clean(campaign, call, mentions=None):
    """Run ``call``; a ValueError/TypeError with a real message is a clean refusal.

    ``mentions``: words of which the message must contain one (it names the problem).
    """
    STATS[campaign]["tried"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert len(msg) >= 15 and msg.strip() != "None", f"uninformative error: {exc!r}"
        if mentions:
            assert any(w.lower() in msg.lower() for w in mentions), f"{exc!r} names none of {mentions}"
        STATS[campaign][type(exc).__name__] += 1
        return None
    STATS[campaign]["ok"] += 1
    return result


# --------------------------------------------------------------------------- arrays
_DTYPES = st.sampled_from([np.float64, np.float32] * 4 + [
    np.float16, np.int64, np.int8, np.bool_, np.complex128, np.uint8, object, "U3"])
_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, -0.0, 1e-310, 1e308, -1e308, 1e-30, 65504.0])


@st.composite
def arrays(draw, min_rows=0, max_rows=14, max_cols=6):
    """Arrays of many dtypes and shapes (0-3 dims), with NaN, inf, huge and tiny values."""
    ndim = draw(st.sampled_from([2] * 6 + [1, 0, 3]))
    shape = tuple(draw(st.integers(min_rows if i == 0 else 0, max_rows if i == 0 else max_cols))
                  for i in range(ndim))
    dtype = draw(_DTYPES)
    if dtype in (object, "U3"):
        flat = draw(st.lists(st.one_of(_FLOATS, st.text(max_size=3), st.none()),
                             min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(shape).astype(dtype) if dtype == "U3" else out.reshape(shape)
    kind = draw(st.sampled_from(["normal"] * 4 + ["wild", "constant"]))
    if kind == "normal" or np.dtype(dtype).kind in "iub":
        seed = draw(st.integers(0, 2**16))
        scale = draw(st.sampled_from([1.0, 1.0, 1e-20, 1e20, 1e200]))
        A = np.random.RandomState(seed).normal(size=shape) * scale
        if np.dtype(dtype).kind in "iub":
            A = np.clip(A, -100, 100)
        with np.errstate(all="ignore"):
            return A.astype(dtype)
    if kind == "constant":
        value = draw(_FLOATS)
        return np.full(shape, value).astype(dtype) if np.isfinite(value) else np.full(shape, value)
    return draw(hnp.arrays(np.float64, shape, elements=_FLOATS)).astype(dtype)


@st.composite
def good_arrays(draw, min_rows=1, max_rows=14, d=None):
    """Valid embeddings (the path that must give sane results): float 2-D, some ties."""
    n = draw(st.integers(min_rows, max_rows))
    d = d if d is not None else draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    A = np.random.RandomState(draw(st.integers(0, 2**16))).normal(size=(n, d))
    if n > 1 and draw(st.booleans()):  # duplicate and zero rows
        A[draw(st.integers(0, n - 1))] = A[0]
        A[draw(st.integers(0, n - 1))] = 0.0
    return A.astype(dtype)


def _is_clean_float(A):
    return isinstance(A, np.ndarray) and A.dtype.kind == "f" and np.isfinite(A).all()


# --------------------------------------------------------------------------- estimators
def _estimator(name, k, d_text, text_mode, X=None):
    from skclip.cluster import CAEClustering, CLIPKMeans, MCAClustering, TACClustering

    if text_mode == "anchored":
        space = DataAnchoredSpace(n_nouns=4, n_captions=2)
    else:  # a space of a chosen dimension: a mismatch must be refused
        if d_text is None:  # the dimension of X, when X has one
            shape = np.shape(X)
            d_text = shape[1] if len(shape) == 2 and shape[1] > 0 else 3
        rng = np.random.RandomState(d_text)
        space = FixedTextSpace(noun_embeddings=rng.normal(size=(5, d_text)))
    if name == "CLIPKMeans":
        return CLIPKMeans(n_clusters=k, n_init=1, random_state=0)
    if name == "TACClustering":
        return TACClustering(n_clusters=k, semantic_space=space, n_init=1, random_state=0)
    if name == "CAEClustering":
        return CAEClustering(n_clusters=k, semantic_space=space, kmeans_n_init=1,
                             ot_iters=30, random_state=0)
    return MCAClustering(n_clusters=k, semantic_space=space, epochs=1, min_steps=0,
                         batch_size=8, n_img_neighbors=2, random_state=0)


_ESTIMATORS = ["CLIPKMeans", "TACClustering", "CAEClustering", "MCAClustering"]
_K = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(-2, 14),
               st.sampled_from([0, 10**9, 2.5, "3", None, True, np.int64(2)]))


def _check_fitted(est, X):
    labels = np.asarray(est.labels_)
    n = np.asarray(X).shape[0]
    assert labels.shape == (n,), labels.shape
    assert labels.dtype.kind in "iu" and labels.min() >= 0 and labels.max() < est.n_clusters


@pytest.mark.parametrize("n_examples", [QUICK, LONG])
@pytest.mark.parametrize("name", _ESTIMATORS)
def test_fuzz_estimators(name, n_examples):
    @_settings(n_examples if name != "MCAClustering" else max(3, n_examples // 3))
    @given(X=good_arrays() | arrays(), X_new=arrays(min_rows=1, max_rows=5), k=_K,
           d_text=st.none() | st.integers(1, 7), text_mode=st.sampled_from(["anchored", "fixed"]),
           same_d=st.booleans())
    def run(X, X_new, k, d_text, text_mode, same_d):
        if same_d and np.ndim(X) == 2:  # new data of the fitted dimension
            X_new = np.random.RandomState(0).normal(size=(3, np.shape(X)[1]))
        est = _estimator(name, k, d_text, text_mode, X)
        fitted = _expect_clean(f"{name}.fit", lambda: est.fit(X))
        if fitted is None:
            return
        _check_fitted(est, X)
        labels = _expect_clean(f"{name}.predict", lambda: est.predict(X_new))
        if labels is not None:
            labels = np.asarray(labels)
            assert labels.shape == (np.asarray(X_new).shape[0],)
            assert labels.min() >= 0 and labels.max() < est.n_clusters
        if hasattr(est, "transform"):
            F = _expect_clean(f"{name}.transform", lambda: est.transform(X_new))
            assert F is None or _is_clean_float(np.asarray(F)), F

    run()


# --------------------------------------------------------------------------- semantic space
class HashEmbedder:
    """Deterministic text "encoder": any string, however odd, gets a unit vector."""

    model = pretrained = None

    def __init__(self, d=8):
        self.d = d

    def encode_text(self, texts):
        out = np.empty((len(texts), self.d), dtype=np.float32)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {type(t).__name__}")
            seed = abs(hash(t)) % 2**32
            out[i] = np.random.RandomState(seed).normal(size=self.d)
        return out

    def get_params(self, deep=True):
        return {"d": self.d}

    def set_params(self, **params):
        self.d = params.get("d", self.d)
        return self


_ODD_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\n", "\t\t", "cat", "cat", "Katze", "猫", "кот", "ñandú",
                     "a\x00b", "\ud800", "{}", "{0}", "%s", "🐈‍⬛", "x" * 10_000]),
    st.builds(lambda c, n, tail: c * n + tail, st.sampled_from(["a", "é", "猫", " "]),
              st.integers(9_990, 10_010), st.text(max_size=3)),
)
_VOCAB = st.one_of(
    st.lists(_ODD_TEXT, max_size=12),
    st.lists(st.one_of(_ODD_TEXT, st.none(), st.integers(), st.binary(max_size=4)), max_size=6),
    st.sampled_from([None, "", "nouns.txt", 3, np.array(["a", "b"])]),
)


@pytest.mark.parametrize("n_examples", [QUICK, LONG])
def test_fuzz_semantic_space_builder(n_examples):
    from skclip import SemanticSpaceBuilder

    good_X = st.builds(lambda n, seed: np.random.RandomState(seed).normal(size=(n, 8)),
                       st.integers(1, 10), st.integers(0, 2**16))

    @_settings(n_examples * 3)
    @given(vocab=_VOCAB, X=good_X | arrays(min_rows=1, max_rows=10),
           topk=st.sampled_from([None, 0, 1, 3, 50, -1, 2.5]))
    def run(vocab, X, topk):
        params = {"embedder": HashEmbedder(8), "vocabulary": vocab, "cache": False}
        if topk is not None:
            params["topk_nouns"] = topk
        space = _expect_clean("SemanticSpaceBuilder.params", lambda: SemanticSpaceBuilder(
            **params))
        if space is None:
            return
        fitted = _expect_clean("SemanticSpaceBuilder.fit", lambda: space.fit(X),
                               mentions=["vocabulary", "topk", "X", "feature", "sample",
                                         "array", "dimension", "dtype", "nouns", "float"])
        if fitted is None:
            return
        E = np.asarray(space.noun_embeddings_)
        assert E.ndim == 2 and E.shape[0] == len(space.nouns_) >= 1
        assert _is_clean_float(E)
        np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, rtol=1e-3)
        if isinstance(vocab, list):
            assert set(space.nouns_) <= {v.strip() for v in vocab if isinstance(v, str)}
            assert "" not in space.nouns_

    run()


# --------------------------------------------------------------------------- functions
@pytest.mark.parametrize("n_examples", [QUICK, LONG])
def test_fuzz_array_functions(n_examples):
    from skclip.metrics import clustering_accuracy, clustering_report
    from skclip.neighbors import knn
    from skclip.ot import sinkhorn

    @_settings(n_examples * 3)
    @given(A=good_arrays(d=3) | arrays(), B=good_arrays(d=3) | arrays(),
           k=st.one_of(st.integers(-1, 5), st.just(2.5)),
           eps=st.sampled_from([0.05, 0.0, -1.0, float("nan"), 1e-9, 1e9]))
    def run(A, B, k, eps):
        res = _expect_clean("ot.sinkhorn", lambda: sinkhorn(A, eps=eps, max_iter=50))
        if res is not None:
            assert _is_clean_float(np.asarray(res.plan)), res.plan
        nn = _expect_clean("neighbors.knn", lambda: knn(A, B, n_neighbors=k, device="cpu"))
        if nn is not None:
            idx = np.asarray(nn[1] if isinstance(nn, tuple) else nn.indices)
            assert idx.min(initial=0) >= 0 and idx.max(initial=0) < max(len(B), 1)
        acc = _expect_clean("metrics.clustering_accuracy",
                            lambda: clustering_accuracy(A.ravel()[:20], B.ravel()[:20]))
        assert acc is None or 0.0 <= acc <= 1.0
        _expect_clean("metrics.clustering_report",
                      lambda: clustering_report(A.ravel()[:20], B.ravel()[:20]))

    run()


@pytest.mark.parametrize("n_examples", [QUICK, LONG])
def test_fuzz_features_files(n_examples, tmp_path_factory):
    from skclip.datasets import load_features, save_features

    folder = tmp_path_factory.mktemp("features")

    @_settings(n_examples * 2)
    @given(X=arrays(), raw=st.one_of(st.none(), st.binary(max_size=64)),
           y=st.one_of(st.none(), st.lists(st.integers(-1, 3), max_size=14)),
           names=st.one_of(st.none(), st.lists(_ODD_TEXT.filter(lambda t: len(t) < 50),
                                                 max_size=4)))
    def run(X, raw, y, names):
        path = folder / "f.npz"
        if raw is not None:  # a file that is not (or no longer) a features file
            path.write_bytes(raw)
        else:
            saved = _expect_clean("datasets.save_features",
                                  lambda: save_features(path, X, y=y, class_names=names))
            if saved is None:
                return
        data = _expect_clean("datasets.load_features", lambda: load_features(path))
        if data is not None:
            assert _is_clean_float(data.X) and data.X.ndim == 2

    run()


# --------------------------------------------------------------------------- command line
_NAME_CHARS = st.sampled_from(list("ab z'\"\n\t-$;*?\\é猫🐈 .") + [os.fsdecode(b"\xff")])
_NAME = st.text(_NAME_CHARS, min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..") and "/" not in s)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory, tiny_model_name):
    import open_clip
    import torch

    base = tmp_path_factory.mktemp("cli-fuzz")
    ckpt = base / "tiny.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), ckpt)
    nouns = base / "nouns.txt"
    nouns.write_text("cat\ndog\ntree\ncar\n")
    return {"model": tiny_model_name, "ckpt": str(ckpt), "nouns": str(nouns)}


def _png(path, seed):
    from PIL import Image

    rng = np.random.RandomState(seed)
    Image.fromarray(rng.randint(0, 255, size=(12, 12, 3), dtype=np.uint8)).save(path, "PNG")


@st.composite
def folders(draw):
    """An image folder spec: names (odd), good images, unreadable ones, sub-folders."""
    files = draw(st.lists(st.tuples(_NAME, st.sampled_from(
        ["good"] * 5 + ["garbage", "empty", "truncated", "dir", "text"])),
        max_size=7, unique_by=lambda t: t[0]))
    ext = draw(st.sampled_from([".png"] * 3 + [".PNG", ".jpg", ".webp", ".txt", ""]))
    return draw(_NAME), files, ext


def _make_folder(root, spec):
    name, files, ext = spec
    folder = Path(root) / name
    folder.mkdir()
    for i, (fname, kind) in enumerate(files):
        path = folder / (fname + ext)
        if kind == "good":
            _png(path, i)  # PNG bytes whatever the extension: decoders read the content
        elif kind == "garbage":
            path.write_bytes(b"\x89PNG but not really" * 3)
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            _png(path, i)
            path.write_bytes(path.read_bytes()[:30])
        elif kind == "dir":
            path.mkdir()
        else:
            path.write_text("hello")
    return folder


@pytest.mark.parametrize("n_examples", [QUICK, LONG])
def test_fuzz_cli(n_examples, cli_model, monkeypatch, tmp_path_factory):
    from skclip.cli import main

    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path_factory.mktemp("cli-fuzz-cache")))

    @_settings(max(3, n_examples // 2))
    @given(spec=folders(), k=st.sampled_from(["1", "2", "2", "3", "0", "-1", "99", "x"]),
           out_name=_NAME, out_kind=st.sampled_from(["new", "new", "new", "file", "nonempty"]),
           overwrite=st.booleans(), method=st.sampled_from(["cae", "cae", "mca"]))
    def run(spec, k, out_name, out_kind, overwrite, method):
        with tempfile.TemporaryDirectory() as root:
            folder = _make_folder(root, spec)
            out = Path(root) / ("out-" + out_name)
            if out_kind == "file":
                out.write_text("already here")
            elif out_kind == "nonempty":
                out.mkdir()
                (out / "notes.txt").write_text("mine")
            argv = ["cluster", str(folder), "-k", k, "--out", str(out), "--method", method,
                    "--vocabulary", cli_model["nouns"], "--model", cli_model["model"],
                    "--pretrained", cli_model["ckpt"], "--device", "cpu", "--quiet"]
            if overwrite:
                argv.append("--overwrite")
            STATS["cli.cluster"]["tried"] += 1
            stderr = io.StringIO()  # takes any str, as the real stderr (backslashreplace)
            with warnings.catch_warnings(), contextlib.redirect_stderr(stderr):
                warnings.simplefilter("ignore")
                status = main(argv)
            err = stderr.getvalue()
            assert "Traceback" not in err
            if status != 0:
                assert status in (1, 2), status
                lines = [ln for ln in err.splitlines() if "error:" in ln]
                assert lines and len(lines[-1]) > 20, err
                STATS["cli.cluster"][f"exit {status}"] += 1
                if os.environ.get("SKCLIP_FUZZ_VERBOSE"):
                    print(f"exit {status}: {lines[-1]}")
                if out_kind == "nonempty":
                    assert (out / "notes.txt").read_text() == "mine"
                return
            STATS["cli.cluster"]["ok"] += 1
            _check_cli_outputs(out, folder, int(k))
            if out_kind == "nonempty":
                assert (out / "notes.txt").read_text() == "mine"

    run()


def _check_cli_outputs(out, folder, k):
    with (out / "assignments.csv").open(newline="", encoding="utf-8",
                                        errors="surrogateescape") as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    paths = [r["path"] for r in rows]
    assert len(rows) == summary["n_images"] >= k
    assert all(Path(p).is_file() and Path(p).resolve().is_relative_to(folder.resolve())
               for p in paths), paths
    skipped = [s["path"] for s in summary["skipped"]]
    assert not set(paths) & set(skipped)
    assert all(0 <= int(r["cluster"]) < k for r in rows)
    assert sum(c["size"] for c in summary["clusters"]) == len(rows)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>")


# --------------------------------------------------------------------------- found and fixed
def test_regression_sinkhorn_overflow_is_refused():
    from skclip.ot import sinkhorn

    with pytest.raises(ValueError, match="overflow"):
        sinkhorn(np.array([[2.0**1020]]), eps=0.05, max_iter=50)


def test_regression_knn_never_returns_index_minus_one():
    from skclip.neighbors import knn

    cases = [(np.array([[1.76405235, 0.40015721]]),  # float64 beyond float32's range
              np.array([[1.62434536e200, -6.11756414e199], [1.0, 1.0]])),
             (np.array([[1e20, -1e20]], np.float32),  # products overflow: inf - inf
              np.array([[1e20, 1e20], [1.0, 2.0]], np.float32))]
    for X, Y in cases:
        for backend in ("auto", "torch"):
            try:
                _, idx = knn(X, Y, n_neighbors=2, device="cpu", backend=backend)
            except ValueError as exc:
                assert "overflow" in str(exc) or "infinity" in str(exc)
            else:
                assert sorted(idx[0].tolist()) == [0, 1]


def test_regression_mixed_vocabulary_names_the_parameter():
    from skclip import SemanticSpaceBuilder

    X = np.random.RandomState(0).normal(size=(4, 8))
    with pytest.raises(ValueError, match="vocabulary must be a list of str"):
        SemanticSpaceBuilder(embedder=HashEmbedder(8), vocabulary=["a", None],
                             cache=False).fit(X)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_regression_file_names_that_are_not_utf8(cli_model, tmp_path):
    """One such name used to fail the whole run at the very end (UnicodeEncodeError)."""
    from skclip.cli import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    names = [b"bad\xff.png", b"ok-\xc3\xa9.png", b"ok.png"]
    for i, name in enumerate(names):
        _png(os.fsdecode(os.fsencode(folder) + b"/" + name), i)
    out = tmp_path / "out"
    assert main(["cluster", str(folder), "-k", "2", "--out", str(out), "--vocabulary",
                 cli_model["nouns"], "--model", cli_model["model"], "--pretrained",
                 cli_model["ckpt"], "--device", "cpu", "--quiet"]) == 0
    csv_bytes = (out / "assignments.csv").read_bytes()
    assert b"bad\xff.png" in csv_bytes and "ok-é.png".encode() in csv_bytes  # exact bytes
    summary = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    listed = {Path(r["path"]).name for c in summary["clusters"] for r in c["representatives"]}
    assert os.fsdecode(b"bad\xff.png") in listed or summary["n_images"] == 3
    assert summary["n_images"] == 3
    (out / "report.html").read_text(encoding="utf-8")  # valid UTF-8
