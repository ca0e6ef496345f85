"""Class hierarchy, generic texts and styles of :func:`make_clip_blobs` (helpers)."""

import numpy as np


def check_structure(n_clusters, n_superclasses, n_superclass_texts, n_styles,
                    n_style_captions):
    """Clear errors for the hierarchy and style options of make_clip_blobs."""
    if n_superclasses > n_clusters:
        raise ValueError(f"n_superclasses={n_superclasses} must be <= "
                         f"n_clusters={n_clusters}.")
    if n_superclass_texts and not n_superclasses:
        raise ValueError("n_superclass_texts > 0 needs n_superclasses >= 1.")
    if n_style_captions and not n_styles:
        raise ValueError("n_style_captions > 0 needs n_styles >= 1.")


def superclass_means(centers, parents):
    """Mean centre of each superclass's children (unnormalised), (n_superclasses, d)."""
    return np.stack([centers[parents == s].mean(axis=0) for s in range(parents.max() + 1)])


def generic_means(rng, centers, n_texts):
    """Mean centre of a random half of the classes, one per generic text (unnormalised).

    Generic nouns ("object", "thing") are close to many images, and unlike hubs (near
    the mean of all texts, which centring removes) they stay so after each modality's
    mean is subtracted.
    """
    K = len(centers)
    return np.stack([centers[rng.choice(K, size=max(2, K // 2), replace=False)].mean(axis=0)
                     for _ in range(n_texts)])
