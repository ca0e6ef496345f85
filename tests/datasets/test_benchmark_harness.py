"""The benchmark harness (benchmarks/*.py) reads features files written here.

These tests check the plumbing the benchmarks share: the JSON/table helpers and
quality.py on a tiny synthetic features file. They do not measure anything.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from skclip.datasets import make_clip_blobs, save_features

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    if not (BENCH / f"{name}.py").is_file():
        pytest.skip(f"benchmarks/{name}.py is not in this checkout")
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_common_tables_and_json(tmp_path, capsys):
    common = _load("_common")
    rows = [{"case": "a", "ratio": 12.345, "n": 3}, {"case": "bb", "ratio": None}]
    common.print_table(rows, title="T")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "T" and out[1].split() == ["case", "ratio", "n"]
    assert out[3].split() == ["a", "12.3", "3"] and out[4].split() == ["bb", "-", "-"]
    md = common.markdown_table(rows, ["case", "ratio"])
    assert md.splitlines()[0] == "| case | ratio |" and "| a | 12.3 |" in md
    path = common.write_json(tmp_path / "x" / "r.json",
                             {"arr": np.arange(3), "v": np.float32(0.5), "bad": float("nan")})
    payload = json.loads(path.read_text())
    assert payload["arr"] == [0, 1, 2] and payload["v"] == 0.5 and payload["bad"] is None
    info = payload["machine"]
    assert info["usable_cores"] >= 1 and info["cpu"] and info["date"].endswith("+00:00")
    assert common.speed_ratio(2.0, 10.0) == 5.0
    assert common.speed_ratio(30.0, 10.0, higher_is_better=True) == 3.0
    assert common.peak_rss_mb() > 10
    stats = common.time_call(lambda: 7, repeat=2, warmup=0)
    assert stats["result"] == 7 and len(stats["times"]) == 2


def test_quality_rejects_unlabelled_file_and_bad_args(tmp_path, capsys):
    quality = _load("quality")
    f = save_features(tmp_path / "nolabel.npz", np.eye(4, dtype=np.float32))
    assert quality.main(["--features", str(f), "--methods", "kmeans", "--quiet"]) == 1
    assert "has no labels (y)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality.parse_args(["--features", str(f), "--names", "a,b"])


def test_quality_end_to_end_kmeans(tmp_path):
    """quality.py is ``skclip benchmark --features`` run per file, gathered in one table."""
    quality = _load("quality")
    data = make_clip_blobs(n_samples=120, n_clusters=3, n_features=16, spread=0.3,
                           random_state=0)
    f = save_features(tmp_path / "toy.npz", data.X, y=data.y, class_names=data.class_names,
                      text_embeddings=data.text_embeddings, text_names=data.text_names)
    g = save_features(tmp_path / "stl.npz", data.X, y=data.y, class_names=data.class_names,
                      model="ViT-B-32/openai")
    out_json, out_md = tmp_path / "q.json", tmp_path / "q.md"
    rc = quality.main(["--features", str(f), str(g), "--names", "toy,stl10", "--methods",
                       "kmeans", "--seeds", "2", "--device", "cpu", "--quiet",
                       "--out-json", str(out_json), "--out-md", str(out_md)])
    assert rc == 0
    payload = json.loads(out_json.read_text())
    runs = payload["runs"]
    assert [(r["dataset"], r["seed"]) for r in runs] == [("toy", 0), ("toy", 1),
                                                         ("stl10", 0), ("stl10", 1)]
    assert all(r["ACC"] == pytest.approx(100.0) for r in runs)
    assert [p["dataset"] for p in payload["protocols"]] == ["toy", "stl10"]
    md = out_md.read_text()
    assert "## toy" in md and "## STL-10" in md
    assert "| CLIP k-means | 100.0 ± 0.0 | 100.0 ± 0.0 | 100.0 ± 0.0 |" in md
    assert "94.3 / 91.7 / 89.1" in md  # the published STL-10 row, beside skclip's


_FAKE_BENCH = '''
import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true")
p.add_argument("--out-json")
a = p.parse_args()
json.dump({"results": [{"case": "toy", "ratio": 3.0 if a.quick else 0.5}]}, open(a.out_json, "w"))
'''


def test_run_all_collects_ratios_and_fails_on_missing_scripts(tmp_path, monkeypatch, capsys):
    run_all = _load("run_all")
    (tmp_path / "bench_fake.py").write_text(_FAKE_BENCH)
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run_all, "SUITE", {
        "fake": ("bench_fake.py", "toy anchor", "ratio >= 1", ("ratio", 1.0)),
        "gone": ("bench_gone.py", "toy anchor", "ratio >= 1", ("ratio", 1.0)),
    })
    out = tmp_path / "all.json"
    rc = run_all.main(["--out-json", str(out), "--only", "fake"])
    payload = json.loads(out.read_text())
    assert rc == 0 and payload["scripts"]["fake"]["status"] == "ok"
    assert [(r["case"], r["ratio"], r["status"]) for r in payload["rows"]] == [
        ("toy", 0.5, "NOT MET")]
    rc = run_all.main(["--out-json", str(out), "--quick"])
    payload = json.loads(out.read_text())
    assert rc == 1  # a missing script is an error CI must see
    assert payload["scripts"]["gone"]["error"] == "script not found: benchmarks/bench_gone.py"
    statuses = {r["benchmark"]: r["status"] for r in payload["rows"]}
    assert statuses == {"fake": "ran (quick sizes: target not assessed)",
                        "gone": "ERROR: script not found: benchmarks/bench_gone.py"}
    assert "FAILED: gone" in capsys.readouterr().err


@pytest.mark.parametrize("strict", [False, True])
def test_run_all_skips_a_benchmark_whose_extra_is_missing(tmp_path, monkeypatch, capsys, strict):
    run_all = _load("run_all")
    (tmp_path / "bench_fake.py").write_text(_FAKE_BENCH)
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run_all, "SUITE", {
        "fake": ("bench_fake.py", "toy anchor", "ratio >= 1", ("ratio", 1.0)),
        "needy": ("bench_fake.py", "toy anchor", "ratio >= 1", ("ratio", 1.0)),
    })
    monkeypatch.setattr(run_all, "NEEDS", {"needy": {"skclip_missing_bench_mod": "benchmarks"}})
    monkeypatch.setattr(run_all, "STRICT", strict)
    out = tmp_path / "all.json"
    rc = run_all.main(["--out-json", str(out), "--quick"])
    scripts = json.loads(out.read_text())["scripts"]
    reason = "needs skclip_missing_bench_mod: pip install -e '.[benchmarks]'"
    assert scripts["fake"]["status"] == "ok"
    if strict:  # CI: a benchmark that cannot run is an error
        assert rc == 1 and scripts["needy"]["error"].startswith(reason)
        assert "FAILED: needy" in capsys.readouterr().err
    else:
        assert rc == 0 and scripts["needy"] == {"script": "bench_fake.py", "status": "skipped",
                                                "reason": reason}
        assert f"[needy] SKIPPED: {reason}" in capsys.readouterr().out
