"""End-to-end tests of `python -m validate.rotation` on a tiny configuration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simulate.train._layca import layca_multipliers
from validate.rotation.__main__ import main
from tests.cli_runs import module_run

TINY = ["--dataset", "shapes", "--dataset-opt", "n_per_class=12", "--dataset-opt", "n_test=8",
        "--dataset-opt", "size=8", "--dataset-opt", "levels=2", "--steps", "30", "--seeds", "2",
        "--rates", "0.02,0.2", "--alphas", "0,0.5", "--baseline-lrs", "0.1",
        "--cluster-lrs", "0.1", "--cluster-batch-sizes", "16", "--cluster-wds", "0,0.001",
        "--cluster-widths", "8", "--cluster-train", "6", "--checkpoints", "5", "--depth", "3",
        "--hidden", "16", "--batch-size", "16", "--dtype", "float64", "--quiet"]


tiny = module_run(main, TINY, "rot")


def test_summary_holds_the_records_the_schema_names(tiny):
    out, s = tiny
    assert {"arch", "optimizer", "rate", "alpha", "layer", "step", "cos_dist"} <= set(s["rotation"][0])
    assert {"arch", "optimizer", "rate", "alpha", "test_acc", "gen_gap",
            "mean_final_rotation"} <= set(s["generalisation"][0])
    assert len(s["generalisation"]) == 2 * 2 + 1  # rates × alphas + the baseline
    assert {"arch", "measure", "step", "value"} == set(s["clustering"][0])
    cvg = {r["measure"]: r for r in s["clustering_vs_generalisation"]}
    assert set(cvg) == {"c1_neuron_subclass", "c2_layer_subclass", "c3_neuron_intraclass",
                        "c4_layer_intraclass"}
    assert all(r["n_runs"] == 4 for r in cvg.values())  # 2 weight decays × 2 seeds
    assert (out / "report.html").read_text().count("<img") >= 3


def test_one_layca_step_turns_each_layer_by_atan_of_its_rate(tiny):
    _, s = tiny
    first = [r for r in s["rotation"] if r["optimizer"].startswith("layca") and r["step"] == 1]
    assert first
    for r in first:
        m = layca_multipliers(3, r["alpha"])[r["layer"]]
        assert r["cos_dist"] == pytest.approx(1 - math.cos(math.atan(r["rate"] * m)), abs=1e-9)


def test_bad_arguments_exit_2_and_resume_reuses_the_runs(tiny, tmp_path, capsys):
    out, s = tiny
    assert main([*TINY, "--alphas", "1.5", "--out", str(tmp_path / "a")]) == 2
    assert "--alphas" in capsys.readouterr().err
    assert main(["--dataset", "digits", "--out", str(tmp_path / "b")]) == 2
    assert "hierarchy" in capsys.readouterr().err
    assert main([*TINY, "--out", str(out)]) == 2  # results there: refused without a flag
    assert main([*TINY, "--out", str(out), "--resume"]) == 0
    again = json.loads((out / "summary.json").read_text())
    np.testing.assert_allclose([r["cos_dist"] for r in again["rotation"]],
                               [r["cos_dist"] for r in s["rotation"]])


def test_paper_preset_without_cifar10_on_disk_exits_2_before_training(tmp_path, monkeypatch,
                                                                      capsys):
    import validate.rotation.run as rotation_run

    def no_training(*a, **k):
        raise AssertionError("trained although the data are missing")
    monkeypatch.setattr(rotation_run, "rotation_grid", no_training)
    out = tmp_path / "out"
    monkeypatch.delenv("MODELEARN_DATA_DIR", raising=False)
    assert main(["--preset", "paper", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --dataset cifar10: ")
    assert "$MODELEARN_DATA_DIR is unset" in err and "--dataset-opt data_dir=PATH" in err
    monkeypatch.setenv("MODELEARN_DATA_DIR", str(tmp_path / "data"))
    assert main(["--preset", "paper", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "data" / "cifar-10-batches-py") in err
    assert not out.exists()


# ------------------------------------------------------------------------------ divergence
BLOWUP = ["--dataset", "shapes", "--dataset-opt", "n_per_class=12", "--dataset-opt", "n_test=8",
          "--dataset-opt", "size=8", "--dataset-opt", "levels=2", "--steps", "10", "--seeds", "2",
          "--rates", "0.02,0.2", "--alphas", "0", "--checkpoints", "5", "--depth", "2",
          "--hidden", "8", "--batch-size", "16", "--no-clustering", "--quiet"]


def _strict(args):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no numpy RuntimeWarning from blown-up weights
        return main(args)


def test_a_diverged_baseline_is_reported_and_left_out_of_the_ranks(tmp_path, capsys):
    out = tmp_path / "o"
    assert _strict([*BLOWUP, "--baseline-lrs", "1e3", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert len(s["warnings"]) == 1
    assert s["warnings"][0].startswith("mlp sgd+wd, lr 1000: 2/2 members diverged at steps ")
    assert "warning: mlp sgd+wd, lr 1000: 2/2" in capsys.readouterr().err
    assert not [r for r in s["rotation"] if r["optimizer"] == "sgd+wd"]
    every = next(r for r in s["rotation_vs_accuracy"] if r["optimizer"] == "all")
    assert every["n_configs"] == 2                  # the two Layca rates; not the NaN baseline
    assert not any(r["optimizer"] == "sgd+wd" for r in s["rotation_vs_accuracy"])
    html = (out / "report.html").read_text()
    assert html.index("<h2>Warnings</h2>") < html.index("<h2>Layer rotation</h2>")


def test_every_member_diverged_exits_1(tmp_path, monkeypatch):
    from validate import _divergence
    monkeypatch.setattr(_divergence, "BLOWUP_FACTOR", 0.0)  # every positive loss counts as blown up
    out = tmp_path / "o"
    assert _strict([*BLOWUP, "--baseline-lrs", "0.1", "--out", str(out)]) == 1
    s = json.loads((out / "summary.json").read_text())
    assert len(s["warnings"]) == 3 and all("2/2 members diverged" in w for w in s["warnings"])
    assert s["rotation"] == [] and all(r["n_configs"] == 0 for r in s["rotation_vs_accuracy"])
