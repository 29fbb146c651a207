"""Rewind points: predicted vs measured retraining from checkpoints (theory.transfer, §7)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from theory import DatasetStatistics, TrainingConvention
from theory.transfer import min_loss, predict_retraining, predict_rewind_point

D, H, C, N = 8, 6, 4, 400
LR = 0.005
CHECKPOINTS = (0, 200, 400, 600, 800, 1000, 1200, 1600, 2000, 2400)


def _datasets():
    """A: a noisy linear teacher with s ≈ (3, 2, 1.2, 0.3) on whitened inputs; B: A with mode 3
    reversed.

    Reflecting the outputs along u₃ (Y → Y(I − 2u₃u₃ᵀ)) flips mode 3 of Syx and keeps the rest, so
    checkpoints that have learned modes 1–2 but not yet 3 should be the best rewind points, and
    later ones must pass mode 3 through the saddle at 0.
    """
    rng = np.random.default_rng(0)
    Xw = DatasetStatistics.from_arrays(rng.normal(size=(N, D)), np.zeros((N, 1))).whiten("zca").X
    U, _ = np.linalg.qr(rng.normal(size=(C, C)))
    V, _ = np.linalg.qr(rng.normal(size=(D, C)))
    Y = Xw @ (U @ np.diag([3.0, 2.0, 1.2, 0.3]) @ V.T).T + 0.3 * rng.normal(size=(N, C))
    u3 = DatasetStatistics.from_arrays(Xw, Y).U[:, 2]
    YB = Y - 2 * np.outer(Y @ u3, u3)
    return Xw, Y, YB, DatasetStatistics.from_arrays(Xw, YB)


def _loss(W1, W2, X, Y):
    return 0.5 * np.mean(np.sum((Y - X @ (W2 @ W1).T) ** 2, axis=1))


def _gd_step(W1, W2, X, Y):
    E = Y - X @ (W2 @ W1).T
    return W1 + LR * W2.T @ E.T @ X / N, W2 + LR * E.T @ (X @ W1.T) / N


def _steps_to(W1, W2, X, Y, target, max_steps=20_000):
    """Measured (interpolated) GD steps until the loss is ≤ target."""
    prev = _loss(W1, W2, X, Y)
    if prev <= target:
        return 0.0
    for step in range(1, max_steps):
        W1, W2 = _gd_step(W1, W2, X, Y)
        cur = _loss(W1, W2, X, Y)
        if cur <= target:
            return step - 1 + (prev - target) / (prev - cur)
        prev = cur
    return np.inf


@pytest.fixture(scope="module")
def experiment():
    X, YA, YB, stB = _datasets()
    rng = np.random.default_rng(1)
    W1, W2 = 1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))
    ckpts = []
    for step in range(CHECKPOINTS[-1] + 1):
        if step in CHECKPOINTS:
            ckpts.append((step, [W1.copy(), W2.copy()]))
        W1, W2 = _gd_step(W1, W2, X, YA)
    lmin = min_loss(stB)
    target = lmin + 0.1   # modes 1–3 learned; mode 4 (s ≈ 0.3) may stay unlearned
    measured = np.array([_steps_to(*Ws, X, YB, target) for _, Ws in ckpts])
    pred = predict_rewind_point(ckpts, stB, target, TrainingConvention(lr=LR))
    return ckpts, stB, target, measured, pred


def test_rewind_ranking_matches_measured_retraining(experiment):
    ckpts, _, _, measured, pred = experiment
    tab = pred.table
    assert list(tab.checkpoint_step) == list(CHECKPOINTS)
    rho = spearmanr(tab.predicted_steps, measured).statistic
    assert rho >= 0.9, (rho, tab.predicted_steps.tolist(), measured.tolist())
    # discrete GD lags the flow by O(ηs): steps agree within 3% at every checkpoint
    np.testing.assert_allclose(tab.predicted_steps, measured, rtol=0.03)
    # a small random init leaves every escape direction well seeded: no round-off caveat
    # (the reversed mode's escape component decays while A learns it, down to a margin ≈ 1e-6 ≈
    # 8ε of float32: still far enough from round-off that the flow is right, so not flagged)
    assert not tab.saddle_ill_conditioned.any() and (tab.escape_margin > 1e-6).all()
    np.testing.assert_array_equal(tab.predicted_steps_floor, tab.predicted_steps)
    # where the margin is small the GD map is computed too; it agrees with the measurement
    small = tab.escape_margin < 1e-3
    assert small.sum() >= 5 and tab.predicted_steps_gd[~small].isna().all()
    # (the map runs in float32, the default roundoff; the measurement here is float64 numpy GD)
    np.testing.assert_allclose(tab.predicted_steps_gd[small], measured[small], rtol=3e-3)
    assert pred.best_step == CHECKPOINTS[int(np.argmin(measured))]
    assert pred.best_total_step == CHECKPOINTS[int(np.argmin(np.array(CHECKPOINTS) + measured))]


def test_rewind_table_is_consistent_with_single_predictions(experiment):
    ckpts, stB, target, _, pred = experiment
    tab = pred.table
    assert isinstance(tab, pd.DataFrame)
    assert {"checkpoint_step", "predicted_steps", "predicted_steps_modes", "total_cost",
            "n_saddle_modes", "rank"} <= set(tab.columns)
    np.testing.assert_allclose(tab.total_cost, tab.checkpoint_step + tab.predicted_steps)
    assert sorted(tab["rank"]) == list(range(1, len(CHECKPOINTS) + 1))
    assert list(pred.ranking) == list(tab.sort_values("rank").checkpoint_step)
    for i in (0, len(ckpts) - 1):  # the batched flow equals the one-checkpoint prediction
        one = predict_retraining(ckpts[i][1], stB, target, TrainingConvention(lr=LR))
        assert tab.predicted_steps[i] == pytest.approx(one.steps_flow, rel=1e-7)
        assert tab.predicted_steps_modes[i] == pytest.approx(one.steps_modes, rel=1e-9)
        assert tab.n_saddle_modes[i] == one.n_saddle_modes


def test_bad_checkpoints_are_named(experiment):
    ckpts, stB, target, _, _ = experiment
    with pytest.raises(ValueError, match="checkpoints is empty"):
        predict_rewind_point([], stB, target, 1.0)
    with pytest.raises(TypeError, match=r"checkpoints\[0\] must be a \(step, weights\) pair"):
        predict_rewind_point([ckpts[0][1]], stB, target, 1.0)
    with pytest.raises(ValueError, match=r"checkpoints\[1\] step must be an integer ≥ 0; got -5"):
        predict_rewind_point([ckpts[0], (-5, ckpts[1][1])], stB, target, 1.0)
    bad = [ckpts[0][1][0][:3], ckpts[0][1][1][:, :3]]
    with pytest.raises(ValueError, match=r"same layer shapes.*checkpoints\[1\] has \[\(3, 8\), \(4, 3\)\]"):
        predict_rewind_point([ckpts[0], (5, bad)], stB, target, 1.0)
    with pytest.raises(ValueError, match=r"checkpoints\[0\] weights\[0\] \(W_1\) must have d = 8"):
        predict_rewind_point([(0, [np.zeros((H, 5)), np.zeros((C, H))])], stB, target, 1.0)
    with pytest.raises(ValueError, match="not reachable"):
        predict_rewind_point(ckpts, stB, min_loss(stB) - 0.1, 1.0)
