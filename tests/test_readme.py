"""The README as a newcomer runs it: the offline quick start, and headline tables that
match ``benchmarks/headline.json``."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block_after(marker):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(re.escape(marker) + r"\s*```python\n(.*?)```", text, re.S)
    assert match, f"no python block after {marker} in README.md"
    return match.group(1)


@pytest.mark.filterwarnings("ignore::skclip.exceptions.RandomWeightsWarning")
def test_offline_quick_start_runs(capsys):
    code = _block_after("<!-- quick-start -->")
    assert "pretrained=None" in code and "vocabulary=[" in code
    exec(compile(code, "README.md quick start", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("(24,)")


def test_headline_tables_are_generated_from_the_json():
    spec = importlib.util.spec_from_file_location("make_tables",
                                                  ROOT / "benchmarks" / "make_tables.py")
    make_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_tables)
    assert make_tables.main(["--check"]) == 0, "run python benchmarks/make_tables.py"
    # a stale copy is caught
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = make_tables.json.loads(make_tables.SOURCE.read_text())
    cae = next(r for r in rows["rows"] if r["script"] == "bench_cae.py")
    cell = f"| {cae['what']} | {cae['skclip']} |"
    assert cell in readme  # from the JSON
    stale = readme.replace(cell, f"| {cae['what']} | 8.42 s |")
    assert stale != readme
    block = make_tables.render(rows)
    assert make_tables.replace_block(stale, block, "README.md") == readme
