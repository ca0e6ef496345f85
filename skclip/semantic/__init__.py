"""Semantic spaces: WordNet nouns and captions embedded by CLIP's text tower.

The protocol
------------
Clusterers (:class:`~skclip.MCAClustering`, :class:`~skclip.CAEClustering`, ...) take a
``semantic_space`` estimator, ``clone`` it and call ``fit(X)`` on their CLIP image
embeddings ``X`` (n, d). Any estimator works that, once fitted, exposes:

- ``nouns_`` : list of str, length m;
- ``noun_synsets_`` : list of length m (WordNet synset ids, or None);
- ``noun_embeddings_`` : ndarray (m, d), float32, unit rows;
- ``captions_`` : list of str, length L (L may be 0);
- ``caption_embeddings_`` : ndarray (L, d), float32, unit rows (shape (0, d) when L = 0);

and whose ``fit(X)`` returns ``self``, raising ``ValueError`` when its text dimension
differs from ``X.shape[1]``. :class:`SemanticSpaceBuilder` is the standard one; to plug
in your own text space, give it ``vocabulary=<(m, d) array>`` or write a small
estimator with these attributes.
"""

from ._builder import SemanticSpaceBuilder
from ._captions import CAPTION_CORPORA, packaged_captions, read_captions
from ._templates import TEMPLATES
from ._vocab_cache import build_vocabulary_cache
from ._wordnet import NounVocabulary, wordnet_nouns
from ._wordnet_files import load_wordnet

__all__ = [
    "CAPTION_CORPORA",
    "NounVocabulary",
    "SemanticSpaceBuilder",
    "TEMPLATES",
    "build_vocabulary_cache",
    "load_wordnet",
    "packaged_captions",
    "read_captions",
    "wordnet_nouns",
]
