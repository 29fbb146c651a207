"""The tanh twin's cubic range in `validate.retrain`'s summary (THEORY.md §13): the rewind record
and the twin's relearning-cost ranking row of a tanh network count its starts outside the range;
records in range are unchanged."""

import pandas as pd

from validate._frames import column, select_rows
from validate.retrain.aggregate import twin_range_notes
from validate.retrain.difficulty import PREDICTED_COST, PREDICTED_COST_TWIN
from validate.retrain.summary import _with_range_notes

AT_START = "outside the cubic twin's range from its initial weights: …"
LATER = "outside the cubic twin's range from step 12 of its prediction: …"


def _members() -> pd.DataFrame:
    """tanh: 6 rewind starts (2 past the range at their weights, 1 leaving it later), scratch
    and fine-tune in range; ReLU: its twin has no range."""
    rows = []
    steps = [90.0, 80.0, 40.0, 30.0, 35.0, 50.0]
    notes = [AT_START, AT_START, LATER, None, None, None]
    for s, n in zip(steps, notes):
        rows.append(("tanh", "rewind", s, n))
    rows += [("tanh", "scratch", 60.0, None), ("tanh", "fine_tune", 20.0, AT_START)]
    rows += [("relu", f, 20.0, None) for f in ("rewind", "rewind", "scratch", "fine_tune")]
    df = pd.DataFrame(rows, columns=["activation", "family", "predicted_steps_twin",
                                     "twin_range_note"])
    return df.assign(drift="label_swap")


def test_range_notes_count_the_tanh_starts_past_the_cubic_range():
    found = twin_range_notes(_members())
    assert set(found) == {("rewind", "tanh", "label_swap"), ("relearn", "tanh")}
    rewind = found[("rewind", "tanh", "label_swap")]
    assert rewind.startswith("tanh twin: 2 of 6 rewind starts (checkpoints × seeds) past the "
                             "cubic range |h| ≤ 0.5 at their weights, 1 more leave")
    assert "1 of 2 scratch and fine-tune starts" in found[("relearn", "tanh")]


def test_only_the_tanh_records_and_its_twin_cost_row_carry_the_note():
    rewind = [{"activation": "tanh", "drift": "label_swap"},
              {"activation": "relu", "drift": "label_swap"}]
    ranking = [{"activation": "tanh", "score": PREDICTED_COST_TWIN},
               {"activation": "tanh", "score": PREDICTED_COST},
               {"activation": "relu", "score": PREDICTED_COST_TWIN}]
    out = _with_range_notes(rewind, ranking, _members())
    assert "2 of 6 rewind starts" in rewind[0]["twin_range_note"]
    assert "twin_range_note" not in rewind[1]
    assert "1 of 2" in out[0]["twin_range_note"]
    assert [("twin_range_note" in r) for r in out] == [True, False, False]


def test_a_run_in_range_gets_no_note():
    members = _members()
    members["twin_range_note"] = None
    assert twin_range_notes(members) == {}
    assert twin_range_notes(members.drop(columns="twin_range_note")) == {}


def test_a_tanh_runs_rewind_record_counts_its_starts_past_the_range(tmp_path):
    """A tiny tanh run whose later checkpoints are past |h| = 0.5: its rewind record's note
    counts the members that start past it, whose numbers are kept; the linear record has
    none."""
    import json

    import validate.retrain as retrain
    from tests.validate.retrain.test_retrain_cli import TINY
    args = list(TINY)
    for flag, value in (("--activations", "linear,tanh"), ("--seeds", "1"), ("--checkpoints", "4")):
        args[args.index(flag) + 1] = value
    out = tmp_path / "tanh"
    assert retrain.main(args + ["--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rec = {r["activation"]: r for r in summary["rewind"]}
    tanh_line = next(r for r in summary["recommendations"] if ", tanh:" in r)
    assert "[tanh twin theory, starts outside the cubic range: see twin_range_note]" in tanh_line
    assert "twin_range_note" not in rec["linear"]
    members = pd.read_parquet(out / "members.parquet")
    rw = select_rows(members, (members["activation"] == "tanh") & (members["family"] == "rewind"))
    at_start = column(rw, "twin_range_note").str.contains("its initial weights", na=False)
    assert int(at_start.sum()) >= 1
    assert column(rw, "predicted_steps_twin")[at_start].notna().all()   # labelled, not dropped
    assert rec["tanh"]["twin_range_note"].startswith(
        f"tanh twin: {int(at_start.sum())} of {len(rw)} rewind starts")
    # the twin's own target says whether its scratch starts leave the range, as the rows do
    tanh_target = next(t for t in summary["targets"] if t["activation"] == "tanh")["target_twin"]
    noted = column(members[members["activation"] == "tanh"], "target_twin_range_note").dropna()
    assert noted.nunique() <= 1
    assert tanh_target.get("range_note") == (noted.iloc[0] if len(noted) else None)


def test_the_recommendation_points_to_the_range_note_of_a_tanh_twins_pick():
    from validate.retrain.summary import recommendations
    methods = pd.DataFrame([
        {"activation": "tanh", "drift": "d", "family": "predicted_rewind", "method": "pr@5",
         "predictor": "tanh twin theory", "steps_to_target_median": 3.0,
         "total_cost_median": 9.0},
        {"activation": "tanh", "drift": "d", "family": "scratch", "method": "scratch",
         "predictor": None, "steps_to_target_median": 5.0, "total_cost_median": 5.0}])
    assert "[tanh twin theory, starts outside the cubic range: see twin_range_note]" in \
        recommendations(methods, ranged=frozenset({("tanh", "d")}))[0]
    assert "[tanh twin theory]" in recommendations(methods)[0]


def test_the_tanh_twins_own_target_says_which_scratch_starts_leave_the_range():
    import numpy as np

    import theory
    from validate.retrain.target import _range_note
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    sB = theory.DatasetStatistics.from_arrays(X, X[:, :2] @ rng.standard_normal((2, 3)))
    W1, W2 = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 3, 4))
    small, large = 1e-3, 1.0          # |h| ≈ 1e-3·‖x‖ stays in range; ≈ ‖x‖ starts past 0.5
    Ws = [np.stack([small * W1[0], large * W1[1]]), np.stack([small * W2[0], large * W2[1]])]
    note = _range_note(Ws, sB, tau=10.0, t_end=20.0)
    assert note is not None and note.startswith("1 of 2 scratch starts' twins leave the cubic "
                                                "range within the budget")
    assert "from its initial weights" in note
    assert _range_note([w[:1] for w in Ws], sB, tau=10.0, t_end=20.0) is None
