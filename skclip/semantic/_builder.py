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
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._arrays import validation_dtype
from .._config import resolve_device
from .._versions import VersionedPickleMixin
from ..ot import plan_rows
from ._filters import (
    depth_mask,
    select_center_topk,
    select_tac,
    topk_per_center,
    uniqueness_mask,
)
from ._sources import WORDNET_VOCABULARIES, caption_texts, encoder_factory, noun_texts
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
    images ``X`` by one of the selection rules of the user guide
    (:doc:`/user_guide/vocabulary`).

    Parameters
    ----------
    embedder : CLIPEmbedder or None, default=None
        Text encoder: anything with ``encode_text(list[str]) -> (m, d)`` (cloned when it
        is an estimator). None means the embedder that produced ``X`` when a clusterer
        fits this space on :class:`~skclip.embed.CLIPEmbeddings` (the output of
        ``CLIPEmbedder.transform``), else ``CLIPEmbedder()``; unused when every text is
        given as embeddings.
    vocabulary : {"wordnet", "wordnet-tac", "wordnet-sic"}, list of str or \
            array-like of shape (m, d), default="wordnet"
        ``"wordnet"``: WordNet 3.0's nouns, each distinct string once (119,034);
        ``"wordnet-tac"`` and ``"wordnet-sic"`` reproduce TAC's and SIC's lists row for
        row (user guide: "The WordNet vocabularies"). A list: your nouns. An array:
        your text embeddings (names from ``noun_names``).
    noun_names : list of str, default=None
        Names of the rows of an array ``vocabulary`` (default ``"noun0"``, ...).
    captions : None, list of str, str or path-like, or array-like of shape (L, d), \
            default=None
        Caption corpus: sentences, ``"coco"`` (the corpus shipped with skclip, see
        :func:`packaged_captions`; what :class:`~skclip.cluster.CAEClustering` uses by
        default), a file read by :func:`read_captions`, or caption embeddings. Encoded
        without template (with ``selection="center_topk"``, in two stages like the
        nouns: :doc:`/user_guide/vocabulary`). None: no captions.
    templates : {"photo", "sic", "tac7"}, str or list of str, default="photo"
        Noun prompts, a named set of :data:`~skclip.semantic.TEMPLATES` or your
        templates with one ``{}``; an ensemble averages the unit embeddings of its
        templates, then renormalises.
    selection : {"center_topk", "tac", "sic", "mca", "none"} or None, \
            default="center_topk"
        Selection rule (user guide: "Where the selection rules come from"):
        ``"center_topk"`` (CAE), ``"tac"`` (TAC), ``"sic"`` (SIC) or ``"mca"`` (SIC's rule
        plus the hierarchy filter); None (or ``"none"``) keeps the whole vocabulary.
        Captions are selected like nouns, ``topk_captions`` per centre.
    n_centers : "auto" or int, default="auto"
        Number of spherical k-means centres of the images; ``"auto"`` =
        max(round(n_samples / 300), ``min_centers``) (TAC's table), at most n_samples.
    min_centers : int or None, default=None
        Lower bound of ``n_centers="auto"``; the clusterers set it on their copy of the
        space so that every cluster has a centre (:doc:`/user_guide/methods`).
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
        Hierarchy filter of ``"mca"``: drop nouns whose synset ``min_depth`` is smaller
        (nouns without a synset pass). None disables it.
    temperature : float, default=0.005
        Softmax temperature of ``transform`` (TAC's retrieval).
    kmeans_n_init : int, default=10
        Restarts of the centre k-means (on a subsample when there are many centres,
        then refined on all images).
    exact_vocabulary : bool, default=False
        False embeds a template ensemble in two stages, the full ensemble for the
        candidates near the centres only; True encodes every noun with every template
        (user guide: "A fast first run: two-stage embedding").
    candidate_pool : "auto" or int, default="auto"
        Candidates per centre of the two-stage embedding; ``"auto"``: 1,024 per centre
        for up to 5 centres, then ``ceil(5120 / n_centers)``, at least 32 x the nouns
        kept per centre.
    vocabulary_cache : str or path-like, default=None
        A vocabulary file written by ``skclip vocab build --out FILE`` (or
        :func:`build_vocabulary_cache`), checked against this builder's model, weights,
        templates and vocabulary.
    wordnet_path : str or path-like, default=None
        WordNet folder; None auto-detects (see :func:`load_wordnet`).
    cache : bool, default=True
        Cache text embeddings under ``get_cache_dir(cache_dir)/text`` (never for random
        weights).
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
    text_precision_ : dict
        How the two-stage embedding computed: ``"ranking"`` (``"fp32"``, ``"bf16"``, or
        None when it did not run) and how many rows were re-scored / re-encoded in
        float32 (``"rescored_ranking"``, ``"rescored_candidates"``), and the widest
        re-scoring margin used (``"estimated_margin"``: an estimate of twice the largest
        score error, not a proven bound; None in float32).
    n_features_in_ : int

    See Also
    --------
    read_captions, wordnet_nouns, load_wordnet

    Notes
    -----
    Clusterers clone their ``semantic_space`` and call ``fit(X)``, then read the fitted
    attributes above; any estimator with them can stand in for this class (the
    protocol: :mod:`skclip.semantic`). ``transform(X)`` is TAC's retrieval,
    ``normalise(sum_j softmax_j(cos(x, u_j) / temperature) u_j)`` over the selected
    nouns. Deviations from the reference code are listed in the user guide.

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
                 topk_nouns=5, topk_captions=5, gamma_r=500, gamma_u=0.05, hier_min_depth=6,
                 temperature=0.005,
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
        encoder = encoder_factory(self.embedder)
        check = self._dim_checker(X.shape[1], "vocabulary's text embeddings")
        nouns = noun_texts(self, encoder, check, centers, device)
        check(nouns.embeddings.shape[1])
        check = self._dim_checker(X.shape[1], "caption embeddings")
        caps = caption_texts(self, encoder, X.shape[1], check, centers, device)
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
        self.text_precision_ = dict(getattr(nouns, "encoding", {"ranking": None}))
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
