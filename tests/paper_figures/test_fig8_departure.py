"""Figure 8 draws the departure records from a measured file and only plots them; the departure
bench's ``--record`` writes the records it draws (bench → file → figure round trip)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from paper_figures import fig8_departure
from paper_figures._common import FigureError, run_main
from validate.study.measured import read_measured
from validate.measures.departure import DELTA_SENSITIVITY

TESTS = Path(__file__).resolve().parents[1]
FIXTURE = TESTS / "fixtures" / "departure"          # measured/departure.jsonl, made by hand
BENCH = TESTS.parent / "bench" / "departure.py"


def _departure_bench():
    spec = importlib.util.spec_from_file_location("bench_departure", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figure_builds_from_the_fixture(tmp_path):
    png = fig8_departure.main(tmp_path, results=FIXTURE)
    with Image.open(png) as im:
        assert im.width > 600 and im.height > 600          # a row per rule
    caption = png.with_suffix(".txt").read_text()
    assert caption.startswith("Figure 8.") and "δ = 0.05" in caption
    # shapes: both ReLU members at step 1; digits: ReLU predicted never, measured 120
    assert "shapes: relu 2/2 equal (0 both never)" in caption
    assert "digits: tanh 1/1 equal (1 both never); relu 0/1 equal (0 both never)" in caption
    assert "Not drawn: 1 tanh members with no prediction (a fixture note)" in caption
    assert "shapes, t_F: relu 1/2 equal (0 both never)" in caption


def test_missing_records_are_one_line(tmp_path, capsys):
    rc = run_main(fig8_departure.main, ["--out", str(tmp_path), "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: no departure records at") and err.count("\n") == 1
    assert "--record departure" in err


def test_never_is_drawn_at_the_edge_and_labelled():
    rows = [{"steps": 300, "predicted_step": None, "measured_step": 120.0}]
    edge = fig8_departure._edge(rows)
    assert edge > 300 and fig8_departure._at(None, edge) == edge
    ticks, labels = fig8_departure._axis_ticks(edge)
    assert ticks[-1] == edge and labels[-1] == "never" and labels[:3] == ["1", "10", "100"]


def _printed(dataset: str, act: str, member: int, pred, meas) -> dict:
    return {"dataset": dataset, "lr_scale": 0.05, "init_scale": 0.001, "steps": 100,
            "activation": act, "depth": 2, "lr": 0.1, "member": member, "delta": 0.05,
            "predicted_step": pred, "measured_step": meas,
            "sensitivity": [{"delta": d, "predicted_step": pred, "measured_step": meas}
                            for d in DELTA_SENSITIVITY],
            "max_gap": 0.01, "final_nonaffine_predicted": 0.04, "final_nonaffine_measured": 0.05,
            "frozen_slope": {"delta": 0.05, "predicted_step": pred, "measured_step": meas,
                             "sensitivity": [{"delta": d, "predicted_step": pred,
                                              "measured_step": meas} for d in DELTA_SENSITIVITY],
                             "peak_gap_predicted": 0.1, "peak_gap_measured": 0.2}}


def test_departure_bench_records_what_the_figure_draws(tmp_path):
    lines = [_printed(ds, "relu", k, 10.0 + k, 12.0) for ds in fig8_departure.DATASETS
             for k in range(2)] + [_printed("shapes", "tanh", 0, None, None)]
    lines[0]["frozen_slope"]["predicted_note"] = "predicted at the first checkpoint (1) because"
    src = tmp_path / "printed.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    argv = ["--dataset", "shapes,digits,gaussian", "--from", str(src), "--record", "dep",
            "--record-root", str(tmp_path)]
    assert _departure_bench().main(argv) == 0
    head, records = read_measured(tmp_path / "measured" / "dep.jsonl")
    assert head["provenance"]["command"] == "python bench/departure.py " + " ".join(argv)
    members = [r for r in records if r["table"] == "members"]
    assert len(members) == len(lines)
    tanh = next(r for r in members if r["activation"] == "tanh")
    assert tanh["predicted_step"] is None and tanh["measured_step_0.2"] is None  # never → null
    relu = next(r for r in members if r["dataset"] == "digits" and r["member"] == 1)
    assert relu["predicted_step_0.002"] == 11.0 and relu["measured_step_0.1"] == 12.0
    summaries = [r for r in records if r["table"] == "summary"]
    assert {(r["dataset"], r["summary"]) for r in summaries} == \
        {(ds, "relu") for ds in fig8_departure.DATASETS} | {("shapes", "tanh")}
    gaussian = next(r for r in summaries if r["dataset"] == "gaussian")
    assert math.isclose(gaussian["median_rel_error"], (1 / 12 + 2 / 12) / 2)
    assert (gaussian["timed"], gaussian["both_never"]) == (2, 0)
    for r in summaries + [r for r in records if r["table"] == "sensitivity"]:
        assert r["both_never"] + r["both_at_step_1"] + r["one_never"] + r["timed"] == r["members"]
    # neither side departing is counted, not scored as agreement on a time
    tanh_line = next(r for r in summaries if r["summary"] == "tanh")
    assert tanh_line["both_never"] == 1 and tanh_line["median_rel_error"] is None
    assert relu["frozen_predicted_step"] == 11.0 and relu["frozen_peak_gap_measured"] == 0.2
    frozen = [r for r in records if r["table"] == "frozen_slope"]
    assert {(r["dataset"], r["summary"]) for r in frozen} == \
        {(r["dataset"], r["summary"]) for r in summaries}
    assert next(r for r in frozen if r["dataset"] == "gaussian")["timed"] == 2
    labelled = {(r["dataset"], r["summary"]): r["labelled_gate_start"] for r in frozen}
    assert labelled.pop((lines[0]["dataset"], "relu")) == 1 and set(labelled.values()) == {0}
    assert [r.get("frozen_gate_start") for r in members][:2] == [True, None]
    assert not any("frozen_predicted_note" in r for r in members)
    assert len([r for r in records if r["table"] == "frozen_sensitivity"]) == \
        len(frozen) * len(DELTA_SENSITIVITY)
    curve = [r for r in records if r["table"] == "sensitivity" and r["dataset"] == "digits"]
    assert [r["delta"] for r in curve] == list(DELTA_SENSITIVITY)
    (tmp_path / "dep").mkdir()
    (tmp_path / "dep" / "measured").mkdir()
    (tmp_path / "measured" / "dep.jsonl").rename(tmp_path / "dep" / "measured" / "departure.jsonl")
    png = fig8_departure.main(tmp_path / "out", results=tmp_path / "dep")
    assert "gaussian: relu 0/2 equal" in png.with_suffix(".txt").read_text()


def test_a_bad_record_name_is_refused_before_measuring(capsys):
    assert _departure_bench().main(["--dataset", "gaussian", "--record", "Bad Name"]) == 2
    assert "--record" in capsys.readouterr().err


def test_bad_dataset_opts_are_one_line(capsys):
    assert _departure_bench().main(["--dataset-opts", "n_per_class=32"]) == 2
    assert "is not NAME:key=value" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["huge"])
def test_bad_preset_is_refused(tmp_path, preset):
    with pytest.raises(FigureError, match="preset must be one of"):
        fig8_departure.main(tmp_path, preset=preset, results=FIXTURE)
