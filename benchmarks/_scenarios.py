"""Named synthetic scenarios and the methods scored on them (used by ``synthetic.py``).

Importable from tests and other benchmarks::

    sys.path.insert(0, "benchmarks")
    from _scenarios import SCENARIOS, run_scenario
    scores = run_scenario("medium-gap", seed=0, methods=["kmeans", "cae"])
    scores["cae"]["ACC"]  # in %

Every scenario is a call of :func:`skclip.datasets.make_clip_blobs` (64-d, K=10
unless its name says otherwise). Difficulty comes from the image noise (``spread``)
along a few shared nuisance directions (``anisotropy=2``): k-means on the images
alone splits classes the wrong way, and the texts can help. The ``-gap`` scenarios
put images and texts in two narrow cones with CLIP ViT-B/32's cosine levels
(``modality_gap=0.65``); the content is the same as without the gap, so k-means on
the images scores alike on both and any difference in the text methods comes from
the geometry. The text methods see the generator's texts through
``SemanticSpaceBuilder(vocabulary=<text embeddings>, captions=<caption embeddings>)``,
which selects the relevant ones without labels.

THIS IS PLANTED DATA, NOT A QUALITY CLAIM ABOUT REAL CLIP FEATURES.
"""

import inspect
import time
import warnings

import numpy as np

CLIP_GAP = 0.65  # make_clip_blobs' CLIP ViT-B/32-like modality gap

# content shared by every scenario (make_clip_blobs parameters)
BASE = dict(n_features=64, center_similarity=0.2, anisotropy=2.0, text_spread=0.2,
            n_texts_per_cluster=5, n_distractor_texts=200, caption_detail=0.5)
LEVELS = {"easy": dict(spread=0.6), "medium": dict(spread=1.0), "hard": dict(spread=1.3)}


def _scenario(level, gap, n_samples=3000, n_clusters=10, note="", **extra):
    params = dict(BASE, **LEVELS[level], n_samples=n_samples, n_clusters=n_clusters,
                  n_captions=n_samples // 3, modality_gap=CLIP_GAP if gap else 0.0, **extra)
    return {"params": params, "level": level, "gap": gap, "note": note}


SCENARIOS = {
    "easy": _scenario("easy", False),
    "easy-gap": _scenario("easy", True),
    "medium": _scenario("medium", False),
    "medium-gap": _scenario("medium", True),
    "hard": _scenario("hard", False),
    "hard-gap": _scenario("hard", True),
    "hubs-gap": _scenario("medium", True, n_hub_texts=30, note="30 generic hub texts"),
    "polysemous-gap": _scenario("medium", True, n_polysemous_texts=20,
                                note="20 texts between two classes"),
    "misaligned-gap": _scenario("medium", True, misaligned_fraction=0.25,
                                note="25% of the class anchors near a wrong class"),
    "imbalance-gap": _scenario("medium", True, imbalance=10.0,
                               note="largest / smallest class = 10"),
    "k50": _scenario("medium", False, n_clusters=50, note="K=50, 60 images per class"),
    "k50-gap": _scenario("medium", True, n_clusters=50, note="K=50, 60 images per class"),
    "k200": _scenario("medium", False, n_samples=6000, n_clusters=200,
                      note="K=200, 30 images per class"),
    "k200-gap": _scenario("medium", True, n_samples=6000, n_clusters=200,
                          note="K=200, 30 images per class"),
}

# What real collections have (make_clip_blobs' hierarchy, style and generic-text options):
# K=20 fine classes in 5 superclasses (siblings close, 2 hypernyms each), 2,000 distractor
# nouns (~5% of the vocabulary is relevant), 10 generic nouns near half the classes, 4
# styles shared across classes and 40 captions that describe a style alone. Each scenario
# then stresses one phenomenon; all run with and without the gap.
REAL = dict(n_features=64, center_similarity=0.2, text_spread=0.2, n_texts_per_cluster=5,
            n_distractor_texts=2000, caption_detail=0.5, n_clusters=20, spread=0.8,
            anisotropy=1.0, n_superclasses=5, sibling_similarity=0.5, n_superclass_texts=2,
            n_generic_texts=10, n_styles=4, style_strength=0.6, n_style_captions=40)


def _real(gap, n_samples=2000, note="", **extra):
    params = dict(REAL, n_samples=n_samples, n_captions=n_samples // 3,
                  modality_gap=CLIP_GAP if gap else 0.0)
    params.update(extra)
    return {"params": params, "level": "real", "gap": gap, "note": note}


# isotropic noise around well separated classes: the images alone suffice ("text adds
# nothing"); a fusion that adapts must lean on the image here
ISOTROPIC = dict(n_features=64, n_clusters=10, spread=2.5, center_similarity=0.0,
                 anisotropy=0.0, text_spread=0.2, n_texts_per_cluster=5,
                 n_distractor_texts=200, caption_detail=0.5)


def _isotropic(gap, n_samples=1000):
    params = dict(ISOTROPIC, n_samples=n_samples, n_captions=n_samples // 3,
                  modality_gap=CLIP_GAP if gap else 0.0)
    return {"params": params, "level": "isotropic", "gap": gap,
            "note": "isotropic noise, text adds nothing"}


_REAL_KINDS = {
    "siblings": dict(sibling_similarity=0.8, note="close siblings (cos 0.8 inside a superclass)"),
    "style": dict(style_strength=1.2, note="strong style nuisance shared across classes"),
    "mild-style": dict(style_strength=0.4, spread=0.6, note="mild style, clear images"),
    "longtail": dict(imbalance=30.0, note="class sizes spread x30"),
    "polysemy": dict(n_polysemous_texts=40, note="40 polysemous nouns between two classes"),
    "generic": dict(n_generic_texts=60, n_hub_texts=20,
                    note="60 generic nouns near half the classes, 20 hubs"),
}
for _kind, _extra in _REAL_KINDS.items():
    for _gap in (False, True):
        SCENARIOS[f"real-{_kind}" + ("-gap" if _gap else "")] = _real(_gap, **_extra)
SCENARIOS["isotropic"] = _isotropic(False)
SCENARIOS["isotropic-gap"] = _isotropic(True)
# the scenarios of issue 24's targets
REAL_SCENARIOS = tuple(n for n in SCENARIOS if n.startswith("real-"))
ISOTROPIC_SCENARIOS = ("isotropic", "isotropic-gap")

# held-out generator settings (make_clip_blobs overrides, ``blobs=`` of run_scenario):
# never used to choose a default, only to check one chosen on SCENARIOS
HELD_OUT = {"G1": dict(anisotropy=1.5, caption_detail=0.3, text_spread=0.25),
            "G2": dict(anisotropy=3.0, caption_detail=0.8, center_similarity=0.3)}
# --quick: the scenarios' own sizes (with fewer images, n_centers="auto" selects too
# few texts for 10 classes and every text method falls below k-means)
QUICK_SCENARIOS = ("medium", "medium-gap", "hard-gap")

# method name -> (label, skclip.cluster class, parameters); ``params`` of run_scenario
# overrides or extends them
METHODS = {
    "kmeans": ("CLIP k-means", "CLIPKMeans", {}),
    "tac": ("TAC (no train)", "TACClustering", {}),
    "cae": ("CAE default", "CAEClustering", {}),
    "cae-wconcat": ("CAE fusion=weighted_concat", "CAEClustering",
                    {"fusion": "weighted_concat"}),
    "cae-concat": ("CAE fusion=concat", "CAEClustering", {"fusion": "concat"}),
    "cae-paper": ("CAE paper (literal reading)", "CAEClustering",
                  {"fusion": "paper", "relax_columns": False, "gamma": 0.01}),
    "cae-prototype": ("CAE weighting=prototype (before issue 24)", "CAEClustering",
                      {"weighting": "prototype"}),
    "cae-kmeans": ("CAE overclustering=1 (k-means alone)", "CAEClustering",
                   {"overclustering": 1}),
    "cae-perview": ("CAE weighting=neighbourhood_per_view", "CAEClustering",
                    {"weighting": "neighbourhood_per_view"}),
    "cae-perimage": ("CAE weighting=neighbourhood_per_image", "CAEClustering",
                     {"weighting": "neighbourhood_per_image"}),
    "cae-semi": ("CAE semi-relaxed OT (column_penalty=0.01)", "CAEClustering",
                 {"column_penalty": 0.01}),
    "cae-balanced": ("CAE balanced OT (relax_columns=False)", "CAEClustering",
                     {"relax_columns": False}),
    "cae-nocentre": ("CAE center_modalities=False", "CAEClustering",
                     {"center_modalities": False}),
    "cae-capimage": ("CAE caption_query=image", "CAEClustering", {"caption_query": "image"}),
    "cae-nocap": ("CAE without captions", "CAEClustering", {"use_captions": False}),
    "cae-nonouns": ("CAE without nouns", "CAEClustering", {"use_nouns": False}),
    "mca": ("MCA default", "MCAClustering", {}),
}
TEXT_FREE = {"CLIPKMeans"}
# references that are not clustering methods (they read the true class texts)
REFERENCES = {"oracle": "zero-shot, true class nouns (reference)"}
METRICS = ("ACC", "NMI", "ARI")


def scenario_data(name, seed, n_samples=None, blobs=None):
    """The data of scenario ``name`` for ``seed`` (a ``make_clip_blobs`` Bunch).

    ``n_samples`` replaces the scenario's size (captions follow: a third of it);
    it is raised to 20 images per class at least. ``blobs``: ``make_clip_blobs``
    parameters that replace the scenario's, or the name of a :data:`HELD_OUT` setting.
    """
    from skclip.datasets import make_clip_blobs

    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}")
    if isinstance(blobs, str):
        if blobs not in HELD_OUT:
            raise KeyError(f"unknown setting {blobs!r}; choose from {sorted(HELD_OUT)}")
        blobs = HELD_OUT[blobs]
    params = dict(SCENARIOS[name]["params"], **(blobs or {}))
    if n_samples is not None:
        params["n_samples"] = max(int(n_samples), 20 * params["n_clusters"])
        params["n_captions"] = params["n_samples"] // 3
    return make_clip_blobs(random_state=seed, **params)


def semantic_space(data, seed, device="cpu", **overrides):
    """The generator's nouns and captions behind the library's own text selection."""
    from skclip.semantic import SemanticSpaceBuilder

    params = dict(vocabulary=data.text_embeddings, noun_names=list(data.text_names),
                  captions=data.caption_embeddings if len(data.caption_embeddings) else None,
                  random_state=seed, device=device, verbose=0)
    params.update(overrides)
    return SemanticSpaceBuilder(**params)


def _accepted(cls, params):
    """Fail clearly on a parameter the estimator does not have (a stale ablation)."""
    unknown = set(params) - set(inspect.signature(cls.__init__).parameters)
    if unknown:
        raise TypeError(f"{cls.__name__} has no parameter(s) {sorted(unknown)}")
    return params


def make_method(method, n_clusters, seed, data, *, params=None, device="cpu"):
    """An unfitted estimator for ``method`` (a key of :data:`METHODS`, or of ``params``).

    ``params`` maps a method name to parameter overrides; the key
    ``"semantic_space"`` overrides the builder's parameters. A name absent from
    :data:`METHODS` is a new variant: ``params[name]`` must then hold ``"class"``
    (e.g. ``"CAEClustering"``) and its parameters.
    """
    import skclip.cluster as cluster

    params = params or {}
    own = dict(params.get(method, {}))
    if method in METHODS:
        cls_name, base = METHODS[method][1], dict(METHODS[method][2])
        cls_name = own.pop("class", cls_name)
    elif "class" in own:
        cls_name, base = own.pop("class"), {}
    else:
        raise KeyError(f"unknown method {method!r}; choose from {sorted(METHODS)} or "
                       "define it in params with a 'class' key")
    cls = getattr(cluster, cls_name)
    kwargs = _accepted(cls, {"n_clusters": n_clusters, "random_state": seed,
                             "device": device, **base, **own})
    if cls_name not in TEXT_FREE:
        kwargs["semantic_space"] = semantic_space(data, seed, device,
                                                  **params.get("semantic_space", {}))
    return cls(**kwargs)


def score_method(method, data, seed, *, params=None, device="cpu"):
    """Fit ``method`` once on ``data``: ACC/NMI/ARI (%), fit seconds, warnings seen."""
    from skclip.metrics import clustering_report

    if method in REFERENCES:
        return _score_oracle(data)
    k = int(data.y.max()) + 1
    est = make_method(method, k, seed, data, params=params, device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        labels = est.fit_predict(data.X)  # unsupervised: y is never passed
        elapsed = time.perf_counter() - t0
    report = clustering_report(data.y, labels)
    seen = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    out = {**{m: float(report[m]) for m in METRICS}, "fit_s": elapsed, "warnings": seen}
    space = getattr(est, "semantic_space_", None)  # selection centres and nouns kept
    if getattr(space, "centers_", None) is not None:
        out.update(centres=len(space.centers_), nouns=len(space.nouns_))
    return out


def oracle_labels(data):
    """Zero-shot with the true class nouns: each image to its nearest class-anchor mean.

    An upper reference, not a method: it reads which texts name which class.
    """
    k = int(data.y.max()) + 1
    T, lab = data.text_embeddings, data.text_labels
    cls = (data.text_kind == "class")
    prompts = np.stack([T[cls & (lab == c)].mean(axis=0) for c in range(k)])
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    return (data.X @ prompts.T).argmax(axis=1)


def _score_oracle(data):
    from skclip.metrics import clustering_report

    t0 = time.perf_counter()
    labels = oracle_labels(data)
    report = clustering_report(data.y, labels)
    return {**{m: float(report[m]) for m in METRICS}, "fit_s": time.perf_counter() - t0,
            "warnings": []}


def run_scenario(name, seed=0, methods=("kmeans", "tac"), *, n_samples=None, params=None,
                 device="cpu", errors="raise", blobs=None):
    """Scores of ``methods`` on scenario ``name`` for one ``seed``.

    Returns ``{method: {"ACC", "NMI", "ARI" (in %), "fit_s", "warnings"}}`` (text
    methods also ``"centres"`` and ``"nouns"``, the selection's sizes); with
    ``errors="record"`` a failing method gives ``{"error": "..."}`` instead of raising.
    ``blobs``: see :func:`scenario_data`.
    """
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
    data = scenario_data(name, seed, n_samples, blobs)
    out = {}
    for method in methods:
        try:
            out[method] = score_method(method, data, seed, params=params, device=device)
        except Exception as exc:  # noqa: BLE001 - one broken method is one cell
            if errors == "raise":
                raise
            out[method] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def describe(name):
    """One line: the scenario's size, noise and gap, and what differs from its family."""
    sc = SCENARIOS[name]
    family = {"real": REAL, "isotropic": ISOTROPIC}.get(sc["level"], BASE)
    keys = ["n_samples", "n_clusters", "spread", "modality_gap"]
    keys += [k for k in sc["params"] if k not in keys and k not in ("n_captions",)
             and (k not in family or sc["params"][k] != family[k])]
    parts = [f"{k}={sc['params'][k]}" for k in keys if k in sc["params"]]
    return ", ".join(parts) + (f" ({sc['note']})" if sc["note"] else "")


def summarise(values):
    """Mean and population std of a list of floats."""
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std()) if len(arr) > 1 else 0.0}
