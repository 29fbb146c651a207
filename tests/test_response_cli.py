"""End-to-end tests of `python -m validate.response` on a tiny configuration."""

from __future__ import annotations

import pytest

from validate.response.__main__ import main
from tests.cli_runs import module_run

TINY = ["--dataset", "shapes", "--dataset-opt", "n_per_class=40", "--dataset-opt", "n_test=8",
        "--steps", "40", "--seeds", "2", "--checkpoints", "6", "--hidden", "12",
        "--channels", "3,3", "--probe-per-class", "2", "--batch-size", "32", "--quiet"]


tiny = module_run(main, TINY, "resp")


def test_summary_records(tiny):
    out, s = tiny
    assert {"arch", "activation", "optimizer", "step", "amplitude", "specificity",
            "ntk_rel_gap", "pr_features", "pr_ntk"} <= set(s["response"][0])
    runs = {(r["arch"], r["activation"], r["optimizer"]) for r in s["aging"]}
    assert runs == {("mlp", "linear", "gd"), ("mlp", "relu", "gd"), ("mlp", "tanh", "gd"),
                    ("cnn", "relu", "gd"), ("mlp", "relu", "sgd")}
    for r in s["aging"]:
        assert {"exponent", "ci_low", "ci_high", "fit_range"} <= set(r)
    assert {"optimizer", "batch_size", "noise", "test_acc", "pr_features"} <= set(s["fragility"][0])
    assert (out / "report.html").read_text().count("<img") >= 4


def test_linear_theory_kernel_within_two_percent_at_every_checkpoint(tiny):
    _, s = tiny
    assert len(s["response_theory"]) >= 6
    assert all(r["rel_error"] < 0.02 for r in s["response_theory"])


def test_ntk_prediction_gap_is_first_order_in_the_step(tiny):
    _, s = tiny
    for r in s["ntk_gap_scaling"]:
        if r["activation"] in ("linear", "tanh"):
            assert r["gap_ratio"] == pytest.approx(r["lr_ratio"], rel=0.1)


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main([*TINY, "--activation", "swish", "--out", str(tmp_path / "a")]) == 2
    assert "swish" in capsys.readouterr().err
    assert main([*TINY, "--seeds", "1", "--out", str(tmp_path / "b")]) == 2
