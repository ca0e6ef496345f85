"""Smoke test of the installed wheel, run by .ci/run in a fresh virtual environment.

Only the wheel and its declared dependencies are installed there, and the working
directory is outside the repository, so a module missing from the wheel, a file the
package needs but does not ship, or a dependency used but not declared fails here.
Offline and quick: a features file that carries its own text embeddings needs no CLIP
weights.
"""

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import skclip
from skclip import CAEClustering, CLIPKMeans, SemanticSpaceBuilder
from skclip.datasets import make_clip_blobs, save_features

assert "site-packages" in skclip.__file__, f"not the installed wheel: {skclip.__file__}"

blobs = make_clip_blobs(n_samples=60, n_clusters=3, n_features=16, random_state=0)
labels = CLIPKMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(blobs.X)
assert sorted(np.bincount(labels)) and labels.shape == (60,)
space = SemanticSpaceBuilder(vocabulary=blobs.text_embeddings, noun_names=blobs.text_names)
cae = CAEClustering(n_clusters=3, semantic_space=space, random_state=0).fit(blobs.X)
assert cae.labels_.shape == (60,) and set(cae.labels_) <= {0, 1, 2}

with tempfile.TemporaryDirectory() as tmp:
    feats = save_features(Path(tmp) / "f.npz", blobs.X, text_embeddings=blobs.text_embeddings,
                          text_names=blobs.text_names, model="none/none")
    out = Path(tmp) / "out"
    skclip_cmd = Path(sys.executable).parent / "skclip"
    subprocess.run([str(skclip_cmd), "cluster", "--features", str(feats), "-k", "3",
                    "--out", str(out), "--device", "cpu", "--quiet"], check=True)
    with (out / "assignments.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 60
    assert json.loads((out / "clusters.json").read_text())["n_images"] == 60
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
print(f"wheel smoke test passed: skclip {skclip.__version__} from {Path(skclip.__file__).parent}")
