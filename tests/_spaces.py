"""Small objects that follow the semantic-space protocol, for tests.

The protocol a clusterer relies on (see ``skclip.semantic``): an estimator with
``fit(X)`` returning ``self`` and, once fitted, ``noun_embeddings_`` (m, d) unit
rows, ``nouns_`` (m names), ``caption_embeddings_`` (L, d, L may be 0) and
``captions_`` (L names). Clusterers ``clone`` it and fit it on their ``X``.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state


def _unit(A):
    A = np.asarray(A, dtype=np.float32)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.maximum(norms, 1e-12)


class FixedTextSpace(BaseEstimator):
    """A semantic space with given text embeddings (no selection)."""

    def __init__(self, noun_embeddings=None, caption_embeddings=None):
        self.noun_embeddings = noun_embeddings
        self.caption_embeddings = caption_embeddings

    def fit(self, X, y=None):
        d = np.asarray(X).shape[1]
        self.noun_embeddings_ = _unit(self.noun_embeddings)
        self.nouns_ = [f"noun{j}" for j in range(len(self.noun_embeddings_))]
        if self.caption_embeddings is None:
            self.caption_embeddings_ = np.zeros((0, d), dtype=np.float32)
        else:
            self.caption_embeddings_ = _unit(self.caption_embeddings)
        self.captions_ = [f"caption {j}" for j in range(len(self.caption_embeddings_))]
        self.noun_synsets_ = [None] * len(self.nouns_)
        return self


class DataAnchoredSpace(BaseEstimator):
    """Text anchors derived deterministically from the input: noisy copies of rows.

    Works for any number of features, which is what ``check_estimator`` needs.
    """

    def __init__(self, n_nouns=6, n_captions=4, noise=0.05, random_state=0):
        self.n_nouns = n_nouns
        self.n_captions = n_captions
        self.noise = noise
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        rng = check_random_state(self.random_state)

        def anchors(m):
            rows = X[rng.randint(len(X), size=m)]
            rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
            return _unit(rows + self.noise * rng.standard_normal(rows.shape))

        self.noun_embeddings_ = anchors(self.n_nouns)
        self.caption_embeddings_ = anchors(self.n_captions)
        self.nouns_ = [f"noun{j}" for j in range(self.n_nouns)]
        self.captions_ = [f"caption {j}" for j in range(self.n_captions)]
        self.noun_synsets_ = [None] * self.n_nouns
        return self
