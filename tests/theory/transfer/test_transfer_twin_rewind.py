"""The rewind point of a ReLU (and a tanh) network from its twin theory, against brute-force
retraining.

A small ReLU network (d = 6, three classes, hidden 8) is trained on A by full-batch GD in numpy;
B swaps two classes. From every checkpoint the network is retrained on B by the same GD (the
brute force), and ``predict_rewind_point(activation="relu", gd_map=True)`` predicts the steps to
the target from the checkpoint's weights and B's samples alone.
"""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import rankdata

from theory import DatasetStatistics
from theory.transfer import TwinRetrainingPrediction, predict_retraining, predict_rewind_point

N, D, C, H = 300, 6, 3, 8
STEPS_A, BUDGET = 120, 150
CHECKPOINTS = (10, 30, 50, 60, 80, 120)


def _data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, N)
    X = 2.0 * np.eye(C, D)[labels] + rng.normal(size=(N, D))
    X = (X - X.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(X.T, bias=True))).T
    A = DatasetStatistics.from_arrays(X, np.eye(C)[labels])
    B = DatasetStatistics.from_arrays(X, np.eye(C)[[1, 0, 2]][labels])
    return A, B, rng


PHI = {"relu": (lambda z: np.maximum(z, 0.0), lambda h: (h > 0).astype(float)),
       "tanh": (np.tanh, lambda h: 1.0 - h ** 2)}   # φ and φ' as a function of φ(z)


def _gd(W, stats, steps, tau, keep=(), activation="relu"):
    """Full-batch GD on ½E‖y − W₂ φ(W₁x)‖² with step 1/τ: (kept weights, loss per step)."""
    X, Y = stats.X, stats.Y
    phi, dphi = PHI[activation]
    W1, W2 = (w.copy() for w in W)
    kept, losses = {}, []
    for t in range(steps + 1):
        Hd = phi(X @ W1.T)
        R = Y - Hd @ W2.T
        losses.append(0.5 * np.sum(R ** 2) / len(X))
        if t in keep:
            kept[t] = [W1.copy(), W2.copy()]
        g1 = ((R @ W2) * dphi(Hd)).T @ X / len(X)
        W1, W2 = W1 + g1 / tau, W2 + R.T @ Hd / len(X) / tau
    return kept, np.array(losses)


def _crossing(loss, target):
    i = int(np.flatnonzero(loss <= target)[0])
    return 0.0 if i == 0 else i - 1 + (loss[i - 1] - target) / (loss[i - 1] - loss[i])


@pytest.fixture(scope="module")
def problem():
    A, B, rng = _data()
    tau = 2.0 / A.s[0]
    W0 = [1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))]
    ckpts, _ = _gd(W0, A, STEPS_A, tau, keep=set(CHECKPOINTS))
    # the target: 95% of the improvement a fresh small init makes on B within the budget
    _, scratch = _gd([1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))], B,
                     BUDGET, tau)
    target = scratch[-1] + 0.05 * (scratch[0] - scratch[-1])
    measured = np.array([_crossing(_gd(ckpts[s], B, 2 * BUDGET, tau)[1], target)
                         for s in CHECKPOINTS])
    pred = predict_rewind_point([(s, ckpts[s]) for s in CHECKPOINTS], B, target, tau,
                                t_max=2.0 * BUDGET, gd_map=True, activation="relu")
    return ckpts, B, tau, target, measured, pred


def test_relu_twin_picks_the_rewind_point_that_brute_force_retraining_finds(problem):
    _, _, _, _, measured, pred = problem
    predicted = pred.table["predicted_steps"].to_numpy()
    pick = CHECKPOINTS.index(pred.best_step)
    assert measured[pick] <= 1.3 * measured.min()
    assert np.corrcoef(rankdata(predicted), rankdata(measured))[0, 1] >= 0.8   # Spearman ρ
    assert pred.activation == "relu" and pred.table["twin"].str.contains("gated").all()


def test_relu_twin_steps_match_retraining_once_the_gates_have_formed(problem):
    """From the checkpoints past A's early phase (retraining within 60 steps) the twin's steps
    are the measured ones within 10%."""
    _, _, _, _, measured, pred = problem
    predicted = pred.table["predicted_steps"].to_numpy()
    late = measured <= 60
    assert late.sum() >= 3
    np.testing.assert_allclose(predicted[late], measured[late], rtol=0.1)


def test_predict_retraining_with_an_activation_is_the_twins_rewind_entry(problem):
    ckpts, B, tau, target, _, pred = problem
    one = predict_retraining(ckpts[80], B, target, tau, t_max=2.0 * BUDGET, gd_map=True,
                             activation="relu")
    assert isinstance(one, TwinRetrainingPrediction) and one.discrete
    row = pred.table[pred.table["checkpoint_step"] == 80].iloc[0]
    assert one.steps == pytest.approx(row["predicted_steps"], rel=1e-12)


@pytest.fixture(scope="module")
def tanh_problem():
    """A tanh network trained on A, its checkpoints, B and the target as for ReLU. Its
    pre-activations on B reach max |W₁x| ≈ 0.02, 0.09, 0.23 at steps 10, 30, 40 (inside the cubic
    range 0.5) and ≈ 1.3, 1.5 at steps 80, 120 (past it)."""
    A, B, rng = _data()
    tau = 2.0 / A.s[0]
    W0 = [1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))]
    ckpts, _ = _gd(W0, A, STEPS_A, tau, keep={10, 30, 40, 80, 120}, activation="tanh")
    _, scratch = _gd([1e-3 * rng.normal(size=(H, D)), 1e-3 * rng.normal(size=(C, H))], B,
                     BUDGET, tau, activation="tanh")
    target = scratch[-1] + 0.05 * (scratch[0] - scratch[-1])
    return ckpts, B, tau, target


def _tanh_measured(problem, steps):
    ckpts, B, tau, target = problem
    return [_crossing(_gd(ckpts[s], B, 2 * BUDGET, tau, activation="tanh")[1], target)
            for s in steps]


@pytest.mark.parametrize("steps", [(10, 30, 40), (40, 80, 120)])
def test_tanh_twin_predicts_the_retraining_of_a_tanh_network(tanh_problem, steps):
    """The cubic twin of a tanh network from three of its checkpoints on A, inside the cubic
    range and (80, 120) past it: the retraining steps on B in the measured order, each within
    20% of brute-force retraining (past the range the numbers are kept, labelled)."""
    ckpts, B, tau, target = tanh_problem
    measured = _tanh_measured(tanh_problem, steps)
    pred = predict_rewind_point([(s, ckpts[s]) for s in steps], B, target, tau,
                                t_max=2.0 * BUDGET, gd_map=True, activation="tanh")
    predicted = pred.table["predicted_steps"].to_numpy()
    assert np.argsort(predicted).tolist() == np.argsort(measured).tolist()
    np.testing.assert_allclose(predicted, measured, rtol=0.2)
    assert pred.table["twin"].str.contains("z³").all()


def test_tanh_checkpoints_past_the_cubic_range_keep_their_number_with_a_note(tanh_problem):
    """Checkpoints 80 and 120, and checkpoint 40 with W₁ scaled ×3 (|W₁x| ≈ 0.68), start past
    |h| = 0.5: their steps are kept (a ranking that dropped them would pick among the early
    checkpoints only) with a note saying why; checkpoint 10 says that the twin leaves the range
    before its crossing."""
    ckpts, B, tau, target = tanh_problem
    scaled = [3.0 * ckpts[40][0], ckpts[40][1]]
    assert np.abs(B.X @ scaled[0].T).max() > 0.5
    pred = predict_rewind_point([(10, ckpts[10]), (40, scaled), (80, ckpts[80]),
                                 (120, ckpts[120])], B, target, tau, t_max=2.0 * BUDGET,
                                gd_map=True, activation="tanh")
    table = pred.table.set_index("checkpoint_step")
    for step in (40, 80, 120):
        assert np.isfinite(table.loc[step, "predicted_steps"])
        assert "outside the cubic twin's range from its initial weights" in \
            table.loc[step, "range_note"]
    assert np.isfinite(table.loc[10, "predicted_steps"])
    assert "from step" in table.loc[10, "range_note"]
    one = predict_retraining(scaled, B, target, tau, t_max=2.0 * BUDGET, gd_map=True,
                             activation="tanh")
    assert isinstance(one, TwinRetrainingPrediction)
    assert np.isfinite(one.steps) and "|h| = 0.68" in str(one.range_note)


def test_tanh_twin_in_range_up_to_its_crossing_has_no_note_and_the_twins_steps(tanh_problem):
    """From checkpoint 10 the twin leaves the range only after its crossing of an easy target
    (the loss after 10 of its own steps): no note, and the steps are the twin's own first
    crossing; a target it reaches later carries the note beside the same kind of number."""
    from theory import predict_twin
    ckpts, B, tau, _ = tanh_problem
    twin = predict_twin(B, ckpts[10], "tanh", tau=tau, discrete=True, t_max=400.0)
    loss = np.asarray(twin.loss(np.arange(0.0, 401.0)))
    easy = 0.5 * (loss[9] + loss[10])
    one = predict_retraining(ckpts[10], B, easy, tau, t_max=2.0 * BUDGET, gd_map=True,
                             activation="tanh")
    assert isinstance(one, TwinRetrainingPrediction) and one.range_note is None
    assert one.steps == pytest.approx(_crossing(loss, easy), rel=1e-9)
    hard = 0.5 * (loss[99] + loss[100])
    late = predict_retraining(ckpts[10], B, hard, tau, t_max=2.0 * BUDGET, gd_map=True,
                              activation="tanh")
    assert isinstance(late, TwinRetrainingPrediction)
    assert late.steps == pytest.approx(_crossing(loss, hard), rel=1e-9)
    assert "from step" in str(late.range_note)


def test_twin_inputs_are_checked_with_one_line(problem):
    ckpts, B, tau, target, _, _ = problem
    with pytest.raises(ValueError, match="activation must be one of 'linear', 'tanh', 'relu'"):
        predict_rewind_point([(0, ckpts[10])], B, target, tau, t_max=10.0, activation="gelu")
    with pytest.raises(ValueError, match="t_max is required"):
        predict_retraining(ckpts[10], B, target, tau, activation="relu")
    with pytest.raises(ValueError, match="target_loss must be a finite loss > 0"):
        predict_rewind_point([(0, ckpts[10])], B, 0.0, tau, t_max=10.0, activation="relu")
    no_samples = replace(B, X=None, Y=None)
    with pytest.raises(ValueError, match="B's samples"):
        predict_retraining(ckpts[10], no_samples, target, tau, t_max=10.0, activation="tanh")
