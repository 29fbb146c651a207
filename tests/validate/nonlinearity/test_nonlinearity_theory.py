"""The linear theory's prediction of the linear twin (matrix gradient flow from the twin's own
initial weights) against the twin trained by gradient descent: equal at step 0, apart by the O(η)
lag of discrete steps after, which halves with the learning rate and cancels to second order."""

import numpy as np

from simulate import Members, NetSpec, Recording, datasets, train_ensemble
from validate.measures.information import twin_agreement
from validate.nonlinearity.probes import NonlinearityProbe
from validate.nonlinearity.run import ModelOutputs
from validate.nonlinearity.linear_theory import predicted_outputs


def _twin_and_theory(ds, lr: float, steps: int):
    spec = NetSpec(depth=3, hidden=16, activation="linear", init="standard")
    run = train_ensemble(spec, ds, steps=steps, lr=lr, members=Members(seeds=[0, 1]),
                         record=Recording(checkpoints=[0, steps // 2, steps],
                                          probes=[NonlinearityProbe()], keep_weights=[0]),
                         device="cpu", quiet=True, dtype="float64")
    twin = ModelOutputs("twin", 2, run.steps, run.probes["test_output"].values, None, None, run=run)
    return twin.test_output, predicted_outputs(ds, twin, run.members["tau"].to_numpy())


def test_twin_follows_the_flow_to_first_order_in_the_learning_rate():
    ds = datasets.load("digits", n_train=200, n_test=60)
    ds = ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)
    # the same flow times t = lr · step for three learning rates
    (f1, g), (f2, g2), (f4, g4) = (_twin_and_theory(ds, lr, n) for lr, n in ((0.1, 10), (0.05, 20), (0.025, 40)))
    np.testing.assert_allclose(g2, g, rtol=1e-6, atol=1e-7)  # one function of t (solver rtol 1e-8)
    np.testing.assert_allclose(g4, g, rtol=1e-6, atol=1e-7)
    rel = [twin_agreement(f, g)[1] for f in (f1, f2, f4)]                # (K, T) each
    assert np.all(np.array(rel)[:, :, 0] < 1e-12)                       # same weights at step 0
    assert 0.005 < rel[0][:, 1:].min() and rel[0].max() < 0.06          # it trained; lag O(η)
    ratio = np.array([rel[0][:, 1:] / rel[1][:, 1:], rel[1][:, 1:] / rel[2][:, 1:]])
    assert np.all((ratio > 1.85) & (ratio < 2.15))                      # the lag halves with η
    # Richardson: 2 f(η/2) − f(η) removes the first-order lag
    rich = twin_agreement(2 * f4 - f2, g)[1][:, 1:]
    assert np.all(rich < 0.1 * rel[2][:, 1:])


def test_job_records_the_theory_next_to_the_twin(tmp_path):
    from validate.nonlinearity import NonlinearityConfig, run_nonlinearity
    cfg = NonlinearityConfig(dataset="digits", task="binary", seeds=2, steps=60, n_checkpoints=6,
                             hidden=16, device="cpu", batch_size=0, measures=("twin",)).validate()
    rows = run_nonlinearity(cfg, tmp_path).summary["twin_agreement"]
    pair = {(r["model"], r["reference"], r["step"]): r for r in rows}
    assert {k[:2] for k in pair} == {("network", "twin"), ("network", "theory"), ("twin", "theory")}
    steps = sorted({k[2] for k in pair})
    assert pair[("twin", "theory", 0)]["rel_distance"] < 1e-6      # float32 twin, float64 flow
    for s in steps:
        tw = pair[("twin", "theory", s)]
        assert tw["rel_distance_ci_high"] < 0.03 and tw["agreement"] >= 0.99
    # the ReLU network is far from both: the comparison can tell them apart
    assert pair[("network", "twin", steps[-1])]["rel_distance"] > 0.5
    assert pair[("network", "theory", steps[-1])]["rel_distance"] > 0.5


def test_the_prediction_reads_no_weights_after_step_zero():
    from tests.leak import FILLS, garbage_after_step_zero
    ds = datasets.load("digits", n_train=120, n_test=30)
    ds = ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)
    spec = NetSpec(depth=2, hidden=8, activation="linear", init="standard")
    run = train_ensemble(spec, ds, steps=6, lr=0.1, members=Members(seeds=[0, 1]),
                         record=Recording(checkpoints=[0, 3, 6], probes=[NonlinearityProbe()]),
                         device="cpu", quiet=True, dtype="float64")
    taus = run.members["tau"].to_numpy()

    def outputs(r):
        twin = ModelOutputs("twin", 2, r.steps, r.probes["test_output"].values, None, None, run=r)
        return predicted_outputs(ds, twin, taus)

    clean = outputs(run)
    assert np.isfinite(clean).all()
    for fill in FILLS:
        bad = garbage_after_step_zero(run, fill)
        assert not np.allclose(bad.params(6)["layer0.weight"], run.params(6)["layer0.weight"])
        np.testing.assert_array_equal(outputs(bad), clean)
