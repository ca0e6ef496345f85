"""Synthetic quality suite: CLIP-like features at several difficulty levels.

    python benchmarks/synthetic.py [--quick] [--methods kmeans,tac,cae,mca] [--seeds 3]
        [--out-dir DIR] [--out-json FILE] [--out-md FILE]

THIS IS A CHECK OF MECHANICS, NOT A QUALITY CLAIM. The data come from
``skclip.datasets.make_clip_blobs`` (d=512, K=10): unit vectors around class
centres with anisotropic noise, and a text vocabulary with anchors near the class
centres, generic hubs, polysemous anchors, distractors (absent concepts) and, at
the harder levels, anchors aligned with the wrong class. It shows that every method
runs end to end on 512-d features through the same harness as real data
(``quality.py``), that the numbers move the expected way with difficulty, and how
much the text side helps when texts are informative by construction. It says
nothing about real CLIP features: that is what ``quality.py --features`` on real
embeddings is for.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

# difficulty levels: make_clip_blobs parameters (n_samples is set by --n-samples)
LEVELS = {
    "easy": dict(spread=0.6, center_similarity=0.7, anisotropy=1.0, imbalance=1.0,
                 n_texts_per_cluster=5, n_distractor_texts=200, n_hub_texts=0,
                 n_polysemous_texts=0, misaligned_fraction=0.0),
    "medium": dict(spread=1.0, center_similarity=0.7, anisotropy=1.0, imbalance=3.0,
                   n_texts_per_cluster=5, n_distractor_texts=200, n_hub_texts=10,
                   n_polysemous_texts=5, misaligned_fraction=0.1),
    "hard": dict(spread=1.3, center_similarity=0.7, anisotropy=1.0, imbalance=10.0,
                 n_texts_per_cluster=5, n_distractor_texts=200, n_hub_texts=20,
                 n_polysemous_texts=10, misaligned_fraction=0.25),
}
BANNER = ("Synthetic features (make_clip_blobs, d=512, K=10): a check of mechanics, "
          "NOT a measure of quality on real images.")


def write_level(out_dir, name, n_samples, n_features=512, n_clusters=10, random_state=0):
    """Generate one level and save it as a features file; returns its path."""
    from skclip.datasets import make_clip_blobs, save_features

    params = LEVELS[name]
    data = make_clip_blobs(n_samples=n_samples, n_clusters=n_clusters,
                           n_features=n_features, random_state=random_state, **params)
    desc = ", ".join(f"{k}={v}" for k, v in params.items())
    return save_features(
        Path(out_dir) / f"synthetic-{name}.npz", data.X, y=data.y,
        class_names=data.class_names, split=name,
        model=f"synthetic make_clip_blobs(n_samples={n_samples}, {desc})",
        text_embeddings=data.text_embeddings, text_names=data.text_names,
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="600 samples, levels easy and hard, 1 seed (CI smoke run)")
    p.add_argument("--levels", default=None, help=f"comma-separated subset of {list(LEVELS)}")
    p.add_argument("--n-samples", type=int, default=None, help="default 3000 (quick: 600)")
    p.add_argument("--methods", default=",".join(quality.ALL_METHODS))
    p.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 1)")
    p.add_argument("--params", default="{}", help="JSON overrides passed to quality.py")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-dir", default=None,
                   help="where the features files go (default: a temporary folder)")
    p.add_argument("--out-json", default=None)
    p.add_argument("--out-md", default=None)
    p.add_argument("--quiet", action="store_true", help="no per-seed lines")
    args = p.parse_args(argv)
    if args.levels is None:
        args.levels = "easy,hard" if args.quick else ",".join(LEVELS)
    args.levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    unknown = sorted(set(args.levels) - set(LEVELS))
    if unknown:
        p.error(f"unknown levels {unknown}; choose from {list(LEVELS)}")
    args.n_samples = args.n_samples or (600 if args.quick else 3000)
    args.seeds = args.seeds or (1 if args.quick else 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    print(BANNER, flush=True)
    with tempfile.TemporaryDirectory(prefix="skclip-synthetic-") as tmp:
        out_dir = Path(args.out_dir) if args.out_dir else Path(tmp)
        files = [write_level(out_dir, name, args.n_samples) for name in args.levels]
        qargs = ["--features", *map(str, files), "--names", ",".join(args.levels),
                 "--methods", args.methods, "--seeds", str(args.seeds),
                 "--params", args.params, "--device", args.device]
        if args.quiet:
            qargs.append("--quiet")
        if args.threads:
            qargs += ["--threads", str(args.threads)]
        if args.out_json:
            qargs += ["--out-json", args.out_json]
        if args.out_md:
            qargs += ["--out-md", args.out_md]
        rc = quality.main(qargs)
    if args.out_md:
        md = Path(args.out_md)
        levels = "\n".join(f"- **{name}**: " + ", ".join(f"{k}={v}" for k, v in LEVELS[name].items())
                           for name in args.levels)
        md.write_text(f"**{BANNER}**\n\nn_samples={args.n_samples} per level; levels:\n\n"
                      f"{levels}\n\n" + md.read_text())
    print(BANNER)
    return rc


if __name__ == "__main__":
    sys.exit(main())
