"""The sparse balanced solver (sinkhorn_cosine(topk=...)): agreement and certified marginals."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skclip.ot import sinkhorn_cosine

SETTINGS = settings(max_examples=10, deadline=None)


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@st.composite
def cosine_problems(draw):
    n = draw(st.integers(2, 30))
    m = draw(st.integers(1, 12))
    d = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    eps = draw(st.sampled_from([0.05, 0.2, 1.0]))
    rng = np.random.RandomState(seed)
    return _unit(rng.randn(n, d)), _unit(rng.randn(m, d)), eps


@SETTINGS
@given(cosine_problems())
def test_all_columns_kept_is_the_dense_solution(prob):
    X, Y, eps = prob
    kw = dict(eps=eps, tol=1e-9, max_iter=5000)
    dense = sinkhorn_cosine(X, Y, **kw)
    sparse = sinkhorn_cosine(X, Y, topk=len(Y), **kw)
    assert sparse.certified and sparse.topk == len(Y) and not dense.certified
    assert sparse.row_err <= 1e-8 and sparse.col_err <= 1e-8
    np.testing.assert_allclose(sparse.plan, dense.plan, atol=1e-7)
    shift = np.mean(sparse.g - dense.g)
    np.testing.assert_allclose(sparse.g - shift, dense.g, atol=1e-6)


def _clustered(n=600, m=40, K=4, seed=0):
    """Imbalanced image clusters, equally many texts per cluster: the case where
    neighbourhoods by cost alone are infeasible for balanced OT."""
    rng = np.random.RandomState(seed)
    C = _unit(rng.randn(K, 16))
    y = rng.choice(K, size=n, p=[0.4, 0.3, 0.2, 0.1])
    X = _unit(C[y] + 0.8 * rng.randn(n, 16) / 4)
    Y = _unit(C[np.arange(m) % K] + 0.8 * rng.randn(m, 16) / 4)
    return X, Y


@pytest.mark.parametrize("dtype, floor", [(np.float64, 1e-8), (np.float32, 1e-5)])
def test_marginals_certified_with_few_columns_on_clustered_data(dtype, floor):
    X, Y = _clustered()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = sinkhorn_cosine(X.astype(dtype), Y.astype(dtype), eps=0.01, tol=floor,
                              topk=4, max_iter=3000, return_plan=True)  # 10 texts per cluster: k grows
    assert res.certified and res.converged and 4 <= res.topk < len(Y)  # grown if needed
    assert max(res.row_err, res.col_err) <= floor
    # the certificate is honest: the full plan's marginals, measured here
    P = res.plan.astype(np.float64)
    assert np.abs(P.sum(axis=1) - 1 / len(X)).sum() <= 2 * floor + 1e-6
    assert np.abs(P.sum(axis=0) - 1 / len(Y)).sum() <= 2 * floor + 1e-6
    dense = sinkhorn_cosine(X, Y, eps=0.01, tol=1e-9, max_iter=5000)
    g = res.g.astype(np.float64)
    np.testing.assert_allclose(g - g.mean(), dense.g - dense.g.mean(), atol=1e-4)


def test_warns_when_the_certificate_fails():
    X, Y = _clustered(seed=1)
    with pytest.warns(ConvergenceWarning, match="certified marginal errors"):
        res = sinkhorn_cosine(X, Y, eps=0.01, tol=1e-12, topk=1, max_iter=3)
    assert res.certified and not res.converged


def test_auto_and_bad_topk():
    X, Y = _clustered(n=50, m=8)
    assert sinkhorn_cosine(X, Y, eps=0.1, topk="auto").topk is None  # small: dense
    for bad in (0, -1, 2.5, "all", True):
        with pytest.raises(ValueError, match="topk"):
            sinkhorn_cosine(X, Y, eps=0.1, topk=bad)


def _clustered_problem(seed=0, n=300, m=30, d=8):
    rng = np.random.RandomState(seed)
    centres = _unit(rng.randn(3, d))
    lab = rng.choice(3, n, p=[0.7, 0.2, 0.1])  # cluster sizes unlike their text shares
    X = _unit(centres[lab] + 0.2 * rng.randn(n, d)).astype(np.float32)
    Y = _unit(centres[np.arange(m) % 3] + 0.2 * rng.randn(m, d)).astype(np.float32)
    return X, Y


def test_failed_sparse_solve_returns_a_finite_plan_and_says_so():
    X, Y = _clustered_problem()
    with pytest.warns(ConvergenceWarning):
        res = sinkhorn_cosine(X, Y, eps=0.01, topk=2, max_iter=3)
    assert not res.converged and res.certified
    assert np.isfinite(res.plan).all() and (res.plan >= 0).all()
    assert np.isfinite(res.f).all() and np.isfinite(res.g).all()
    # rows are exact; the errors describe this plan
    np.testing.assert_allclose(res.plan.sum(axis=1, dtype=np.float64), 1 / len(X), rtol=1e-4)
    col = np.abs(res.plan.sum(axis=0, dtype=np.float64) - 1 / len(Y)).sum()
    assert res.col_err == pytest.approx(col, abs=1e-6) and res.err >= res.col_err
