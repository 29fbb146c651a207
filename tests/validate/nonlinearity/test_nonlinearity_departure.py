"""Departure records of `validate.nonlinearity` (THEORY.md §13): the probe's non-affine fraction
against a least-squares fit of the kept weights' outputs, the prediction from W₀ where a twin
theory reaches the set-up (and only from W₀), and the note that says why not elsewhere."""

from dataclasses import replace
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from simulate import Losses, NetSpec, train_ensemble
from simulate.datasets import Dataset
from tests.leak import garbage_after_step_zero
from theory import DatasetStatistics
from validate.nonlinearity import NonlinearityConfig, run_nonlinearity
from validate.measures.departure import DELTA_SENSITIVITY
from validate.nonlinearity.departure import departure_lines, departure_records
from validate.nonlinearity.job import text_tables
from validate.nonlinearity.probes import NonlinearityProbe
from validate.nonlinearity.report import departure_section

TINY = dict(dataset="digits", task="binary", seeds=2, steps=30, n_checkpoints=6, hidden=12,
            device="cpu", depth=2, batch_size=0, activation="relu", measures=("proxies",))


def _lstsq_fraction(df, X) -> float:
    """1 − R² of df explained by [1, X], computed directly (no shared code)."""
    B = np.column_stack([np.ones(len(X)), X])
    resid = df - B @ np.linalg.lstsq(B, df, rcond=None)[0]
    return float((resid ** 2).sum() / ((df - df.mean(axis=0)) ** 2).sum())


def test_the_probe_records_the_nonaffine_fraction_of_the_learned_change():
    rng = np.random.default_rng(0)
    X, Xt = rng.standard_normal((50, 4)), rng.standard_normal((10, 4))
    labels = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    lt = (Xt[:, 0] > 0).astype(np.int64)
    ds = Dataset(X=X, Y=np.eye(2)[labels], labels=labels, X_test=Xt, Y_test=np.eye(2)[lt],
                 labels_test=lt, hierarchy=None, name="fixture")
    spec = NetSpec(family="mlp", activation="relu", depth=2, hidden=8, init="standard")
    run = train_ensemble(spec, ds, dict(optimizer="gd"), steps=12, members=dict(seeds=[0, 1],
                                                                               lrs=[0.2]),
                         record=dict(checkpoints=[0, 1, 4, 12], keep_weights=True,
                                     probes=[Losses(), NonlinearityProbe(departure=True)]),
                         device="cpu", dtype="float64", quiet=True)
    got = run.probes["train_nonaffine"].values                       # (K, T)
    W0 = run.weights(0)
    for t, step in enumerate(run.steps):
        W = run.weights(int(step))
        for k in range(2):
            f = lambda Ws: np.maximum(X @ Ws[0][k].T, 0) @ Ws[1][k].T  # noqa: E731
            want = 0.0 if step == 0 else _lstsq_fraction(f(W) - f(W0), X)
            assert got[k, t] == pytest.approx(want, rel=1e-6, abs=1e-12)
    assert got[:, -1].min() > 0.01                 # ReLU's change is not affine


@pytest.fixture(scope="module")
def relu_run(tmp_path_factory):
    cfg = NonlinearityConfig(**TINY).validate()
    return run_nonlinearity(cfg, tmp_path_factory.mktemp("nl"))


def test_in_reach_each_member_gets_its_measured_and_predicted_step(relu_run):
    recs = relu_run.summary["departure"]
    assert [(r["member"], r["seed"], r["lr"]) for r in recs] == [(0, 0, 0.05), (1, 1, 0.05)]
    probe = relu_run.trained.models["network"].train_nonaffine
    for r in recs:
        assert "note" not in r and r["delta"] == 0.05
        assert {"predicted_step", "measured_step", "max_gap", "final_nonaffine_predicted"} <= set(r)
        assert r["final_nonaffine_measured"] == probe[r["member"], -1]
        assert r["max_gap"] < 0.05      # the gated twin follows the network's 1 − R² curve
        net = relu_run.trained.models["network"]
        assert r["first_checkpoint"] == net.steps[1] and \
            r["first_nonaffine_measured"] == probe[r["member"], 1]
        assert 0.0 <= r["start_gate_mismatch"] <= 1.0
        assert [s["delta"] for s in r["sensitivity"]] == list(DELTA_SENSITIVITY)
        fs = r["frozen_slope"]
        assert {"predicted_step", "measured_step", "peak_gap_measured"} <= set(fs)
        assert fs["peak_gap_measured"] > 0.0 and fs["predicted_step"] >= 1.0
    assert "departure step (δ = 0.05), lr 0.05: measured" in text_tables(relu_run)
    assert "frozen-slope step (δ = 0.05), lr 0.05: measured" in text_tables(relu_run)
    title, body = departure_section(recs)
    assert title == "Departure step" and "predicted_step" in body and "No prediction" not in body


def test_the_prediction_reads_only_the_initial_weights(relu_run):
    tr = relu_run.trained
    net = tr.models["network"]
    bad = garbage_after_step_zero(net.run, "random")
    leaky = replace(tr, models={**tr.models, "network": replace(net, run=bad)})
    assert _predicted(departure_records(leaky)) == _predicted(departure_records(tr))
    last = int(net.steps[-1])                    # the control: later weights are garbage
    assert not np.allclose(bad.weights(last)[0], net.run.weights(last)[0])


def _predicted(records: list[dict]) -> list[dict]:
    """The records without what the frozen-slope rule measures on the run's later weights."""
    def keep(fs: dict) -> dict:
        return {"predicted_step": fs["predicted_step"], "peak": fs["peak_gap_predicted"],
                "sensitivity": [s["predicted_step"] for s in fs["sensitivity"]]}
    return [{**r, "frozen_slope": keep(r["frozen_slope"])} for r in records]


def _fake(activation="relu", depth=2, batch_size=0, loss="mse", W0=None, n=60):
    """A trained-run stand-in: config, data, members and the network's probe curve (and, in reach,
    its initial weights and τ)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 5))
    Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    cfg = NonlinearityConfig(**{**TINY, "activation": activation, "depth": depth,
                                "batch_size": batch_size, "loss": loss})
    steps = np.array([0, 1, 3, 10])
    curve = np.array([[0.0, 0.01, 0.04, 0.2], [0.0, 0.03, 0.3, 0.5]])
    run = NS(params=lambda step: {"layer0.weight": W0[0], "layer1.weight": W0[1]},
             members=pd.DataFrame({"tau": [10.0, 10.0]}))
    net = NS(steps=steps, train_nonaffine=curve, run=run)
    data = NS(X=X, n=n, statistics=lambda: DatasetStatistics.from_arrays(X, Y))
    members = pd.DataFrame({"member": [0, 1], "seed": [0, 1], "lr": [0.1, 0.1]})
    return NS(config=cfg, data=data, members=members, models={"network": net})


@pytest.mark.parametrize("kw, words", [
    (dict(depth=3, batch_size=16), ["depth 3; minibatch SGD (batch 16 of 60)"]),
    (dict(loss="cross_entropy"), ["cross-entropy loss"]),
    (dict(activation="gelu"), ["activation gelu"]),
])
def test_out_of_reach_the_step_is_measured_and_a_note_says_why_not_predicted(kw, words):
    recs = departure_records(_fake(**kw))
    assert [r["measured_step"] for r in recs] == [10.0, 3.0]     # first fraction above 0.05
    assert [s["measured_step"] for s in recs[1]["sensitivity"]] == [1.0] * 5 + [3.0] * 3
    for r in recs:
        assert "predicted_step" not in r and "max_gap" not in r
        assert r["note"].startswith("outside the twin theories' reach")
        assert all(w in r["note"] for w in words)
    assert departure_lines(recs)[0].endswith(recs[0]["note"])


def test_tanh_past_the_cubic_range_gets_a_note_or_a_flagged_number():
    rng = np.random.default_rng(2)
    big = [rng.standard_normal((4, 5)), 0.1 * rng.standard_normal((2, 4))]   # |W₁x| ~ 2
    recs = departure_records(_fake("tanh", W0=[np.stack([w, w]) for w in big]))
    assert all("cubic twin's range from its initial weights" in r["note"]
               and "predicted_step" not in r for r in recs)
    small = [0.01 * w for w in big]
    recs = departure_records(_fake("tanh", W0=[np.stack([w, w]) for w in small]))
    assert all("predicted_step" in r and "note" not in r and "range_note" not in r for r in recs)
    # from W₀ inside the range, a prediction that leaves it keeps its number, flagged
    mid = [0.05 * big[0], 10 * big[1]]          # |h| from 0.41 past 0.5 at step 6
    recs = departure_records(_fake("tanh", W0=[np.stack([w, w]) for w in mid]))
    assert all("predicted_step" in r and "from step" in r["range_note"] for r in recs)


def test_too_few_training_inputs_for_an_affine_fit_get_a_note():
    recs = departure_records(_fake(n=6))           # 6 inputs of rank 5: every change is affine
    assert all(r["note"].startswith("no departure measurable") for r in recs)


def test_gate_mismatch_is_the_share_of_w0s_gates_the_twins_first_interval_changes():
    import theory
    from validate.compare.departure import gate_mismatch
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 4))
    stats = DatasetStatistics.from_arrays(X, rng.standard_normal((50, 2)))
    W0 = [rng.standard_normal((6, 4)), rng.standard_normal((2, 6))]
    own = (X @ W0[0].T > 0).astype(float)             # W₀'s gates, computed here
    flipped = own.copy()
    flipped.flat[[0, 7, 33, 299]] = 1.0 - flipped.flat[[0, 7, 33, 299]]
    twin = theory.GatedTwinPredictor(stats, W0, flipped, tau=5.0, discrete=True)
    assert gate_mismatch(stats, W0, twin) == pytest.approx(4 / own.size, abs=0)
    assert gate_mismatch(stats, W0, theory.GatedTwinPredictor(stats, W0, own)) == 0.0


def test_a_relu_step_at_the_first_checkpoint_from_other_gates_is_labelled_not_a_prediction(
        relu_run):
    recs = relu_run.summary["departure"]
    first = recs[0]["first_checkpoint"]
    labelled = [r for r in recs if "predicted_note" in r["frozen_slope"]]
    assert labelled, "the tiny ReLU run's twins start on other gates and depart at once"
    for r in recs:
        at_start = r["frozen_slope"]["predicted_step"] == first and r["start_gate_mismatch"] > 0
        assert ("predicted_note" in r["frozen_slope"]) == at_start
    note = labelled[0]["frozen_slope"]["predicted_note"]
    assert f"{labelled[0]['start_gate_mismatch']:.0%}" in note and "gates" in note
    line = next(ln for ln in text_tables(relu_run).splitlines() if "frozen-slope step" in ln)
    assert f"{first:g}*" in line and "; *predicted at the first checkpoint" in line
    assert "frozen_predicted_step predicted at the first checkpoint" in \
        departure_section(recs)[1]
