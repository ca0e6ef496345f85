"""
The command line: cluster a folder and read the report
======================================================

``skclip cluster`` is the main job: a folder of images in; ``assignments.csv``,
``clusters.json`` and a self-contained ``report.html`` out. It is called here through
:func:`skclip.cli.main` with exactly the arguments the shell would take::

    skclip cluster images/ --n-clusters 3 --pretrained none \\
        --vocabulary nouns.txt --out out/

``--pretrained none`` (random weights) keeps the example offline; drop it to use
the pretrained OpenAI weights, or pass a local checkpoint path. Without
``--vocabulary``, the WordNet nouns name the clusters.

Extras: none (the core install runs it, offline).
"""

# %%
# Run the command
# ---------------
import csv
import json
import tempfile
import warnings
from pathlib import Path

from _common import example_images
from skclip.cli import main

warnings.filterwarnings("ignore", message=".*random weights.*")  # asked for here
workdir = Path(tempfile.mkdtemp())
example_images(workdir / "images", per_class=8)
(workdir / "nouns.txt").write_text("airplane\ncat\nship\ndog\ntruck\nbird\n")

status = main([
    "cluster", str(workdir / "images"), "--n-clusters", "3",
    "--pretrained", "none", "--vocabulary", str(workdir / "nouns.txt"),
    "--out", str(workdir / "out"), "--quiet",
])
print("exit status:", status)
print("written:", sorted(p.name for p in (workdir / "out").iterdir()))

# %%
# ``assignments.csv``: one row per image
# --------------------------------------
with open(workdir / "out" / "assignments.csv", newline="") as fh:
    rows = list(csv.DictReader(fh))
for row in rows[:4]:
    print(Path(row["path"]).relative_to(workdir), row["cluster"], row["confidence"])

# %%
# ``clusters.json``: the run and one entry per cluster
# ----------------------------------------------------
# Each cluster is named by the nouns most specific to it; ``report.html`` shows the
# same with thumbnails of the representative images (see the user guide's
# "Reading the report").
summary = json.loads((workdir / "out" / "clusters.json").read_text())
print({key: summary[key] for key in ("method", "model", "pretrained", "n_images")})
for cluster in summary["clusters"]:
    nouns = ", ".join(n["noun"] for n in cluster["nouns"][:3])
    print(f"cluster {cluster['cluster']}: {cluster['size']:2d} images, "
          f"mean confidence {cluster['mean_confidence']:.2f}, nouns: {nouns}")
print("open in a browser:", workdir / "out" / "report.html")
