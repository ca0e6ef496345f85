"""Super-clusters: a tree over the clusters, its inner nodes named.

The tree is an average-linkage agglomerative clustering of the cluster centres (cosine
distance, in the space the clusterer clustered). Every node is a dict ``id``,
``children``, ``size`` (images below it) and ``name``: a leaf is a cluster (``id`` is
its cluster id, an int, and it has no children), an inner node is a super-cluster
(``id`` ``"s1"``, ``"s2"``... from the root down). An inner node is named by the lowest
common WordNet hypernym of its children when every cluster below it is named by a
WordNet noun (a "dog" node over "spaniel" and "saluki"); otherwise by the noun its
clusters share best: the naming noun whose smallest specificity over those clusters is
the largest.
"""

import numpy as np

__all__ = ["Taxonomy", "build_hierarchy"]


class Taxonomy:
    """A noun hierarchy: the hypernym ancestors, depth and name of each synset.

    Parameters
    ----------
    parents : dict of str to list of str
        Direct hypernyms of each synset id (roots map to an empty list).
    names : dict of str to str, default=None
        Display name of each synset; default: the part of the id before the first dot.

    Examples
    --------
    >>> from skclip.report._hierarchy import Taxonomy
    >>> toy = Taxonomy({"animal.n.01": [], "dog.n.01": ["animal.n.01"],
    ...                 "spaniel.n.01": ["dog.n.01"], "saluki.n.01": ["dog.n.01"]})
    >>> toy.lowest_common_hypernym(["spaniel.n.01", "saluki.n.01"])
    'dog.n.01'
    >>> toy.name("dog.n.01")
    'dog'
    """

    def __init__(self, parents, names=None):
        self._parents = {k: list(v) for k, v in parents.items()}
        self._names = dict(names or {})
        self._anc, self._depth = {}, {}

    @classmethod
    def from_wordnet(cls, wordnet_path=None):
        """The WordNet 3.0 noun hierarchy (:func:`skclip.semantic.wordnet_nouns`)."""
        from ..semantic import wordnet_nouns

        vocab = wordnet_nouns(wordnet_path, lemmas="first")
        tax = cls({})
        index = {s: i for i, s in enumerate(vocab.all_synsets)}
        depth = np.zeros(len(vocab.all_synsets), dtype=np.int64)
        depth[vocab.synset_index] = vocab.depths

        def ancestors(s):
            i = index[s]
            rows = vocab.ancestor_indices[vocab.ancestor_indptr[i]:vocab.ancestor_indptr[i + 1]]
            return {vocab.all_synsets[r] for r in rows}

        tax.ancestors = ancestors
        tax.depth = lambda s: int(depth[index[s]])
        tax.name = lambda s: vocab.all_lemmas[index[s]][0].replace("_", " ")
        tax.known = lambda s: s in index
        return tax

    def known(self, synset):
        return synset in self._parents

    def ancestors(self, synset):
        """Every hypernym above ``synset`` (not itself)."""
        if synset not in self._anc:
            acc = set()
            for p in self._parents.get(synset, ()):
                acc |= {p} | self.ancestors(p)
            self._anc[synset] = acc
        return self._anc[synset]

    def depth(self, synset):
        """Edges on the shortest path to a root."""
        if synset not in self._depth:
            ps = self._parents.get(synset, ())
            self._depth[synset] = 1 + min(self.depth(p) for p in ps) if ps else 0
        return self._depth[synset]

    def name(self, synset):
        return self._names.get(synset, synset.split(".")[0].replace("_", " "))

    def lowest_common_hypernym(self, synsets):
        """The deepest synset that is (or is above) every one of ``synsets``."""
        common = None
        for s in synsets:
            mine = {s} | self.ancestors(s)
            common = mine if common is None else common & mine
        if not common:
            return None
        return max(sorted(common), key=self.depth)


def build_hierarchy(ids, centres, sizes, names, *, synsets=None, taxonomy=None,
                    specificity=None, nouns=None):
    """The super-cluster tree over the clusters ``ids``.

    Parameters
    ----------
    ids : list of int
        Cluster ids (non-empty clusters).
    centres : array-like of shape (len(ids), n_features)
        Their centres in the clustered space.
    sizes : list of int
        Images per cluster.
    names : list of str
        Name of each cluster (the leaves' ``name``).
    synsets : list of str or None, default=None
        WordNet synset of each cluster's naming noun (None where it has none).
    taxonomy : Taxonomy, default=None
        Hypernyms of those synsets; without it inner nodes get shared nouns.
    specificity : ndarray of shape (len(ids), n_nouns), default=None
        Specificity of each naming noun for each cluster (for shared nouns).
    nouns : list of str, default=None
        The naming nouns (columns of ``specificity``).

    Returns
    -------
    root : dict
        The tree (a single cluster is its own root).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.report._hierarchy import Taxonomy, build_hierarchy
    >>> toy = Taxonomy({"dog.n.01": [], "spaniel.n.01": ["dog.n.01"],
    ...                 "saluki.n.01": ["dog.n.01"]})
    >>> root = build_hierarchy([0, 1], np.eye(2), [3, 4], ["spaniel", "saluki"],
    ...                        synsets=["spaniel.n.01", "saluki.n.01"], taxonomy=toy)
    >>> root["id"], root["name"], root["size"], [c["id"] for c in root["children"]]
    ('s1', 'dog', 7, [0, 1])
    """
    leaves = [{"id": int(k), "children": [], "size": int(n), "name": str(name)}
              for k, n, name in zip(ids, sizes, names)]
    if len(leaves) == 1:
        return leaves[0]
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    C = np.asarray(centres, dtype=np.float64)
    C = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    Z = linkage(np.clip(pdist(C, "cosine"), 0.0, None), method="average")
    nodes = list(leaves)
    below = [[i] for i in range(len(leaves))]
    for a, b, _, _ in Z:
        a, b = int(a), int(b)
        nodes.append({"id": None, "children": [nodes[a], nodes[b]],
                      "size": nodes[a]["size"] + nodes[b]["size"], "name": None})
        below.append(below[a] + below[b])
    for node, rows in zip(nodes[len(leaves):], below[len(leaves):]):
        node["name"] = _inner_name(rows, synsets, taxonomy, specificity, nouns)
    root = nodes[-1]
    _number(root)
    return root


def _inner_name(rows, synsets, taxonomy, specificity, nouns):
    if taxonomy is not None and synsets is not None:
        mine = [synsets[i] for i in rows]
        if all(s is not None and taxonomy.known(s) for s in mine):
            lch = taxonomy.lowest_common_hypernym(mine)
            if lch is not None:
                return taxonomy.name(lch)
    if specificity is not None and nouns is not None and len(nouns):
        return str(nouns[int(np.argmax(np.asarray(specificity)[rows].min(axis=0)))])
    return None


def _number(root):
    """Super-cluster ids ``s1``, ``s2``... breadth-first from the root."""
    queue, n = [root], 0
    while queue:
        node = queue.pop(0)
        if node["children"]:
            n += 1
            node["id"] = f"s{n}"
            queue.extend(node["children"])
