"""
Saving and loading a fitted model
=================================

Fitted skclip estimators keep their state on the CPU (numpy arrays; MCA's small
networks as CPU torch modules, pickled through ``torch.save``), so a model fitted on a
GPU loads on a laptop without CUDA. A :class:`~skclip.CLIPEmbedder` never pickles
the CLIP model: it reloads it, once per process, when it is next needed.

Only load pickles from sources you trust: unpickling runs code.

Extras: none (the core install runs it, offline).
"""

# %%
# Fit MCA
# -------
# On synthetic CLIP-like embeddings; their text embeddings stand in for the
# semantic space. Training follows a fixed schedule (no labels, no early stopping).
import tempfile
from pathlib import Path

import joblib
import numpy as np

from skclip import MCAClustering, SemanticSpaceBuilder
from skclip.datasets import make_clip_blobs

data = make_clip_blobs(n_samples=800, n_clusters=5, n_features=64, spread=0.35,
                       n_texts_per_cluster=4, random_state=1)
space = SemanticSpaceBuilder(vocabulary=data.text_embeddings,
                             noun_names=list(data.text_names), random_state=0)
model = MCAClustering(n_clusters=5, semantic_space=space, epochs=5, random_state=0)
model.fit(data.X)
curve = model.loss_curve_
print(f"trained {model.n_iter_} epochs, loss {curve[0]:.3f} -> {curve[-1]:.3f}")

# %%
# Save, load, and predict new images
# ----------------------------------
path = Path(tempfile.mkdtemp()) / "mca.joblib"
joblib.dump(model, path)
loaded = joblib.load(path)

new = make_clip_blobs(n_samples=200, n_clusters=5, n_features=64, spread=0.35,
                      random_state=2).X
same = np.array_equal(model.predict(new), loaded.predict(new))
close = np.allclose(model.predict_proba(new), loaded.predict_proba(new))
print(f"saved {path.stat().st_size / 1024:.0f} KiB")
print(f"identical predictions after loading: {same}; identical probabilities: {close}")
print("the loaded model keeps its semantic space:", loaded.semantic_space_.nouns_[:4])
