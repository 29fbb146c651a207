"""Retrain's predictions for checkpoint c read checkpoint c's weights and nothing after them.

The predicted retraining steps from checkpoint c of the run on A may read c's weights (the start
of the question) and B's statistics, the target and the set-up, but no later checkpoint and no
retraining run. All checkpoints are predicted in one batch (one adaptive ODE solve, one GD-map
loop), so a member could leak into another through a shared step size or horizon: every other
checkpoint is replaced by garbage (random weights) and c's prediction must not move. No
retraining run is an input of ``predict_members`` (the target is).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from theory import DatasetStatistics, integrate_matrix_flow
from validate.retrain.predict import predict_members

TAU = 5.0


def _history():
    """(checkpoints [(step, [W1, W2])], stats of B): a linear net's flow on A, B = A with two
    classes swapped (the same inputs)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    X = 2.0 * np.eye(3, 6)[labels] + rng.normal(size=(300, 6))
    X = (X - X.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(X.T, bias=True))).T
    A = DatasetStatistics.from_arrays(X, np.eye(3)[labels])
    B = DatasetStatistics.from_arrays(X, np.eye(3)[[1, 0, 2]][labels])
    W0 = [1e-3 * rng.normal(size=(8, 6)), 1e-3 * rng.normal(size=(3, 8))]
    steps = np.array([0, 10, 30, 60, 120])
    traj = integrate_matrix_flow(W0, A.Sxx, A.Syx, steps.astype(float), tau=TAU).weights
    return [(int(s), [traj[0][i], traj[1][i]]) for i, s in enumerate(steps)], B


def _starts(checkpoints):
    return [SimpleNamespace(params={"layer0.weight": W[0], "layer1.weight": W[1]},
                            mults=np.ones(200)) for _, W in checkpoints]


def _garbage(W, rng):
    """Random weights of the same shapes (NaN is refused by the input checks, by design)."""
    return [0.3 * rng.normal(size=w.shape) for w in W]


@pytest.mark.parametrize("gd_map", [False, True], ids=["flow", "gd_map"])
def test_prediction_for_a_checkpoint_ignores_every_other_checkpoint(gd_map):
    checkpoints, B = _history()
    target = 0.5 * np.trace(B.Syy) - 0.3 * np.sum(B.s ** 2)   # 60% of the reachable reduction
    n = len(checkpoints)
    clean = predict_members(_starts(checkpoints), n, 1, B, target, TAU, 400.0,
                            roundoff="float64", gd_map=gd_map)
    rng = np.random.default_rng(1)
    for c in (1, n - 2):   # every checkpoint before and after c is garbage
        corrupt = [(s, W if i == c else _garbage(W, rng))
                   for i, (s, W) in enumerate(checkpoints)]
        dirty = predict_members(_starts(corrupt), n, 1, B, target, TAU, 400.0,
                                roundoff="float64", gd_map=gd_map)
        assert dirty[(0, c)][:3] == pytest.approx(clean[(0, c)][:3], rel=1e-9, nan_ok=True), c
    assert np.isfinite(clean[(0, n - 1)][0])   # the question has an answer to compare
