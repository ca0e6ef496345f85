"""MCA loss terms, pseudo-labels and networks against hand-computed values."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skclip.cluster._mca_losses import (  # noqa: E402
    balance_entropy,
    image_consistency_loss,
    info_nce,
    instance_alignment_loss,
    mca_objective,
    prototype_alignment_loss,
    semantic_alignment_loss,
    semantic_centres,
    semantic_pseudo_labels,
    soft_prototypes,
    text_cluster_step,
)
from skclip.cluster._mca_nets import ClusterHead, TextAttention  # noqa: E402

LN2 = math.log(2.0)


def t(a):
    return torch.tensor(a, dtype=torch.float64)


def test_image_consistency_hand_value():
    p = t([[1.0, 0.0], [0.5, 0.5]])
    p_nb = t([[0.5, 0.5], [0.25, 0.75]])
    # dots 0.5 and 0.5 -> -log 0.5
    assert float(image_consistency_loss(p, p_nb)) == pytest.approx(LN2)
    # disjoint supports: the dot product is clamped at 1e-8
    p_nb = t([[0.0, 1.0], [0.5, 0.5]])
    expected = 0.5 * (-math.log(1e-8) - math.log(0.5))
    assert float(image_consistency_loss(p, p_nb)) == pytest.approx(expected)


def test_balance_entropy_hand_value():
    assert float(balance_entropy(t([[1.0, 0.0], [0.0, 1.0]]))) == pytest.approx(LN2)
    assert float(balance_entropy(t([[1.0, 0.0], [1.0, 0.0]]))) == pytest.approx(0.0, abs=1e-7)
    # p_bar = (0.75, 0.25)
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(balance_entropy(t([[1.0, 0.0], [0.5, 0.5]]))) == pytest.approx(expected)


def test_info_nce_hand_value():
    eye = t([[1.0, 0.0], [0.0, 1.0]])
    # logits = I / tau; each row's CE = log(1 + exp(-1/tau)), both directions equal
    assert float(info_nce(eye, eye, 1.0)) == pytest.approx(math.log(1 + math.exp(-1)))
    assert float(info_nce(eye, eye, 0.5)) == pytest.approx(math.log(1 + math.exp(-2)))
    # asymmetric case: a = I, b = [[1,0],[1,0]] -> logits [[1,1],[0,0]]
    b = t([[1.0, 0.0], [1.0, 0.0]])
    # rows: CE([1,1],0)=ln2, CE([0,0],1)=ln2; columns: [1,0]->0 gives log(1+e^-1),
    # [1,0]->1 gives log(1+e)
    expected = 0.5 * (LN2 + 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.e)))
    assert float(info_nce(eye, b, 1.0)) == pytest.approx(expected)


def test_instance_alignment_normalises():
    z = t([[2.0, 0.0], [0.0, 3.0]])
    zt = t([[0.5, 0.0], [0.0, 7.0]])
    assert float(instance_alignment_loss(z, zt, 0.5)) == pytest.approx(
        math.log(1 + math.exp(-2))
    )


def test_soft_prototypes_hand_value():
    p = t([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    z = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # k=0: (1,0) + 0.5*(1,1) = (1.5, 0.5); k=1: (0.5, 1.5)
    mu = soft_prototypes(p, z).numpy()
    n = math.sqrt(1.5**2 + 0.5**2)
    np.testing.assert_allclose(mu, [[1.5 / n, 0.5 / n], [0.5 / n, 1.5 / n]])


def test_prototype_alignment_hand_value():
    p = t([[1.0, 0.0], [0.0, 1.0]])
    z = t([[3.0, 0.0], [0.0, 2.0]])  # prototypes e1, e2 after normalisation
    zt = t([[0.0, 1.0], [1.0, 0.0]])
    q = t([[0.0, 1.0], [1.0, 0.0]])  # text prototypes: k=0 -> e1, k=1 -> e2
    assert float(prototype_alignment_loss(p, z, q, zt, 1.0)) == pytest.approx(
        math.log(1 + math.exp(-1))
    )
    # swapped text prototypes: positives have logit 0, negatives 1
    q_bad = t([[1.0, 0.0], [0.0, 1.0]])
    assert float(prototype_alignment_loss(p, z, q_bad, zt, 1.0)) == pytest.approx(
        math.log(1 + math.e)
    )


def test_semantic_alignment_hand_value():
    logits = t([[0.0, 0.0], [0.0, 0.0]])
    p = q = t([[0.5, 0.5], [0.5, 0.5]])
    y = torch.tensor([0, 1])
    # CE = ln2 for each head, agreement -log(0.5) = ln2
    assert float(semantic_alignment_loss(logits, logits, p, q, y)) == pytest.approx(3 * LN2)
    logits_img = t([[math.log(3.0), 0.0], [0.0, 0.0]])  # p_0 = (0.75, 0.25)
    p = torch.softmax(logits_img, dim=1)
    # image CE: mean(-log 0.75, ln2); text CE: ln2; agreement: both dots are 0.5
    expected = 0.5 * (-math.log(0.75) + LN2) + LN2 + LN2
    assert float(semantic_alignment_loss(logits_img, logits, p, q, y)) == pytest.approx(expected)


def test_mca_objective_combines_terms():
    g = torch.Generator().manual_seed(0)
    z, zt = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    logits, logits_nb, logits_t = (torch.randn(6, 3, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    weights = dict(lambda_ent=5.0, w_ins=1.0, w_pro=0.5, w_sem=0.1, tau_ins=0.5, tau_pro=0.3)
    total, terms = mca_objective((z, logits), (z, logits_nb), (zt, logits_t), y, **weights)
    p, p_nb, q = (torch.softmax(v, dim=1) for v in (logits, logits_nb, logits_t))
    expected = (
        image_consistency_loss(p, p_nb)
        - 5.0 * (balance_entropy(p) + balance_entropy(q))
        + instance_alignment_loss(z, zt, 0.5)
        + 0.5 * prototype_alignment_loss(p, z, q, zt, 0.3)
        + 0.1 * semantic_alignment_loss(logits, logits_t, p, q, y)
    )
    assert float(total) == pytest.approx(float(expected))
    assert set(terms) == {"consistency", "entropy", "instance", "prototype", "semantic"}
    # zero weights switch terms off (SIC-like objective without alignment)
    weights.update(w_ins=0.0, w_pro=0.0, w_sem=0.0)
    total, terms = mca_objective((z, logits), (z, logits_nb), (zt, logits_t), y, **weights)
    assert set(terms) == {"consistency", "entropy"}
    assert float(total) == pytest.approx(
        float(image_consistency_loss(p, p_nb) - 5.0 * (balance_entropy(p) + balance_entropy(q)))
    )


def _knn_fn(queries, base, k):
    from skclip.neighbors import knn

    return knn(queries, base, n_neighbors=k, exclude_self=False, device="cpu")[1]


def test_semantic_pseudo_labels_hand_value():
    X = t([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    proba = t([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    texts = t([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0], [0.0, -1.0]])
    # xi_c = 1: top 2 images per cluster -> c_0 = norm(1.8, 0.6), c_1 = norm(-0.6, 1.8)
    # xi_a = 1: nearest text of c_0 is (1, 0) (0.949 vs 0.822); of c_1 is (0.6, 0.8)
    # (0.569 vs 0.316 for (-1, 0))
    labels, centres = semantic_pseudo_labels(proba, X, X, texts, xi_c=1.0, xi_a=1,
                                             knn_fn=_knn_fn)
    np.testing.assert_allclose(centres.numpy(), [[1.0, 0.0], [0.6, 0.8]])
    # cos to h_0=(1,0) and h_1=(0.6,0.8): [1, .6], [.8, .96], [0, .8], [-.6, .28]
    assert labels.tolist() == [0, 1, 1, 1]
    # xi_a = 2 averages the two nearest texts; counterparts replace X in the argmax
    counterparts = t([[0.0, 1.0]] * 4)
    labels, centres = semantic_pseudo_labels(proba, X, counterparts, texts, xi_c=1.0,
                                             xi_a=2, knn_fn=_knn_fn)
    n = math.hypot(1.6, 0.8)
    np.testing.assert_allclose(centres[0].numpy(), [1.6 / n, 0.8 / n])
    assert labels.tolist() == [1, 1, 1, 1]


def test_attention_hand_value():
    att = TextAttention(2, tau=1.0).double()
    x = t([[1.0, 0.0]])
    texts = t([[[1.0, 0.0], [0.0, 1.0]]])
    s, alpha = att(x, texts)
    # identity init: the scores are the cosines (1, 0) over tau (no 1 / sqrt(d))
    a0 = 1.0 / (1.0 + math.exp(-1.0))
    np.testing.assert_allclose(alpha.detach().numpy(), [[a0, 1 - a0]])
    mixed = np.array([a0, 1 - a0])
    np.testing.assert_allclose(s.detach().numpy(), [mixed / np.linalg.norm(mixed)])
    # before W_v, the mixture is the same at identity init
    m, alpha_m = att.mixture(x, texts)
    np.testing.assert_allclose(m.detach().numpy(), s.detach().numpy())
    np.testing.assert_allclose(alpha_m.detach().numpy(), alpha.detach().numpy())
    # tau -> 0 is TAC's hard retrieval of the nearest text
    s, alpha = TextAttention(2, tau=1e-4).double()(x, texts)
    np.testing.assert_allclose(s.detach().numpy(), [[1.0, 0.0]], atol=1e-8)


def test_attention_selects_at_the_default_temperature():
    # unit 512-d vectors whose cosines to the query differ by a few hundredths, as
    # CLIP's nearest texts do: the default temperature selects, 1 / sqrt(d) would not
    g = torch.Generator().manual_seed(0)
    d, n_t = 512, 10
    x = torch.nn.functional.normalize(torch.randn(1, d, generator=g, dtype=torch.float64), dim=1)
    cosines = torch.linspace(0.30, 0.21, n_t, dtype=torch.float64)
    noise = torch.randn(n_t, d, generator=g, dtype=torch.float64)
    noise -= (noise @ x.T) * x  # orthogonal to x
    noise = torch.nn.functional.normalize(noise, dim=1)
    texts = (cosines[:, None] * x + (1 - cosines[:, None] ** 2).sqrt() * noise)[None]
    np.testing.assert_allclose((texts[0] @ x.T).squeeze().numpy(), cosines.numpy())
    peak = TextAttention(d).double().weights(x, texts).max().item()
    assert peak > 0.6  # softmax((0.30 - 0.21 * ...) / 0.01): the nearest text dominates
    flat = torch.softmax((texts[0] @ x.T).squeeze() / math.sqrt(d), dim=0).max().item()
    assert flat < 0.11  # the old 1 / sqrt(d) scaling: uniform (0.1)


def test_semantic_centres_index_the_texts():
    X = t([[1.0, 0.0], [0.0, 1.0]])
    proba = t([[1.0, 0.0], [0.0, 1.0]])
    texts = t([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    centres, nearest = semantic_centres(proba, X, texts, xi_c=0.5, xi_a=1, knn_fn=_knn_fn)
    assert nearest.tolist() == [[1], [0]]
    np.testing.assert_allclose(centres.numpy(), [[1.0, 0.0], [0.0, 1.0]])


def test_cluster_head_shapes_and_permutation():
    g = torch.Generator().manual_seed(0)
    head = ClusterHead(4, 3, head="linear", generator=g).double()
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    z, logits = head(x)
    assert torch.equal(z, x)  # linear head: the projector is the identity
    head.permute_clusters(torch.tensor([2, 0, 1]))
    np.testing.assert_allclose(head(x)[1].detach().numpy(), logits[:, [2, 0, 1]].detach().numpy())
    mlp = ClusterHead(4, 3, head="mlp", hidden_dim=6, generator=g).eval()
    z, logits = mlp(torch.randn(5, 4, generator=g))
    assert z.shape == (5, 6) and logits.shape == (5, 3) and bool((z >= 0).all())
    # the same generator state gives the same init
    a = ClusterHead(4, 3, generator=torch.Generator().manual_seed(1))
    b = ClusterHead(4, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.classifier.weight, b.classifier.weight)


def test_text_cluster_step_is_one_spherical_kmeans_step():
    g = torch.Generator().manual_seed(0)
    rows = torch.nn.functional.normalize(torch.randn(50, 6, generator=g), dim=1)
    centres = torch.nn.functional.normalize(torch.randn(3, 6, generator=g), dim=1)
    before = centres.clone()
    labels, new = text_cluster_step(rows, centres)
    assert torch.equal(centres, before)  # the previous centres are not changed in place
    assert torch.equal(labels, (rows @ centres.T).argmax(dim=1))
    for k in range(3):
        mine = rows[labels == k]
        if len(mine):
            expected = torch.nn.functional.normalize(mine.sum(dim=0), dim=0)
            torch.testing.assert_close(new[k], expected)
    torch.testing.assert_close(new.norm(dim=1), torch.ones(3))


def test_text_cluster_step_keeps_an_empty_cluster_and_its_index():
    rows = torch.tensor([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0]])
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # the third is empty
    labels, new = text_cluster_step(rows, centres)
    assert labels.tolist() == [0, 0, 1]
    torch.testing.assert_close(new[2], centres[2])
    torch.testing.assert_close(new[1], centres[1])
    # a second step from the new centres gives the same labels (a fixed point here)
    assert text_cluster_step(rows, new)[0].tolist() == [0, 0, 1]
