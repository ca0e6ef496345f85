"""The published numbers ``skclip benchmark`` prints beside its own, and the protocol it follows.

The numbers are the papers', not measured by skclip: ACC / NMI / ARI in %, CLIP ViT-B/32
(OpenAI weights), as printed in TAC's Table 1 (Li et al., "Image Clustering with External
Guidance", ICML 2024), which also reports the CLIP k-means, CLIP zero-shot and SIC rows.
They were transcribed by hand: check a cell against the paper before citing it.
"""

__all__ = ["PUBLISHED", "PUBLISHED_BACKBONE", "PUBLISHED_SOURCE", "ROWS", "SPLIT_NOTES"]

PUBLISHED_BACKBONE = ("ViT-B-32", "openai")
PUBLISHED_SOURCE = ("TAC: Li et al., Image Clustering with External Guidance, ICML 2024, "
                    "Table 1 (CLIP ViT-B/32; the CLIP k-means, CLIP zero-shot and SIC rows "
                    "as reported there); transcribed by hand, check a cell against the paper "
                    "before citing it")

# the rows of results.md: (key, label, skclip method or None for a published-only row)
ROWS = (
    ("kmeans", "CLIP k-means", "kmeans"),
    ("zeroshot", "CLIP zero-shot (uses the class names)", None),
    ("sic", "SIC (trained)", None),
    ("tac", "TAC (no train)", "tac"),
    ("tac_train", "TAC (trained)", None),
    ("cae", "CAE", "cae"),
    ("mca", "MCA", "mca"),
)

#: dataset -> row key -> (ACC, NMI, ARI) in %, the papers' numbers for PUBLISHED_BACKBONE
PUBLISHED = {
    "stl10": {"kmeans": (94.3, 91.7, 89.1), "zeroshot": (97.1, 93.9, 93.7),
              "sic": (98.1, 95.3, 95.9), "tac": (94.5, 92.3, 89.5),
              "tac_train": (98.2, 95.5, 96.1)},
    "cifar10": {"kmeans": (74.2, 70.3, 61.6), "zeroshot": (90.0, 80.7, 79.3),
                "sic": (92.6, 84.7, 84.4), "tac": (90.1, 80.8, 79.8),
                "tac_train": (92.3, 84.1, 83.9)},
    "cifar20": {"kmeans": (45.5, 49.9, 28.3), "zeroshot": (58.3, 55.3, 39.8),
                "sic": (58.3, 59.3, 43.9), "tac": (55.8, 60.7, 42.7),
                "tac_train": (60.7, 60.7, 44.8)},
    "imagenet10": {"kmeans": (98.2, 96.9, 96.1), "zeroshot": (97.6, 95.8, 94.9),
                   "sic": (98.2, 97.0, 96.1), "tac": (98.6, 97.5, 97.0),
                   "tac_train": (99.2, 98.5, 98.3)},
    "imagenet-dogs": {"kmeans": (38.1, 39.8, 20.1), "zeroshot": (72.8, 73.5, 58.2),
                      "sic": (69.7, 69.0, 55.8), "tac": (75.1, 75.1, 63.6),
                      "tac_train": (83.0, 80.6, 72.2)},
}

#: dataset -> which split is clustered, and why (the protocol stated in results.md)
SPLIT_NOTES = {
    "cifar10": "the test split (10,000 images), as in TAC's Table 1",
    "cifar20": "the test split (10,000 images) with CIFAR-100's 20 superclasses as labels, "
               "as in TAC's Table 1",
    "stl10": "the test split (8,000 images), as in TAC's Table 1",
    "imagenet10": "the train images of the 10 classes (13,000 images), as in TAC's Table 1",
    "imagenet-dogs": "the train images of the 15 dog classes (19,500 images), as in TAC's "
                     "Table 1",
    "tiny-imagenet": "the train split (100,000 images); Tiny-ImageNet is not in TAC's "
                     "Table 1, so no published numbers are shown",
    "imagenet": "the val split (50,000 images), the split TAC evaluates ImageNet-1K on; no "
                "ViT-B/32 numbers for it are shipped",
    "folder": "every image of the class-folder tree given with --data",
}
