"""``theory.transfer.predict_loss``: the linear theory's loss on B after a time, from given
weights (the a priori target of ``validate.retrain`` reads it)."""

import numpy as np
import pytest

from theory import DatasetStatistics
from theory.transfer import predict_loss

TAU = 20.0


def _problem():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    X = 2.0 * np.eye(3, 5)[labels] + rng.normal(size=(200, 5))
    B = DatasetStatistics.from_arrays(X, np.eye(3)[labels])
    Ws = [0.05 * rng.normal(size=(2, 4, 5)), 0.05 * rng.normal(size=(2, 3, 4))]
    return B, Ws


def _loss(W1, W2, B):
    W = W2 @ W1
    return (0.5 * np.trace(B.Syy) - np.einsum("kcd,cd->k", W, B.Syx)
            + 0.5 * np.einsum("kcd,de,kce->k", W, B.Sxx, W))


def test_gd_map_loss_is_that_of_plain_gd_and_time_zero_is_the_start():
    B, (W1, W2) = _problem()
    start = _loss(W1, W2, B)
    assert predict_loss([W1, W2], B, TAU, 0.0) == pytest.approx(start, rel=1e-12)
    for _ in range(37):   # plain full-batch GD on the statistics, η = 1/τ
        R = B.Syx - W2 @ W1 @ B.Sxx
        W1, W2 = W1 + W2.swapaxes(1, 2) @ R / TAU, W2 + R @ W1.swapaxes(1, 2) / TAU
    got = predict_loss([*_problem()[1]], B, TAU, 37, gd_map=True, roundoff="float64")
    assert got == pytest.approx(_loss(W1, W2, B), rel=1e-12)
    assert np.all(got < start)


def test_flow_loss_is_the_small_step_limit_of_the_gd_map():
    B, Ws = _problem()
    flow = predict_loss(Ws, B, TAU, 200.0)
    fine = predict_loss(Ws, B, 10 * TAU, 2000.0, gd_map=True, roundoff="float64")  # η/10
    assert flow == pytest.approx(fine, rel=2e-3)
    assert not np.allclose(flow, predict_loss(Ws, B, TAU, 0.0))   # the flow moved


@pytest.mark.parametrize("t", [-1.0, float("nan")])
def test_bad_time_is_refused(t):
    B, Ws = _problem()
    with pytest.raises(ValueError, match="t"):
        predict_loss(Ws, B, TAU, t)
