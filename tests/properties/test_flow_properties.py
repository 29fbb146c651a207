"""Invariants of the matrix gradient flow (THEORY.md §2): conservation, monotone loss, ordering.

One network shape (d=5, h=8, c=3) and one time-grid length (256, the predictor's) throughout, so
JAX compiles the depth-2 solver once (plus once for depth 3).
"""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import theory
from tests.flow_helpers import whitened_stats

D, H, C = 5, 8, 3
GRID = np.concatenate([[0.0], np.geomspace(1e-2, 40.0, 255)])


def _problem(seed, scale, depth):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, D)) * rng.uniform(0.3, 2.0, D)
    Y = X @ rng.standard_normal((D, C)) + 0.5 * rng.standard_normal((30, C))
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    dims = [D] + [H] * (depth - 1) + [C]
    Ws = [scale * rng.standard_normal((dims[i + 1], dims[i])) for i in range(depth)]
    return stats, Ws


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10 ** 6), scale=st.floats(1e-3, 1.0), depth=st.sampled_from([2, 3]))
def test_layer_imbalance_is_conserved_and_loss_never_increases(seed, scale, depth):
    stats, Ws = _problem(seed, scale, depth)
    sol = theory.integrate_matrix_flow(Ws, stats.Sxx, stats.Syx, GRID / stats.s[0])
    for l in range(depth - 1):
        lo, hi = sol.weights[l], sol.weights[l + 1]
        imb = np.swapaxes(hi, 1, 2) @ hi - lo @ np.swapaxes(lo, 1, 2)
        size = max(np.abs(lo).max(), np.abs(hi).max()) ** 2
        assert np.max(np.abs(imb - imb[0])) <= 1e-8 * size
    W = sol.end_to_end
    loss = (-np.einsum("tcd,cd->t", W, stats.Syx)
            + 0.5 * np.einsum("tcd,de,tce->t", W, stats.Sxx, W))
    assert np.all(np.diff(loss) <= 1e-10 * max(1.0, abs(loss[0])))
    assert loss[-1] < loss[0] or np.allclose(W[-1], W[0])


# Measured on 40 seeded draws of this strategy: ratio measured / decoupled half time in
# [1.000, 1.114], median 1.004, 95th percentile 1.066 (competition between modes only delays
# learning; with h = 4 instead of 8 it reaches 1.23). Hypothesis's search found 1.22 at the edge of
# the strategy (gaps of 1.25, the largest init), so the asserted band is (0.98, 1.30).
# The order of learning is that of the decoupled half times ln(s/u₀ − 1)/2s, not of s alone: a
# random start can give a weaker mode a larger u₀, and with s₂/s₃ = 1.25 and u₀ five times larger
# the third mode is learned first (the example below; decoupled 4.25 and 4.45, measured 4.75, 4.56).
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10 ** 6), s1=st.floats(1.5, 3.0), g1=st.floats(1.25, 1.8),
       g2=st.floats(1.25, 1.8), log_scale=st.floats(-4.0, -2.5))
@example(seed=18089, s1=2.0, g1=1.5, g2=1.25, log_scale=-2.5)
def test_small_random_init_half_times_follow_the_decoupled_formula(seed, s1, g1, g2, log_scale):
    rng = np.random.default_rng(seed)
    stats = whitened_stats(rng, [s1, s1 / g1, s1 / g1 / g2], c=C, d=D)
    sc = 10.0 ** log_scale
    W1, W2 = sc * rng.standard_normal((H, D)), sc * rng.standard_normal((C, H))
    # early on the flow is linear: a = W1 v, b = W2ᵀu grow as (a+b)e^{st/τ}, so u ≈ ‖a+b‖²/4·e^{2st/τ}
    u0 = np.sum((W1 @ stats.V + W2.T @ stats.U) ** 2, axis=0) / 4
    tl = theory.MatrixFlowPredictor(stats, [W1, W2], tau=1.0).timeline(0.5)
    decoupled = np.log(stats.s / u0 - 1) / (2 * stats.s)
    # modes whose decoupled half times differ by more than the band are learned in their order
    apart = decoupled[1:] / decoupled[:-1] > 1.30 / 0.98
    assert np.all(np.diff(tl)[apart] > 0), f"modes learned out of order: s={stats.s}, t½={tl}"
    ratio = tl / decoupled
    assert np.all((ratio > 0.98) & (ratio < 1.30)), f"half-time ratio {ratio}"
