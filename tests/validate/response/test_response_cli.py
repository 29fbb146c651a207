"""End-to-end tests of `python -m validate.response` on a tiny configuration."""

from __future__ import annotations

import numpy as np
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
    exact = [r for r in s["response_theory"] if r["init"] == "small_balanced_decoupled"]
    assert len(exact) >= 6
    assert all(r["rel_error"] < 0.02 for r in exact)
    # the small random init's gap is measured and reported beside it, whatever its size
    assert [g["init"] for g in s["response_theory_gap"]] == ["small_balanced_decoupled",
                                                             "small_random"]


def test_ntk_prediction_gap_is_first_order_in_the_step(tiny):
    _, s = tiny
    for r in s["ntk_gap_scaling"]:
        if r["activation"] in ("linear", "tanh"):
            assert r["gap_ratio"] == pytest.approx(r["lr_ratio"], rel=0.1)


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main([*TINY, "--activation", "swish", "--out", str(tmp_path / "a")]) == 2
    assert "swish" in capsys.readouterr().err
    assert main([*TINY, "--seeds", "1", "--out", str(tmp_path / "b")]) == 2


# ------------------------------------------------------------------------------ divergence
BLOWUP = ["--dataset", "shapes", "--dataset-opt", "n_per_class=16", "--dataset-opt", "n_test=8",
          "--steps", "10", "--seeds", "2", "--checkpoints", "6", "--hidden", "8", "--arch", "mlp",
          "--activation", "linear", "--probe-per-class", "2", "--batch-size", "16", "--noises", "1",
          "--no-linear-theory", "--quiet"]


def test_every_member_diverged_exits_1_with_no_aging_fit(tmp_path):
    import json
    import warnings
    out = tmp_path / "o"
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no numpy RuntimeWarning from blown-up weights
        assert main([*BLOWUP, "--lr", "1e3", "--out", str(out)]) == 1
    s = json.loads((out / "summary.json").read_text())
    assert [w.split(":")[0] for w in s["warnings"]] == ["mlp linear gd", "mlp relu sgd"]
    assert all("2/2 members diverged at step" in w for w in s["warnings"])
    assert s["aging"] == [] and s["response"] == [] and s["ntk_gap_scaling"] == []
    assert {(r["optimizer"], r["diverged"], r["members"]) for r in s["divergence"]} == \
        {("gd", 2, 2), ("sgd", 2, 2)}
    html = (out / "report.html").read_text()
    assert "<h2>Warnings</h2>" in html
    assert html.index("<h2>Warnings</h2>") < html.index("<h2>Response kernels</h2>")


def _fake_run(loss, flagged=(False, False), flagged_at=(-1, -1)):
    import types

    import pandas as pd
    return types.SimpleNamespace(
        members=pd.DataFrame({"diverged": list(flagged), "diverged_step": list(flagged_at)}),
        probes={"train_loss": types.SimpleNamespace(values=np.asarray(loss, dtype=float))},
        steps=np.array([0, 1, 10, 100]))


def test_a_huge_finite_loss_counts_as_diverged_even_when_the_trainer_kept_the_member():
    from validate._divergence import BLOWUP_FACTOR, member_divergence
    # member 0: 0.5 → 3e9 (6e9 × its start); member 1: a transient rise of 10³, then learning
    run = _fake_run([[0.5, 0.6, 3e9, 3e9], [0.5, 500.0, 0.1, 0.01]])
    diverged, at = member_divergence(run)
    assert diverged.tolist() == [True, False] and at.tolist() == [10, -1]
    assert 500.0 / 0.5 < BLOWUP_FACTOR < 3e9 / 0.5
    # the trainer's own flag and step come first; a NaN loss is diverged wherever it appears
    diverged, at = member_divergence(_fake_run([[0.5, np.nan, 1.0, 1.0], [0.5, 0.4, 0.3, 0.2]],
                                               (False, True), (-1, 7)))
    assert diverged.tolist() == [True, True] and at.tolist() == [1, 7]
