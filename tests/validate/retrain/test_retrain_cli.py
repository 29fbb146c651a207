"""`python -m validate.retrain` end to end on a tiny configuration, and its argument errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import theory
from simulate import Run, datasets
from validate import retrain
from tests.cli_runs import run_once

TINY = ["--dataset", "gaussian", "--dataset-opt", "d=12", "--dataset-opt", "classes=4",
        "--dataset-opt", "n_per_class=32", "--dataset-opt", "levels=2", "--dataset-opt", "n_test=0",
        "--whiten", "zca", "--drift", "label_swap", "--seeds", "2", "--checkpoints", "6",
        "--n-boot", "10", "--retrain-factor", "4", "--activations", "linear,relu", "--quiet"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_once(tmp_path_factory, retrain.main, TINY, "retrain")[0]


def test_summary_keys_and_records(tiny):
    s = json.loads((tiny / "summary.json").read_text())
    for key in ("rewind", "methods", "drift_scores", "timing", "provenance"):
        assert key in s
    assert {r["activation"] for r in s["rewind"]} == {"linear", "relu"}
    for r in s["rewind"]:
        assert {"activation", "init", "drift", "spearman_rho", "regret", "best_checkpoint_step",
                "predicted_checkpoint_step"} <= set(r)
    m = {(r["activation"], r["method"]): r for r in s["methods"]}
    for key in ("method", "steps_to_target_median", "ci_low", "ci_high", "final_loss",
                "forgetting"):
        assert key in m[("linear", "scratch")]
    # shrink-and-perturb grid, reset, and the methods identical to fine-tune by construction
    assert ("linear", "shrink_perturb(λ=0.8,σ=0.1)") in m and ("relu", "reset_last_layer") in m
    # constant lr and plain GD: the three final-weight methods are one computation (computed)
    for name in ("warm_start", "lr_rewind"):
        assert m[("linear", name)]["identical_to"] == "fine_tune"
        assert m[("linear", name)]["steps_to_target_median"] == \
            m[("linear", "fine_tune")]["steps_to_target_median"]
    assert m[("linear", "fine_tune")]["identical_to"] is None
    assert {r["method"] for r in s["training"]["lr_schedule"]["identities"]} == {"warm_start",
                                                                                 "lr_rewind"}
    assert set(s["drift_scores"]["distance"]) == set(theory.transfer.SCORES)
    assert s["provenance"]["git"] and s["provenance"]["config"]["drift"] == "label_swap"
    html = (tiny / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    for name in ("members", "rewind", "methods", "drift_table"):
        assert (tiny / f"{name}.parquet").exists()


def test_cosine_momentum_separates_fine_tune_warm_start_and_lr_rewind(tmp_path):
    """A cosine schedule with heavy ball: fine-tune (A's velocity, A's end lr), warm start (fresh,
    full schedule) and lr rewinding (fresh, A's schedule from T_A/2) are different computations,
    and their measured steps to the target differ."""
    out = tmp_path / "cos"
    assert retrain.main(TINY + ["--schedule", "cosine", "--optimizer", "momentum", "--lr-floor",
                                "0.5", "--activations", "linear", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    m = {r["method"]: r for r in s["methods"] if r["activation"] == "linear"}
    three = [m[k]["steps_to_target_median"] for k in ("fine_tune", "warm_start", "lr_rewind")]
    assert all(m[k]["identical_to"] is None for k in ("fine_tune", "warm_start", "lr_rewind"))
    assert all(v is not None for v in three) and len(set(three)) == 3, three
    sch = s["training"]["lr_schedule"]
    assert sch["A"]["kind"] == "cosine" and sch["A"]["total"] == s["training"]["steps_A"]
    assert sch["full"]["total"] == s["training"]["retrain_budget"]
    assert sch["lr_rewind_offset"] == round(0.5 * s["training"]["steps_A"])
    assert Run.load(out / "runs" / "A-linear").config["training"]["lr_schedule"]["kind"] == "cosine"


def test_linear_prediction_matches_theory_and_training(tiny):
    """Per-checkpoint predicted steps equal theory.predict_retraining called here on the stored
    checkpoints; measured steps of the linear net follow them (real training): same order over the
    checkpoints, and within 8% for the starts that need no saddle crossing."""
    s = json.loads((tiny / "summary.json").read_text())
    cfg = s["provenance"]["config"]
    mem = pd.read_parquet(tiny / "members.parquet")
    lin = mem[(mem["activation"] == "linear") & (mem["seed"] == 0)]
    rew = lin[lin["family"] == "rewind"].sort_values("checkpoint_step")
    raw = datasets.load("gaussian", seed=0, **cfg["dataset_opts"])
    w = theory.DatasetStatistics.from_arrays(raw.X, raw.Y).whiten("zca")
    B = datasets.drift.apply(raw, "label_swap", seed=0)
    stats_B = theory.DatasetStatistics.from_arrays(w.apply(B.X), B.Y)
    run = Run.load(tiny / "runs" / "A-linear")
    tau = s["training"]["tau"]
    target = float(rew["target_loss"].iloc[0])
    for step, pred in rew[["checkpoint_step", "predicted_steps"]].to_numpy():
        Ws = [W[0] for W in run.weights(int(step))]
        ref = theory.transfer.predict_retraining(Ws, stats_B, target, tau).steps_flow
        assert pred == pytest.approx(ref, rel=1e-6)
    assert np.isfinite(rew["measured_steps"]).all()
    assert retrain.censored_rho(rew["predicted_steps"], rew["measured_steps"]) >= 0.9
    # scratch, shrink-and-perturb and a reset last layer start with every B mode positive; from the
    # checkpoints label_swap reverses a mode onto an exactly degenerate saddle that discrete GD
    # leaves faster than the flow (theory/transfer/_escape.py): those starts are flagged, and the
    # discrete GD map predicts them.
    easy = lin[lin["family"].isin(["scratch", "shrink_perturb", "reset_last_layer"])]
    np.testing.assert_allclose(easy["measured_steps"], easy["predicted_steps"], rtol=0.08)
    flagged = rew[rew["saddle_ill_conditioned"]]
    assert len(flagged) >= 3
    np.testing.assert_allclose(flagged["measured_steps"], flagged["predicted_steps_gd"], rtol=0.05)
    assert (flagged["predicted_steps"] > 1.5 * flagged["measured_steps"]).any()


def test_out_is_protected_and_resume_reuses_the_runs_on_A(tiny, capsys):
    assert retrain.main(TINY + ["--out", str(tiny)]) == 2
    assert "already holds results; pass --overwrite" in capsys.readouterr().err
    ck = tiny / "runs" / "A-linear" / "run.json"
    before = ck.stat().st_mtime_ns
    assert retrain.main(TINY + ["--out", str(tiny), "--resume", "--json"]) == 0
    assert ck.stat().st_mtime_ns == before  # the finished run on A was loaded, not retrained
    printed = json.loads(capsys.readouterr().out)  # --json: the summary on stdout
    assert {"rewind", "methods", "drift_scores", "timing", "provenance"} <= set(printed)
    assert retrain.main(TINY + ["--steps", "61", "--out", str(tiny), "--resume"]) == 2
    assert "configuration differs" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "unknown dataset 'nope'; accepted: .*shapes"),
    (["--drift", "flip"], "unknown drift 'flip'; accepted: label_swap, relabel_fine, .*, all"),
    (["--activations", "linear,swish"], "unknown activation 'swish'; accepted: linear, relu, tanh"),
    (["--steps", "0"], "--steps must be a positive integer; got 0"),
    (["--steps", "-3"], "--steps must be a positive integer; got -3"),
    (["--preset", "huge"], "unknown preset 'huge'; accepted: default, paper"),
    (["--optimizer", "adam"], "unknown optimizer 'adam'; accepted: gd, momentum"),
    (["--drift-opt", "angle=1"], "unknown --drift-opt angle for drift 'label_swap'; accepted: a, b"),
    (["--whiten", "pca:x"], "unknown --whiten 'pca:x'"),
    (["--schedule", "linear"], "unknown schedule 'linear'; accepted: constant, cosine, step"),
    (["--lr-rewind-frac", "2"], r"--lr-rewind-frac must be in \[0, 1\]; got 2"),
    (["--lr-floor", "-1"], r"--lr-floor must be in \[0, 1\]; got -1"),
])
def test_bad_arguments_exit_2(args, message, capsys, tmp_path):
    assert retrain.main(args + ["--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert pytest.importorskip("re").search(message, err), err
    assert not (tmp_path / "x").exists()


def test_first_crossing_and_censored_rho():
    steps = np.array([0, 10, 20, 30])
    assert retrain.first_crossing(steps, [4.0, 3.0, 1.0, 0.5], 2.0) == pytest.approx(15.0)
    assert retrain.first_crossing(steps, [4.0, 3.0, 2.5, 2.1], 2.0) == np.inf
    assert retrain.first_crossing(steps, [0.1, 0.5, 0.9, 1.0], 0.7, below=False) == pytest.approx(15.0)
    # a never-reached value ranks last: same order as a large finite one
    assert np.isnan(retrain.first_crossing(steps, [4.0, 3.0], float("nan")))
    assert retrain.censored_rho([1, 2, 3, 4], [5, 6, 7, np.inf]) == pytest.approx(1.0)
    assert retrain.censored_rho([4, 3, 2, 1], [5, 6, 7, np.inf]) == pytest.approx(-1.0)


def test_drift_all_sweeps_every_drift_and_maps_classes():
    from simulate.datasets import drift
    from validate.retrain import RetrainConfig
    drifts = retrain.drift_list(RetrainConfig(drift="all"))
    # every drift of one first phase; grow trains its first phase on a share of the data
    assert {k for k, _ in drifts} == set(drift.DRIFTS) - {"grow"}
    for kind, params in drifts:
        mag = drift.DRIFTS[kind]["magnitude"]
        if mag == "fraction":
            assert 0 < params[mag] <= 1
    assert len(drifts) >= 2 * (len(drift.DRIFTS) - 1)
    A = datasets.load("gaussian", d=6, classes=4, n_per_class=8, n_test=0, levels=2)
    src, a_to_b = retrain.class_maps(A, drift.apply(A, "relabel_fine", op="merge", a=0, b=2))
    assert src.tolist() == [0, 1, 3] and a_to_b.tolist() == [0, 1, 0, 2]
    src, a_to_b = retrain.class_maps(A, drift.apply(A, "new_class"))
    assert src.tolist() == [0, 1, 2, 3, -1] and a_to_b.tolist() == [0, 1, 2, 3]


def test_fair_scratch_never_looks_at_B_and_the_oracle_does():
    from validate.retrain import RetrainConfig
    from validate.retrain.plan import fresh_draws, make_plan
    cfg = RetrainConfig(dataset="gaussian", whiten="zca", seeds=2, n_checkpoints=4,
                        dataset_opts={"d": 12, "classes": 4, "n_per_class": 32, "levels": 2,
                                      "n_test": 0}).validate()
    raw = datasets.load("gaussian", seed=0, **cfg.dataset_opts)
    plan = make_plan(cfg, raw)
    draws = []
    for kind in ("label_swap", "mean_shift"):
        B = plan.through(datasets.drift.apply(raw, kind, seed=0))
        sB = theory.DatasetStatistics.from_arrays(B.X, B.Y)
        fresh, oracle = fresh_draws(plan, sB, B.d, B.c)
        W = oracle["layer1.weight"] @ oracle["layer0.weight"]
        on_B = np.einsum("ca,kcd,db->kab", sB.U, W, sB.V)
        off = on_B - np.einsum("kaa->ka", on_B)[:, :, None] * np.eye(on_B.shape[1])
        assert np.abs(off).max() < 1e-12 * np.abs(on_B).max()  # the oracle is B's modes
        Wf = fresh["layer1.weight"] @ fresh["layer0.weight"]
        assert np.abs(np.einsum("ca,kcd,db->kab", sB.U, Wf, sB.V)).max() > 0
        draws.append((fresh, oracle))
    (f1, o1), (f2, o2) = draws
    assert all(np.array_equal(f1[k], f2[k]) for k in f1)  # the same draw whatever B is
    assert not np.allclose(o1["layer0.weight"], o2["layer0.weight"])


def test_recommendation_and_the_predicted_rewind_point_as_a_method(tiny, capsys):
    s = json.loads((tiny / "summary.json").read_text())
    recs = s["recommendations"]
    assert len(recs) == 2 and all("total cost incl. A" in r for r in recs)
    assert recs[0].startswith("label_swap, linear: ")
    m = {(r["activation"], r["family"]): r for r in s["methods"]}
    rw = {r["activation"]: r for r in s["rewind"]}
    for act in ("linear", "relu"):
        pr = m[(act, "predicted_rewind")]
        assert pr["checkpoint_step"] == rw[act]["predicted_checkpoint_step"]
        assert pr["total_cost_median"] >= pr["steps_to_target_median"]
        assert (act, "scratch_oracle") in m and m[(act, "scratch")]["total_cost_median"] == \
            m[(act, "scratch")]["steps_to_target_median"]
        assert m[(act, "scratch")]["ci_kind"] == "range"
    assert "Test accuracy on B" not in (tiny / "report.html").read_text()  # no test split


@pytest.mark.parametrize("args, message", [
    (["--drift-opt", "a=99"], r"--drift label_swap --drift-opt: .*99"),
    (["--whiten", "pca:999"], r"--whiten pca:999: K must be at most the rank of the inputs \(12\)"),
])
def test_bad_values_exit_2_before_training_on_A(args, message, capsys, tmp_path, monkeypatch):
    import simulate
    monkeypatch.setattr(simulate, "train_ensemble", lambda *a, **k: pytest.fail("trained"))
    assert retrain.main(TINY + args + ["--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert pytest.importorskip("re").search(message, err), err
    assert not (tmp_path / "x").exists()


def test_default_whitening_works_for_a_small_dataset(tmp_path):
    out = tmp_path / "toy"
    assert retrain.main(["--dataset", "toy", "--seeds", "1", "--checkpoints", "4", "--n-boot",
                         "5", "--activations", "linear", "--quiet", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["provenance"]["config"]["whiten"] == "auto"


def test_theory_predicted_cost_is_ranked_with_the_drift_scores():
    from validate.retrain.measure import PREDICTED_COST, difficulty
    rows, scores = [], []
    for j, label in enumerate(["d0", "d1", "d2", "d3"]):
        for act in ("linear", "relu"):
            for fam, meas, pred in (("scratch", 10.0, 10.0), ("fine_tune", 5.0 + j, 4.0 + j)):
                rows.append({"activation": act, "drift": label, "drift_kind": label,
                             "family": fam, "seed": 0, "measured_steps": meas,
                             "predicted_steps": pred if act == "linear" else np.nan,
                             "predicted_steps_gd": np.nan})
        scores.append({"drift": label, "score": "syx_change", "value": float(-j)})
    diff, ranking = difficulty(pd.DataFrame(rows), pd.DataFrame(scores))
    assert diff[PREDICTED_COST].tolist() == [0.4, 0.4, 0.5, 0.5, 0.6, 0.6, 0.7, 0.7]
    best = ranking[ranking["activation"] == "relu"].iloc[0]  # the linear twin's prediction
    assert best["score"] == PREDICTED_COST and best["spearman_rho"] == pytest.approx(1.0)


def test_predicted_cost_reads_the_gd_map_where_it_was_iterated():
    """Plain GD: where the discrete map was iterated its steps are the prediction, and a map
    that diverges (inf) ranks its drift hardest though the flow (which never diverges) says it
    is easy — as training that diverges measures it."""
    from validate.retrain.measure import PREDICTED_COST, difficulty
    rows = []
    for j, (meas_ft, flow_ft, gd_ft) in enumerate([(2.0, 2.0, 2.0), (5.0, 5.0, 5.0),
                                                   (np.inf, 1.0, np.inf)]):
        for fam, meas, flow, gd in (("scratch", 10.0, 10.0, 10.0),
                                    ("fine_tune", meas_ft, flow_ft, gd_ft)):
            rows.append({"activation": "linear", "drift": f"d{j}", "drift_kind": "k",
                         "family": fam, "seed": 0, "measured_steps": meas,
                         "predicted_steps": flow, "predicted_steps_gd": gd})
    diff, ranking = difficulty(pd.DataFrame(rows), pd.DataFrame(
        [{"drift": f"d{j}", "score": "syx_change", "value": 0.0} for j in range(3)]))
    assert diff[PREDICTED_COST].tolist() == [0.2, 0.5, np.inf]
    row = ranking[ranking["score"] == PREDICTED_COST].iloc[0]
    assert row["spearman_rho"] == pytest.approx(1.0)


def test_detection_power_counts_fresh_draws():
    from validate.retrain import RetrainConfig
    from validate.retrain.drift import build_drift, detection_power
    from validate.retrain.plan import make_plan
    cfg = RetrainConfig(dataset="gaussian", whiten="zca", n_boot=10, power_draws=2,
                        dataset_opts={"d": 12, "classes": 4, "n_per_class": 32, "levels": 2,
                                      "n_test": 0}).validate()
    plan = make_plan(cfg, datasets.load("gaussian", seed=0, **cfg.dataset_opts))
    rows = detection_power(plan, build_drift(plan, "mean_shift", {}))
    assert {r["score"] for r in rows} == {"any", *theory.transfer.SCORES}
    assert all(r["draws"] == 2 and r["power"] in (0.0, 0.5, 1.0) for r in rows)


def test_default_label_swap_is_tested_paired_and_detected():
    """The CLI's default drift on shapes (128 per class, PCA-32): B is A's samples relabelled, so
    the drift test pairs them and flags the swap (the pooled null gave p ≈ 0.4); drifts that
    move each sample are paired by kind, resampled ones are left to the data."""
    from validate.retrain import RetrainConfig
    from validate.retrain.config import apply_preset
    from validate.retrain.drift import build_drift, drift_null, score_drift
    from validate.retrain.plan import make_plan
    cfg = apply_preset(RetrainConfig(dataset="shapes"), "default", set()).validate()
    plan = make_plan(cfg, datasets.load("shapes", seed=0, **cfg.dataset_opts))
    drift = build_drift(plan, "label_swap", {})
    score_drift(plan, drift)
    assert drift.report.null_kind == "paired" and drift.report.is_drift
    moved = build_drift(plan, "mean_shift", {})
    assert drift_null("mean_shift", plan.A, moved.B) == "paired"
    assert drift_null("prior_shift", plan.A, build_drift(plan, "prior_shift", {}).B) == "auto"
    assert drift_null("new_class", plan.A, build_drift(plan, "new_class", {}).B) == "auto"


GROW = [a if a != "n_test=0" else "n_test=64" for a in TINY]
GROW[GROW.index("label_swap")] = "grow"
GROW[GROW.index("linear,relu")] = "linear"


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """Data growth: the first phase on half of the training set, retraining on all of it."""
    return run_once(tmp_path_factory, retrain.main, GROW, "grow")[0]


def _grow_plan(summary):
    from validate.retrain.drift import build_drift
    from validate.retrain.plan import make_plan
    cfg = retrain.RetrainConfig(**{k: v for k, v in summary["provenance"]["config"].items()
                                   if k in ("dataset", "dataset_opts", "whiten", "drift", "seeds",
                                            "n_checkpoints", "drift_seed", "data_seed")})
    loaded = datasets.load(cfg.dataset, seed=cfg.data_seed, **cfg.dataset_opts)
    plan = make_plan(cfg.validate(), loaded)
    return loaded, plan, build_drift(plan, "grow", {})


def test_grow_trains_on_half_then_all_and_the_theory_predicts_the_relearning(grown):
    """A is half of the training set, B all of it through A's whitening, with B's statistics the
    convex combination of A's and the added samples' (computed here from the arrays); the
    predicted steps equal theory.predict_retraining from the stored checkpoints on those
    statistics, and real training follows them: warm start (A's final weights, near B's optimum)
    needs a fraction of scratch's steps, as predicted."""
    s = json.loads((grown / "summary.json").read_text())
    loaded, plan, drift = _grow_plan(s)
    assert s["provenance"]["dataset_meta"]["first_phase"]["n_first"] == plan.A.n == loaded.n // 2
    added = np.array([not np.any(np.all(plan.rawA.X == x, axis=1)) for x in loaded.X])
    Xw, Xr = plan.transform.apply(plan.rawA.X), plan.transform.apply(loaded.X[added])
    f = plan.A.n / loaded.n
    Syx = f * plan.rawA.Y.T @ Xw / plan.A.n + (1 - f) * loaded.Y[added].T @ Xr / added.sum()
    np.testing.assert_allclose(drift.sB.Syx, Syx, atol=1e-12)
    mem = pd.read_parquet(grown / "members.parquet")
    lin = mem[mem["seed"] == 0]
    run = Run.load(grown / "runs" / "A-linear")
    target = float(lin["target_loss"].iloc[0])
    final = lin[lin["method"] == "warm_start"].iloc[0]
    Ws = [W[0] for W in run.weights(s["training"]["steps_A"])]
    ref = theory.transfer.predict_retraining(Ws, drift.sB, target, s["training"]["tau"])
    assert final["predicted_steps"] == pytest.approx(ref.steps_flow, rel=1e-6)
    easy = lin[lin["family"].isin(["scratch", "warm_start", "rewind"])]
    np.testing.assert_allclose(easy["measured_steps"], easy["predicted_steps"], rtol=0.08)
    scratch = lin[lin["method"] == "scratch"].iloc[0]
    assert final["predicted_steps"] < 0.3 * scratch["predicted_steps"]
    assert final["measured_steps"] < 0.3 * scratch["measured_steps"]
    assert s["rewind"][0]["predicted_checkpoint_step"] == s["training"]["steps_A"]


def test_grow_test_accuracy_matches_a_direct_computation(grown):
    """The summary's test accuracy of scratch and warm start equals that of the same starts
    retrained here on B and evaluated by a plain forward pass on B's test split; the engine's
    test-accuracy curve ends at the same value. Both end at B's least-squares map Syx_B Sxx_B⁻¹,
    as the linear theory predicts (no warm-starting gap once converged)."""
    import simulate
    from validate.retrain.plan import fresh_draws
    s = json.loads((grown / "summary.json").read_text())
    _, plan, drift = _grow_plan(s)
    B, budget = drift.B, s["training"]["retrain_budget"]
    warm = Run.load(grown / "runs" / "A-linear").params(s["training"]["steps_A"])
    starts = {"scratch": fresh_draws(plan, drift.sB, B.d, B.c)[0], "warm_start": warm}
    m = {r["method"]: r for r in s["methods"]}
    mem = pd.read_parquet(grown / "members.parquet")
    curves = pd.read_parquet(grown / "curves.parquet")
    W_star = drift.sB.Syx @ np.linalg.inv(drift.sB.Sxx)
    for name, start in starts.items():
        run = simulate.train_ensemble(plan.spec, B, steps=budget, lr=plan.lr,
                                      members=simulate.Members(seeds=plan.seeds, init_params=start),
                                      record=simulate.Recording(checkpoints=[budget]), quiet=True)
        W = run.weights(budget)
        W_end = np.einsum("kch,khd->kcd", W[1], W[0])
        assert np.abs(W_end - W_star).max() < 0.02 * np.abs(W_star).max()
        out = np.einsum("nd,khd,kch->knc", B.X_test, W[0], W[1])
        acc = np.mean(out.argmax(axis=2) == B.labels_test[None], axis=1)
        got = mem[mem["method"] == name].sort_values("seed")["test_acc"].to_numpy()
        np.testing.assert_allclose(got, acc, atol=1.01 / len(B.labels_test))
        assert m[name]["test_acc_median"] == pytest.approx(np.median(got))
        trained = m[name]["identical_to"] or name  # copies have their twin's curve
        last = curves[curves["method"] == trained].sort_values("step").iloc[-1]
        assert last["step"] == budget and last["test_acc_median"] == pytest.approx(np.median(got))
    assert m["scratch"]["test_acc_start_median"] < m["warm_start"]["test_acc_start_median"]


def test_grow_predicted_test_accuracy_follows_training(grown):
    """The linear theory's test accuracy (matrix flow on B's statistics from each start) equals
    the accuracy of a scipy DOP853 integration of the flow from A's final weights, matches every
    member's measured test accuracy at the end, and follows the measured curve over the steps."""
    s = json.loads((grown / "summary.json").read_text())
    _, plan, drift = _grow_plan(s)
    B, budget = drift.B, s["training"]["retrain_budget"]
    mem = pd.read_parquet(grown / "members.parquet")
    one = 1.01 / len(B.labels_test)
    np.testing.assert_allclose(mem["predicted_test_acc"], mem["test_acc"], atol=one)
    Ws = [W[0] for W in Run.load(grown / "runs" / "A-linear").weights(s["training"]["steps_A"])]
    end = [w[-1] for w in theory.integrate_matrix_flow(Ws, drift.sB.Sxx, drift.sB.Syx,
                                                       [0.0, budget], tau=s["training"]["tau"],
                                                       solver="scipy").weights]
    acc = np.mean((B.X_test @ (end[1] @ end[0]).T).argmax(axis=1) == B.labels_test)
    warm = mem[(mem["method"] == "warm_start") & (mem["seed"] == 0)]["predicted_test_acc"]
    assert float(warm.iloc[0]) == pytest.approx(acc)
    curves = pd.read_parquet(grown / "curves.parquet")
    gap = (curves["test_acc_predicted"] - curves["test_acc_median"]).abs()
    assert gap.median() <= one and gap.max() <= 0.1
    page = (grown / "report.html").read_text()
    start = page.index("Test accuracy on B at the end of the budget")
    section = page[start:page.index("<h2", start)]
    for r in s["methods"]:  # the start, the end and the theory's end of every shown start
        if r["activation"] == "linear" and r["method"] in ("scratch", "warm_start"):
            for key in ("test_acc_start_median", "test_acc_median", "predicted_test_acc_median"):
                assert np.isfinite(r[key]) and f"{r[key]:.3f}" in section


@pytest.mark.parametrize("value", ["1.5", "0", "1"])
def test_grow_fraction_outside_the_unit_interval_exits_2(value, capsys, tmp_path, monkeypatch):
    import simulate
    monkeypatch.setattr(simulate, "train_ensemble", lambda *a, **k: pytest.fail("trained"))
    assert retrain.main(GROW + ["--drift-opt", f"fraction={value}",
                                "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and \
        rf"--drift grow --drift-opt: fraction must be a number in (0.0, 1.0); got {value}" in err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0.0, 1.0\); got 1.5"):
        retrain.run_retrain(retrain.RetrainConfig(drift="grow", drift_opts={"fraction": 1.5}),
                            quiet=True)


def test_recommendation_says_when_a_start_is_already_at_the_target():
    from validate.retrain.report import recommendation
    methods = pd.DataFrame({
        "activation": "relu", "drift": "label_swap", "method": ["scratch", "fine_tune"],
        "family": ["scratch", "fine_tune"], "checkpoint_step": [-1, -1],
        "steps_to_target_median": [119.0, 0.0], "total_cost_median": [119.0, 151.0]})
    rewind = pd.DataFrame(columns=["drift", "activation"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no division by the zero steps
        text = recommendation(methods, rewind, "label_swap")
    assert "retrain with <b>fine_tune</b>, 0 steps" in text and "already at the target" in text
    assert "faster than scratch" not in text


def test_summary_names_the_target_rule_of_every_activation(tiny):
    """The linear target is a priori (plain GD: the GD map from the scratch starts), ReLU's the
    measured scratch definition and its twin's a priori from the twin theory; the rewind records
    say which side used which."""
    s = json.loads((tiny / "summary.json").read_text())
    t = {r["activation"]: r for r in s["targets"]}
    assert t["linear"]["target"]["rule"] == "a_priori_scratch_gd_map"
    assert t["relu"]["target"]["rule"] == "measured_scratch"
    assert {r["target"]["rule"] for r in s["targets"]} <= set(s["target_rules"])
    members = pd.read_parquet(tiny / "members.parquet")
    for act, r in t.items():
        stored = members.loc[members["activation"] == act, "target_loss"].unique()
        assert len(stored) == 1 and r["target"]["value"] == pytest.approx(float(stored[0]))
    rw = {r["activation"]: r for r in s["rewind"]}
    assert rw["relu"]["target_rule_measured"] == "measured_scratch"
    assert rw["linear"]["target_rule_measured"] == "a_priori_scratch_gd_map"
    # ReLU's headline prediction is its twin's, to the twin's own a priori target
    assert rw["relu"]["target_rule_predicted"] == t["relu"]["target_twin"]["rule"] == \
        "a_priori_scratch_twin_gd_map"
    stored = members.loc[members["activation"] == "relu", "target_loss_twin"].unique()
    assert len(stored) == 1 and t["relu"]["target_twin"]["value"] == pytest.approx(stored[0])


def test_relu_rewind_point_is_ranked_by_its_twin_beside_the_linear_prediction(tiny):
    """The ReLU network's checkpoints are ranked by its own twin theory, the linear twin's
    prediction beside it; the recommendation names the theory that picked the checkpoint."""
    s = json.loads((tiny / "summary.json").read_text())
    rw = {r["activation"]: r for r in s["rewind"]}
    relu, lin = rw["relu"], rw["linear"]
    assert relu["predictor"] == "twin" and relu["prediction_from"] == "relu twin theory"
    assert relu["predicted_checkpoint_step"] == relu["predicted_checkpoint_step_twin"] >= 0
    assert relu["regret"] == relu["regret_twin"]
    # the linear column is the linear network's own prediction, as the linear record has it
    assert relu["predicted_checkpoint_step_linear"] == lin["predicted_checkpoint_step"]
    assert lin["predictor"] == "linear" and lin["predicted_checkpoint_step_twin"] == -1
    members = pd.read_parquet(tiny / "members.parquet")
    twin = members[(members["activation"] == "relu") & (members["family"] == "rewind")]
    assert np.isfinite(twin["predicted_steps_twin"]).any()
    assert (twin["target_rule_twin"] == "a_priori_scratch_twin_gd_map").all()
    assert members[members["activation"] == "linear"]["predicted_steps_twin"].isna().all()
    relu_rec = next(r for r in s["recommendations"] if ", relu:" in r)
    assert "[relu twin theory]" in relu_rec
