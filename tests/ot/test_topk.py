"""Certified top-k plan rows (skclip.ot.topk_plan_rows) against the dense rows."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skclip.ot import plan_rows, topk_plan_rows

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def rows_problems(draw):
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    eps = draw(st.sampled_from([0.01, 0.05, 0.3]))
    rng = np.random.RandomState(seed)
    C = rng.uniform(0, 2, size=(n, m))
    g = rng.uniform(-0.2, 0.2, size=m)
    return C, g, eps


@SETTINGS
@given(rows_problems(), st.integers(1, 50), st.sampled_from([0.0, 1e-6, 1e-3, 0.1]),
       st.sampled_from([np.float32, np.float64]))
def test_kept_entries_are_the_dense_ones_and_outside_mass_is_exact(prob, k, tol, dtype):
    C, g, eps = prob
    C, g = C.astype(dtype), g.astype(dtype)
    idx, P, outside = topk_plan_rows(C, g, eps, k, tol=tol)
    dense = plan_rows(C, g, eps).astype(np.float64)
    n, m = C.shape
    atol = 1e-6 if dtype == np.float32 else 1e-12
    assert idx.shape[0] == n and idx.shape[1] <= m and P.shape == idx.shape
    assert np.all(outside <= tol + atol)
    for i in range(n):
        live = P[i] > 0
        cols = idx[i][live]
        assert len(set(cols.tolist())) == len(cols)  # no column twice
        np.testing.assert_allclose(P[i][live], dense[i, cols], rtol=1e-4, atol=atol)
        rest = np.setdiff1d(np.arange(m), cols)
        np.testing.assert_allclose(outside[i], dense[i, rest].sum(), rtol=1e-3, atol=atol)


@SETTINGS
@given(rows_problems())
def test_k_at_least_m_is_the_dense_plan(prob):
    C, g, eps = prob
    n, m = C.shape
    idx, P, outside = topk_plan_rows(C, g, eps, m + 3, tol=0.0)
    full = np.zeros((n, m))
    np.put_along_axis(full, idx, P, axis=1)
    np.testing.assert_allclose(full, plan_rows(C, g, eps), atol=1e-12)
    assert np.all(outside == 0)


def test_rows_grow_until_certified():
    # a flat row (all columns nearly equal) needs every column; a sharp one needs one
    C = np.array([[0.0] + [1.0] * 99, np.linspace(0, 1e-3, 100)])
    idx, P, outside = topk_plan_rows(C, np.zeros(100), eps=0.05, k=2, tol=1e-6)
    assert idx.shape[1] == 100  # 2 -> 8 -> 32 -> 100 for the flat row
    assert outside[1] == 0 and outside[0] <= 1e-6
    assert P[0, 0] > 0.999 and np.count_nonzero(P[0]) <= 2


def test_ties_towards_smaller_column_and_torch_in_torch_out():
    C = torch.tensor([[0.5, 0.0, 0.0, 0.0]], dtype=torch.float64)
    idx, P, outside = topk_plan_rows(C, torch.zeros(4, dtype=torch.float64), 0.1, 2,
                                     tol=1.0)
    assert isinstance(idx, torch.Tensor) and idx.tolist() == [[1, 2]]
    assert float(outside[0]) == pytest.approx(float(1 - P.sum()), rel=1e-12)


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"eps": 0.0}, ValueError),
        ({"k": 0}, ValueError),
        ({"k": 2.5}, ValueError),
        ({"tol": -1.0}, ValueError),
        ({"g": np.zeros(3)}, ValueError),
        ({"cost_rows": np.array([["a", "b"]])}, TypeError),
        ({"cost_rows": np.array([[np.nan, 0.0]])}, ValueError),
    ],
)
def test_bad_input(kw, err):
    args = {"cost_rows": np.zeros((2, 2)), "g": np.zeros(2), "eps": 0.1, "k": 1,
            "tol": 1e-6}
    args.update(kw)
    tol = args.pop("tol")
    with pytest.raises(err):
        topk_plan_rows(**args, tol=tol)
