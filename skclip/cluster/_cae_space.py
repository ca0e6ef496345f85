"""CAE's text side: its default semantic space, selection centres and text-set sizes."""

_DEFAULT_OT_BATCH = 8192  # TAC's retrieval batch
# topk="auto": certified top-64 rows above this many texts per set, dense rows below
# (where the dense product costs no more than the top-k search).
_TOPK_AUTO, _TOPK_AUTO_MIN_TEXTS = 64, 2048
# selection centres for an integer n_clusters: one per 30 images (a centre is the mean
# of enough images to be stable, and 200 images get 6 centres: the noun candidates of
# a cold start stay few), at most 100 (TAC's round(N/300) takes over from N = 30,000),
# never fewer than n_clusters
_IMAGES_PER_CENTRE, _MAX_CENTRES = 30, 100


def min_centers_for(n_clusters, n_samples):
    """An over-complete set of selection centres: ``min(100, n_samples // 30)``.

    Never fewer than ``n_clusters``; the builder's ``n_centers="auto"`` then takes
    ``max(round(n_samples / 300), this)``.
    """
    return max(n_clusters, min(_MAX_CENTRES, n_samples // _IMAGES_PER_CENTRE))


def default_semantic_space(est):
    """CAE's default builder: WordNet nouns, the tac7 ensemble, the shipped COCO captions
    (none when ``est.use_captions`` is False), ``center_topk`` 5 nouns and 5 captions."""
    from ..semantic import SemanticSpaceBuilder
    from ..semantic._templates import METHOD_TEMPLATES

    return SemanticSpaceBuilder(
        vocabulary="wordnet",
        templates=METHOD_TEMPLATES["cae"],
        selection="center_topk",
        n_centers="auto",
        topk_nouns=5,
        topk_captions=5,
        captions="coco" if est.use_captions else None,
        device=est.device,
        random_state=est.random_state,
        verbose=est.verbose,
    )


def ot_rows_per_block(ot_batch, n_texts):
    """Rows per OT block: ``ot_batch``, or at most 2**26 (rows x texts) entries."""
    if ot_batch is not None:
        return ot_batch
    # keep each (rows x texts) temporary <= 2**26 entries (256 MiB in float32)
    return int(min(_DEFAULT_OT_BATCH, max(256, 2**26 // max(n_texts, 1))))


def texts_per_row(topk, n_texts):
    """Texts kept per row, or None for dense rows (``topk="auto"``: see CAE's ``topk``)."""
    if topk != "auto":
        return topk
    return _TOPK_AUTO if n_texts > _TOPK_AUTO_MIN_TEXTS else None
