"""Evaluation of clusterings.

Supervised (against true classes): :func:`clustering_accuracy` (Hungarian matching,
the project's one implementation), :func:`clustering_report` (ACC / NMI / ARI).
Unsupervised, for model selection: :func:`make_unsupervised_scorer` and the ready
scorers ``silhouette_scorer``, ``calinski_harabasz_scorer``, ``davies_bouldin_scorer``
(negated), usable as ``GridSearchCV(scoring=...)``.
"""

from ._supervised import (
    ClusteringReport,
    clustering_accuracy,
    clustering_report,
    format_report,
    hungarian_matching,
)
from ._unsupervised import (
    UNSUPERVISED_SCORERS,
    UnsupervisedScorer,
    calinski_harabasz_scorer,
    davies_bouldin_scorer,
    get_unsupervised_scorer,
    make_unsupervised_scorer,
    silhouette_scorer,
)

__all__ = [
    "ClusteringReport",
    "UNSUPERVISED_SCORERS",
    "UnsupervisedScorer",
    "calinski_harabasz_scorer",
    "clustering_accuracy",
    "clustering_report",
    "davies_bouldin_scorer",
    "format_report",
    "get_unsupervised_scorer",
    "hungarian_matching",
    "make_unsupervised_scorer",
    "silhouette_scorer",
]
