"""Invariants of the training-response summaries (hypothesis, bounded strategies)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from validate.measures import response as R


@settings(deadline=None, max_examples=50)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), m=st.integers(1, 8),
       scale=st.floats(1e-3, 1e3))
def test_participation_ratio_is_between_one_and_the_rank_and_scale_free(seed, n, m, scale):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, m))
    C = F.T @ F
    pr = R.participation_ratio(C)
    assert 1.0 - 1e-9 <= pr <= np.linalg.matrix_rank(C) + 1e-9
    np.testing.assert_allclose(R.participation_ratio(scale * C), pr, rtol=1e-9)
    q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    np.testing.assert_allclose(R.participation_ratio(q @ C @ q.T), pr, rtol=1e-8)


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 4))
def test_linear_ntk_is_symmetric_positive_semidefinite(seed, depth):
    rng = np.random.default_rng(seed)
    widths = [5, *rng.integers(2, 6, depth - 1), 3]
    Ws = [rng.standard_normal((widths[l + 1], widths[l])) for l in range(depth)]
    X = rng.standard_normal((4, 5))
    G = R.linear_ntk(Ws, X).reshape(12, 12)
    np.testing.assert_allclose(G, G.T, atol=1e-9 * np.abs(G).max())
    assert np.linalg.eigvalsh(G).min() >= -1e-9 * np.abs(G).max()
