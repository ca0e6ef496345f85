"""Why CAE's literal reading collapses: one change at a time, and what the plan does.

    python benchmarks/cae_literal.py [--scenarios real-style-gap,...] [--seeds 3]
        [--n-samples N] [--out-json FILE]

THIS IS PLANTED DATA (``_scenarios.py``), NOT A QUALITY CLAIM ABOUT REAL CLIP
FEATURES. The literal reading of CAE's summary is ``relax_columns=False,
fusion="paper", gamma=0.01`` (balanced transport, uncentred embeddings, captions
retrieved by the image alone, prototype-weighted concatenation). Each row below
changes one thing, from the literal reading towards the default, and reports ACC
(%) with what explains it, measured on the fitted estimator:

* ``w_image``, ``w_nouns``, ``w_captions``: mean fusion weight of each view;
* ``nouns_true``: plan mass that rows send to anchors of the image's own class
  (mean over images; the rest goes to other classes, hypernyms, generic nouns,
  distractors), and ``nouns_classes``: to anchors of any class;
* ``captions_true``: plan mass on captions of images of the image's own class
  (``captions_style``: on captions that describe a style alone);
* ``view_acc``: zero-shot ACC of each view (nearest class-anchor mean, the images'
  own centring), i.e. how much class the view carries.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scenarios as sc  # noqa: E402
from _common import machine_info, write_json  # noqa: E402

LITERAL = {"fusion": "paper", "relax_columns": False, "gamma": 0.01}
# one change at a time from the literal reading, then the default
LADDER = {
    "literal": LITERAL,
    "literal, gamma=0.1": {**LITERAL, "gamma": 0.1},
    "literal, relaxed columns": {**LITERAL, "relax_columns": True},
    "literal, without captions": {**LITERAL, "use_captions": False},
    "literal + centring (weighted_concat)": {"fusion": "weighted_concat",
                                             "relax_columns": False, "gamma": 0.01,
                                             "caption_query": "image"},
    "+ weighted_sum": {"fusion": "weighted_sum", "relax_columns": False, "gamma": 0.01,
                       "caption_query": "image"},
    "+ gamma=0.1": {"fusion": "weighted_sum", "relax_columns": False, "gamma": 0.1,
                    "caption_query": "image"},
    "+ captions under the nouns": {"fusion": "weighted_sum", "relax_columns": False,
                                   "gamma": 0.1},
    "default": {},
}


def _text_classes(names, data):
    """Generator class of each selected text (-1: not a class anchor)."""
    lookup = dict(zip(data.text_names, data.text_labels))
    kinds = dict(zip(data.text_names, data.text_kind))
    return (np.array([lookup[n] if kinds[n] == "class" else -1 for n in names]),
            np.array([kinds[n] for n in names]))


def _plan_rows(est, Xc, T, g):
    from skclip.ot import plan_rows

    return np.asarray(plan_rows(1.0 - Xc @ T.T, g, est.ot_eps))


def measure(est, data):
    """The plan and view statistics listed in the module docstring."""
    from skclip.cluster._fusion import centred_unit

    out = {f"w_{m}": float(w) for m, w in zip(est.modalities_, est.fusion_weights_.mean(0))}
    y = data.y
    Xc = centred_unit(data.X, est.image_mean_)
    U, V = est._texts(Xc.dtype)
    cls = data.text_kind == "class"
    prompts = np.stack([data.text_embeddings[cls & (data.text_labels == c)].mean(0)
                        for c in range(y.max() + 1)])
    P_proto = centred_unit(prompts, est.noun_mean_ if len(U) else np.zeros(Xc.shape[1]))
    if len(U):
        lab, _ = _text_classes(est.nouns_, data)
        P = _plan_rows(est, Xc, U, est.g_u_)
        out["nouns_true"] = float((P * (lab[None] == y[:, None])).sum(1).mean())
        out["nouns_classes"] = float((P * (lab[None] >= 0)).sum(1).mean())
        out["n_nouns"] = len(U)
    if len(V):
        # the builder names array captions "caption<row>"
        clab = data.caption_labels[[int(n[len("caption"):]) for n in est.captions_]]
        Q = est._caption_queries(Xc, U, "cpu")
        P = _plan_rows(est, Q, V, est.g_v_)
        out["captions_true"] = float((P * (clab[None] == y[:, None])).sum(1).mean())
        out["captions_style"] = float((P * (clab[None] < 0)).sum(1).mean())
    from skclip.metrics import clustering_accuracy
    from skclip.cluster._fusion import counterparts
    import torch

    with torch.no_grad():
        Z = [torch.as_tensor(Xc)] + counterparts(
            torch.as_tensor(Xc), [torch.as_tensor(T) for T in (U, V) if len(T)],
            [torch.as_tensor(g) for T, g in ((U, est.g_u_), (V, est.g_v_)) if len(T)],
            est.ot_eps, est.weight_by_similarity, est._hierarchical())
    for m, z in zip(est.modalities_, Z):
        pred = (z.numpy() @ P_proto.T).argmax(1)
        out[f"view_acc_{m}"] = 100 * float(clustering_accuracy(y, pred))
    return out


def run(scenarios, seeds, n_samples):
    results = {}
    for name in scenarios:
        results[name] = {row: [] for row in LADDER}
        for seed in seeds:
            data = sc.scenario_data(name, seed, n_samples)
            for row, params in LADDER.items():
                t0 = time.perf_counter()
                est = sc.make_method("cae", int(data.y.max()) + 1, seed, data,
                                     params={"cae": params})
                labels = est.fit_predict(data.X)
                from skclip.metrics import clustering_accuracy

                rec = {"seed": seed, "ACC": 100 * float(clustering_accuracy(data.y, labels)),
                       **measure(est, data), "fit_s": time.perf_counter() - t0}
                results[name][row].append(rec)
                print(f"{name} seed {seed} {row:40s} "
                      + " ".join(f"{k}={v:.2f}" for k, v in rec.items()
                                 if isinstance(v, float) and k != "fit_s"), flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="real-style-gap,real-longtail-gap")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-samples", type=int, default=None)
    p.add_argument("--out-json", default=None)
    args = p.parse_args(argv)
    scen = [s for s in args.scenarios.split(",") if s]
    t0 = time.perf_counter()
    results = run(scen, list(range(args.seeds)), args.n_samples)
    means = {n: {row: {k: float(np.mean([r[k] for r in runs if k in r]))
                       for k in runs[0] if k != "seed"} for row, runs in per.items()}
             for n, per in results.items()}
    print(json.dumps(means, indent=1))
    write_json(args.out_json, {"benchmark": "cae-literal-reading", "ladder": LADDER,
                               "seeds": list(range(args.seeds)), "means": means,
                               "runs": results, "elapsed_s": time.perf_counter() - t0,
                               "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
