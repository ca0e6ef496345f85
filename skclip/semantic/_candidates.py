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
everything instead. The ranking only chooses candidates, so on a CPU with native bfloat16 arithmetic
(AVX512-BF16 or AMX) a :class:`~skclip.CLIPEmbedder` ranks in bfloat16: about 2.4x
faster than float32 on a 2-core AMD EPYC, with ranking embeddings within a cosine of
1e-4 of the float32 ones. The candidates' ensembles are then encoded in bfloat16 too,
and only the candidates that can enter the selection are encoded again in the
embedder's own precision (:func:`certify_selection`): a candidate whose bfloat16 score
is more than a margin below the k-th best of every centre cannot be kept, the margin
being four times the largest bfloat16 score error seen on the re-encoded candidates
(widened and repeated while it is not). The kept nouns and their embeddings are those
of the full-precision ensemble. TAC's rule ranks nouns by tiny differences of a softmax over
centres, which one prompt does not predict well enough, and the uniqueness filter
averages the whole vocabulary: both are always encoded exhaustively.

The exhaustive embeddings are used whenever they are at hand: a vocabulary file
(``vocabulary_cache``, see :func:`~skclip.semantic.build_vocabulary_cache`) or the
disk cache of an earlier exhaustive run.
"""

import numpy as np

from ._filters import best_excess, topk_per_center
from ._templates import RANKING_TEMPLATE
from ._text_cache import embed_texts, lookup_texts
from ._vocab_file import read_vocabulary_file
_POOL_MIN = 1024
_POOL_FACTOR = 32
# With more than 5 centres the candidates share the budget of 5 centres (an over-complete
# cover has many nearby centres whose candidates mostly coincide), down to 32x the nouns
# kept per centre: 3,000 images (100 centres) stay two-stage instead of exhaustive.
_POOL_TOTAL = 5 * _POOL_MIN
_MAX_POOL_FRACTION = 0.5  # above this share of the vocabulary, encode everything
_MARGIN = 5e-3  # first cosine margin of certify_selection (bfloat16 errors: ~1e-3)
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


def _cpu_has_native_bf16():
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def ranking_encoder(enc):
    """The encoder of the ranking stage: ``enc``, or its bfloat16 twin on a bf16 CPU.

    Only a :class:`~skclip.CLIPEmbedder` with weights from a tag or a file (random
    weights would be drawn anew for the twin), left at ``precision="auto"`` (float32
    on a CPU), that computes on a CPU with native bfloat16 is switched; the twin has
    its own cache entries (precision is part of the text-cache key).
    """
    from sklearn.base import clone

    from .._config import resolve_device
    from ..embed import CLIPEmbedder

    if (not isinstance(enc, CLIPEmbedder) or enc.pretrained is None or enc.precision != "auto"
            or resolve_device(enc.device).type != "cpu" or not _cpu_has_native_bf16()):
        return enc
    twin = clone(enc).set_params(precision="bf16")
    if hasattr(enc, "embedding_dim_"):
        twin.embedding_dim_ = enc.embedding_dim_
    return twin


def candidate_nouns(centers, ranking, per_center, *, device="cpu"):
    """Indices (ascending) of the candidates: each centre's ``per_center`` nearest nouns."""
    top, _ = topk_per_center(centers, ranking, per_center, device=device)
    return np.unique(top)


def certify_selection(centers, approx, encode_exact, k, *, margin=_MARGIN, device="cpu"):
    """Exact embeddings for the rows of ``approx`` that can be among a centre's top ``k``.

    ``approx`` holds approximate unit rows (e.g. bfloat16 encodings); ``encode_exact``
    maps row indices to their exact unit rows. If every score error
    ``|cos(c, exact) - cos(c, approx)|`` is at most ``delta``, a row whose approximate
    score is more than ``2 * delta`` below the approximate k-th best of every centre
    is below the exact k-th best too, so it cannot be selected. The rows within
    ``margin`` of some centre's k-th best are encoded exactly; ``delta`` is estimated
    as twice the largest error seen on them, and the margin is widened (and more rows
    encoded) until ``margin >= 4 * largest error``.

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
    >>> from skclip.semantic._candidates import certify_selection
    >>> rng = np.random.default_rng(0)
    >>> exact = rng.standard_normal((500, 16)).astype(np.float32)
    >>> exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    >>> approx = exact + 1e-3 * rng.standard_normal(exact.shape).astype(np.float32)
    >>> E, rows, margin = certify_selection(exact[:2], approx, lambda i: exact[i], k=5)
    >>> len(rows) < 100, bool(np.array_equal(E[rows], exact[rows]))
    (True, True)
    """
    C = np.ascontiguousarray(centers, dtype=np.float32)
    E = np.array(approx, dtype=np.float32, copy=True)
    if len(C) == 0 or len(E) == 0:
        return E, np.zeros(0, dtype=np.int64), float(margin)
    top, _ = topk_per_center(C, E, k, device=device)
    kth = np.einsum("ad,ad->a", C, E[top[:, -1]])
    excess = best_excess(C, E, kth, device=device)
    done = np.zeros(len(E), dtype=bool)
    while True:
        new = np.flatnonzero((excess >= -margin) & ~done)
        if len(new):
            E[new] = encode_exact(new)
            done[new] = True
        rows = np.flatnonzero(done)
        error = float(np.abs(C @ (E[rows] - approx[rows]).T).max()) if len(rows) else 0.0
        if margin >= _SAFETY * error or done.all():
            return E, rows, float(margin)
        margin = _SAFETY * error


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
            desc=f"encoding {len(unique):,} nouns x {len(templates)} templates", **opts)
        return rows
    fast = ranking_encoder(enc)
    ranking = embed_texts(
        fast, unique, (RANKING_TEMPLATE,), check_dim=check_dim,
        desc=f"ranking {len(unique):,} nouns (1 prompt each)", **opts)
    keep = candidate_nouns(centers, ranking, per_center, device=device)
    chosen = {unique[i] for i in keep}
    subset = rows.subset([i for i, name in enumerate(names) if name in chosen])
    precision = "" if fast is enc else " (bfloat16)"
    subset.embeddings = embed_texts(
        fast, subset.names, templates,
        desc=f"encoding {len(keep):,} candidate nouns x {len(templates)} templates{precision}",
        **opts)
    if fast is not enc:
        def encode_exact(idx):
            return embed_texts(
                enc, [subset.names[i] for i in idx], templates,
                desc=f"re-encoding {len(idx):,} nouns near the selection x {len(templates)} "
                     "templates", **opts)

        subset.embeddings, _, _ = certify_selection(
            centers, subset.embeddings, encode_exact, kept_per_center(builder), device=device)
    return subset
