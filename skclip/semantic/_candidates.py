"""Embedding a vocabulary with a template ensemble, without encoding every prompt.

A template ensemble multiplies the text work: all 119,034 WordNet nouns x 7 templates
is ~830k prompts, an hour on a laptop CPU. But a selection rule only keeps the nouns
nearest to the image centres, so two stages do the same job:

1. **rank**: every distinct noun is encoded with one short prompt
   (:data:`RANKING_TEMPLATE`, ``"a photo of a {}"``; cached per model and vocabulary);
2. **re-encode the candidates**: for each image centre the ``candidate_pool`` nouns
   nearest to it are encoded with the full ensemble, and the rule runs on these
   candidates only.

This serves the rules that keep each centre's nearest nouns (``"center_topk"``, and
``"sic"``/``"mca"`` without the uniqueness filter). Their result equals the exhaustive
one whenever the nouns the exhaustive rule would keep are among the candidates: a
noun's score (its cosine to the centres) depends on that noun alone, and the
candidates are then a superset of the kept nouns. The pool is generous: 1,024
nouns per centre for up to 5 centres, then a shared budget of 5,120 (``5120 / n``
per centre), never fewer than ``32 * k``; ``exact_vocabulary=True`` encodes
everything instead.

**Reduced precision, float32 selection.** On a CPU with native bfloat16 arithmetic
(AVX512-BF16 or AMX) a :class:`~skclip.CLIPEmbedder` left at ``precision="auto"``
ranks and encodes the candidates with a bfloat16 copy of its own weights (about 2.4x
the float32 prompts/s on a 2-core AMD EPYC when idle), and both stages then put the
float32 rows back where they can change a decision (:func:`rescore_near_selection`): in the
ranking, every noun whose bfloat16 score lies within a margin of some centre's pool
boundary (its ``candidate_pool``-th best score) is re-scored in float32; in the
ensembles, every candidate within the margin of some centre's ``k``-th best (or above
it) is re-encoded in float32, so the kept nouns and their embeddings are those of the
float32 path. If every row's score error is at most ``delta``, a margin of ``2 * delta``
makes both selections exactly the float32 ones (proof in :func:`rescore_near_selection`).
``delta`` is **an estimate, not a proven bound**: four times the largest score error
seen on the re-scored rows (the margin is widened, and more rows re-scored, until it
holds). No affordable bound over every row is known: the norm inequality
``|c . (e' - e)| <= ||c|| ||e' - e||`` still needs ``||e' - e||`` for rows never computed
in float32 (the largest seen, 0.014, puts 2,982 of 3,000 nouns of a random-weight
ViT-B-32 in the band), an a-priori forward-error bound is wider still (the text
projection's term alone, ``(2u + u^2) |x| |P|`` with ``u = 2^-8``, is measured by
``benchmarks/bench_cold_start.py``), and a bound per row needs that row's float32 value.
The chosen precision, the number of re-scored rows and the final margin are recorded
in the builder's ``text_precision_``; ``precision="fp32"`` on the embedder keeps
everything in float32.
TAC's rule ranks nouns by tiny differences of a softmax over
centres, which one prompt does not predict well enough, and the uniqueness filter
averages the whole vocabulary: both are always encoded exhaustively.

The exhaustive embeddings are used whenever they are at hand: a vocabulary file
(``vocabulary_cache``, see :func:`~skclip.semantic.build_vocabulary_cache`) or the
disk cache of an earlier exhaustive run.
"""

import numpy as np

from ._filters import best_excess, topk_per_center
from ._templates import RANKING_TEMPLATE, times_templates
from ._text_cache import embed_texts, lookup_texts, store_texts
from ._vocab_file import read_vocabulary_file
_POOL_MIN = 1024
_POOL_FACTOR = 32
# With more than 5 centres the candidates share the budget of 5 centres (an over-complete
# cover has many nearby centres whose candidates mostly coincide), down to 32x the nouns
# kept per centre: 3,000 images (100 centres) stay two-stage instead of exhaustive.
_POOL_TOTAL = 5 * _POOL_MIN
_MAX_POOL_FRACTION = 0.5  # above this share of the vocabulary, encode everything
_MARGIN = 5e-3  # first cosine margin of rescore_near_selection (bfloat16 errors: ~1e-3)
_SAFETY = 4.0  # margin / largest score error seen: 2 (the proof) x 2 (rows not seen)


def kept_per_center(builder):
    """How many nouns the builder's rule keeps per centre, or None (rule needs all)."""
    if builder.selection == "center_topk":
        return int(builder.topk_nouns)
    if builder.selection in ("sic", "mca") and builder.gamma_u is None:
        return int(builder.gamma_r)
    # selection=None keeps everything; the uniqueness filter averages the whole
    # vocabulary; TAC's softmax confidences are too close for a one-prompt ranking
    return None


def candidates_per_center(builder, n_centers, n_nouns, n_templates):
    """Candidates encoded per centre, or None when the exhaustive encoding is due."""
    k = kept_per_center(builder)
    if builder.exact_vocabulary or n_templates < 2 or k is None or n_centers == 0:
        return None
    pool = builder.candidate_pool
    if pool == "auto":
        per = max(_POOL_FACTOR * k, min(_POOL_MIN, -(-_POOL_TOTAL // n_centers)))
    else:
        per = max(int(pool), k)
    if n_centers * per >= _MAX_POOL_FRACTION * n_nouns:
        return None
    return per


def ranking_encoder(enc):
    """The encoder of the reduced-precision stages: ``enc``, or its bfloat16 twin.

    Only a :class:`~skclip.CLIPEmbedder` left at ``precision="auto"`` (float32 on a
    CPU) that computes on a CPU with native bfloat16 is switched. The twin rounds the
    same weights (random weights included: the draw in memory is rounded, see
    :func:`~skclip.embed.load_clip`) and has its own text-cache entries.
    """
    from sklearn.base import clone

    from .._config import resolve_device
    from ..embed import CLIPEmbedder, _model

    if (not isinstance(enc, CLIPEmbedder) or enc.precision != "auto"
            or resolve_device(enc.device).type != "cpu" or not _model.native_bf16_cpu()):
        return enc
    enc._ensure_fitted()  # the float32 model in memory first: a random draw is shared
    twin = clone(enc).set_params(precision="bf16")
    twin.embedding_dim_ = enc.embedding_dim_
    return twin


def exact_one_prompt(builder, enc):
    """``f(names, idx)``: the one-prompt (:data:`RANKING_TEMPLATE`) rows of
    ``names[idx]`` encoded by ``enc``, with ``builder``'s cache settings."""
    def encode(names, idx):
        return embed_texts(enc, [names[i] for i in idx], (RANKING_TEMPLATE,),
                           cache=builder.cache, cache_dir=builder.cache_dir,
                           verbose=builder.verbose,
                           desc=f"re-scoring {len(idx):,} naming nouns near a shortlist boundary")

    return encode


def candidate_nouns(centers, ranking, per_center, *, device="cpu"):
    """Indices (ascending) of the candidates: each centre's ``per_center`` nearest nouns."""
    top, _ = topk_per_center(centers, ranking, per_center, device=device)
    return np.unique(top)


def _band(C, E, kth, block=1 << 14):
    """``min_a |cos(c_a, u_j) - kth[a]|`` for every row: distance to the nearest boundary."""
    out = np.empty(len(E))
    for s in range(0, len(E), block):
        out[s:s + block] = np.abs(E[s:s + block] @ C.T - kth).min(axis=1)
    return out


def rescore_near_selection(centers, approx, encode_exact, k, *, margin=_MARGIN, keep_exact=True,
                      device="cpu"):
    """Exact rows of ``approx`` wherever they can change a centre's top ``k``.

    ``approx`` holds approximate unit rows (e.g. bfloat16 encodings); ``encode_exact``
    maps row indices to their exact unit rows. Let ``t~`` be a centre's approximate
    k-th best score and suppose every score error ``|cos(c, exact) - cos(c, approx)|``
    is at most ``delta``. The exact k-th best ``t`` is then within ``delta`` of ``t~``;
    a row whose approximate score is more than ``2 * delta`` above ``t~`` is in the
    exact top ``k``, one more than ``2 * delta`` below is not. So with the rows within
    ``margin = 2 * delta`` of ``t~`` replaced by their exact rows, the top ``k`` of
    every centre is the exact one (ties aside). With ``keep_exact`` (the default) the
    rows above the band are replaced too, so the selected rows themselves are exact.

    ``delta`` is estimated, not proven: the margin is widened (and more rows encoded)
    until it is at least four times the largest score error seen on the exact rows.

    Returns
    -------
    embeddings : ndarray of shape (m, d), float32
        ``approx`` with the exact rows put in: selecting the top ``k`` of every centre
        from it gives the selection of the exact embeddings.
    exact_rows : ndarray of int
        The rows encoded exactly (ascending).
    margin : float
        The final margin.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip.semantic._candidates import rescore_near_selection
    >>> rng = np.random.default_rng(0)
    >>> exact = rng.standard_normal((500, 16)).astype(np.float32)
    >>> exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    >>> approx = exact + 1e-3 * rng.standard_normal(exact.shape).astype(np.float32)
    >>> E, rows, margin = rescore_near_selection(exact[:2], approx, lambda i: exact[i], k=5)
    >>> len(rows) < 100, bool(np.array_equal(E[rows], exact[rows]))
    (True, True)
    """
    C = np.ascontiguousarray(centers, dtype=np.float32)
    E = np.array(approx, dtype=np.float32, copy=True)
    if len(C) == 0 or len(E) == 0:
        return E, np.zeros(0, dtype=np.int64), float(margin)
    k = min(int(k), len(E))
    top, _ = topk_per_center(C, E, k, device=device)
    kth = np.einsum("ad,ad->a", C, E[top[:, -1]])
    if keep_exact:
        distance = -best_excess(C, E, kth, device=device)  # above the boundary: negative
    else:
        distance = _band(C, E, kth)
    done = np.zeros(len(E), dtype=bool)
    while True:
        new = np.flatnonzero((distance <= margin) & ~done)
        if len(new):
            E[new] = encode_exact(new)
            done[new] = True
        rows = np.flatnonzero(done)
        error = float(np.abs(C @ (E[rows] - approx[rows]).T).max()) if len(rows) else 0.0
        if margin >= _SAFETY * error or done.all():
            return E, rows, float(margin)
        margin = _SAFETY * error


def _casefold_order(names):
    """An order that puts names differing only by case side by side (so the text
    encoder, which encodes identically tokenized texts once, sees them together)."""
    return sorted(range(len(names)), key=lambda i: (names[i].casefold(), i))


def embed_vocabulary(builder, encoder, rows, templates, check_dim, centers, device="cpu"):
    """Embed ``rows`` (a :class:`TextSet`): exhaustively, or the candidates near ``centers``.

    Returns a :class:`TextSet` with embeddings: all rows, or the rows whose noun is a
    candidate (its ``vocabulary_size`` stays the size of the whole vocabulary).
    """
    enc = encoder()
    opts = dict(cache=builder.cache, cache_dir=builder.cache_dir, verbose=builder.verbose)
    names = rows.names
    E = None
    if builder.vocabulary_cache is not None:
        E = read_vocabulary_file(builder.vocabulary_cache, enc, names, templates, **opts)
    elif builder.cache:
        E = lookup_texts(enc, names, templates, cache_dir=builder.cache_dir)
    if E is not None:
        if check_dim is not None:
            check_dim(E.shape[1])
        rows.embeddings = E
        return rows
    unique = list(dict.fromkeys(names))
    n_centers = 0 if centers is None else len(centers)
    per_center = candidates_per_center(builder, n_centers, len(unique), len(templates))
    if per_center is None:
        rows.embeddings = embed_texts(
            enc, names, templates, check_dim=check_dim,
            desc=f"encoding {len(unique):,} nouns{times_templates(templates)}", **opts)
        return rows
    fast = ranking_encoder(enc)
    order = _casefold_order(unique)
    ranked = [unique[i] for i in order]
    R = embed_texts(
        fast, ranked, (RANKING_TEMPLATE,), check_dim=check_dim,
        desc=f"ranking {len(unique):,} nouns (1 prompt each)", **opts)
    ranking = np.empty_like(R)
    ranking[order] = R
    if builder.cache:  # also under the vocabulary's own order: the report names the clusters with
        # these one-prompt rows (an exhaustive one-template space over the same nouns)
        store_texts(fast, unique, (RANKING_TEMPLATE,), ranking, cache_dir=builder.cache_dir)
    encoding = {"ranking": "fp32" if fast is enc else getattr(fast, "precision", "reduced"),
                "rescored_ranking": 0, "rescored_candidates": 0, "estimated_margin": None}
    if fast is not enc:
        def rescore(idx):
            return embed_texts(
                enc, [unique[i] for i in idx], (RANKING_TEMPLATE,),
                desc=f"re-scoring {len(idx):,} nouns near a pool boundary", **opts)

        ranking, rows_exact, margin = rescore_near_selection(
            centers, ranking, rescore, per_center, keep_exact=False, device=device)
        encoding["rescored_ranking"] = len(rows_exact)
        encoding["estimated_margin"] = margin
    keep = candidate_nouns(centers, ranking, per_center, device=device)
    chosen = {unique[i] for i in keep}
    subset = rows.subset([i for i, name in enumerate(names) if name in chosen])
    precision = "" if fast is enc else f" ({getattr(fast, 'precision', 'reduced')})"
    subset.embeddings = embed_texts(
        fast, subset.names, templates,
        desc=f"encoding {len(keep):,} candidate nouns{times_templates(templates)}{precision}",
        **opts)
    if fast is not enc:
        def encode_exact(idx):
            return embed_texts(
                enc, [subset.names[i] for i in idx], templates,
                desc=f"re-encoding {len(idx):,} nouns near the selection"
                     f"{times_templates(templates)}", **opts)

        subset.embeddings, rows_exact, margin = rescore_near_selection(
            centers, subset.embeddings, encode_exact, kept_per_center(builder), device=device)
        encoding["rescored_candidates"] = len(rows_exact)
        encoding["estimated_margin"] = max(encoding["estimated_margin"], margin)
    subset.encoding = encoding
    return subset
