"""
Choosing the number of clusters with an unsupervised scorer
===========================================================

Labels are never available for model selection. ``GridSearchCV`` with a scorer from
:func:`skclip.metrics.make_unsupervised_scorer` (here the silhouette with the cosine
distance, the natural one for unit CLIP embeddings) picks ``n_clusters`` from the
data alone: each candidate is fitted on the training folds and its clustering of the
held-out fold is scored.

Extras: none (the core install runs it, offline).
"""

# %%
# Synthetic CLIP-like embeddings with 4 classes
# ---------------------------------------------
from sklearn.model_selection import GridSearchCV

from skclip import CAEClustering, SemanticSpaceBuilder
from skclip.datasets import make_clip_blobs
from skclip.metrics import clustering_report, make_unsupervised_scorer

data = make_clip_blobs(n_samples=600, n_clusters=4, n_features=64, spread=0.6,
                       center_similarity=0.5, n_texts_per_cluster=4,
                       n_distractor_texts=40, random_state=0)
space = SemanticSpaceBuilder(vocabulary=data.text_embeddings,
                             noun_names=list(data.text_names), random_state=0)

# %%
# The search
# ----------
# No ``y`` is passed to ``fit``. Nested parameters of the semantic space could be
# searched the same way, e.g. ``"semantic_space__topk_nouns": [3, 5, 10]``.
scorer = make_unsupervised_scorer("silhouette", metric_params={"metric": "cosine"})
search = GridSearchCV(
    CAEClustering(semantic_space=space, random_state=0),
    param_grid={"n_clusters": [2, 3, 4, 5, 6]},
    scoring=scorer,
    cv=3,
)
search.fit(data.X)

for k, score in zip(search.cv_results_["param_n_clusters"],
                    search.cv_results_["mean_test_score"]):
    print(f"n_clusters={k}: silhouette {score:.3f}")
print("chosen:", search.best_params_["n_clusters"])

# %%
# Checking the choice against the labels
# --------------------------------------
# Only possible here because the data are synthetic; ``best_estimator_`` is refitted
# on all the data.
print(clustering_report(data.y, search.best_estimator_.labels_))
