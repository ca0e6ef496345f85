"""SemanticSpaceBuilder: the nouns and captions relevant to a set of image embeddings."""

import math
import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._arrays import validation_dtype
from .._config import resolve_device
from .._versions import VersionedPickleMixin
from ..ot import plan_rows
from ._filters import (
    ancestor_mask,
    depth_mask,
    select_center_topk,
    select_tac,
    topk_per_center,
    uniqueness_mask,
)
from ._sources import WORDNET_VOCABULARIES, caption_texts, noun_texts
from ._text_cache import unit_rows

_SELECTIONS = {"center_topk", "tac", "sic", "mca", "none"}
_BLOCK_ELEMENTS = 1 << 22


class SemanticSpaceBuilder(
    VersionedPickleMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Select the nouns (and captions) that describe a set of CLIP image embeddings.

    Builds the text side of CLIP-based clustering: a vocabulary (WordNet nouns, a list
    of nouns, or ready-made text embeddings) and optional captions are embedded with
    CLIP's text tower (cached on disk), then filtered down to the texts relevant to the
    images ``X`` by one of the selection rules of the user guide ("Vocabulary").

    Parameters
    ----------
    embedder : CLIPEmbedder or None, default=None
        Text encoder: anything with ``encode_text(list[str]) -> (m, d)`` (it is cloned
        when it is an estimator). None means ``CLIPEmbedder()`` (ViT-B-32, openai). Not
        used when all texts are given as embeddings.
    vocabulary : {"wordnet", "wordnet-tac", "wordnet-sic"}, list of str or \
            array-like of shape (m, d), default="wordnet"
        ``"wordnet"``: every (lemma, synset) pair of WordNet 3.0 nouns, underscores as
        spaces, identical strings kept once (their synset is the most frequent sense;
        119,034 nouns). ``"wordnet-tac"`` and ``"wordnet-sic"`` reproduce the
        predecessors' lists row for row, repeated strings included: TAC's 146,347
        (lemma, synset) rows with underscores; SIC's first lemma of each synset,
        underscores kept, without ``entity`` (which SIC's ``pd.read_csv`` takes as the
        header) and without the last synset (``9/11``, absent from SIC's file):
        82,113 rows. Repeated strings are encoded once. A list: your nouns.
        An array: your text embeddings (no encoder needed; names from
        ``noun_names``).
    noun_names : list of str, default=None
        Names of the rows of an array ``vocabulary`` (default ``"noun0"``, ...).
    captions : None, list of str, str or path-like, or array-like of shape (L, d), \
            default=None
        Caption corpus: sentences, a file read by :func:`read_captions` (plain lines,
        Flickr token file, COCO JSON), or caption embeddings. Encoded without template.
    templates : {"photo", "sic", "tac7"}, str or list of str, default="photo"
        Noun prompts: ``"photo"`` = ``"a photo of a {}."`` (MCA); ``"sic"`` =
        ``"a photo of a {}"`` (as SIC's code writes it); ``"tac7"`` = TAC's
        7-template ensemble as TAC's code writes it (CAE, TAC); or your templates with
        one ``{}``. An ensemble averages the unit embeddings of the templates, then
        renormalises.
    selection : {"center_topk", "tac", "sic", "mca", "none"} or None, \
            default="center_topk"
        ``"center_topk"`` (CAE): the union of the ``topk_nouns`` nouns nearest to each
        of ``n_centers`` spherical k-means centres of the images. ``"tac"``: each noun
        joins its most probable centre (softmax over centres), each centre keeps its
        ``topk_nouns`` most confident nouns. ``"sic"``: the ``gamma_r`` nouns nearest
        to each centre, minus generic nouns (uniqueness ``gamma_u``). ``"mca"``: as
        ``"sic"`` plus the hierarchy filter (``hier_min_depth``, optional ancestor
        pruning). None (or ``"none"``): keep the whole vocabulary. Captions are
        selected like nouns, ``topk_captions`` per centre (TAC rule for ``"tac"``,
        nearest otherwise).
    n_centers : "auto" or int, default="auto"
        Number of image centres; ``"auto"`` = max(round(n_samples / 300),
        ``min_centers``), at least 1 and at most n_samples. round(N/300) is TAC's
        table of centre counts (used by CAE); ``min_centers`` makes it grow with the
        number of clusters when there are fewer than 300 images per cluster. MCA
        passes its number of clusters.
    min_centers : int or None, default=None
        Lower bound of ``n_centers="auto"``. The clusterers of :mod:`skclip.cluster`
        set it to their ``n_clusters`` on their copy of the space when it is None
        (:class:`~skclip.CAEClustering`: ``max(n_clusters, min(100, n_samples //
        30))``, an over-complete cover of the images),
        so that every cluster can have a centre, and so nouns, of its own (with
        round(N/300) centres and K > N/300 clusters, ``topk_nouns`` per centre
        keeps fewer nouns than there are classes). On every dataset of TAC's table
        round(N/300) is at least 1.7 K, so the bound changes nothing there.
    topk_nouns : int, default=5
        Nouns kept per centre (``"center_topk"``, ``"tac"``).
    topk_captions : int, default=5
        Captions kept per centre.
    gamma_r : int, default=500
        Relevance filter of ``"sic"``/``"mca"``: nouns kept per centre.
    gamma_u : float or None, default=0.05
        Uniqueness filter of ``"sic"``/``"mca"``: keep nouns with cos(noun, mean noun
        direction) < 1 - gamma_u. None disables it.
    hier_min_depth : int or None, default=6
        Hierarchy filter of ``"mca"``: drop nouns whose synset ``min_depth`` is smaller.
        Nouns without a synset (user lists, embeddings) always pass. None disables it.
    hier_prune_ancestors : bool, default=False
        ``"mca"``: also drop a noun whose synset is a hypernym ancestor of at least
        ``hier_min_descendants`` other retained synsets.
    hier_min_descendants : int, default=3
        See ``hier_prune_ancestors``.
    temperature : float, default=0.005
        Softmax temperature of ``transform`` (TAC's retrieval, tau = 0.005).
    kmeans_n_init : int, default=10
        Restarts of the centre k-means. With many images (and so many centres) the
        restarts run on 16 images per centre and the best one is refined on all
        images for at most 10 Lloyd iterations (the centres only pick texts).
    exact_vocabulary : bool, default=False
        With a template ensemble (``"tac7"``) and a rule that keeps the nouns nearest
        to the centres (``"center_topk"``; ``"sic"``/``"mca"`` with ``gamma_u=None``),
        the vocabulary is embedded in two stages: every noun with one
        prompt (``"a photo of a {}"``) to rank it, then the full ensemble for the
        ``candidate_pool`` best-ranked nouns of each centre only (about 100x fewer
        prompts for WordNet). The selection equals the exhaustive one whenever the
        nouns it keeps are among the candidates. True encodes the whole vocabulary
        with every template (slow on a CPU; cached afterwards). Exhaustive embeddings
        found in the cache or in ``vocabulary_cache`` are always used.
    candidate_pool : "auto" or int, default="auto"
        Candidates per centre of the two-stage embedding; ``"auto"``: 1,024 per centre
        for up to 5 centres, then ``ceil(5120 / n_centers)`` (nearby centres share
        most of their candidates), never fewer than 32 x the nouns the rule keeps
        per centre. When the candidates would exceed half of
        the vocabulary the whole vocabulary is encoded instead.
    vocabulary_cache : str or path-like, default=None
        A vocabulary file written by ``skclip vocab build --out FILE`` (or
        :func:`build_vocabulary_cache`): the exhaustive embeddings, checked against
        this builder's model, weights, templates and vocabulary.
    wordnet_path : str or path-like, default=None
        WordNet folder; None auto-detects (see :func:`load_wordnet`).
    cache : bool, default=True
        Cache text embeddings under ``get_cache_dir(cache_dir)/text``. Random weights
        (``pretrained=None``) are never cached.
    cache_dir : str or path-like, default=None
        Cache directory (default ``SKCLIP_CACHE``, else ``~/.cache/skclip``).
    device : str, default="auto"
        Torch device for k-means and similarity blocks, resolved at each call.
    random_state : int, RandomState instance or None, default=None
        Seeds the centre k-means.
    verbose : int, default=0
        Progress bars when positive.

    Attributes
    ----------
    nouns_ : list of str
        Selected nouns (m), in vocabulary order.
    noun_synsets_ : list of str or None
        WordNet synset id of each selected noun (None when unknown).
    noun_embeddings_ : ndarray of shape (m, d), float32
        Their unit text embeddings.
    noun_scores_ : ndarray of shape (m,)
        The score the rule ranked them by: max cosine to a centre (TAC rule: the
        softmax confidence; ``selection=None``: cosine to the mean image direction).
    captions_ : list of str
        Selected captions (L, possibly 0).
    caption_embeddings_ : ndarray of shape (L, d), float32
        Their unit embeddings; shape (0, d) without captions.
    caption_scores_ : ndarray of shape (L,)
    centers_ : ndarray of shape (n_centers, d)
        The image centres used by the selection (0 rows when ``selection=None``).
    vocabulary_size_ : int
        Vocabulary entries before selection.
    n_candidates_ : int
        Vocabulary entries embedded with the full template set (all of them unless
        the two-stage embedding applied, see ``exact_vocabulary``).
    n_features_in_ : int

    See Also
    --------
    read_captions, wordnet_nouns, load_wordnet

    Notes
    -----
    **The protocol.** Clusterers clone their ``semantic_space`` and call ``fit(X)``
    with their image embeddings, then read ``nouns_``, ``noun_synsets_``,
    ``noun_embeddings_`` (m, d), ``captions_`` and ``caption_embeddings_`` (L, d). Any
    estimator with these fitted attributes whose ``fit`` returns ``self`` (and raises
    ``ValueError`` when its text dimension differs from ``X.shape[1]``) can stand in
    for this class; the simplest way to bring your own text space is
    ``vocabulary=<(m, d) array>``.

    ``transform(X)`` returns each image's semantic counterpart, TAC's retrieval:
    ``normalise(sum_j softmax_j(cos(x, u_j) / temperature) u_j)`` over the selected nouns.

    Deviations from the reference code: every rule uses spherical k-means centres of
    the normalised images (SIC runs Euclidean k-means on raw features), and a template
    ensemble averages unit text embeddings (TAC averages raw ones; the encoder returns
    unit rows). In the default ``"wordnet"`` vocabulary identical prompt strings (one
    lemma in several synsets) are kept once, since their embeddings are identical.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.semantic import SemanticSpaceBuilder
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((60, 8)).astype(np.float32)
    >>> T = rng.standard_normal((20, 8)).astype(np.float32)
    >>> space = SemanticSpaceBuilder(vocabulary=T, topk_nouns=3, random_state=0).fit(X)
    >>> len(space.nouns_), space.noun_embeddings_.shape, space.caption_embeddings_.shape
    (3, (3, 8), (0, 8))
    >>> space.transform(X).shape
    (60, 8)
    """

    _parameter_constraints: dict = {
        "embedder": [None, HasMethods(["encode_text"])],
        "vocabulary": [StrOptions(set(WORDNET_VOCABULARIES)), "array-like"],
        "noun_names": [None, "array-like"],
        "captions": [None, str, os.PathLike, "array-like"],
        "templates": [str, list, tuple],
        "selection": [StrOptions(_SELECTIONS), None],
        "n_centers": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "min_centers": [Interval(Integral, 1, None, closed="left"), None],
        "topk_nouns": [Interval(Integral, 1, None, closed="left")],
        "topk_captions": [Interval(Integral, 1, None, closed="left")],
        "gamma_r": [Interval(Integral, 1, None, closed="left")],
        "gamma_u": [Interval(Real, 0, 2, closed="both"), None],
        "hier_min_depth": [Interval(Integral, 0, None, closed="left"), None],
        "hier_prune_ancestors": ["boolean"],
        "hier_min_descendants": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "kmeans_n_init": [Interval(Integral, 1, None, closed="left")],
        "exact_vocabulary": ["boolean"],
        "candidate_pool": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "vocabulary_cache": [None, str, os.PathLike],
        "wordnet_path": [None, str, os.PathLike],
        "cache": ["boolean"],
        "cache_dir": [None, str, os.PathLike],
        "device": [str, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, embedder=None, vocabulary="wordnet", noun_names=None, captions=None,
                 templates="photo", selection="center_topk", n_centers="auto", min_centers=None,
                 topk_nouns=5,
                 topk_captions=5, gamma_r=500, gamma_u=0.05, hier_min_depth=6,
                 hier_prune_ancestors=False, hier_min_descendants=3, temperature=0.005,
                 kmeans_n_init=10, exact_vocabulary=False, candidate_pool="auto",
                 vocabulary_cache=None, wordnet_path=None, cache=True, cache_dir=None,
                 device="auto", random_state=None, verbose=0):
        self.embedder = embedder
        self.vocabulary = vocabulary
        self.noun_names = noun_names
        self.captions = captions
        self.templates = templates
        self.selection = selection
        self.n_centers = n_centers
        self.min_centers = min_centers
        self.topk_nouns = topk_nouns
        self.topk_captions = topk_captions
        self.gamma_r = gamma_r
        self.gamma_u = gamma_u
        self.hier_min_depth = hier_min_depth
        self.hier_prune_ancestors = hier_prune_ancestors
        self.hier_min_descendants = hier_min_descendants
        self.temperature = temperature
        self.kmeans_n_init = kmeans_n_init
        self.exact_vocabulary = exact_vocabulary
        self.candidate_pool = candidate_pool
        self.vocabulary_cache = vocabulary_cache
        self.wordnet_path = wordnet_path
        self.cache = cache
        self.cache_dir = cache_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _encoder_factory(self):
        """A callable returning the text encoder, built on first use only.

        No model is loaded when every text is given as embeddings, and the encoder is
        never stored on the estimator (so it is never pickled).
        """
        box = []

        def encoder():
            if not box:
                if self.embedder is None:
                    from ..embed import CLIPEmbedder

                    box.append(CLIPEmbedder(verbose=0))  # the text stages show their own bars
                elif hasattr(self.embedder, "get_params"):
                    box.append(clone(self.embedder))
                else:
                    box.append(self.embedder)
            return box[0]

        return encoder

    @staticmethod
    def _dim_checker(n_features, what):
        def check(dim):
            if dim != n_features:
                raise ValueError(
                    f"X has n_features = {n_features} but the {what} have dimension {dim}: "
                    "the image embeddings and the text embeddings must come from the same "
                    "CLIP model (check the embedder's model, or the width of the "
                    "embeddings you passed)."
                )

        return check

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Embed the vocabulary and captions, then keep those relevant to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            CLIP image embeddings (normalised internally).
        y : None
            Ignored.

        Returns
        -------
        self : SemanticSpaceBuilder
        """
        X = validate_data(self, X, dtype=validation_dtype(X))
        Xn = unit_rows(X)
        device = resolve_device(self.device)
        centers = self._centers(Xn, device)  # before the (costly) text encoding
        encoder = self._encoder_factory()
        check = self._dim_checker(X.shape[1], "vocabulary's text embeddings")
        nouns = noun_texts(self, encoder, check, centers, device)
        check(nouns.embeddings.shape[1])
        check = self._dim_checker(X.shape[1], "caption embeddings")
        caps = caption_texts(self, encoder, X.shape[1], check)
        check(caps.embeddings.shape[1])
        idx, scores = self._select_nouns(nouns, centers, Xn, device)
        if len(idx) == 0:
            raise ValueError(
                f"selection={self.selection!r} kept no noun of {len(nouns.names)}; loosen "
                "gamma_u / hier_min_depth or increase gamma_r."
            )
        self.nouns_ = [nouns.names[i] for i in idx]
        self.noun_synsets_ = [nouns.synsets[i] for i in idx]
        self.noun_embeddings_ = nouns.embeddings[idx].astype(np.float32)
        self.noun_scores_ = scores
        cidx, cscores = self._select_captions(caps.embeddings, centers, Xn, device)
        self.centers_ = centers
        self.captions_ = [caps.names[i] for i in cidx]
        self.caption_embeddings_ = caps.embeddings[cidx].astype(np.float32).reshape(-1, X.shape[1])
        self.caption_scores_ = cscores
        self.vocabulary_size_ = nouns.vocabulary_size
        self.n_candidates_ = len(nouns.names)
        return self

    def _n_centers(self, n_samples):
        if self.n_centers == "auto":  # TAC's table: round(N / 300) (167 for N = 50,000)
            n = max(1, math.floor(n_samples / 300 + 0.5), self.min_centers or 0)
            return min(n, n_samples)
        if self.n_centers > n_samples:
            raise ValueError(
                f"n_centers={self.n_centers} is larger than n_samples={n_samples}."
            )
        return int(self.n_centers)

    def _centers(self, Xn, device):
        """Spherical k-means centres of the images (unit rows), or none."""
        if self.selection in (None, "none"):
            return np.zeros((0, Xn.shape[1]), dtype=np.float32)
        from ..kmeans import kmeans

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        # the centres only pick texts: at large K (many images) the final Lloyd run is
        # a bounded refinement (10 iterations) of restarts converged on a subsample
        result = kmeans(
            Xn, self._n_centers(len(Xn)), n_init=self.kmeans_n_init, spherical=True,
            device=device, random_state=seed, verbose=self.verbose, refine_max_iter=10,
        )
        return unit_rows(np.asarray(result.centers))

    def _select_nouns(self, nouns, C, Xn, device):
        emb = nouns.embeddings
        if self.selection in (None, "none"):
            mean = unit_rows(Xn.mean(axis=0, keepdims=True))[0]
            return np.arange(len(emb)), emb.astype(np.float64) @ mean
        if self.selection == "center_topk":
            return select_center_topk(C, emb, self.topk_nouns, device=device)
        if self.selection == "tac":
            return select_tac(C, emb, self.topk_nouns, device=device)
        top, best = topk_per_center(C, emb, self.gamma_r, device=device)
        keep = np.zeros(len(emb), dtype=bool)
        keep[np.unique(top)] = True
        if self.gamma_u is not None:
            keep &= uniqueness_mask(emb, self.gamma_u)
        if self.selection == "mca":
            if self.hier_min_depth is not None:
                keep &= depth_mask(nouns.depths, self.hier_min_depth)
            if self.hier_prune_ancestors and nouns.indptr is not None:
                kept = np.flatnonzero(keep)
                keep[kept] = ancestor_mask(
                    nouns.synset_rows[kept], nouns.indptr, nouns.indices,
                    self.hier_min_descendants,
                )
        idx = np.flatnonzero(keep)
        return idx, best[idx]

    def _select_captions(self, emb, C, Xn, device):
        if len(emb) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if self.selection in (None, "none"):
            mean = unit_rows(Xn.mean(axis=0, keepdims=True))[0]
            return np.arange(len(emb)), emb.astype(np.float64) @ mean
        if self.selection == "tac":
            return select_tac(C, emb, self.topk_captions, device=device)
        return select_center_topk(C, emb, self.topk_captions, device=device)

    def transform(self, X):
        """Each image's semantic counterpart: softmax retrieval over the selected nouns.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)

        Returns
        -------
        S : ndarray of shape (n_samples, d), float32
            ``normalise(sum_j softmax_j(cos(x, u_j) / temperature) u_j)``.
        """
        check_is_fitted(self, "noun_embeddings_")
        X = validate_data(self, X, dtype=validation_dtype(X), reset=False)
        Xn, U = unit_rows(X), self.noun_embeddings_
        out = np.empty((len(Xn), U.shape[1]), dtype=np.float32)
        step = max(1, _BLOCK_ELEMENTS // max(1, len(U)))
        g = np.zeros(len(U), dtype=np.float32)  # no column potential: softmax retrieval
        for start in range(0, len(Xn), step):
            cost = 1.0 - Xn[start : start + step].astype(np.float32) @ U.T
            out[start : start + step] = plan_rows(cost, g, self.temperature) @ U
        return unit_rows(out)

    @property
    def _n_features_out(self):
        return self.noun_embeddings_.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
