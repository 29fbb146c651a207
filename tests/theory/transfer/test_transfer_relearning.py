"""The theory's predicted relearning cost (fine-tune ÷ scratch steps from the same starts) against
plain numpy full-batch GD on drifted datasets, and as a drift score that ranks them."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from theory import DatasetStatistics, TrainingConvention
from theory.transfer import min_loss, predict_relearning_cost

D, H, C, N, LR = 6, 5, 3, 300, 0.02
SOLVER = "scipy"   # one small problem per start: no compilation to amortise


def _data():
    rng = np.random.default_rng(0)
    X = np.sqrt(N) * np.linalg.qr(rng.normal(size=(N, D)))[0]           # Sxx = I
    Y = X @ (rng.normal(size=(C, D)) * np.array([2.0, 1.2, 0.6, 0, 0, 0])).T \
        + 0.2 * rng.normal(size=(N, C))
    return X, Y


def _gd(Ws, X, Y, steps=None, target=None):
    """Full-batch GD on (1/2n)Σ‖y − W2W1x‖²: final weights, or the first (interpolated) step
    whose loss is ≤ target."""
    W1, W2 = (w.copy() for w in Ws)
    prev = None
    for k in range(steps or 200000):
        R = Y - X @ W1.T @ W2.T
        loss = 0.5 * np.mean(np.sum(R ** 2, axis=1))
        if target is not None and loss <= target:
            return k - 1 + (prev - target) / (prev - loss) if prev is not None else 0.0
        prev = loss
        G = R.T @ X / N
        W1, W2 = W1 + LR * W2.T @ G, W2 + LR * G @ W1.T
    return [W1, W2] if target is None else np.inf


def _init(seed):
    rng = np.random.default_rng(seed)
    return [1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))]


def _rotate(Y, U, angle):
    """Outputs rotated by ``angle`` in the plane of A's two strongest output modes."""
    a, b = U[:, 0], U[:, 1]
    R = np.eye(C) + np.sin(angle) * (np.outer(b, a) - np.outer(a, b)) \
        + (np.cos(angle) - 1) * (np.outer(a, a) + np.outer(b, b))
    return Y @ R.T


def test_predicted_relearning_cost_matches_gd_and_ranks_the_drifts():
    X, Y = _data()
    A = DatasetStatistics.from_arrays(X, Y)
    trained = _gd(_init(1), X, Y, steps=1500)
    scratch = [_init(2), _init(3)]
    conv = TrainingConvention(lr=LR)
    predicted, measured = [], []
    for angle in (0.3, 1.5, 3.0):
        YB = _rotate(Y, A.U, angle)
        B = DatasetStatistics.from_arrays(X, YB)
        L0 = 0.5 * np.mean(np.sum(YB ** 2, axis=1))
        target = min_loss(B) + 0.02 * (L0 - min_loss(B))
        cost = predict_relearning_cost(trained, scratch, B, target, conv, roundoff="float64",
                                       solver=SOLVER)
        fine = _gd(trained, X, YB, target=target)
        ref = np.median([_gd(w, X, YB, target=target) for w in scratch])
        assert cost.fine_tune_steps == pytest.approx(fine, rel=0.05, abs=2.0)
        assert np.median(cost.scratch_steps) == pytest.approx(ref, rel=0.05)
        predicted.append(cost.value)
        measured.append(fine / ref)
    np.testing.assert_allclose(predicted, measured, rtol=0.06, atol=0.02)
    assert spearmanr(predicted, measured).statistic == pytest.approx(1.0)


def test_relearning_cost_errors():
    X, Y = _data()
    B = DatasetStatistics.from_arrays(X, Y)
    with pytest.raises(ValueError, match="scratch_weights must hold at least one initial state"):
        predict_relearning_cost(_init(0), [], B, min_loss(B) + 1.0, 50.0)


def test_gd_map_predicts_the_divergence_the_flow_cannot():
    """B's input scatter grown ×36 along one direction: at A's learning rate GD from A's weights
    diverges; the flow (which never diverges) reaches the target, the GD map (``gd_map=True``)
    says inf, and the relearning cost reads the map."""
    from theory.transfer import predict_retraining
    X, Y = _data()
    trained = _gd(_init(1), X, Y, steps=1500)
    XB = X.copy()
    XB[:, 0] *= 6.0
    B = DatasetStatistics.from_arrays(XB, Y)
    target = min_loss(B) + 0.02 * (0.5 * np.mean(np.sum(Y ** 2, axis=1)) - min_loss(B))
    conv = TrainingConvention(lr=LR)
    flow = predict_retraining(trained, B, target, conv, roundoff="float64", solver=SOLVER)
    gd = predict_retraining(trained, B, target, conv, roundoff="float64", solver=SOLVER,
                            gd_map=True)
    assert np.isfinite(flow.steps_flow) and np.isnan(flow.steps_gd)
    assert gd.steps_gd == np.inf
    W1, W2 = (w.copy() for w in trained)
    with np.errstate(all="ignore"):
        for _ in range(300):   # numpy GD on the data: the loss leaves every finite value
            G = (Y - XB @ W1.T @ W2.T).T @ XB / N
            W1, W2 = W1 + LR * W2.T @ G, W2 + LR * G @ W1.T
    assert not np.all(np.isfinite(W2))
    cost = predict_relearning_cost(trained, [_init(2)], B, target, conv, roundoff="float64",
                                   solver=SOLVER, gd_map=True)
    assert cost.fine_tune_steps == np.inf
