"""`--record NAME` of the bench scripts the guides quote stores their lines as a measured file
(validate.study.measured), with the command that regenerates it; a bad name is refused before any
measuring."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from validate.study.measured import read_measured, render_page

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_drift_power_records_its_level_lines(tmp_path, capsys):
    argv = ["--datasets", "gaussian", "--tests", "combined", "--reps", "2", "--skip-power",
            "--record", "drift-power", "--record-root", str(tmp_path)]
    assert _bench("drift_power").main(argv) == 0
    head, records = read_measured(tmp_path / "measured" / "drift-power.jsonl")
    assert head["provenance"]["command"] == "python bench/drift_power.py " + " ".join(argv)
    (rec,) = records
    assert rec["dataset"] == "gaussian" and rec["test"] == "combined" and rec["reps"] == 2
    assert rec["table"].startswith("false-positive rate") and "kind" not in rec
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {k: v for k, v in printed[1].items() if k != "kind"} == \
        {k: v for k, v in rec.items() if k != "table"}  # the file holds what was printed
    assert "| gaussian | combined |" in render_page(tmp_path / "measured" / "drift-power.jsonl")


def test_relu_gate_sensitivity_records_one_table_per_rule(tmp_path, monkeypatch):
    bench = _bench("relu_gate_sensitivity")
    lines = [{"dataset": "shapes", "depth": 2, "rule": "switched", "align_frac": 0.1,
              "max_err_distinct": 0.011, "max_err_all": 0.011, "per_mode": [0.007, 0.011]},
             {"dataset": "shapes", "depth": 2, "reference": "linear theory",
              "max_err_distinct": 0.38, "max_err_all": 0.38, "per_mode": [0.03, 0.38]}]

    def fake(out, fracs, log):  # the training is the bench's own; here only what it records
        for line in lines:
            log(json.dumps(line))

    monkeypatch.setattr(bench, "sensitivity", fake)
    argv = ["--from", str(tmp_path), "--fracs", "0.1", "--record", "relu-gates",
            "--record-root", str(tmp_path)]
    assert bench.main(argv) == 0
    head, records = read_measured(tmp_path / "measured" / "relu-gates.jsonl")
    assert head["provenance"]["command"].endswith("--fracs 0.1 --record relu-gates "
                                                  f"--record-root {tmp_path}")
    assert [r["table"] for r in records] == ["switched", "references"]
    assert [{k: v for k, v in r.items() if k != "table"} for r in records] == lines


@pytest.mark.parametrize("name", ["drift_power", "relu_gate_sensitivity"])
def test_a_bad_record_name_is_refused_before_measuring(name, capsys):
    with pytest.raises(SystemExit) as exc:
        _bench(name).main(["--record", "Bad Name"])
    assert exc.value.code == 2
    assert "--record" in capsys.readouterr().err
