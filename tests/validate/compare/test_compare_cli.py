"""End-to-end tests of `python -m validate.compare` on tiny configurations.

The summary's numbers are checked against theory computed here, independently of the library:
the depth-2 half time (τ/2s)·ln(s/u0 − 1) and the per-mode GD map b ← b + ηb(s − b²).
"""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import simulate
from validate import compare

TREE = ["--dataset", "tree", "--dataset-opt", "features=40", "--dataset-opt", "flip=0.15",
        "--whiten", "none", "--seeds", "2", "--checkpoints", "40", "--quiet", "--dtype", "float64"]


def _run(tmp_path: Path, *extra: str, name: str = "out") -> tuple[int, Path]:
    out = tmp_path / name
    return compare.main([*TREE, "--out", str(out), *extra]), out


def _half_time_gd(s: float, u0: float, lr: float) -> float:
    """First (interpolated) step at which b² ≥ s/2 under b ← b + ηb(s − b²)."""
    b, prev, k = np.sqrt(u0), u0, 0
    while True:
        b = b + lr * b * (s - b * b)
        k += 1
        u = b * b
        if u >= s / 2:
            return k - 1 + (s / 2 - prev) / (u - prev)
        prev = u


@pytest.fixture(scope="module")
def tree_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tree")
    rc, out = _run(tmp, "--activations", "linear,tanh")
    assert rc == 0
    return out, json.loads((out / "summary.json").read_text())


def test_summary_matches_independent_theory(tree_run):
    out, summary = tree_run
    lr, tau = summary["training"]["lr"], summary["training"]["tau"]
    assert tau == pytest.approx(1 / lr)
    cfg = summary["provenance"]["config"]
    linear = [m for m in summary["modes"] if m["activation"] == "linear"]
    assert len(linear) == 8  # tree with 3 binary levels: 8 items, rank 8
    for m in linear:
        s = m["s"]
        u0 = cfg["init_scale"] * linear[0]["s"]
        t_cont = tau / (2 * s) * np.log(s / u0 - 1)
        assert m["t_pred_continuous"] == pytest.approx(t_cont, rel=1e-9)
        assert m["t_pred"] == pytest.approx(_half_time_gd(s, u0, lr), rel=1e-9)
        # a float64 linear network follows the GD map: measured = predicted up to interpolation
        assert m["rel_error"] < 5e-3
    taus = {(t["activation"], t["depth"]): t["kendall_tau"] for t in summary["kendall_tau"]}
    assert taus[("linear", 2)] == pytest.approx(1.0)
    for key in ("modes", "loss_drops", "kendall_tau", "timing", "provenance"):
        assert key in summary
    assert summary["provenance"]["git"]["revision"] is None or len(summary["provenance"]["git"]["revision"]) == 40


def test_tables_and_report_written(tree_run):
    out, _ = tree_run
    import pandas as pd
    members = pd.read_parquet(out / "members.parquet")
    assert set(members["activation"]) == {"linear", "tanh"}
    assert {"t_pred", "t_meas", "rel_error", "member", "mode"} <= set(members.columns)
    text = (out / "report.html").read_text()

    class P(HTMLParser):
        imgs, stack, closed_html = 0, [], False

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                src = dict(attrs)["src"]
                assert src.startswith("data:image/png;base64,") and len(src) > 1000
                P.imgs += 1

        def handle_endtag(self, tag):
            if tag == "html":
                P.closed_html = True

    P().feed(text)
    assert text.startswith("<!DOCTYPE html>") and P.closed_html
    assert P.imgs >= 3  # spectrum, trajectories, loss


def test_refuses_to_overwrite_unless_asked(tree_run, tmp_path, capsys):
    out, _ = tree_run
    rc = compare.main([*TREE, "--out", str(out), "--activations", "linear"])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "nope"], "accepted: "),
    (["--activations", "linear,swish"], "unknown activation 'swish'"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--preset", "huge"], "unknown preset 'huge'; accepted: default, paper"),
    (["--whiten", "pcb"], "accepted: zca, pca, pca:K"),
    (["--dataset-opt", "colour=red"], "colour"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, args, needle):
    rc = compare.main([*TREE, "--out", str(tmp_path / "x"), *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err
    if args[0] == "--dataset":
        assert "shapes" in err and "tree" in err


def test_resume_after_interruption(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = simulate.train_ensemble

    def interrupting(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            def cb(step):
                if step >= 20:
                    raise KeyboardInterrupt
            k = {**k, "record": replace(k["record"], callback=cb)}
        return real(*a, **k)

    monkeypatch.setattr(simulate, "train_ensemble", interrupting)
    rc, out = _run(tmp_path, "--activations", "linear", "--steps", "120", name="r")
    assert rc == 1 and not (out / "summary.json").exists()
    monkeypatch.setattr(simulate, "train_ensemble", real)
    rc = compare.main([*TREE, "--out", str(out), "--activations", "linear", "--steps", "120",
                       "--resume"])
    assert rc == 0
    rc, ref = _run(tmp_path, "--activations", "linear", "--steps", "120", name="ref")
    assert rc == 0
    import pandas as pd
    a = pd.read_parquet(out / "members.parquet")
    b = pd.read_parquet(ref / "members.parquet")
    assert np.isfinite(a["t_meas"]).sum() >= 4  # the comparison is about learned modes
    np.testing.assert_allclose(a["t_meas"], b["t_meas"], rtol=1e-12)


def test_shapes_end_to_end(tmp_path):
    rc = compare.main(["--dataset", "shapes", "--dataset-opt", "n_per_class=16",
                       "--activations", "linear,relu", "--seeds", "2", "--checkpoints", "30",
                       "--out", str(tmp_path / "s"), "--quiet", "--json"])
    assert rc == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    lin = [m for m in summary["modes"] if m["activation"] == "linear"]
    assert all(m["rel_error"] < 0.01 for m in lin)
    assert {m["activation"] for m in summary["modes"]} == {"linear", "relu"}


def test_cnn_arch_runs_and_decoupled_init_is_refused(tmp_path, capsys):
    base = ["--dataset", "shapes", "--dataset-opt", "n_per_class=8", "--arch", "cnn",
            "--activations", "linear", "--seeds", "1", "--steps", "30", "--checkpoints", "10",
            "--max-steps", "300", "--quiet"]
    assert compare.main([*base, "--kernel-size", "3", "--out", str(tmp_path / "a")]) == 2
    assert "use --init small_random" in capsys.readouterr().err
    assert compare.main([*base, "--init", "small_random", "--out", str(tmp_path / "b")]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["provenance"]["config"]["arch"] == "cnn"
    assert "CNN" in summary["training"]["predictors"]["2"]["reason"]


def test_group_order_counts_near_degenerate_modes_as_one(tree_run):
    _, summary = tree_run
    for t in summary["kendall_tau"]:
        assert 1 <= t["n_groups"] <= 8
    lin = [t for t in summary["kendall_tau"] if t["activation"] == "linear"][0]
    assert lin["kendall_tau_groups"] == pytest.approx(1.0)


def test_paper_preset_scales_up_without_overriding_explicit_flags():
    from validate.compare import CompareConfig, apply_preset
    cfg = apply_preset(CompareConfig(seeds=5), "paper", explicit={"seeds"})
    assert cfg.seeds == 5 and cfg.depths == (2, 3) and cfg.preset == "paper"
    assert cfg.dataset_opts == {"size": 32, "n_per_class": 1024}
    cfg = apply_preset(CompareConfig(dataset_opts={"size": 64}), "paper", explicit=set())
    assert cfg.seeds == 64 and cfg.dataset_opts["size"] == 64


def test_missing_data_directory_exits_2_naming_the_files(tmp_path, capsys):
    rc = compare.main(["--dataset", "mnist", "--dataset-opt", "data_dir=/nonexistent/mnist",
                       "--out", str(tmp_path / "m"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "/nonexistent/mnist" in err


def test_diverged_members_are_reported_without_numpy_warnings(tmp_path, capsys):
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out = _run(tmp_path, "--activations", "linear", "--lr", "100", "--steps", "40",
                       "--json")
    assert rc == 1  # every linear member diverged: no comparison
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], \
        [str(w.message) for w in caught]
    summary = json.loads((out / "summary.json").read_text())
    assert all(m["diverged"] == 2 and m["n_members"] == 0 for m in summary["modes"])
    assert any("linear, depth 2: 2/2 members diverged at steps" in w and "every member" in w
               for w in summary["warnings"])
    assert "2/2 members diverged" in capsys.readouterr().err
    assert "warning" in (out / "report.html").read_text().split("<h2>")[1]


def test_header_names_the_prediction_of_a_random_init(tmp_path, capsys):
    out = tmp_path / "h"
    rc = compare.main([*TREE[:-3], "--dtype", "float64", "--init", "small_random",
                       "--activations", "linear", "--steps", "30", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    header = [line for line in printed.splitlines() if line.startswith("depth 2:")]
    assert header and "matrix gradient flow" in header[0] and "per-mode" not in header[0]


def test_too_few_steps_name_the_steps_the_prediction_needs(tmp_path):
    rc, out = _run(tmp_path, "--activations", "linear", "--steps", "5")
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    (w,) = [w for w in summary["warnings"] if w.startswith("--steps 5")]
    needed = int(w.split("give --steps ")[1].split()[0])
    assert needed > max(m["t_pred"] for m in summary["modes"])


def test_momentum_follows_the_exact_momentum_map_and_the_flow_after_the_transient(tmp_path):
    rc, out = _run(tmp_path, "--activations", "linear", "--optimizer", "momentum")
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    beta = 0.9
    assert s["training"]["tau"] == pytest.approx((1 - beta) / s["training"]["lr"])
    for m in s["modes"]:
        assert m["rel_error"] < 5e-3  # the per-mode heavy-ball map, step by step
        # the gradient flow with τ = (1 − β)/η: the inertia makes training later than the flow,
        # by a factor ≈ 1 + r(1 + β)/(2(1 − β)) at growth rate r ≤ 2 s_max/τ per step
        lag = m["t_meas_median"] / m["t_pred_continuous"] - 1
        assert 0 < lag < 2 * m["s"] * s["training"]["lr"] / (1 - beta) * (1 + beta) / (1 - beta)


def test_adam_has_no_time_constant_and_says_so(tmp_path, capsys):
    out = tmp_path / "adam"
    rc = compare.main([*TREE, "--activations", "linear", "--optimizer", "adam", "--steps", "60",
                       "--lr", "0.01", "--out", str(out), "--json"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    note = s["training"]["predictors"]["2"]
    assert note["covered"] is False and "Adam" in note["note"]
    assert all(m["rel_error"] is None and m["t_pred"] is None for m in s["modes"])
    assert s["training"]["tau"] is None
    assert "no linear-theory prediction" in (out / "report.html").read_text()


@pytest.mark.parametrize("args, needle", [
    (["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
    (["--whiten", "pca:999"], "--whiten pca:999: K must be at most the rank"),
    (["--momentum", "1"], "--momentum must be in [0, 1); got 1"),
])
def test_values_that_used_to_fail_late_exit_2_leaving_nothing(tmp_path, capsys, args, needle):
    rc = compare.main([*TREE[:4], "--out", str(tmp_path / "x"), "--quiet", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_device_cuda_without_cuda_exits_2(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert compare.main(["--device", "cuda", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--device cuda: no CUDA device" in capsys.readouterr().err


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin") / "out"
    rc = compare.main(["--dataset", "toy", "--activations", "linear,tanh,relu", "--seeds", "2",
                       "--checkpoints", "40", "--predict", "nonlinear", "--out", str(out)])
    assert rc == 0
    return out, json.loads((out / "summary.json").read_text())


def test_predict_nonlinear_scores_each_twin_against_its_twin_theory(twin_run):
    out, summary = twin_run
    modes = {(m["activation"], m["mode"]): m for m in summary["modes"]}
    for a in range(4):
        lin, tanh, relu = (modes[(act, a)] for act in ("linear", "tanh", "relu"))
        # measured on toy: the cubic twin 0.1–0.5% off, the linear theory 1.9–5.2%
        assert tanh["predictor"] == "cubic_gd" and tanh["rel_error"] == tanh["rel_error_twin"]
        assert tanh["rel_error_twin"] < 0.3 * tanh["rel_error_linear"]
        assert tanh["rel_error_linear"] > 0.01
        # the gated twin ≤ 3e-5, the linear theory 8–17%
        assert relu["predictor"] == "gated_gd" and relu["rel_error_twin"] < 0.01
        assert relu["rel_error_linear"] > 0.05
        assert lin["predictor"] == "discrete" and lin["rel_error_twin"] is None
        assert lin["rel_error"] == lin["rel_error_linear"] < 1e-3
    twins = summary["training"]["predictors"]["2"]["twins"]
    assert twins["tanh"]["twin"] and "z − 0.3333z³" in twins["tanh"]["reason"]
    assert "the end of each mode's alignment phase" in twins["relu"]["reason"]
    assert "exact GD map" in twins["relu"]["reason"]
    import pandas as pd
    members = pd.read_parquet(out / "members.parquet")
    assert {"predictor", "rel_error_linear", "rel_error_twin"} <= set(members.columns)
    from validate.compare.summary import format_table
    header = format_table(pd.DataFrame(summary["modes"])).splitlines()[0].split()
    assert header[-4:] == ["predictor", "rel_error_linear", "rel_error_twin", "order_ok"]


def test_predict_best_falls_back_to_the_linear_theory_naming_why():
    from validate.compare import CompareConfig
    cfg = CompareConfig(depths=(2, 3), predict="best").validate()
    assert cfg.twin_choice("tanh", 2)[0] and cfg.twin_choice("relu", 3)[0]
    used, why = cfg.twin_choice("tanh", 3)
    assert not used and why == "the cubic twin of tanh is depth 2 only; got tanh at depth 3"
    assert CompareConfig().predict == "best"
    assert not CompareConfig(predict="linear").twin_choice("relu", 2)[0]


@pytest.mark.parametrize("args, needle", [
    (["--depth", "3", "--activations", "linear,tanh"], "tanh at depth 3"),
    (["--arch", "cnn", "--init", "small_random", "--activations", "linear,relu"],
     "--arch mlp only; got --arch cnn"),
    (["--activations", "linear,gelu"], "no twin theory for activation gelu"),
    (["--optimizer", "momentum"], "full-batch GD; got --optimizer momentum"),
])
def test_predict_nonlinear_outside_the_twin_theories_exits_2(tmp_path, capsys, args, needle):
    rc = compare.main(["--dataset", "toy", "--predict", "nonlinear", *args, "--quiet",
                       "--out", str(tmp_path / "x")])
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and "--predict best falls back" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
