"""Properties of the Sinkhorn solver (hypothesis) and its agreement with POT."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skclip.ot import OTResult, plan_rows, sinkhorn, sinkhorn_cosine

SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = [np.float32, np.float64]
# Tolerances reachable in each precision, and how close two solutions must agree.
TOL = {np.float32: 1e-5, np.float64: 1e-9}
ATOL = {np.float32: 1e-5, np.float64: 1e-8}


@st.composite
def problems(draw, max_n=12, max_m=10):
    """A cost in [0, scale], positive marginals, and eps >= scale / 8 (converges fast)."""
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 2.0, 10.0]))
    ratio = draw(st.sampled_from([0.125, 0.25, 1.0, 4.0]))
    uniform = draw(st.booleans())
    rng = np.random.RandomState(seed)
    C = rng.uniform(0, scale, size=(n, m))
    a = b = None
    if not uniform:
        a = rng.uniform(0.2, 1.0, n)
        b = rng.uniform(0.2, 1.0, m)
        a, b = a / a.sum(), b / b.sum()
    return C, a, b, ratio * scale


def _marginals(a, b, n, m):
    a = np.full(n, 1.0 / n) if a is None else a
    b = np.full(m, 1.0 / m) if b is None else b
    return a, b


def _solve(C, a, b, eps, dtype, **kw):
    a_ = None if a is None else a.astype(dtype)
    b_ = None if b is None else b.astype(dtype)
    return sinkhorn(C.astype(dtype), a_, b_, eps=eps, max_iter=20000, tol=TOL[dtype],
                    check_every=1, **kw)


METHODS = ["lbfgs", "sinkhorn"]


@SETTINGS
@given(problems(), st.sampled_from(DTYPES), st.sampled_from([None, 1, 3]),
       st.sampled_from(METHODS))
def test_marginals_met_and_err_is_honest(prob, dtype, block, method):
    C, a, b, eps = prob
    res = _solve(C, a, b, eps, dtype, block_size=block, method=method)
    assert res.converged
    assert res.plan.dtype == dtype and res.f.dtype == dtype and res.g.dtype == dtype
    a_, b_ = _marginals(a, b, *C.shape)
    plan = res.plan.astype(np.float64)
    row_err = np.abs(plan.sum(axis=1) - a_).sum()
    col_err = np.abs(plan.sum(axis=0) - b_).sum()
    assert max(row_err, col_err) <= TOL[dtype] + 10 * ATOL[dtype]
    # err, row_err and col_err describe the returned plan itself (float64 sums)
    assert res.row_err == pytest.approx(row_err / a_.sum(), rel=1e-6, abs=4 * float(np.finfo(dtype).eps))  # a, b cast to dtype
    assert res.col_err == pytest.approx(col_err / a_.sum(), rel=1e-6, abs=4 * float(np.finfo(dtype).eps))  # a, b cast to dtype
    assert res.err == max(res.row_err, res.col_err)
    assert res.converged == (res.err <= TOL[dtype])
    exact = row_err if method == "lbfgs" else col_err
    assert exact <= 10 * ATOL[dtype]  # the closed-form half-step is last
    # the plan is the exponential of its potentials
    logT = (res.f[:, None] + res.g[None, :] - C) / eps
    np.testing.assert_allclose(plan, np.exp(logT), rtol=1e-3 if dtype == np.float32 else 1e-7,
                               atol=ATOL[dtype])


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 20), st.integers(0, 2**31 - 1),
       st.sampled_from([1e-3, 3e-3, 1e-2, 0.1]), st.sampled_from(DTYPES),
       st.sampled_from([None, 7]), st.sampled_from(METHODS))
def test_small_eps_is_finite_and_nonnegative(n, m, seed, eps, dtype, block, method):
    rng = np.random.RandomState(seed)
    C = rng.uniform(0, 2, size=(n, m)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sinkhorn(C, eps=eps, max_iter=300, block_size=block, method=method)
    for arr in (res.plan, res.f, res.g):
        assert np.isfinite(arr).all()
    assert (res.plan >= 0).all()
    # the marginal of the closed-form half-step is exact after every pass, whatever eps
    # (rows for the default solver, columns for Sinkhorn iterations), up to the rounding
    # of the exponent (f + g - C) / eps, whose magnitude reaches max(C) / eps
    rtol = 1e-4 + 4 * np.finfo(dtype).eps * float(C.max()) / eps
    if method == "lbfgs":
        np.testing.assert_allclose(res.plan.sum(axis=1, dtype=np.float64), 1.0 / n, rtol=rtol)
    else:
        np.testing.assert_allclose(res.plan.sum(axis=0, dtype=np.float64), 1.0 / m, rtol=rtol)


@SETTINGS
@given(problems(), st.floats(-5, 5), st.sampled_from(DTYPES))
def test_invariant_to_constant_cost_shift(prob, shift, dtype):
    C, a, b, eps = prob
    r1 = _solve(C, a, b, eps, dtype)
    r2 = _solve(C + shift, a, b, eps, dtype)
    np.testing.assert_allclose(r1.plan, r2.plan, atol=10 * ATOL[dtype], rtol=1e-3)
    # potentials absorb the shift: f + g moves by exactly the constant
    s1 = r1.f[:, None] + r1.g[None, :]
    s2 = r2.f[:, None] + r2.g[None, :]
    np.testing.assert_allclose(s2 - s1, shift, atol=1e-2 * eps if dtype == np.float32 else 1e-6)


@SETTINGS
@given(problems(), st.integers(0, 2**31 - 1), st.sampled_from(DTYPES))
def test_equivariant_to_row_and_column_permutations(prob, seed, dtype):
    C, a, b, eps = prob
    n, m = C.shape
    a_, b_ = _marginals(a, b, n, m)
    rng = np.random.RandomState(seed)
    p, q = rng.permutation(n), rng.permutation(m)
    r1 = _solve(C, a_, b_, eps, dtype)
    r2 = _solve(C[p][:, q], a_[p], b_[q], eps, dtype)
    np.testing.assert_allclose(r2.plan, r1.plan[p][:, q], atol=10 * ATOL[dtype], rtol=1e-3)


@SETTINGS
@given(problems(), st.sampled_from(DTYPES), st.sampled_from([None, 2]))
def test_relaxed_columns_is_row_softmax(prob, dtype, block):
    C, a, b, eps = prob
    a_, _ = _marginals(a, b, *C.shape)
    res = sinkhorn(C.astype(dtype), a_.astype(dtype), eps=eps, relax_columns=True,
                   block_size=block)
    S = torch.softmax(torch.from_numpy(-C / eps), dim=1).numpy()
    np.testing.assert_allclose(res.plan, a_[:, None] * S, rtol=1e-4, atol=ATOL[dtype])
    assert res.converged and res.n_iter == 1
    np.testing.assert_array_equal(res.g, 0.0)
    np.testing.assert_allclose(plan_rows(C.astype(dtype), res.g, eps), S, rtol=1e-4,
                               atol=ATOL[dtype])


@SETTINGS
@given(problems(), st.sampled_from([None, 1, 4]), st.sampled_from(METHODS))
def test_agrees_with_pot_log_domain(prob, block, method):
    ot = pytest.importorskip("ot")
    C, a, b, eps = prob
    a_, b_ = _marginals(a, b, *C.shape)
    expected = ot.sinkhorn(a_, b_, C, eps, method="sinkhorn_log", numItermax=100000,
                           stopThr=1e-13)
    res = _solve(C, a_, b_, eps, np.float64, block_size=block, method=method)
    np.testing.assert_allclose(res.plan, expected, atol=1e-8, rtol=1e-5)


@SETTINGS
@given(problems(max_n=30), st.sampled_from(DTYPES), st.integers(1, 8), st.sampled_from(METHODS))
def test_streamed_equals_dense(prob, dtype, block, method):
    C, a, b, eps = prob
    dense = _solve(C, a, b, eps, dtype, method=method)
    streamed = _solve(C, a, b, eps, dtype, block_size=block, method=method)
    np.testing.assert_allclose(streamed.plan, dense.plan, atol=10 * ATOL[dtype], rtol=1e-3)
    lean = _solve(C, a, b, eps, dtype, block_size=block, return_plan=False, method=method)
    assert lean.plan is None
    np.testing.assert_allclose(lean.g - lean.g.mean(), dense.g - dense.g.mean(),
                               atol=1e-3 * eps if dtype == np.float32 else 1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relax", [False, True])
def test_cosine_streamed_equals_dense_cost(dtype, relax):
    rng = np.random.RandomState(0)
    X = rng.randn(50, 8).astype(dtype)
    Y = rng.randn(7, 8).astype(dtype)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    kw = dict(eps=0.05, tol=TOL[dtype], max_iter=5000, relax_columns=relax)
    ref = sinkhorn(1.0 - X @ Y.T, **kw)
    for block in (None, 6, 50, "auto"):
        res = sinkhorn_cosine(X, Y, block_size=block, **kw)
        assert res.converged and res.plan.dtype == dtype
        np.testing.assert_allclose(res.plan, ref.plan, atol=10 * ATOL[dtype], rtol=1e-3)
        # new rows transported with the stored potential reproduce the plan's rows
        P = plan_rows(1.0 - X @ Y.T, res.g, kw["eps"])
        np.testing.assert_allclose(P, ref.plan / ref.plan.sum(axis=1, keepdims=True),
                                   atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("block", [None, 16])
def test_underflowing_columns_are_recovered(block):
    # Column 0 is 1.5 farther than every alternative: exp(-1.5/1e-3) underflows at start.
    rng = np.random.RandomState(1)
    C = rng.uniform(0, 0.05, size=(64, 5)).astype(np.float32)
    C[:, 0] += 1.5
    res = sinkhorn(C, eps=1e-3, max_iter=20000, tol=1e-5, block_size=block)
    assert res.converged
    np.testing.assert_allclose(res.plan.sum(axis=0), 0.2, rtol=1e-4)
    np.testing.assert_allclose(res.plan.sum(axis=1), 1 / 64, rtol=1e-3)


def _clustered(n=3000, m=120, k=6, d=32, seed=0):
    """Unit rows around k centres with unequal cluster sizes; m texts split evenly."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d)
    sizes = rng.dirichlet(np.full(k, 20.0))
    y = rng.choice(k, size=n, p=sizes)
    X = centres[y] + rng.randn(n, d) * 0.6 / np.sqrt(d)
    T = centres[np.arange(m) % k] + rng.randn(m, d) * 0.4 / np.sqrt(d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    return X.astype(np.float32), T.astype(np.float32)


def test_clustered_data_converges_where_sinkhorn_stalls():
    # Cluster sizes differ from their texts' share: mass must cross clusters at a cost
    # gap of ~0.8 = 80 eps. Sinkhorn stalls at the cluster imbalance; L-BFGS
    # converges (issue: 1,000 Sinkhorn iterations ended at 1e-2).
    X, T = _clustered()
    with pytest.warns(ConvergenceWarning):
        slow = sinkhorn_cosine(X, T, eps=0.01, max_iter=300, method="sinkhorn",
                               return_plan=False)
    assert slow.err > 1e-3
    with warnings.catch_warnings():
        # the solver stops at 1e-6; the float32 plan rebuilt from its potentials may
        # sit just above (rounding), and then says so
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sinkhorn_cosine(X, T, eps=0.01, max_iter=1000, return_plan=True)
    assert res.n_iter < 1000 and res.err <= 2e-6
    plan = res.plan.astype(np.float64)
    np.testing.assert_allclose(plan.sum(axis=1), 1 / len(X), rtol=1e-4)
    col_err = np.abs(plan.sum(axis=0) - 1 / len(T)).sum()
    assert res.col_err == pytest.approx(col_err, abs=1e-7)
    assert res.converged == (res.err <= 1e-6)
    # without the plan the same optimum (potentials up to a constant)
    direct = sinkhorn_cosine(X, T, eps=0.01, max_iter=1000, return_plan=False)
    assert direct.converged
    np.testing.assert_allclose(direct.g - direct.g.mean(), res.g - res.g.mean(), atol=2e-4)


def test_torch_in_torch_out_and_numpy_in_numpy_out():
    C = np.random.RandomState(0).rand(6, 4)
    res = sinkhorn(torch.from_numpy(C).float(), eps=0.5)
    assert isinstance(res, OTResult)
    assert isinstance(res.plan, torch.Tensor) and res.plan.dtype == torch.float32
    assert isinstance(res.g, torch.Tensor)
    res_np = sinkhorn(C, eps=0.5)
    assert isinstance(res_np.plan, np.ndarray) and res_np.plan.dtype == np.float64
    np.testing.assert_allclose(res.plan.numpy(), res_np.plan, atol=1e-6)
    P = plan_rows(torch.from_numpy(C), res_np.g, 0.5)
    assert isinstance(P, torch.Tensor)


@pytest.mark.parametrize("method", METHODS)
def test_not_converged_warns_and_reports(method):
    C = np.random.RandomState(0).rand(30, 20)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = sinkhorn(C, eps=1e-3, max_iter=3, tol=1e-12, method=method)
    assert not res.converged and res.n_iter == 3 and res.err > 1e-12


def test_tolerance_checked_every_check_every_iterations():
    C = np.random.RandomState(0).rand(30, 20)
    res = sinkhorn(C, eps=0.05, tol=1e-6, check_every=7, max_iter=10000, method="sinkhorn")
    assert res.converged and res.n_iter % 7 == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cost=np.ones(3)), "2-D"),
        (dict(cost=np.array([[np.nan, 1.0]])), "NaN"),
        (dict(cost=np.ones((2, 2)), eps=0), "eps"),
        (dict(cost=np.ones((2, 2)), a=np.ones(3) / 3), "entries"),
        (dict(cost=np.ones((2, 2)), a=np.array([1.0, 0.0]), b=np.array([0.5, 0.5])), "positive"),
        (dict(cost=np.ones((2, 2)), a=np.array([1.0, 1.0])), "equal mass"),
        (dict(cost=np.ones((2, 2)), block_size=0), "block_size"),
        (dict(cost=np.ones((2, 2)), max_iter=0), "max_iter"),
        (dict(cost=np.ones((0, 2))), "non-empty"),
        (dict(cost=np.ones((2, 2)), method="newton"), "method"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sinkhorn(**kwargs)


def test_bad_input_cosine_and_plan_rows():
    with pytest.raises(ValueError, match="dimensions"):
        sinkhorn_cosine(np.ones((3, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="columns"):
        plan_rows(np.ones((3, 2)), np.zeros(3), 0.1)
    with pytest.raises(TypeError, match="numeric"):
        sinkhorn(np.array([["a", "b"]]))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.RandomState(0)
    X = rng.randn(500, 16).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    cpu = sinkhorn_cosine(X, X[:40], eps=0.02, device="cpu")
    for block in (None, 64):
        gpu = sinkhorn_cosine(torch.from_numpy(X).cuda(), torch.from_numpy(X[:40]).cuda(),
                              eps=0.02, block_size=block)
        assert gpu.plan.is_cuda
        np.testing.assert_allclose(gpu.plan.cpu().numpy(), cpu.plan, atol=1e-6)


@pytest.mark.parametrize("block", [None, 5])
def test_verbose_progress_runs(block, capsys):
    C = np.random.RandomState(0).rand(20, 6)
    res = sinkhorn(C, eps=0.1, verbose=1, block_size=block)
    assert res.converged
