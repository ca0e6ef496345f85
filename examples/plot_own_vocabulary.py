"""
Using your own vocabulary
=========================

WordNet is the default text space, but a domain often has better words. A list of
nouns is prompted and encoded with the same CLIP model as the images, and the
semantic space keeps the ones relevant to the images. This example also shows how to
keep every noun, and how to read which noun is closest to each cluster.

ViT-B-32 with random weights (``pretrained=None``) keeps the example offline, so the
nouns chosen here are arbitrary; with pretrained weights they describe the images.

Extras: none (the core install runs it, offline).
"""

# %%
# Embed a few images
# ------------------
import tempfile
import warnings

import numpy as np

from _common import example_images
from skclip import CAEClustering, CLIPEmbedder, SemanticSpaceBuilder

warnings.filterwarnings("ignore", message=".*random weights.*")
paths, _ = example_images(tempfile.mkdtemp(), per_class=8)
embedder = CLIPEmbedder(model="ViT-B-32", pretrained=None, verbose=0)
X = embedder.fit_transform(paths)
print("image embeddings:", X.shape)

# %%
# Your nouns, selected for these images
# -------------------------------------
# By default the builder keeps the ``topk_nouns=5`` nouns nearest to each of
# round(n_images / 300) (at least one) image centres: here one centre, so five nouns.
nouns = ["jet", "airliner", "kitten", "tabby cat", "ferry", "container ship", "lighthouse"]
space = SemanticSpaceBuilder(embedder=embedder, vocabulary=nouns, templates="tac7")
clust = CAEClustering(n_clusters=3, semantic_space=space, random_state=0).fit(X)
print("nouns kept:", clust.nouns_)

# %%
# Keeping every noun
# ------------------
# ``selection=None`` keeps the whole vocabulary; nested parameters of the semantic
# space can be changed on the clusterer (and searched by ``GridSearchCV``).
clust.set_params(semantic_space__selection=None).fit(X)
print("nouns kept:", clust.nouns_)

# %%
# The noun nearest each cluster
# -----------------------------
# The mean image embedding of each cluster against the fitted noun embeddings: the
# same reading the command line's report gives (there with a specificity score).
for k in range(3):
    centre = X[clust.labels_ == k].mean(axis=0)
    best = int(np.argmax(clust.noun_embeddings_ @ centre))
    print(f"cluster {k}: {np.sum(clust.labels_ == k):2d} images, nearest noun "
          f"{clust.nouns_[best]!r}")
