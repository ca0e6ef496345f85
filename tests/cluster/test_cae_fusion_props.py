"""Property tests (hypothesis) for CAE's text counterparts: the similarity weighting."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

torch = pytest.importorskip("torch")

from skclip.cluster._fusion import _SIGN_FLOOR, counterpart  # noqa: E402


def _unit(A):
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-6)


_finite = st.floats(-1, 1, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(X=arrays(np.float32, (4, 6), elements=_finite),
       T=arrays(np.float32, (5, 6), elements=_finite),
       g=arrays(np.float64, (5,), elements=st.floats(-0.05, 0.0)),
       eps=st.sampled_from([0.01, 0.1, 1.0]))
# positive part below the relative floor (found by CI): the plan's own weights are used
@example(X=np.array([[-0.625, 0, 0, 0, 0, 0]] + [[0] * 6] * 3, dtype=np.float32),
         T=np.array([[0, 0.625, 0, 0, 0, 0], [0, 0.5, 0, 0, 0, 0]] + [[0] * 6] * 3,
                    dtype=np.float32),
         g=np.zeros(5), eps=0.01)
def test_counterpart_is_a_nonnegative_mix_of_the_plan_texts(X, T, g, eps):
    X, T = _unit(X.astype(np.float64) + 1e-3), _unit(T.astype(np.float64) + 1e-3)
    g = g.astype(np.float64)
    c = counterpart(torch.as_tensor(X), torch.as_tensor(T), torch.as_tensor(g), eps,
                    True).numpy()
    S = X @ T.T
    L = (g[None] - 1 + S) / eps
    P = np.exp(L - L.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    # weights P_ij * max(S_ij, 0) >= 0 (P_ij where the positive part carries almost no
    # plan mass, the relative floor _SIGN_FLOOR): never a sign flip
    W = P * np.maximum(S, 0)
    empty = W.sum(1) <= _SIGN_FLOOR * P.sum(1)
    W[empty] = P[empty]
    expected = W @ T
    ok = np.linalg.norm(expected, axis=1) > 1e-6
    np.testing.assert_allclose(c[ok], _unit(expected)[ok], atol=1e-5)


@pytest.mark.parametrize("topk", [None, 2])
def test_all_negative_similarities_keep_the_counterpart_on_the_texts_side(topk):
    rng = np.random.default_rng(0)
    e = np.eye(8)[0]
    X = _unit(3 * e + rng.standard_normal((3, 8)))
    T = _unit(-3 * e + rng.standard_normal((4, 8)))  # every S_ij < 0
    assert (X @ T.T < 0).all()
    c = counterpart(torch.as_tensor(X), torch.as_tensor(T), torch.zeros(4, dtype=torch.float64),
                    0.05, True, topk=topk, tol=1e-6).numpy()
    L = (X @ T.T) / 0.05
    P = np.exp(L - L.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    # the plain P * S weighting would give -normalise(P T): the sign flip
    np.testing.assert_allclose(c, _unit(P @ T), atol=1e-6)
    assert ((c * (P @ T)).sum(1) > 0).all()
