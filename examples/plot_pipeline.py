"""
The two-step Pipeline: CLIP embeddings, then clustering
=======================================================

The shape skclip promises: a :class:`~skclip.CLIPEmbedder` turns image files into unit
CLIP embeddings and a clusterer groups them, in one scikit-learn ``Pipeline`` that
fits on file paths and predicts new images.

This example builds the ViT-B-32 architecture with random weights
(``pretrained=None``) so that it runs offline; the clusters are therefore
meaningless. With ``pretrained="openai"`` (or a local checkpoint, see the user guide)
the same code gives real clusters.

Extras: none (the core install runs it, offline).
"""

# %%
# A few images
# ------------
# CIFAR-10 test images when the offline assets are present (``SKCLIP_ASSETS``), else
# coloured noise images.
import tempfile
import warnings

from sklearn.pipeline import Pipeline

from _common import example_images
from skclip import CAEClustering, CLIPEmbedder, SemanticSpaceBuilder, make_clip_pipeline

paths, labels = example_images(tempfile.mkdtemp(), per_class=10)
train, new = paths[::2], paths[1::2]
print(f"{len(train)} training images, {len(new)} new images")

# %%
# The pipeline
# ------------
# The semantic space encodes its nouns with the same embedder as the images, so
# image and text embeddings live in one space; the model is loaded once per process
# and shared. A short noun list stands in for WordNet.
warnings.filterwarnings("ignore", message=".*random weights.*")
nouns = ["airplane", "cat", "ship", "dog", "truck", "bird"]
embedder = CLIPEmbedder(model="ViT-B-32", pretrained=None, verbose=0)
space = SemanticSpaceBuilder(embedder=embedder, vocabulary=nouns, templates="tac7")
pipe = Pipeline([
    ("embed", embedder),
    ("clust", CAEClustering(n_clusters=3, semantic_space=space, random_state=0)),
])
train_labels = pipe.fit_predict(train)
print("embedding dimension:", pipe.named_steps["embed"].embedding_dim_)
print("training clusters:  ", train_labels)

# %%
# New images
# ----------
# ``predict`` embeds the new files and places them with the stored transport
# potentials and cluster centres, without refitting.
print("new images:         ", pipe.predict(new))

# %%
# The same pipeline in one call
# -----------------------------
# :func:`skclip.make_clip_pipeline` wires one model into the embedder and the
# method's default semantic space (for CAE: TAC's seven prompt templates); every
# parameter stays reachable by its nested name for ``set_params`` and grid searches.
pipe2 = make_clip_pipeline(
    "cae", n_clusters=3, model="ViT-B-32", pretrained=None, random_state=0,
    embedder_params={"verbose": 0}, semantic_space_params={"vocabulary": nouns},
)
print([name for name, _ in pipe2.steps], pipe2.get_params()["clust__semantic_space__templates"])
print("same training clusters:", (pipe2.fit_predict(train) == train_labels).all())
