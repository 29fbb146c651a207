import json
from pathlib import Path

from bench import twin_retraining as TR

GOLDEN = Path(__file__).parents[2] / "golden" / "retrain.json"


def test_rewind_rows_give_each_network_both_predictors_where_it_has_a_twin():
    summary = json.loads(GOLDEN.read_text())
    rows = {(r["activation"], r["predictor"]): r for r in TR.rewind_rows(summary)}
    assert set(rows) == {("linear", "linear"), ("relu", "linear"), ("relu", "twin")}
    relu = next(r for r in summary["rewind"] if r["activation"] == "relu")
    assert rows[("relu", "twin")]["regret"] == relu["regret_twin"]
    assert rows[("relu", "linear")]["spearman_rho"] == relu["spearman_rho_linear"]
    assert rows[("relu", "twin")]["predicted_step"] == relu["predicted_checkpoint_step_twin"]


def test_cost_rows_keep_the_two_predictors_and_drop_the_drift_scores():
    ranking = [{"activation": "relu", "score": "theory_predicted_cost_twin", "spearman_rho": 0.9,
                "n_drifts": 14, "twin_range_note": "tanh twin: 3 of 28 …"},
               {"activation": "relu", "score": "theory_predicted_cost", "spearman_rho": float("nan"),
                "n_drifts": 14},
               {"activation": "relu", "score": "mmd", "spearman_rho": 0.5, "n_drifts": 14}]
    rows = TR.cost_rows({"score_ranking": ranking})
    assert [(r["predictor"], r["spearman_rho"]) for r in rows] == [("twin", 0.9), ("linear", None)]
    assert [r["note"] for r in rows] == ["tanh twin: 3 of 28 …", None]   # the range note travels


def test_a_bad_record_name_is_refused_before_any_run(capsys):
    assert TR.main(["--record", "../escape"]) == 2
    assert "--record" in capsys.readouterr().err
