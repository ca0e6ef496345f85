"""CAE's text side: its default semantic space, selection centres and text-set sizes."""

from numbers import Integral

from ._neighbourhood import PER_IMAGE_SHARE

_DEFAULT_OT_BATCH = 8192  # TAC's retrieval batch
# weighting -> share of the image's own neighbourhood agreement in its fusion weights
_NEIGHBOURHOOD_SHARE = {"neighbourhood": PER_IMAGE_SHARE, "neighbourhood_per_view": 0.0,
                        "neighbourhood_per_image": 1.0}
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
    return est._wordnet_space(
        "cae",
        selection="center_topk",
        n_centers="auto",
        topk_nouns=5,
        topk_captions=5,
        captions="coco" if est.use_captions else None,
        device=est.device,
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


class CAETextSideMixin:
    """CAE's per-text-set steps (column potentials, caption queries, fused features).

    Reads the fitted text side (``noun_embeddings_``, ``g_u_``, ...) of
    :class:`~skclip.cluster.CAEClustering`; kept apart so that the estimator's module
    holds its parameters and its fit.
    """

    def _batch(self):
        m = max(len(self.noun_embeddings_), len(self.caption_embeddings_))
        return ot_rows_per_block(self.ot_batch, m)

    def _potential(self, X, T, name, device):
        import numpy as np

        from ._fusion import column_potential

        if len(T) == 0:
            return np.zeros(0, dtype=X.dtype)
        g, n_iter = column_potential(
            X, T, eps=self.ot_eps, max_iter=self.ot_iters, tol=self.ot_tol,
            relax_columns=self.relax_columns,
            column_penalty=self.column_penalty,
            block_size="auto" if self.ot_batch is None else self.ot_batch, device=device,
            verbose=self.verbose,
            topk=self.topk,  # "auto": sparse where the dense solver would stream
        )
        self.ot_n_iter_[name] = n_iter
        return g

    def _hierarchical(self):
        """Captions aligned under the nouns (both in use, not the literal reading)."""
        return (self.caption_query == "image+nouns" and self.fusion != "paper"
                and len(self.noun_embeddings_) > 0 and len(self.caption_embeddings_) > 0)

    def _caption_queries(self, X, U, device):
        from ._fusion import hierarchical_queries

        if not self._hierarchical():
            return X
        return hierarchical_queries(
            X, U, self.g_u_.astype(X.dtype, copy=False), eps=self.ot_eps,
            weight_by_similarity=self.weight_by_similarity, block_size=self._batch(),
            device=device, topk=self._topk(), tol=self.ot_tol,
            keys=self.noun_pooled_.astype(X.dtype, copy=False),
        )

    def _fit_pooled(self, U):
        """``noun_pooled_``: the centred nouns ``U`` pooled with their ``text_pool - 1``
        nearest nouns, the texts the images are compared with (captions are not pooled;
        nothing is pooled in the literal reading, ``fusion="paper"``)."""
        from ._text_pool import pool_texts

        self.noun_pooled_ = pool_texts(U, 1 if self.fusion == "paper" else self.text_pool)

    def _texts(self, dtype):
        """Noun and caption embeddings in the (centred) space of the OT and the fusion."""
        from ._fusion import centred_unit

        return (
            centred_unit(self.noun_embeddings_.astype(dtype), self.noun_mean_),
            centred_unit(self.caption_embeddings_.astype(dtype), self.caption_mean_),
        )

    def _topk(self):
        return texts_per_row(self.topk, max(len(self.noun_embeddings_),
                                            len(self.caption_embeddings_)))

    def _text_sets(self, dtype):
        """The text sets in use, their column potentials and the texts the images are
        compared with (pooled nouns; None: the captions themselves), as three lists."""
        texts, pots, keys = [], [], []
        pooled = (self.noun_pooled_.astype(dtype, copy=False), None)
        for T, g, K in zip(self._texts(dtype), (self.g_u_, self.g_v_), pooled):
            if len(T):
                texts.append(T)
                pots.append(g.astype(dtype, copy=False))
                keys.append(K)
        return texts, pots, keys

    def _neighbourhood_weighting(self):
        """Weights from the image's neighbourhood (not for the literal reading or concat)."""
        return (self.weighting in _NEIGHBOURHOOD_SHARE
                and self.fusion in ("weighted_sum", "weighted_concat"))

    def _fit_reference(self, X, device):
        """``fusion_reference_``: the views of the reference images (or None)."""
        import numpy as np

        from ._fusion import view_rows
        from ._neighbourhood import reference_rows

        texts, pots, keys = self._text_sets(X.dtype)
        if not self._neighbourhood_weighting() or not texts:
            return None
        k = self.n_clusters if isinstance(self.n_clusters, Integral) else None
        rows = X[reference_rows(len(X), k)]
        return np.stack(view_rows(
            rows, texts, pots, eps=self.ot_eps, weight_by_similarity=self.weight_by_similarity,
            block_size=self._batch(), device=device, hierarchical=self._hierarchical(),
            topk=self._topk(), tol=self.ot_tol, keys=keys,
        ))

    def _fused(self, X, device, stats=None):
        """Fused features of centred unit image rows ``X`` (certificates into ``stats``)."""
        from ._fusion import fused_features

        texts, pots, keys = self._text_sets(X.dtype)
        ref = self.fusion_reference_
        return fused_features(
            X, texts, pots, eps=self.ot_eps, weight_by_similarity=self.weight_by_similarity,
            gamma=self.gamma,
            fusion="weighted_concat" if self.fusion == "paper" else self.fusion,
            block_size=self._batch(), device=device, hierarchical=self._hierarchical(),
            verbose=self.verbose, topk=self._topk(), tol=self.ot_tol, stats=stats,
            reference=None if ref is None else list(ref.astype(X.dtype, copy=False)),
            keys=keys, share=_NEIGHBOURHOOD_SHARE.get(self.weighting, 1.0),
        )
