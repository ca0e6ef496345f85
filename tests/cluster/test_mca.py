"""MCAClustering: planted structure, determinism, persistence, errors, sklearn API."""

import pickle

import numpy as np
import pytest

pytest.importorskip("torch")

from skclip.cluster import MCAClustering  # noqa: E402
from skclip.kmeans import kmeans  # noqa: E402
from skclip.datasets import make_clip_blobs  # noqa: E402
from skclip.metrics import clustering_accuracy  # noqa: E402
from tests._spaces import DataAnchoredSpace, FixedTextSpace  # noqa: E402

# small and fast: 300 images, 4 clusters, 32-d; a quarter of the anchors misaligned
FAST = dict(epochs=40, batch_size=64, min_steps=0, device="cpu")


@pytest.fixture(scope="module")
def blobs():
    return make_clip_blobs(n_samples=300, n_clusters=4, n_features=32, spread=1.2,
                           center_similarity=0.3, n_texts_per_cluster=4,
                           misaligned_fraction=0.25, random_state=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    space = FixedTextSpace(blobs.text_embeddings)
    return MCAClustering(n_clusters=4, semantic_space=space, random_state=0, **FAST).fit(blobs.X)


def test_recovers_planted_clusters_at_least_as_well_as_kmeans(blobs, fitted):
    km = kmeans(blobs.X, 4, spherical=True, random_state=0, device="cpu")
    acc_km = clustering_accuracy(blobs.y, km.labels)
    acc_mca = clustering_accuracy(blobs.y, fitted.labels_)
    assert acc_mca >= acc_km
    assert acc_mca > 0.8


def test_loss_decreases(fitted):
    curve = fitted.loss_curve_
    assert len(curve) == fitted.n_iter_ == FAST["epochs"]
    assert curve[-1] < curve[0]
    assert set(fitted.loss_terms_) == {"consistency", "entropy", "instance", "prototype",
                                       "semantic"}
    assert all(len(v) == FAST["epochs"] for v in fitted.loss_terms_.values())
    assert fitted.loss_terms_["consistency"][-1] < fitted.loss_terms_["consistency"][0]


def test_min_steps_extends_training_on_small_data(blobs):
    space = FixedTextSpace(blobs.text_embeddings)
    kw = dict(n_clusters=4, semantic_space=space, batch_size=100, device="cpu", random_state=0)
    # 300 samples -> 3 batches per epoch; 10 steps need 4 epochs
    assert MCAClustering(epochs=1, min_steps=10, **kw).fit(blobs.X).n_iter_ == 4
    assert MCAClustering(epochs=5, min_steps=10, **kw).fit(blobs.X).n_iter_ == 5
    # "auto": 20 steps per cluster, 80 for K=4 -> 27 epochs of 3 batches
    assert MCAClustering(epochs=1, **kw).fit(blobs.X).n_iter_ == 27


def test_auto_min_steps_caps_the_passes_over_the_data(blobs, monkeypatch):
    # few images per cluster: 20 steps per cluster would be hundreds of epochs;
    # "auto" stops at _MAX_AUTO_EPOCHS passes (100; lowered here to keep the test fast)
    from skclip.cluster import _mca_train

    monkeypatch.setattr(_mca_train, "_MAX_AUTO_EPOCHS", 2)
    space = FixedTextSpace(blobs.text_embeddings)
    kw = dict(n_clusters=4, semantic_space=space, batch_size=100, device="cpu", random_state=0)
    assert MCAClustering(epochs=1, **kw).fit(blobs.X).n_iter_ == 2  # min(80, 2 * 3) steps
    assert MCAClustering(epochs=3, **kw).fit(blobs.X).n_iter_ == 3  # epochs still a floor


@pytest.mark.parametrize("n_samples, batch_size", [(2, 512), (3, 2), (7, 3)])
def test_tiny_inputs_never_make_a_batch_of_one(n_samples, batch_size):
    X = np.random.RandomState(0).standard_normal((n_samples, 1))
    mca = MCAClustering(n_clusters=1, semantic_space=DataAnchoredSpace(), epochs=2,
                        batch_size=batch_size, min_steps=0, device="cpu", random_state=0)
    assert mca.fit_predict(X).tolist() == [0] * n_samples


def test_predict_on_fresh_samples_agrees(blobs, fitted):
    # same seed and class centres (drawn first), fresh noise
    fresh = make_clip_blobs(n_samples=500, n_clusters=4, n_features=32, spread=1.2,
                            center_similarity=0.3, n_texts_per_cluster=4,
                            misaligned_fraction=0.25, random_state=0)
    np.testing.assert_allclose(fresh.centers, blobs.centers)
    acc_train = clustering_accuracy(blobs.y, fitted.labels_)
    acc_fresh = clustering_accuracy(fresh.y, fitted.predict(fresh.X))
    assert acc_fresh >= acc_train - 0.05
    np.testing.assert_array_equal(fitted.predict(blobs.X), fitted.labels_)


def test_fitted_attributes(blobs, fitted):
    n, d = blobs.X.shape
    assert fitted.labels_.shape == (n,) and fitted.labels_.dtype.kind == "i"
    assert fitted.n_features_in_ == d
    proba = fitted.predict_proba(blobs.X)
    assert proba.shape == (n, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), fitted.labels_)
    assert fitted.cluster_centers_.shape == (4, d)
    np.testing.assert_allclose(np.linalg.norm(fitted.cluster_centers_, axis=1), 1.0, rtol=1e-5)
    assert fitted.semantic_centers_.shape == (4, d)
    assert fitted.semantic_space_.noun_embeddings_.shape[1] == d
    # labels are consecutive from 0
    used = np.unique(fitted.labels_)
    np.testing.assert_array_equal(used, np.arange(len(used)))
    for module in (fitted.image_head_, fitted.text_head_, fitted.attention_):
        assert all(p.device.type == "cpu" for p in module.parameters())


def test_same_random_state_same_labels(blobs):
    space = FixedTextSpace(blobs.text_embeddings)
    kw = dict(n_clusters=4, semantic_space=space, epochs=2, batch_size=64, min_steps=0,
              device="cpu")
    a = MCAClustering(random_state=3, **kw).fit(blobs.X)
    b = MCAClustering(random_state=3, **kw).fit(blobs.X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.loss_curve_ == b.loss_curve_
    c = MCAClustering(random_state=4, **kw).fit(blobs.X)
    assert c.loss_curve_ != a.loss_curve_


@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_fit_leaves_the_global_random_states_alone(blobs, head):
    import torch

    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    space = FixedTextSpace(blobs.text_embeddings)
    est = MCAClustering(n_clusters=4, semantic_space=space, head=head, epochs=1,
                        batch_size=64, min_steps=0, device="cpu", random_state=0)
    est.fit(blobs.X)
    est.predict(blobs.X[:5])
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and after[2:] == numpy_state[2:]
    np.testing.assert_array_equal(after[1], numpy_state[1])
    # and the global seed does not change the result either
    torch.manual_seed(7)
    again = MCAClustering(n_clusters=4, semantic_space=space, head=head, epochs=1,
                          batch_size=64, min_steps=0, device="cpu", random_state=0)
    np.testing.assert_array_equal(again.fit(blobs.X).labels_, est.labels_)


def test_pickle_roundtrip(blobs, fitted):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict(blobs.X), fitted.labels_)
    np.testing.assert_allclose(clone.predict_proba(blobs.X[:7]), fitted.predict_proba(blobs.X[:7]))


@pytest.mark.parametrize(
    "params",
    [
        dict(head="linear"),
        dict(pseudo_labels="image", text_source="both", hidden_dim=16),
        dict(w_ins=0.0, w_pro=0.0, w_sem=0.0),
        dict(n_img_neighbors=500, n_txt_neighbors=500, xi_a=500),
        dict(pseudo_labels="counterpart", w_sem=0.1),
        dict(text_pool=1),
        dict(text_pool=1000),
    ],
)
def test_variants_run(blobs, params):
    rng = np.random.RandomState(0)
    captions = blobs.text_embeddings + 0.1 * rng.standard_normal(blobs.text_embeddings.shape)
    space = FixedTextSpace(blobs.text_embeddings, captions)
    mca = MCAClustering(n_clusters=4, semantic_space=space, epochs=2, batch_size=64,
                        min_steps=0, device="cpu", random_state=0, **params).fit(blobs.X)
    assert mca.predict_proba(blobs.X).shape == (300, 4)
    assert np.isfinite(mca.loss_curve_).all()


def test_default_semantic_space_follows_spec():
    from skclip.semantic import SemanticSpaceBuilder

    space = MCAClustering(n_clusters=7, random_state=1)._default_semantic_space()
    assert isinstance(space, SemanticSpaceBuilder)
    params = space.get_params()
    expected = dict(vocabulary="wordnet", templates="photo", selection="mca", n_centers=7,
                    gamma_u=0.05, gamma_r=500, hier_min_depth=6, random_state=1)
    assert {k: params[k] for k in expected} == expected


def test_verbose_progress(blobs, capsys):
    space = FixedTextSpace(blobs.text_embeddings)
    kw = dict(n_clusters=4, semantic_space=space, epochs=1, batch_size=64, min_steps=0,
              device="cpu")
    MCAClustering(verbose=0, **kw).fit(blobs.X)
    assert capsys.readouterr().err == ""
    MCAClustering(verbose=1, **kw).fit(blobs.X)
    assert "MCA" in capsys.readouterr().err


def test_bad_input(blobs):
    space = FixedTextSpace(blobs.text_embeddings)
    X = blobs.X[:20].copy()
    mca = MCAClustering(n_clusters=4, semantic_space=space, epochs=1, min_steps=0, device="cpu")
    with pytest.raises(ValueError, match="n_clusters"):
        MCAClustering(n_clusters=30, semantic_space=space, epochs=1).fit(X)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[3, 2] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            mca.fit(Xb)
    with pytest.raises(ValueError, match="1 sample|n_samples=1"):
        MCAClustering(n_clusters=1, semantic_space=space, epochs=1).fit(X[:1])
    # text space of another dimension (e.g. another CLIP model)
    other = FixedTextSpace(np.random.RandomState(0).standard_normal((5, 16)))
    with pytest.raises(ValueError, match="dimension"):
        MCAClustering(n_clusters=4, semantic_space=other, epochs=1).fit(X)
    empty = FixedTextSpace(np.zeros((0, 32)))
    with pytest.raises(ValueError, match="no texts"):
        MCAClustering(n_clusters=4, semantic_space=empty, epochs=1).fit(X)
    mca.fit(X)
    with pytest.raises(ValueError, match="features"):
        mca.predict(X[:, :10])
    with pytest.raises(ValueError, match="head"):
        MCAClustering(head="deep", semantic_space=space).fit(X)
    with pytest.raises(ValueError, match="text_pool"):
        MCAClustering(text_pool=0, semantic_space=space).fit(X)


def test_unfitted_predict_raises(blobs):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MCAClustering().predict(blobs.X)


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(
        MCAClustering(semantic_space=DataAnchoredSpace(), epochs=20, batch_size=16,
                      min_steps=0, device="cpu")
    )


@pytest.mark.gpu
def test_gpu_fit_loads_on_cpu(blobs):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    space = FixedTextSpace(blobs.text_embeddings)
    mca = MCAClustering(n_clusters=4, semantic_space=space, epochs=2, batch_size=64,
                        device="cuda", random_state=0).fit(blobs.X)
    for module in (mca.image_head_, mca.text_head_, mca.attention_):
        assert all(p.device.type == "cpu" for p in module.parameters())
    clone = pickle.loads(pickle.dumps(mca))
    np.testing.assert_array_equal(clone.predict(blobs.X), mca.labels_)


def test_attention_selects_among_the_nearest_texts(fitted):
    # the largest attention weight, before and after training, far above uniform
    peaks = fitted.attention_peak_
    assert len(peaks) == fitted.n_iter_ + 1
    uniform = 1.0 / fitted.n_txt_neighbors
    assert peaks[0] > 3 * uniform and peaks[-1] > 3 * uniform
    # tau = 1 (the old scaling without 1/sqrt(d) even) is close to uniform on unit vectors
    space = FixedTextSpace(fitted.semantic_space_.noun_embeddings_)
    flat = MCAClustering(n_clusters=4, semantic_space=space, tau_attn=1.0, epochs=1,
                         batch_size=64, min_steps=0, device="cpu", random_state=0)
    X = make_clip_blobs(n_samples=300, n_clusters=4, n_features=32, spread=1.2,
                        center_similarity=0.3, n_texts_per_cluster=4,
                        misaligned_fraction=0.25, random_state=0).X
    assert flat.fit(X).attention_peak_[0] < 2 * uniform


def test_centring_undoes_a_modality_gap(blobs):
    # move each modality into its own cone (offsets, then unit norm, as CLIP's
    # modality gap): with centring the attention works as without the gap
    rng = np.random.RandomState(1)
    g, h = rng.standard_normal((2, blobs.X.shape[1]))
    X_gap = blobs.X + 2 * h / np.linalg.norm(h)
    T_gap = blobs.text_embeddings + 2 * g / np.linalg.norm(g)
    # texts compared as given (text_pool=1): a class's pooled names are near-equal,
    # which spreads the attention over them whatever the centring
    kw = dict(n_clusters=4, epochs=3, batch_size=64, min_steps=0, device="cpu",
              random_state=0, text_pool=1)

    def peaks(X, T, center=True):
        return MCAClustering(semantic_space=FixedTextSpace(T), center_modalities=center,
                             **kw).fit(X).attention_peak_

    plain, gap = peaks(blobs.X, blobs.text_embeddings), peaks(X_gap, T_gap)
    np.testing.assert_allclose(gap, plain, atol=0.03)
    raw = MCAClustering(semantic_space=FixedTextSpace(T_gap), center_modalities=False,
                        **kw).fit(X_gap)
    np.testing.assert_array_equal(raw.text_mean_, 0.0)
    assert max(raw.attention_peak_) < min(gap) - 0.1


def test_pseudo_label_mixtures_do_not_depend_on_the_value_map():
    # pseudo-labels compare the attended mixture with text centres in one space:
    # the trained W_v must not enter the mixture
    import torch

    from skclip.cluster._mca_nets import MCANetworks

    g = torch.Generator().manual_seed(0)
    X = torch.nn.functional.normalize(torch.randn(20, 8, generator=g), dim=1)
    T = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=1)
    idx = torch.argsort(X @ T.T, dim=1, descending=True)[:, :3]
    nets = MCANetworks(8, 2, head="mlp", hidden_dim=None, tau_attn=0.01, generator=g)
    before = nets.full_pass(X, X, T, idx, 7)
    with torch.no_grad():
        nets.attention.value.weight.copy_(torch.randn(8, 8, generator=g))
    after = nets.full_pass(X, X, T, idx, 7)
    for u, v in zip(before, after):
        torch.testing.assert_close(u, v)
    # the counterpart used in the losses does see W_v
    assert not torch.allclose(nets.attention(X, T[idx])[0], before[1])


def test_full_pass_independent_of_block_and_heads():
    # the per-epoch pass runs in cache-sized blocks: rows never mix, so any block size
    # gives the same values, and heads=False (final attention peaks) the same attention
    import torch

    from skclip.cluster._mca_nets import MCANetworks

    g = torch.Generator().manual_seed(1)
    X = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=1)
    T = torch.nn.functional.normalize(torch.randn(9, 8, generator=g), dim=1)
    idx = torch.argsort(X @ T.T, dim=1, descending=True)[:, :4]
    nets = MCANetworks(8, 3, head="mlp", hidden_dim=None, tau_attn=0.01, generator=g)
    whole = nets.full_pass(X, X, T, idx, 30)
    for block in (1, 7, 512):
        for u, v in zip(whole, nets.full_pass(X, X, T, idx, block)):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-6)
    no_heads = nets.full_pass(X, X, T, idx, 7, heads=False)
    assert no_heads[0] is None
    torch.testing.assert_close(no_heads[1], whole[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(no_heads[2], whole[2], rtol=0, atol=1e-6)
