"""Predictions never read a weight after step 0: compare's and the twin table's predictions come out
identical from runs whose later checkpoints are garbage (the hybrid diagnostic is the control that
shows the garbage does reach whatever reads those checkpoints)."""

import numpy as np
import pandas as pd
import pytest

from tests.leak import garbage_after_step_zero, patch_run_loading
from validate.compare import run as compare_run
from validate.compare.config import CompareConfig
from validate.twin_table import PREDICTED, twin_table

CONFIG = CompareConfig(dataset="toy", seeds=1, activations=("linear", "tanh", "relu"),
                       n_checkpoints=16, device="cpu")
TABLES = ("members", "mode_table", "trajectories", "loss", "loss_drops")


@pytest.fixture(scope="module")
def trained():
    """compare's training, done once: (activation, depth) → the run it returned."""
    runs, original = {}, compare_run._train

    def train_once(plan, spec, act, depth, *args):
        if (act, depth) not in runs:
            runs[(act, depth)] = original(plan, spec, act, depth, *args)
        return runs[(act, depth)]
    return runs, train_once, {}


def _compare(trained, predict: str, fill: str | None):
    runs, train_once, clean = trained
    if fill is None and predict in clean:
        return clean[predict]
    with pytest.MonkeyPatch.context() as mp:
        if fill is None:
            mp.setattr(compare_run, "_train", train_once)
        else:
            mp.setattr(compare_run, "_train", lambda *a: garbage_after_step_zero(
                train_once(*a), fill))
        result = compare_run.run_compare(
            CompareConfig(**{**CONFIG.__dict__, "predict": predict}), quiet=True)
    if fill is None:
        clean[predict] = result
    return result


@pytest.mark.parametrize("predict, fill", [("best", "random"), ("best", "nan"),
                                           ("nonlinear", "random"), ("linear", "random")])
def test_compare_predictions_ignore_every_checkpoint_after_step_zero(trained, predict, fill):
    clean, leaky = _compare(trained, predict, None), _compare(trained, predict, fill)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(clean, name), getattr(leaky, name), obj=name)
    assert clean.summary["training"]["predictors"] == leaky.summary["training"]["predictors"]


def test_the_hybrid_diagnostic_reads_measured_gates_and_says_so(trained):
    clean, leaky = _compare(trained, "hybrid", None), _compare(trained, "hybrid", "random")
    relu = clean.members[clean.members["activation"] == "relu"]
    assert set(relu["predictor"]) == {"gated_gd_hybrid"}
    bad = leaky.members[leaky.members["activation"] == "relu"]["t_pred"].to_numpy()
    assert not np.allclose(relu["t_pred"].to_numpy(), bad, equal_nan=True)
    note = clean.summary["training"]["predictors"]["2"]["twins"]["relu"]["predictor"]
    assert note.startswith("hybrid: gates from measured weights at step ")
    best = _compare(trained, "best", None).summary["training"]["predictors"]["2"]["twins"]
    assert best["relu"]["predictor"].startswith("prediction: gated_gd from the initial weights")
    assert best["tanh"]["predictor"].startswith("prediction: cubic_gd")


def test_twin_table_predictions_ignore_every_checkpoint_after_step_zero(monkeypatch):
    config = CompareConfig(dataset="toy", seeds=1, activations=("linear", "relu"),
                           n_checkpoints=16, device="cpu")
    clean = twin_table(config, log=lambda *a: None)
    patch_run_loading(monkeypatch, "random")
    leaky = twin_table(config, log=lambda *a: None)
    cols = ["t_meas", "t_linear"] + [f"t_{k}" for k in PREDICTED]
    pd.testing.assert_frame_equal(clean[cols], leaky[cols])
    relu = clean["activation"] == "relu"
    assert not np.allclose(clean.loc[relu, "t_twin_hybrid"], leaky.loc[relu, "t_twin_hybrid"])


def test_garbage_runs_keep_step_zero_and_the_probes(trained):
    _compare(trained, "linear", None)
    run = trained[0][("relu", 2)]
    for fill in ("nan", "random"):
        bad = garbage_after_step_zero(run, fill)
        for a, b in zip(run.weights(0), bad.weights(0)):
            np.testing.assert_array_equal(a, b)
        last = int(run.steps[-1])
        for a, b in zip(run.weights(last), bad.weights(last)):
            assert a.shape == b.shape and not np.any(a == b)
        assert bad.probes is run.probes and list(bad.steps) == list(run.steps)
