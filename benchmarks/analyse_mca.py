"""MCAClustering stage by stage on planted data: where the gap to zero-shot comes from.

    python benchmarks/analyse_mca.py [--scenarios a,b] [--seeds 3 | --seed-list 0,4]
        [--variants default,no-ins,no-pro,no-sem] [--params JSON] [--blobs JSON]
        [--threads 1] [--out-json FILE] [--out-md FILE] [--list]

THIS IS PLANTED DATA, NOT A QUALITY CLAIM ABOUT REAL CLIP FEATURES. For every
scenario of ``_scenarios.py`` and seed it measures, with the planted labels (which
the estimator never sees):

1. **the semantic space**: how many of each class's own nouns MCA's default
   selection (``selection="mca"``: the ``gamma_r`` nouns nearest each of K image
   centres, the uniqueness filter, the depth filter) keeps among the distractors,
   per class, smallest classes included, and how many texts it keeps in all;
2. **the references**: k-means on the images, and zero-shot with the true class
   nouns (each image to the class whose own nouns' mean is nearest, after centring
   each modality: an upper reference, not a method);
3. **the training**, per MCA variant (``--variants``; the default and the ablations
   of the three alignment levels unless told): per epoch, the accuracy of the
   pseudo-labels and of the image head (the head that produced that epoch's
   centres), and the purity of the semantic centres (the share of a cluster's
   ``xi_a`` centre texts that name its majority class); the final ACC.

Per-epoch values are read by wrapping ``semantic_pseudo_labels`` and
``semantic_centres`` of the library's private loss module (no change to the
library). Runs with one torch thread by default: on a shared machine two threads
spin against the other processes' load.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios as sc  # noqa: E402
from _common import machine_info, markdown_table, set_threads, write_json  # noqa: E402

BANNER = ("Planted data (make_clip_blobs): a check against known structure, NOT a "
          "measure of quality on real CLIP features.")

# MCAClustering overrides of each variant (the three alignment levels, the others)
VARIANTS = {
    "default": {},
    "no-ins": {"w_ins": 0.0},
    "no-pro": {"w_pro": 0.0},
    "no-sem": {"w_sem": 0.0},
    "sem-only": {"w_ins": 0.0, "w_pro": 0.0},
    "pseudo-image": {"pseudo_labels": "image"},
}
DEFAULT_VARIANTS = ("default", "no-ins", "no-pro", "no-sem")


def mca_space(data, seed, **overrides):
    """MCA's default semantic space over the generator's nouns (``selection="mca"``)."""
    k = int(data.y.max()) + 1
    params = dict(selection="mca", n_centers=k, gamma_u=0.05, gamma_r=500,
                  hier_min_depth=6, captions=None)
    params.update(overrides)
    return sc.semantic_space(data, seed, **params)


def _centred(A, mean):
    B = A - mean
    return B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)


def zero_shot_oracle(data):
    """ACC (%) of zero-shot with the true class nouns, after centring each modality."""
    from skclip.metrics import clustering_accuracy

    k = int(data.y.max()) + 1
    T = data.text_embeddings.astype(np.float64)
    own = (data.text_kind == "class") & (data.text_labels >= 0)
    Xc = _centred(data.X.astype(np.float64), data.X.mean(axis=0))
    Tc = _centred(T, T.mean(axis=0))
    protos = np.stack([Tc[own & (data.text_labels == c)].mean(axis=0) for c in range(k)])
    return 100.0 * clustering_accuracy(data.y, (Xc @ protos.T).argmax(axis=1))


def _oracle(data):
    """The suite's zero-shot reference when it has one, else :func:`zero_shot_oracle`."""
    if hasattr(sc, "oracle_labels"):
        from skclip.metrics import clustering_accuracy

        return 100.0 * clustering_accuracy(data.y, sc.oracle_labels(data))
    return zero_shot_oracle(data)


def space_recall(space, data):
    """What the selection kept: per class, the share of its own nouns, and totals."""
    row = {name: i for i, name in enumerate(data.text_names)}
    kept = np.array([row[n] for n in space.nouns_], dtype=np.int64)
    k = int(data.y.max()) + 1
    sizes = np.bincount(data.y, minlength=k)
    own = data.text_kind == "class"
    per_class = []
    for c in range(k):
        mine = np.flatnonzero(own & (data.text_labels == c))
        per_class.append({"class": c, "images": int(sizes[c]), "nouns": len(mine),
                          "kept": int(np.isin(mine, kept).sum())})
    kinds = {str(kind): int((data.text_kind[kept] == kind).sum())
             for kind in np.unique(data.text_kind)}
    small = np.argsort(sizes)[: max(1, k // 4)]  # the smallest quarter of the classes
    return {
        "n_vocabulary": len(data.text_names), "n_kept": len(kept), "kept_by_kind": kinds,
        "classes_with_a_noun": int(sum(p["kept"] > 0 for p in per_class)),
        "own_nouns_kept": float(np.mean([p["kept"] / max(p["nouns"], 1) for p in per_class])),
        "own_nouns_kept_small": float(np.mean([per_class[c]["kept"] / max(per_class[c]["nouns"], 1)
                                               for c in small])),
        "relevant_share": float(np.isin(data.text_kind[kept], ["class"]).mean()),
        "per_class": per_class,
    }


class _Trace:
    """Per-epoch pseudo-label and head accuracy of one fit, and the semantic centres'
    texts (their purity is computed once the fitted space names the texts)."""

    def __init__(self, y):
        self.y = y
        self.epochs, self._nearest, self._heads = [], [], []

    def centres(self, original):
        def wrapped(proba, X, texts, **kwargs):
            h, nearest = original(proba, X, texts, **kwargs)
            self._last = nearest.cpu().numpy()
            return h, nearest

        return wrapped

    def full_pass(self, original):
        """Keep the image-head probabilities of the epoch's full pass (computed here
        when the pass skips the head: the text clusters do not read it)."""
        def wrapped(nets, X, *args, **kwargs):
            out = original(nets, X, *args, **kwargs)
            if out[0] is not None:
                self._proba = out[0]
            elif kwargs.get("heads") is False:
                import torch

                nets.eval()
                with torch.no_grad():
                    self._proba = torch.softmax(nets.image_head(X)[1], dim=1)
                nets.train()
            return out

        return wrapped

    def _record(self, labels, proba):
        from skclip.metrics import clustering_accuracy

        head = proba.argmax(dim=1).cpu().numpy()
        self.epochs.append({
            "pseudo_acc": 100.0 * clustering_accuracy(self.y, labels.cpu().numpy()),
            "head_acc": 100.0 * clustering_accuracy(self.y, head),
        })
        self._nearest.append(getattr(self, "_last", None))
        self._heads.append(head)

    def pseudo(self, original):
        """SIC's centre-based pseudo-labels (``pseudo_labels="counterpart"/"image"``)."""
        def wrapped(proba, X, counterparts, texts, **kwargs):
            labels, h = original(proba, X, counterparts, texts, **kwargs)
            self._record(labels, proba)
            return labels, h

        return wrapped

    def text_step(self, original):
        """Pseudo-labels from the text clusters (``pseudo_labels="text-clusters"``)."""
        def wrapped(counterparts, centres):
            labels, new = original(counterparts, centres)
            self._last = None
            self._record(labels, self._proba)
            return labels, new

        return wrapped

    def finish(self, data, nouns):
        """Centre purity of every epoch: the mean over clusters of the share of the
        centre's texts that are own nouns of the cluster's majority class."""
        row = {name: i for i, name in enumerate(data.text_names)}
        rows = np.array([row[n] for n in nouns], dtype=np.int64)
        labels, kind = data.text_labels[rows], data.text_kind[rows]
        for epoch, nearest, head in zip(self.epochs, self._nearest, self._heads):
            if nearest is None:  # centres that are not built from the nearest texts
                continue
            shares = []
            for k, near in enumerate(nearest):
                members = self.y[head == k]
                if len(members):
                    major = np.bincount(members).argmax()
                    shares.append(((labels[near] == major) & (kind[near] == "class")).mean())
            epoch["centre_purity"] = 100.0 * float(np.mean(shares)) if shares else 0.0
        return self.epochs


def fit_traced(data, seed, params, space):
    """Fit MCA (``params`` over the defaults) on ``data``: final ACC and the per-epoch trace."""
    from skclip.cluster import MCAClustering, _mca_losses
    from skclip.cluster._mca_nets import MCANetworks
    from skclip.metrics import clustering_report

    k = int(data.y.max()) + 1
    est = MCAClustering(n_clusters=k, semantic_space=space, random_state=seed, device="cpu",
                        **params)
    trace = _Trace(data.y)
    patches = [(_mca_losses, "semantic_centres", trace.centres),
               (_mca_losses, "semantic_pseudo_labels", trace.pseudo),
               (_mca_losses, "text_cluster_step", trace.text_step),
               (MCANetworks, "full_pass", trace.full_pass)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches
             if hasattr(owner, name)]
    for owner, name, wrap in patches:
        if hasattr(owner, name):
            setattr(owner, name, wrap(getattr(owner, name)))
    try:
        t0 = time.perf_counter()
        est.fit(data.X)
        elapsed = time.perf_counter() - t0
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    report = clustering_report(data.y, est.labels_)
    return {"ACC": float(report["ACC"]), "NMI": float(report["NMI"]),
            "fit_s": elapsed, "epochs": est.n_iter_,
            "trace": trace.finish(data, est.semantic_space_.nouns_),
            "n_texts": len(est.semantic_space_.nouns_)}


def analyse(name, seed, variants, *, params=None, blobs=None):
    """All stages for one scenario and seed (see the module docstring)."""
    data = sc.scenario_data(name, seed, blobs=blobs)
    space = mca_space(data, seed, **(params or {}).get("semantic_space", {}))
    fitted = space.fit(data.X)
    out = {"scenario": name, "seed": seed,
           "kmeans": sc.score_method("kmeans", data, seed)["ACC"],
           "oracle": _oracle(data),
           "space": space_recall(fitted, data), "variants": {}}
    for v in variants:
        own = dict(VARIANTS.get(v, {}), **(params or {}).get(v, {}))
        out["variants"][v] = fit_traced(data, seed, own, mca_space(
            data, seed, **(params or {}).get("semantic_space", {})))
    return out


def _summary_rows(results, variants):
    rows = []
    for name in dict.fromkeys(r["scenario"] for r in results):
        runs = [r for r in results if r["scenario"] == name]
        row = {"scenario": name, "seeds": len(runs),
               "k-means": f"{np.mean([r['kmeans'] for r in runs]):.1f}",
               "oracle": f"{np.mean([r['oracle'] for r in runs]):.1f}",
               "texts kept": f"{np.mean([r['space']['n_kept'] for r in runs]):.0f}",
               "own nouns kept": f"{100 * np.mean([r['space']['own_nouns_kept'] for r in runs]):.0f}%"}
        for v in variants:
            row[v] = f"{np.mean([r['variants'][v]['ACC'] for r in runs]):.1f}"
        rows.append(row)
    return rows


def _trace_rows(results, variant="default"):
    rows = []
    for r in results:
        tr = r["variants"][variant]["trace"]
        if not tr:
            continue
        picks = sorted({0, 1, 2, len(tr) // 4, len(tr) // 2, len(tr) - 1})
        rows.append({"scenario": r["scenario"], "seed": r["seed"],
                     "pseudo ACC by epoch": " ".join(f"{tr[i]['pseudo_acc']:.0f}" for i in picks),
                     "head ACC by epoch": " ".join(f"{tr[i]['head_acc']:.0f}" for i in picks),
                     "centre purity": " ".join(f"{tr[i].get('centre_purity', float('nan')):.0f}" for i in picks),
                     "epochs": " ".join(str(i + 1) for i in picks),
                     "final": f"{r['variants'][variant]['ACC']:.1f}"})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="hard-gap,imbalance-gap,hubs-gap")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed-list", default=None)
    p.add_argument("--params", default="{}", help="JSON: {variant: {param: value}}, "
                   "'semantic_space': builder overrides; a new variant name defines one")
    p.add_argument("--blobs", default=None, help="JSON make_clip_blobs overrides")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-json", default=None)
    p.add_argument("--out-md", default=None)
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.variants = [v for v in args.variants.split(",") if v]
    args.params = json.loads(args.params)
    args.blobs = json.loads(args.blobs) if args.blobs else None
    args.seeds = ([int(s) for s in args.seed_list.split(",")] if args.seed_list
                  else list(range(args.seeds)))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for v, params in VARIANTS.items():
            print(f"{v:14s} {params}")
        return 0
    set_threads(args.threads)
    print(BANNER, flush=True)
    results = []
    for name in args.scenarios:
        for seed in args.seeds:
            t0 = time.perf_counter()
            r = analyse(name, seed, args.variants, params=args.params, blobs=args.blobs)
            results.append(r)
            s = r["space"]
            print(f"{name} seed {seed} ({time.perf_counter() - t0:.0f} s): k-means "
                  f"{r['kmeans']:.1f} oracle {r['oracle']:.1f}; space {s['n_kept']} texts "
                  f"{s['kept_by_kind']}, own nouns kept {100 * s['own_nouns_kept']:.0f}% "
                  f"(smallest classes {100 * s['own_nouns_kept_small']:.0f}%); "
                  + " ".join(f"{v} {o['ACC']:.1f}" for v, o in r["variants"].items()),
                  flush=True)
    summary = _summary_rows(results, args.variants)
    traces = _trace_rows(results, args.variants[0])
    print(markdown_table(summary, list(summary[0])))
    if traces:
        print(markdown_table(traces, list(traces[0])))
    payload = {"benchmark": "analyse-mca", "seeds": args.seeds, "variants":
               {v: VARIANTS.get(v, {}) for v in args.variants}, "params": args.params,
               "blobs": args.blobs, "results": results, "machine": machine_info()}
    write_json(args.out_json, payload)
    if args.out_md:
        Path(args.out_md).write_text(BANNER + "\n\n" + markdown_table(summary, list(summary[0]))
                                     + ("\n\n" + markdown_table(traces, list(traces[0]))
                                        if traces else "") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
