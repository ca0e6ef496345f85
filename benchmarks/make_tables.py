"""Write the headline tables of README.md and RESULTS.md from ``headline.json``.

One source for the numbers a reader sees first: ``benchmarks/headline.json`` holds each
headline row (copied from the JSON its benchmark script wrote, with the date and
commit); this script renders the table between the ``<!-- headline:begin -->`` and
``<!-- headline:end -->`` markers of both files. ``--check`` (run by CI) changes
nothing and exits with status 1 when a table differs from what the JSON gives.

    python benchmarks/make_tables.py           # rewrite the two tables
    python benchmarks/make_tables.py --check   # CI: a stale table fails
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "headline.json"
TARGETS = (HERE.parent / "README.md", HERE / "RESULTS.md")
BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"
COLUMNS = ("what", "skclip", "reference", "ratio", "measured")


def render(data):
    """The Markdown between the markers (the same text in both files)."""
    dates = sorted(row["date"] for row in data["rows"])
    lines = [
        f"Measured on {data['machine']}; {data['software']}. Each row names its script "
        f"(`benchmarks/`) and the date and commit it was measured at ({dates[0]} to "
        f"{dates[-1]}).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in data["rows"]:
        cells = {**row, "measured": f"`{row['script']}`, {row['date']}, `{row['commit']}`"}
        lines.append("| " + " | ".join(str(cells[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def replace_block(text, block, name):
    """``text`` with the part between the markers replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{name}: the markers {BEGIN} ... {END} are missing")
    return text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a table is stale")
    args = parser.parse_args(argv)
    block = render(json.loads(SOURCE.read_text(encoding="utf-8")))
    stale = []
    for path in TARGETS:
        text = path.read_text(encoding="utf-8")
        new = replace_block(text, block, path.name)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(HERE.parent)) for p in stale)
        print(f"stale headline table in {names}: run python benchmarks/make_tables.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
