import numpy as np
import pytest

from skclip.ot import semirelaxed_potential, sinkhorn_cosine


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def _data(n=120, m=9, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = _unit(rng.standard_normal((n, d)))
    T = _unit(X[rng.choice(n, m, replace=False)] + 0.3 * rng.standard_normal((m, d)))
    return X, T


def _columns(X, T, g, eps):
    L = (g[None] - 1.0 + X @ T.T) / eps
    P = np.exp(L - L.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    return P.sum(0) / len(X)


def test_rho_interpolates_between_softmax_and_balanced():
    X, T = _data()
    eps = 0.05
    soft = _columns(X, T, np.zeros(len(T)), eps)
    cols = [_columns(X, T, semirelaxed_potential(X, T, eps=eps, rho=r, max_iter=2000).g, eps)
            for r in (0.0, 0.01, 0.1, 1.0)]
    np.testing.assert_allclose(cols[0], soft)
    dev = [np.abs(c - 1 / len(T)).sum() for c in cols]
    assert all(a > b for a, b in zip(dev, dev[1:]))  # closer to balanced as rho grows
    # a large penalty approaches the balanced plan of the Sinkhorn solver
    bal = _columns(X, T, np.asarray(sinkhorn_cosine(X, T, eps=eps, tol=1e-9).g), eps)
    assert np.abs(bal - 1 / len(T)).sum() < 1e-6
    assert dev[-1] < 0.2 * dev[0]


def test_fixed_point_and_residual_describe_the_returned_potential():
    X, T = _data(seed=1)
    eps, rho = 0.02, 0.05
    res = semirelaxed_potential(X, T, eps=eps, rho=rho, tol=1e-8)
    assert res.converged and res.err <= 1e-8 and res.n_iter < 200
    col = _columns(X, T, res.g, eps)
    np.testing.assert_allclose(res.g, rho * np.log((1 / len(T)) / col), atol=1e-6)
    short = semirelaxed_potential(X, T, eps=eps, rho=rho, max_iter=2, tol=1e-12)
    assert not short.converged
    col = _columns(X, T, short.g, eps)
    assert short.err == pytest.approx(np.abs(short.g - rho * np.log(1 / len(T) / col)).max(),
                                      rel=1e-6)


def test_blocks_do_not_change_the_result_and_dtype_is_kept():
    X, T = _data(n=100)
    a = semirelaxed_potential(X.astype(np.float32), T.astype(np.float32), block=7)
    b = semirelaxed_potential(X.astype(np.float32), T.astype(np.float32), block=1000)
    assert a.g.dtype == np.float32
    np.testing.assert_allclose(a.g, b.g, atol=1e-6)


@pytest.mark.parametrize("kw, match", [(dict(eps=0.0), "eps > 0"), (dict(rho=-1.0), "rho"),
                                       (dict(block=0), "block")])
def test_bad_arguments(kw, match):
    X, T = _data()
    with pytest.raises(ValueError, match=match):
        semirelaxed_potential(X, T, **kw)
    with pytest.raises(ValueError, match="same width"):
        semirelaxed_potential(X, T[:, :3])
