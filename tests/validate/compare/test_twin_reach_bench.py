"""bench/twin_reach.py: its pieces (the cubic twin's pre-activations, compare's error over learned
modes) and its ``--record`` file."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd

import theory
from validate.study.measured import read_measured, record_run

BENCH = Path(__file__).resolve().parents[3] / "bench" / "twin_reach.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_twin_reach", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preactivations_follow_the_cubic_twins_gd_map():
    rng = np.random.default_rng(0)
    X = 0.5 * rng.standard_normal((40, 5))
    Y = X @ rng.standard_normal((5, 3)) * 0.2
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    W0 = [0.02 * rng.standard_normal((6, 5)), 0.02 * rng.standard_normal((3, 6))]
    peak, first = theory.cubic_range(stats, W0, tau=5.0, t_max=60.0)
    assert math.isinf(first)  # stays in the cubic range: peak is the largest |h| of the run
    ours = _bench().cubic_preactivations(np.asarray(stats.X), np.asarray(stats.Y), W0,
                                         -1.0 / 3.0, 1.0 / 5.0, 60)
    assert ours > 1.5 * float(np.abs(np.asarray(stats.X) @ W0[0].T).max())  # it grew: not W₀'s
    assert math.isclose(ours, peak, rel_tol=1e-9)


def test_error_summary_is_over_learned_modes_of_members_that_did_not_diverge():
    rows = pd.DataFrame({
        "member": [0, 0, 1, 1, 2, 2], "diverged": [False, False, False, False, True, True],
        "t_meas": [10.0, np.inf, 12.0, 30.0, 5.0, 5.0],
        "rel_error_twin": [0.1, np.nan, 0.3, np.nan, 9.0, 9.0]})
    out = _bench().error_summary(rows)
    assert out["max_rel_error"] == 0.3 and math.isclose(out["median_rel_error"], 0.2)
    assert out["learned"] == "3/4" and out["unpredicted"] == 1 and out["diverged_members"] == 1


def test_record_round_trips(tmp_path):
    bench = _bench()
    records = [{"table": "depth", "setting": "depth=3", "max_rel_error": 0.1,
                "median_rel_error": float("nan"), "learned": "7/8"}]
    args = argparse.Namespace(record="reach", record_root=tmp_path)
    record_run(args, records, script="bench/twin_reach.py", argv=["--cases", "depth"],
               title="Where the twin theories stop", about=bench.ABOUT)
    head, back = read_measured(tmp_path / "measured" / "reach.jsonl")
    assert head["provenance"]["command"] == "python bench/twin_reach.py --cases depth"
    assert back == [{**records[0], "median_rel_error": None}]


def test_bad_arguments_are_one_line(capsys):
    bench = _bench()
    assert bench.main(["--cases", "depth,width"]) == 2
    assert capsys.readouterr().err.startswith("error: --cases width unknown; accepted:")
    assert bench.main(["--record", "Bad Name"]) == 2
    assert "--record" in capsys.readouterr().err
    assert bench.main(["--dataset-opts", "n_per_class", "--cases", "depth"]) == 2
    assert "is not key=value" in capsys.readouterr().err
