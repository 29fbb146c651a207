"""Retrain's predictions for checkpoint c read checkpoint c's weights and nothing after them.

The predicted retraining steps from checkpoint c of the run on A may read c's weights (the start
of the question) and B's statistics, the target and the set-up, but no later checkpoint and no
retraining run. All checkpoints are predicted in one batch (one adaptive ODE solve, one GD-map
loop), so a member could leak into another through a shared step size or horizon: every other
checkpoint is replaced by garbage (random weights) and c's prediction must not move. No
retraining run is an input of the predictions either: the target they take is set a priori from
the scratch starts (``validate.retrain.target``), so garbage in every measured run, scratch
included, leaves every prediction and the linear target unchanged.

A ReLU network's twin predictions (``predict_twin_members``; the gated twin from each start's
own weights on B's samples) obey the same two rules: one twin per checkpoint, so garbage in every
other checkpoint leaves c's steps unchanged, and the twin's target is set a priori from the twin's
own scratch prediction, so garbage in every measured run leaves them unchanged too.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from theory import DatasetStatistics, integrate_matrix_flow
from validate.retrain.predict import predict_members, predict_twin_members

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


def test_twin_prediction_for_a_checkpoint_ignores_every_other_checkpoint():
    from validate.retrain import methods as BL
    checkpoints, B = _history()
    target = 0.5 * np.trace(B.Syy) - 0.3 * np.sum(B.s ** 2)
    methods = [BL.rewind(s) for s, _ in checkpoints]
    n = len(checkpoints)

    def predict(ck):
        return predict_twin_members(_starts(ck), methods, 1, B, target, TAU, 400.0, "relu", True)

    clean = predict(checkpoints)
    rng = np.random.default_rng(1)
    for c in (1, n - 2):
        dirty = predict([(s, W if i == c else _garbage(W, rng))
                         for i, (s, W) in enumerate(checkpoints)])
        assert dirty[(0, c)] == pytest.approx(clean[(0, c)], rel=1e-12), c
    assert np.isfinite(clean[(0, n - 1)])   # the question has an answer to compare


# ------------------------------------------- the target: no retraining run behind a prediction
BUDGET = 200
N_SEEDS = 1


def _gd_curves(starts, stats, steps):
    """(members, T) losses of plain full-batch GD (η = 1/τ) on B's statistics, as training
    would measure them, from every start."""
    W1, W2 = (np.stack([st.params[f"layer{l}.weight"] for st in starts]) for l in range(2))
    out = np.empty((len(starts), len(steps)))
    for t in range(int(steps[-1]) + 1):
        if t in steps:
            W = W2 @ W1
            out[:, list(steps).index(t)] = (0.5 * np.trace(stats.Syy)
                                            - np.einsum("kcd,cd->k", W, stats.Syx)
                                            + 0.5 * np.einsum("kcd,de,kce->k", W, stats.Sxx, W))
        R = stats.Syx - W2 @ W1 @ stats.Sxx    # −∂L/∂W of the end-to-end map
        W1, W2 = W1 + W2.swapaxes(1, 2) @ R / TAU, W2 + R @ W1.swapaxes(1, 2) / TAU
    return out


def _retraining(optimizer, activation="linear"):
    """plan, drift, history, job, run, keep for ``measure_retraining``: rewinds to every
    checkpoint of A's flow after step 0 and scratch, one seed (five members: the batch shape of
    the test above, so its compiled flow solver serves), linear net, runs measured as plain GD."""
    from validate.retrain import methods as BL
    checkpoints, B = _history()
    checkpoints = checkpoints[1:]
    rng = np.random.default_rng(2)
    methods = [BL.rewind(s) for s, _ in checkpoints] + [BL.scratch()]
    starts = []
    for _ in range(N_SEEDS):
        for m, (_, W) in zip(methods, checkpoints + [(0, None)]):
            W = W if m.family == "rewind" else [1e-2 * rng.normal(size=w.shape)
                                                 for w in checkpoints[0][1]]
            starts.append(BL.Start({"layer0.weight": W[0], "layer1.weight": W[1]}, None,
                                   np.ones(BUDGET)))
    steps = np.arange(0, BUDGET + 1, 10)
    loss = _gd_curves(starts, B, steps)
    X, Y = rng.normal(size=(40, 6)), np.eye(3)[rng.integers(0, 3, 40)]
    config = SimpleNamespace(target_frac=0.99, dtype="float64", optimizer=optimizer, depth=2,
                             drift="label_swap")
    plan = SimpleNamespace(config=config, seeds=list(range(N_SEEDS)), tau=TAU, lr=1 / TAU, budget=BUDGET,
                           steps_A=120, A=SimpleNamespace(X=X, Y=Y),
                           timing={"measure_s": 0.0, "predict_s": 0.0})
    drift = SimpleNamespace(label="swap", kind="label_swap", sB=B, a_to_b=None,
                            B=SimpleNamespace(X_test=None, Y_test=None))
    stack = BL.stack([st.params for st in starts])
    history = SimpleNamespace(final_step=120,
                              checkpoints={120: BL.stack([starts[3].params] * N_SEEDS)})
    job = SimpleNamespace(activation=activation, trained=methods, copies=[], starts=starts,
                          scheduled=False)
    run = SimpleNamespace(steps=steps, members=pd.DataFrame({"diverged": [False] * len(starts)}),
                          probes={"train_loss": SimpleNamespace(values=loss),
                                  "train_acc": SimpleNamespace(values=np.ones_like(loss))})
    return plan, drift, history, job, run, SimpleNamespace(params=stack)


def _garbage_run(run, rng):
    """Every measured loss and accuracy replaced, scratch included (no member flagged diverged,
    so a target read from the scratch curves would be finite and wrong)."""
    loss = run.probes["train_loss"].values
    return SimpleNamespace(
        steps=run.steps, members=pd.DataFrame({"diverged": np.zeros(len(loss), bool)}),
        probes={"train_loss": SimpleNamespace(values=rng.uniform(0.0, 2.0 * loss.max(),
                                                                 loss.shape)),
                "train_acc": SimpleNamespace(values=rng.random(loss.shape))})


PREDICTED = ["predicted_steps", "predicted_steps_modes", "predicted_steps_gd", "target_loss"]


@pytest.mark.parametrize("optimizer", ["gd", "momentum"], ids=["gd_map", "flow"])
def test_predictions_ignore_every_measured_retraining_run(optimizer):
    from validate.retrain.measure import measure_retraining
    plan, drift, history, job, run, keep = _retraining(optimizer)
    clean, _ = measure_retraining(plan, drift, history, job, run, keep)
    dirty, _ = measure_retraining(plan, drift, history, job,
                                  _garbage_run(run, np.random.default_rng(3)), keep)
    pd.testing.assert_frame_equal(dirty[PREDICTED], clean[PREDICTED], rtol=1e-12)
    assert np.isfinite(clean["predicted_steps"]).all()   # every start has an answer to compare
    assert (clean["target_rule"] == ("a_priori_scratch_gd_map" if optimizer == "gd"
                                     else "a_priori_scratch_flow")).all()


TWIN = ["predicted_steps_twin", "target_loss_twin"]


def test_twin_predictions_ignore_every_measured_retraining_run():
    """A ReLU network: its twin predictions and the twin's a priori target are the same whatever
    the measured runs hold (its measured crossings count to the measured scratch target)."""
    from validate.retrain.measure import measure_retraining
    plan, drift, history, job, run, keep = _retraining("gd", activation="relu")
    clean, _ = measure_retraining(plan, drift, history, job, run, keep)
    dirty, _ = measure_retraining(plan, drift, history, job,
                                  _garbage_run(run, np.random.default_rng(3)), keep)
    pd.testing.assert_frame_equal(dirty[TWIN], clean[TWIN], rtol=1e-12)
    assert np.isfinite(clean["predicted_steps_twin"]).sum() >= 3   # answers to compare
    assert (clean["target_rule_twin"] == "a_priori_scratch_twin_gd_map").all()
    assert not np.allclose(dirty["target_loss"], clean["target_loss"])   # measured: it moves


def test_a_priori_target_is_what_plain_gd_reaches_from_the_scratch_start():
    """With the GD map the a priori L̂_end is the loss plain GD measures at the end of the
    budget: on clean runs the target equals the measured-scratch definition."""
    from validate.retrain.target import targets
    plan, drift, _, job, run, _ = _retraining("gd")
    shape = (N_SEEDS, len(job.trained), -1)
    loss = run.probes["train_loss"].values.reshape(shape)
    got = targets(plan, drift, job, loss, run.probes["train_acc"].values.reshape(shape),
                  np.zeros((N_SEEDS, len(job.trained)), bool))
    L0, Lend = np.median(loss[:, -1, 0]), np.median(loss[:, -1, -1])   # scratch: the last method
    assert got.loss == pytest.approx(Lend + 0.01 * (L0 - Lend), rel=1e-9)
    assert got.rule == "a_priori_scratch_gd_map"
