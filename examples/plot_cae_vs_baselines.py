"""
CAE against the baselines on a features file
============================================

Benchmarks and large jobs embed once and cluster many times. Here a features file
(``.npz``: image embeddings, labels, class names, text embeddings) is written with
:func:`skclip.datasets.save_features`, read back with
:func:`skclip.datasets.load_features`, and CLIP k-means, TAC (no training), CAE and
MCA are compared on it with ACC / NMI / ARI.

The features are synthetic CLIP-like data from
:func:`skclip.datasets.make_clip_blobs` with a known structure, including the
troubles of a real vocabulary: generic "hub" texts, texts between two classes,
texts aligned with the wrong class and many texts of absent concepts. The numbers
check the mechanics; they say nothing about quality on real images. With real
embeddings (``skclip embed FOLDER --out FILE.npz``) the same code is the
``benchmarks/quality.py`` protocol.

Extras: none (the core install runs it, offline).
"""

# %%
# Write a features file
# ---------------------
# ``skclip embed`` writes the same format from a folder of images.
import tempfile
import time
from pathlib import Path

from skclip import CAEClustering, CLIPKMeans, MCAClustering, SemanticSpaceBuilder, TACClustering
from skclip.datasets import load_features, make_clip_blobs, save_features
from skclip.metrics import clustering_report, format_report

data = make_clip_blobs(
    n_samples=2000, n_clusters=8, n_features=128, spread=1.0, center_similarity=0.7,
    anisotropy=1.0, imbalance=3.0, n_texts_per_cluster=5, n_distractor_texts=200,
    n_hub_texts=10, n_polysemous_texts=5, misaligned_fraction=0.1, random_state=0,
)
path = save_features(
    Path(tempfile.mkdtemp()) / "synthetic.npz", data.X, y=data.y,
    class_names=data.class_names, model="synthetic",
    text_embeddings=data.text_embeddings, text_names=data.text_names,
)

# %%
# Read it back
# ------------
# The text embeddings become the vocabulary of a semantic space: no text encoder
# runs. The space selects, for each method, the texts relevant to the images.
feats = load_features(path)
print(f"{path.name}: {feats.X.shape[0]} images of dimension {feats.X.shape[1]}, "
      f"{len(feats.class_names)} classes, {len(feats.text_names)} texts")
space = SemanticSpaceBuilder(vocabulary=feats.text_embeddings,
                             noun_names=list(feats.text_names), random_state=0)

# %%
# Run every method on the same embeddings
# ---------------------------------------
# The labels are used only to score.
K = len(feats.class_names)
methods = {
    "CLIP k-means": CLIPKMeans(n_clusters=K, random_state=0),
    "TAC (no train)": TACClustering(n_clusters=K, semantic_space=space, random_state=0),
    "CAE": CAEClustering(n_clusters=K, semantic_space=space, random_state=0),
    "MCA": MCAClustering(n_clusters=K, semantic_space=space, random_state=0),
}
reports = {}
for name, est in methods.items():
    start = time.perf_counter()
    labels = est.fit_predict(feats.X)
    reports[name] = clustering_report(feats.y, labels)
    print(f"{name:15s} fitted in {time.perf_counter() - start:5.1f} s")

# %%
# ACC / NMI / ARI in %
# --------------------
print(format_report(reports))

# %%
# What CAE aligned the images with: the texts its semantic space kept
cae = methods["CAE"]
print(f"CAE kept {len(cae.nouns_)} of {len(feats.text_names)} texts, e.g. {cae.nouns_[:5]}")
print("mean fusion weights (image, nouns):", cae.fusion_weights_.mean(axis=0).round(3))
