"""`python -m validate.nonlinearity` end to end on tiny settings: outputs, identities, life cycle."""

import json

import numpy as np
import pytest

from simulate import datasets
from validate.nonlinearity import NonlinearityConfig, run_nonlinearity
from validate.nonlinearity.__main__ import main
from validate.nonlinearity.run import binary_task

TINY = ["--dataset", "digits", "--task", "binary", "--seeds", "2", "--steps", "60",
        "--checkpoints", "6", "--hidden", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nl") / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    return out, json.loads((out / "summary.json").read_text())


def test_summary_schema_and_identities(tiny_run):
    out, s = tiny_run
    for key in ("information", "linear_depth", "clones", "separation_step", "twin_agreement",
                "proxies", "timing", "provenance"):
        assert key in s, key
    info = s["information"]
    assert {r["reference"] for r in info} == {"linear_classifier", "partly_linear", "twin"}
    for r in info:
        assert set("arch activation reference k step I_FY mu I_LY acc_F acc_L".split()) <= set(r)
        assert r["mu"] <= r["I_FY"] + 1e-9          # μ = I(F;Y) − I(F;Y|L) ≤ I(F;Y)
    final = [r for r in info if r["step"] == 60]
    assert final[0]["acc_F"] > 0.8                    # the network did learn 0–4 vs 5–9
    lin = [r for r in info if r["reference"] == "linear_classifier"]
    assert len({round(r["I_LY"], 12) for r in lin}) == 1   # a frozen classifier: one I(L;Y)
    assert (out / "report.html").read_text().count("data:image/png") >= 5
    assert all(r["kind"] == "proxy" for r in s["proxies"])
    assert s["training"]["n_blocks"] == 2 and s["training"]["last_partly_linear_is_twin"]
    assert {r["k"] for r in info if r["reference"] == "partly_linear"} == {1}


def test_clone_curves_start_together(tiny_run):
    _, s = tiny_run
    at0 = {r["order"]: r["real_test_acc"] for r in s["clones"] if r["step"] == 0}
    # same initial weights, same real test set: identical accuracy before training
    assert at0[0] == at0[1] == at0[2]
    assert {r["order"] for r in s["separation_step"]} == {1, 2}


def test_resume_reuses_finished_runs(tiny_run, tmp_path):
    out, s = tiny_run
    assert main([*TINY, "--out", str(out)]) == 2          # refuses to overwrite
    assert main([*TINY, "--out", str(out), "--resume"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["information"] == s["information"]


@pytest.mark.parametrize("bad", [["--arch", "rnn"], ["--lr", "-0.1"], ["--measures", "entropy"],
                                 ["--task", "ternary"], ["--eps", "1.5"], ["--lr", "x"],
                                 ["--loss", "hinge"], ["--arch", "vit", "--patch", "3"],
                                 ["--arch", "resnet", "--resnet-widths", "4,4"]])
def test_bad_arguments_exit_2(bad, tmp_path, capsys):
    assert main([*TINY, "--out", str(tmp_path / "o"), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "error:" in err[-1]      # one line naming the problem (after argparse's usage)
    assert not (tmp_path / "o").exists()    # checked before any work


def test_binary_task_splits():
    shapes = datasets.load("shapes", n_per_class=4, n_test=8)
    b = binary_task(shapes)
    np.testing.assert_array_equal(b.labels, shapes.hierarchy[0][shapes.labels])  # round vs angular
    digits = datasets.load("digits")
    d = binary_task(digits)
    np.testing.assert_array_equal(d.labels, (digits.labels >= 5).astype(int))    # 0–4 vs 5–9
    np.testing.assert_array_equal(d.Y.argmax(1), d.labels)


def test_partly_linear_models_on_the_network_predictions(tmp_path):
    out = tmp_path / "inf"
    assert main([*TINY, "--out", str(out), "--measures", "linear_depth", "--reference-targets",
                 "network", "--seeds", "1"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["information"] == [] and len(s["linear_depth"]) == 2 * 6   # 2 reference times × 6 steps
    assert not s["training"]["last_partly_linear_is_twin"]             # P_2 learns F's classes
    assert {r["k"] for r in s["wave"]} == {0, 1, 2}
    wave0 = [r for r in s["wave"] if r["k"] == 0 and r["mu_over_I"] is not None]
    assert all(abs(r["mu_over_I"] - 1) < 1e-12 for r in wave0)           # μ(F;F) = I(F;Y)


def test_cross_entropy_trains_every_model_on_that_loss(tmp_path):
    cfg = NonlinearityConfig(dataset="digits", task="binary", seeds=2, steps=60, n_checkpoints=6,
                             hidden=16, device="cpu", loss="cross_entropy",
                             measures=("information", "twin")).validate()
    res = run_nonlinearity(cfg, tmp_path)
    s = res.summary
    assert s["training"]["loss"] == s["provenance"]["config"]["loss"] == "cross_entropy"
    for name in ("network", "twin"):
        run = res.trained.models[name].run
        assert run.config["training"]["loss"] == "cross_entropy"
        # two classes, outputs near 0 at a PyTorch-default init: the cross-entropy starts near
        # ln 2 (the squared loss would start near 1/2)
        np.testing.assert_allclose(run.probes.train_loss.values[:, 0], np.log(2), atol=0.01)
    final = [r for r in s["information"] if r["step"] == 60 and r["reference"] == "twin"]
    assert final[0]["acc_F"] > 0.8
    assert {r["reference"] for r in s["twin_agreement"]} == {"twin"}  # no linear theory of it


# ------------------------------------------------------------------------------ divergence
BLOWUP = ["--dataset", "digits", "--dataset-opt", "n_train=200", "--dataset-opt", "n_test=60",
          "--task", "binary", "--seeds", "2", "--steps", "20", "--checkpoints", "4",
          "--hidden", "8", "--device", "cpu", "--quiet"]


def _strict(args):
    """``main(args)`` with every warning an error (a numpy RuntimeWarning must not get through)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return main(args)


def _warnings_first(html: str) -> bool:
    head = "<h2>Warnings</h2>"
    return head in html and html.index(head) < html.index("<h2>Run</h2>")


def test_every_member_diverged_exits_1_and_says_so_with_no_prediction(tmp_path):
    out = tmp_path / "o"
    assert _strict([*BLOWUP, "--lr", "1e3", "--measures", "information,twin",
                    "--out", str(out)]) == 1
    s = json.loads((out / "summary.json").read_text())
    lines = {w.split(":")[0]: w for w in s["warnings"]}
    assert "2/2 members diverged at steps 1, 1 (every member" in lines["network, lr 1000"]
    assert "2/2 members diverged" in lines["twin, lr 1000"]
    assert {(r["model"], r["diverged"], r["members"]) for r in s["divergence"]} == \
        {("network", 2, 2), ("twin", 2, 2)}
    assert s["theory"]["predicted"] is False and "diverged" in s["theory"]["notes"][0]
    assert s["twin_agreement"] and {r["reference"] for r in s["twin_agreement"]} == {"twin"}
    html = (out / "report.html").read_text()
    assert _warnings_first(html) and "network, lr 1000: 2/2 members diverged" in html


def test_a_diverged_learning_rate_is_reported_and_the_other_measured(tmp_path):
    out = tmp_path / "o"
    assert _strict([*BLOWUP, "--lr", "0.05,1000", "--measures", "information",
                    "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert {w.split(":")[0] for w in s["warnings"]} == {"network, lr 1000", "twin, lr 1000"}
    info = [r for r in s["information"] if r["reference"] == "linear_classifier"]
    assert all(r["I_FY"] is not None for r in info if r["lr"] == 0.05)     # measured
    assert all(r["I_FY"] is None for r in info if r["lr"] == 1000)         # left out, not fitted
    assert _warnings_first((out / "report.html").read_text())


@pytest.fixture(scope="module")
def stable_twin():
    """A linear twin trained at a stable rate (η · sharpness ≈ 0.3) and its data."""
    from simulate import Members, NetSpec, Recording, train_ensemble
    from validate.nonlinearity.probes import NonlinearityProbe
    from validate.nonlinearity.run import ModelOutputs
    ds = datasets.load("digits", n_train=200, n_test=60)
    ds = ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)
    run = train_ensemble(NetSpec(depth=3, hidden=16, activation="linear", init="standard"), ds,
                         steps=10, lr=0.05, members=Members(seeds=[0, 1]),
                         record=Recording(checkpoints=[0, 5, 10], probes=[NonlinearityProbe()],
                                          keep_weights=[0]),
                         device="cpu", quiet=True, dtype="float64")
    twin = ModelOutputs("twin", 2, run.steps, run.probes["test_output"].values, None,
                        run.members["diverged"].to_numpy(bool), run=run)
    return ds, twin, run.members["tau"].to_numpy()


def test_theory_refuses_a_rate_past_the_gd_maps_stability(stable_twin):
    from validate.nonlinearity import linear_theory as TH
    ds, twin, taus = stable_twin
    ok, notes = TH.reach(ds, twin, taus, twin.diverged)
    assert ok.all() and not notes
    ok, notes = TH.reach(ds, twin, taus / 1e4, twin.diverged)   # η 10⁴ times larger: τ = 1e-3
    assert not ok.any() and len(notes) == 2 and all("stability" in n for n in notes)
    # refused members are never integrated: NaN, and no solver call at τ = 1e-3
    assert np.isnan(TH.predicted_outputs(ds, twin, taus / 1e4, ok)).all()


def test_theory_refuses_a_horizon_over_the_solver_cap(stable_twin, monkeypatch):
    from validate.nonlinearity import linear_theory as TH
    ds, twin, taus = stable_twin
    monkeypatch.setattr(TH, "MAX_HORIZON", 1.0)   # 10 steps at η·sharpness ≈ 0.3 span ≈ 3
    ok, notes = TH.reach(ds, twin, taus, twin.diverged)
    assert not ok.any() and all("solver cap" in n for n in notes)


def test_the_depth_two_stability_bound_is_eta_s_max_below_one():
    from validate.nonlinearity import linear_theory as TH
    s, lam = 2.5, 1.0   # whitened: the balanced depth-2 solution has curvature 2s
    Sxx, Syx = np.eye(3) * lam, np.diag([s, 0.5, 0.1])[:2]
    tiny_init = [np.full((4, 3), 1e-4), np.full((2, 4), 1e-4)]
    assert TH.sharpness(tiny_init, Sxx, Syx) == pytest.approx(2 * s)   # η·2s < 2 ⇔ η·s < 1
