"""Images in, clusters out: CLIPEmbedder + clusterer in a Pipeline, make_clip_pipeline."""

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from skclip import (
    CAEClustering,
    CLIPEmbedder,
    MCAClustering,
    SemanticSpaceBuilder,
    make_clip_pipeline,
)
from skclip.metrics import silhouette_scorer

# CAE's Sinkhorn (100 iterations, tol 1e-6) rarely converges on tiny random data: not tested here
pytestmark = pytest.mark.filterwarnings(
    "ignore:Sinkhorn did not converge:sklearn.exceptions.ConvergenceWarning"
)

NOUNS = ["cat", "dog", "car", "tree", "house", "boat", "bird", "flower", "apple", "chair"]
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230)]


def write_images(folder, n_per_colour, *, seed, fmt="png"):
    """Solid colours with a few stripes; the first two files of each colour are identical."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, colours = [], []
    for c, rgb in enumerate(COLOURS):
        for i in range(n_per_colour):
            img = np.empty((40, 40, 3), dtype=np.uint8)
            img[:] = rgb
            if i >= 2:  # a pattern: stripes of random width and brightness
                width = rng.randint(2, 8)
                img[:, ::width] = np.clip(np.array(rgb) + rng.randint(-60, 60, 3), 0, 255)
            path = folder / f"c{c}_{i:02d}.{fmt}"
            Image.fromarray(img).save(path)
            paths.append(str(path))
            colours.append(c)
    return paths, np.array(colours)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    train, train_colours = write_images(root / "train", 10, seed=0, fmt="png")
    new, new_colours = write_images(root / "new", 3, seed=1, fmt="jpg")
    return train, train_colours, new, new_colours


def _embedder(model):
    return CLIPEmbedder(model=model, pretrained=None, device="cpu", verbose=0)


def _clusterer(method, model):
    space = SemanticSpaceBuilder(embedder=_embedder(model), vocabulary=NOUNS)
    if method == "mca":
        return MCAClustering(
            n_clusters=3,
            semantic_space=space,
            epochs=3,
            min_steps=0,
            batch_size=16,
            n_img_neighbors=3,
            random_state=0,
        )
    return CAEClustering(n_clusters=3, semantic_space=space, kmeans_n_init=3, random_state=0)


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
@pytest.mark.parametrize("method", ["mca", "cae"])
def test_pipeline_fits_on_paths_and_predicts_new_images(method, image_sets, tiny_model_name):
    train, _, new, _ = image_sets
    pipe = Pipeline(
        [("embed", _embedder(tiny_model_name)), ("clust", _clusterer(method, tiny_model_name))]
    )
    labels = pipe.fit_predict(train)
    clust = pipe["clust"]
    assert labels.shape == (len(train),) and set(labels) <= {0, 1, 2}
    np.testing.assert_array_equal(labels, clust.labels_)
    assert clust.n_features_in_ == 32
    # identical images, identical cluster
    assert labels[0] == labels[1] and labels[10] == labels[11] and labels[20] == labels[21]
    assert set(clust.semantic_space_.nouns_) <= set(NOUNS)
    pred = pipe.predict(new)
    assert pred.shape == (len(new),) and set(pred) <= {0, 1, 2}
    # predict labels the images from their embeddings alone, the same in a batch or one by one
    single = np.concatenate([pipe.predict([p]) for p in new])
    np.testing.assert_array_equal(single, pred)
    np.testing.assert_array_equal(pipe.predict(new[::-1])[::-1], pred)


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_pipeline_accepts_pil_images_and_arrays(image_sets, tiny_model_name):
    train, _, new, _ = image_sets
    pipe = Pipeline(
        [("embed", _embedder(tiny_model_name)), ("clust", _clusterer("cae", tiny_model_name))]
    )
    pipe.fit(train)
    pils = [Image.open(p).convert("RGB") for p in new]
    arrays = np.stack([np.asarray(im) for im in pils])
    np.testing.assert_array_equal(pipe.predict(pils), pipe.predict(arrays))


@pytest.mark.parametrize("method, cls", [("cae", CAEClustering), ("mca", MCAClustering)])
def test_make_clip_pipeline_wires_one_model(method, cls):
    pipe = make_clip_pipeline(
        method, n_clusters=7, model="ViT-B-16", pretrained="laion2b_s34b_b88k", device="cpu"
    )
    embed, clust = pipe["embed"], pipe["clust"]
    assert isinstance(embed, CLIPEmbedder) and isinstance(clust, cls)
    assert clust.n_clusters == 7 and clust.device == "cpu"
    space_embedder = clust.semantic_space.embedder
    for key in ("model", "pretrained", "device"):
        assert getattr(space_embedder, key) == getattr(embed, key)
    assert clust.semantic_space.device == "cpu"
    assert space_embedder is not embed
    # the method's own default semantic space, only the embedder is ours
    default = cls(n_clusters=7)._default_semantic_space()
    ours = ("embedder", "device", "n_centers")  # n_centers: "auto", the fit's K (MCA)
    assert clust.semantic_space.n_centers == "auto"
    expected = {k: v for k, v in default.get_params(deep=False).items() if k not in ours}
    got = {k: v for k, v in clust.semantic_space.get_params(deep=False).items() if k not in ours}
    assert got == expected
    clone(pipe)  # every parameter survives cloning


def test_make_clip_pipeline_options():
    pipe = make_clip_pipeline(
        "cae",
        n_clusters=4,
        pretrained=None,
        embedder_params={"batch_size": 8},
        semantic_space_params={"vocabulary": NOUNS},
        random_state=3,
        gamma=0.1,
    )
    params = pipe.get_params()
    assert params["embed__batch_size"] == 8
    assert params["clust__semantic_space__vocabulary"] == NOUNS
    assert params["clust__semantic_space__embedder__model"] == "ViT-B-32"
    assert params["clust__random_state"] == 3 and params["clust__gamma"] == 0.1
    assert [n for n, _ in make_clip_pipeline("kmeans", 5).steps] == ["embed", "clust"]
    with pytest.raises(ValueError, match="method must be one of"):
        make_clip_pipeline("spectral")
    with pytest.raises(ValueError, match="semantic_space_params"):
        make_clip_pipeline("kmeans", semantic_space_params={"vocabulary": NOUNS})


@pytest.mark.filterwarnings("ignore:.*random.*:UserWarning")
def test_nested_parameters_are_searchable_on_images(image_sets, tiny_model_name):
    train, *_ = image_sets
    pipe = make_clip_pipeline(
        "cae",
        n_clusters=3,
        model=tiny_model_name,
        pretrained=None,
        device="cpu",
        embedder_params={"verbose": 0},
        semantic_space_params={"vocabulary": NOUNS},
        kmeans_n_init=2,
        random_state=0,
    )
    grid = {"clust__semantic_space__topk_nouns": [1, 3], "clust__n_clusters": [2, 3]}
    search = GridSearchCV(
        pipe, grid, scoring=silhouette_scorer, cv=KFold(2, shuffle=True, random_state=0)
    )
    search.fit(train)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert (
        best["clust"].semantic_space_.topk_nouns
        == search.best_params_["clust__semantic_space__topk_nouns"]
    )
    assert best.predict(train).shape == (len(train),)
