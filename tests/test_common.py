"""API conformance of every public estimator.

* The clusterers pass scikit-learn's ``check_estimator`` with no expected failures.
  They are checked with a small deterministic semantic space that derives its text
  anchors from the input (``tests._spaces.DataAnchoredSpace``), because the checks feed
  numeric data of many widths (1, 2, 3, 10 features) that no CLIP text tower matches.
* ``SemanticSpaceBuilder`` passes the checks its input contract allows (each
  exclusion justified below).
* ``CLIPEmbedder`` takes images, not numeric arrays: it gets API tests of its own.
* Project conventions (keyword-only ``__init__``, parameter constraints, tags, mixin
  order, no private scikit-learn imports, no global seeding) are checked statically.
"""

import ast
import inspect
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

import skclip
from skclip import (
    CAEClustering,
    CLIPEmbedder,
    CLIPKMeans,
    MCAClustering,
    SemanticSpaceBuilder,
    TACClustering,
)
from tests._spaces import DataAnchoredSpace

PACKAGE_DIR = Path(skclip.__file__).parent
ALLOWED_PRIVATE_SKLEARN = {"sklearn.utils._param_validation", "sklearn.base"}
ALLOWED_FROM_SKLEARN_BASE = {"_fit_context"}


def _clusterers():
    return [
        MCAClustering(
            semantic_space=DataAnchoredSpace(),
            epochs=10,
            batch_size=32,
            min_steps=0,
            n_img_neighbors=5,
            random_state=0,
        ),
        CAEClustering(semantic_space=DataAnchoredSpace(), kmeans_n_init=2, random_state=0),
        CLIPKMeans(n_init=2, random_state=0),
        TACClustering(semantic_space=DataAnchoredSpace(), n_init=2, random_state=0),
        # n_clusters="auto" (the K scan) on the checks' data
        CLIPKMeans("auto", n_init=2, random_state=0),
        CAEClustering("auto", semantic_space=DataAnchoredSpace(), kmeans_n_init=2,
                      random_state=0),
    ]


@parametrize_with_checks(_clusterers())
def test_sklearn_compatible_clusterer(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- SemanticSpaceBuilder
# The builder's input contract: X are image embeddings of the vocabulary's text width d;
# other widths raise a ValueError (image and text from different CLIP models). With a
# user-provided embedding vocabulary every check passes when run at the width it feeds,
# so each check runs once, on a builder of that width. Checks not listed feed 3 features.
DEFAULT_WIDTH = 3
CHECK_WIDTH = {
    "check_estimators_overwrite_params": 2,
    "check_estimators_fit_returns_self": 2,
    "check_readonly_memmap_input": 2,
    "check_fit_idempotent": 2,
    "check_fit_check_is_fitted": 2,
    "check_n_features_in": 2,
    "check_n_features_in_after_fitting": 4,
    "check_positive_only_tag_during_fit": 4,
    "check_estimators_dtypes": 5,
    "check_dtype_object": 10,
    "check_fit2d_1sample": 10,
}


def _builder(width):
    vocabulary = np.random.RandomState(width).standard_normal((12, width))
    return SemanticSpaceBuilder(
        vocabulary=vocabulary, topk_nouns=2, n_centers=2, kmeans_n_init=2, random_state=0
    )


def _check_name(check):
    return getattr(check, "func", check).__name__


def _check_id(check):
    kwargs = {k: v for k, v in getattr(check, "keywords", {}).items() if k != "name"}
    return _check_name(check) + (
        f"({','.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else ""
    )


def _builder_checks():
    for width in sorted({DEFAULT_WIDTH, *CHECK_WIDTH.values()}):
        for estimator, check in estimator_checks_generator(_builder(width), legacy=True):
            name = _check_name(check)
            if CHECK_WIDTH.get(name, DEFAULT_WIDTH) == width:
                yield pytest.param(
                    estimator, check, id=f"SemanticSpaceBuilder({width}d)-{_check_id(check)}"
                )


@pytest.mark.parametrize("estimator, check", list(_builder_checks()))
def test_sklearn_compatible_semantic_space(estimator, check):
    check(estimator)


def test_every_builder_check_runs_once():
    all_checks = [
        _check_name(c) for _, c in estimator_checks_generator(_builder(DEFAULT_WIDTH), legacy=True)
    ]
    run = [_check_name(p.values[1]) for p in _builder_checks()]
    assert sorted(run) == sorted(all_checks)
    assert set(CHECK_WIDTH) <= set(all_checks), "stale entries in CHECK_WIDTH"


def test_builder_rejects_other_widths_with_a_clear_error():
    builder = _builder(3)
    with pytest.raises(ValueError, match="same CLIP model"):
        builder.fit(np.random.RandomState(0).standard_normal((20, 7)))


# --------------------------------------------------------------------------- conventions
ESTIMATOR_CLASSES = [
    CLIPEmbedder,
    SemanticSpaceBuilder,
    MCAClustering,
    CAEClustering,
    CLIPKMeans,
    TACClustering,
]


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_init_is_keyword_only_and_constrained(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    assert len(positional) <= 1, (
        f"{cls.__name__}: only the first argument may be positional, got {positional}"
    )
    assert all(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
    names = {p.name for p in params}
    assert set(cls._parameter_constraints) == names, (
        "every parameter declared once in _parameter_constraints"
    )
    if "device" in names:
        assert inspect.signature(cls).parameters["device"].default == "auto"
    if "random_state" in names:
        assert inspect.signature(cls).parameters["random_state"].default is None


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_init_only_stores_its_arguments(cls):
    sentinels = {name: object() for name in inspect.signature(cls).parameters}
    est = cls(**sentinels)
    assert all(getattr(est, name) is value for name, value in sentinels.items())
    assert set(vars(est)) == set(sentinels), "__init__ must not set other attributes"


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_tags_and_mixin_order(cls):
    mro = cls.__mro__
    mixin = ClusterMixin if issubclass(cls, ClusterMixin) else TransformerMixin
    assert issubclass(cls, mixin) and mro.index(mixin) < mro.index(BaseEstimator)
    assert not any("_more_tags" in vars(k) for k in mro), "use __sklearn_tags__, not _more_tags"
    tags = cls().__sklearn_tags__()
    assert tags.estimator_type == ("clusterer" if mixin is ClusterMixin else None)
    assert "Examples" in cls.__doc__, "numpydoc Examples section (runs as a doctest)"


def _module_files():
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_private_sklearn_imports():
    offenders = []
    for path in _module_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("sklearn")
            ):
                private = any(part.startswith("_") for part in node.module.split("."))
                if node.module == "sklearn.base":
                    bad = [
                        a.name
                        for a in node.names
                        if a.name.startswith("_") and a.name not in ALLOWED_FROM_SKLEARN_BASE
                    ]
                elif private and node.module not in ALLOWED_PRIVATE_SKLEARN:
                    bad = [node.module]
                else:
                    bad = []
                offenders += [f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} {b}" for b in bad]
            elif isinstance(node, ast.Import):
                offenders += [
                    f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} {a.name}"
                    for a in node.names
                    if a.name.startswith("sklearn")
                    and any(p.startswith("_") for p in a.name.split("."))
                ]
    assert not offenders, offenders


def test_no_global_seeding():
    forbidden = (
        "torch.manual_seed",
        "np.random.seed",
        "numpy.random.seed",
        "random.seed",
        "torch.cuda.manual_seed",
    )
    offenders = [
        f"{path.relative_to(PACKAGE_DIR)}: {name}"
        for path in _module_files()
        for name in forbidden
        if name + "(" in path.read_text()
    ]
    assert not offenders, offenders


# --------------------------------------------------------------------------- CLIPEmbedder
@pytest.fixture
def tiny_embedder(tiny_model_name):
    return CLIPEmbedder(model=tiny_model_name, pretrained=None, verbose=0)


@pytest.fixture
def images():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(5, 40, 36, 3), dtype=np.uint8)


def test_embedder_params_and_clone(tiny_embedder, tiny_model_name):
    params = tiny_embedder.get_params()
    assert (
        params["model"] == tiny_model_name
        and params["pretrained"] is None
        and params["device"] == "auto"
    )
    twin = clone(tiny_embedder)
    assert twin is not tiny_embedder and twin.get_params() == params
    twin.set_params(batch_size=3, on_error="skip")
    assert (twin.batch_size, twin.on_error) == (3, "skip")
    assert tiny_embedder.batch_size == params["batch_size"]


def test_embedder_output_shape_and_names(tiny_embedder, images):
    with pytest.warns(UserWarning, match="(?i)random"):
        tiny_embedder.fit(images)
    Z = tiny_embedder.transform(images)
    assert Z.shape == (5, 32) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    names = tiny_embedder.get_feature_names_out()
    assert names.shape == (32,) and len(set(names)) == 32 and names.dtype == object
    assert all(isinstance(n, str) for n in names)
    assert tiny_embedder.device == "auto", "device must never be written back"
    from skclip.embed import _embedder

    _embedder._RANDOM_WEIGHTS_WARNED.clear()  # the notice is given once per process
    with pytest.warns(UserWarning, match="(?i)random"):
        np.testing.assert_allclose(tiny_embedder.fit_transform(images), Z, rtol=1e-5, atol=1e-6)
    T = tiny_embedder.encode_text(["a cat", "a dog"])
    assert T.shape == (2, 32) and T.dtype == np.float32


def test_embedder_pickle_excludes_the_model(tiny_embedder, images):
    with pytest.warns(UserWarning):
        Z = tiny_embedder.fit(images).transform(images)
    blob = pickle.dumps(tiny_embedder)
    assert b"open_clip" not in blob, "the CLIP model must not be pickled"
    back = pickle.loads(blob)
    assert back.get_params() == tiny_embedder.get_params()
    np.testing.assert_allclose(back.transform(images), Z, rtol=1e-5, atol=1e-6)


def test_embedder_declares_image_input(tiny_embedder, images):
    tags = tiny_embedder.__sklearn_tags__()
    assert tags.input_tags.two_d_array is False, "check_estimator must not feed it numeric tables"
    assert tags.transformer_tags is not None
    # list of arrays, uint8 batch: the same embeddings
    with pytest.warns(UserWarning):
        tiny_embedder.fit(images)
    np.testing.assert_allclose(
        tiny_embedder.transform(list(images)), tiny_embedder.transform(images), rtol=1e-5, atol=1e-6
    )
    with pytest.raises((TypeError, ValueError)):
        tiny_embedder.transform(np.random.RandomState(0).standard_normal((4, 32)))


def test_embedder_is_stateless_to_clone(tiny_embedder, images):
    with pytest.warns(UserWarning):
        tiny_embedder.fit(images)
    fresh = clone(tiny_embedder)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(fresh))
