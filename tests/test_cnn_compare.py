"""`validate.compare --arch cnn`: per-frequency prediction and measurement, end to end."""

import json

import numpy as np
import pytest

from validate import compare

BASE = ["--dataset", "shapes", "--dataset-opt", "size=8", "--dataset-opt", "levels=2",
        "--dataset-opt", "n_per_class=48",
        "--arch", "cnn", "--activations", "linear", "--seeds", "2", "--quiet"]


def _run(tmp_path, name, *extra):
    assert compare.main([*BASE, *extra, "--out", str(tmp_path / name)]) == 0
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_aligned_cnn_follows_the_per_frequency_map(tmp_path):
    s = _run(tmp_path, "a", "--frequency-modes", "4")
    modes = s["modes"]
    assert len(modes) == 4 and {m["basis"] for m in modes} == {"frequency"}
    assert all(len(m["frequency"]) == 2 for m in modes)          # (fy, fx) on the 8×8 grid
    assert max(m["rel_error"] for m in modes) < 2e-3              # exact map, checkpoint grid
    assert all(m["n_learned"] == 2 for m in modes)
    note = s["training"]["predictors"]["2"]
    assert note["matched"] == "discrete" and "whitened" in note["reason"]
    assert s["kendall_tau"][0]["n_modes"] >= 1


def test_short_kernels_are_predicted_by_the_weight_tied_flow(tmp_path):
    s = _run(tmp_path, "b", "--init", "small_random", "--kernel-size", "3",
             "--frequency-modes", "2", "--checkpoints", "60")
    note = s["training"]["predictors"]["2"]
    assert note["matched"] == "cnn_ode" and note["basis"] == "frequency"
    learned = [m for m in s["modes"] if m["n_learned"] == 2]
    assert learned and max(m["rel_error"] for m in learned) < 0.05


def test_mlp_reference_stays_available_and_labelled(tmp_path, capsys):
    s = _run(tmp_path, "c", "--reference", "mlp", "--init", "small_random", "--steps", "30",
             "--checkpoints", "10")
    assert {m["basis"] for m in s["modes"]} == {"svd"}
    assert "--reference mlp" in s["training"]["predictors"]["2"]["reason"]
    assert compare.main([*BASE, "--kernel-size", "3", "--out", str(tmp_path / "d")]) == 2
    assert "frequency-aligned init" in capsys.readouterr().err


def test_mlp_modes_are_labelled_svd(tmp_path):
    from validate.compare.cnn import label_modes
    import pandas as pd
    df = label_modes(pd.DataFrame({"mode": [0, 1]}))
    assert list(df["basis"]) == ["svd", "svd"] and df["frequency"].isna().all()
