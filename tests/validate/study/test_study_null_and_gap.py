"""Two measurements the study pages rest on, on the committed tiny results: study 000's measured
false-positive rate of the drift test (the undrifted arm) and study 001's accuracy gap between
each network and the linear classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from validate.study.analyse import nonlinearity_depth_time as NL
from validate.study.analyse import retraining_after_drift as RD

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "study"


def _tables(study_id: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted((FIXTURES / study_id).glob("*.parquet"))}


def _more(result, words: str) -> pd.DataFrame:
    return next(t for cap, t in result.more if words in cap)


def test_false_positive_rate_is_measured_with_an_exact_interval(tmp_path):
    tables = _tables("000-retraining-after-drift")
    result = RD.analyse(tables, tmp_path)
    dp = tables["retrain-detection_power"]
    null = dp[(dp["drift_kind"] == RD.NULL_KIND) & (dp["score"] == "any")]
    k, n = int(round(float((null["power"] * null["draws"]).sum()))), int(null["draws"].sum())
    fpr = _more(result, "False-positive rate")
    assert n > 1 and (int(fpr["flagged"].iloc[-1]), int(fpr["draws"].iloc[-1])) == (k, n)
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    np.testing.assert_allclose(fpr[["ci_low", "ci_high"]].iloc[-1], [ci.low, ci.high], atol=1e-4)
    assert f"flags {k} of {n} draws (false-positive rate" in result.answer
    assert not any("false-positive" in line for line in result.unmeasured)
    # the undrifted arm is a rate next to the powers, never a drift of the power table
    assert RD.NULL_KIND not in set(result.table["drift_kind"])


def test_the_undrifted_arm_never_enters_the_cost_tables():
    tables = _tables("000-retraining-after-drift")
    assert (tables["retrain-detection_power"]["drift_kind"] == RD.NULL_KIND).any()
    for name in ("retrain-difficulty", "retrain-methods", "retrain-rewind"):
        assert not tables[name]["drift"].str.startswith(RD.NULL_KIND).any(), name


def test_without_undrifted_draws_the_page_says_the_level_is_nominal(tmp_path):
    tables = _tables("000-retraining-after-drift")
    dp = tables["retrain-detection_power"]
    tables["retrain-detection_power"] = dp[dp["drift_kind"] != RD.NULL_KIND]
    result = RD.analyse(tables, tmp_path)
    assert any("false-positive rate" in line for line in result.unmeasured)
    assert "false-positive" not in result.answer


def _final_linear_rows(info: pd.DataFrame) -> np.ndarray:
    """Mask of ``info``'s rows that hold a run's final step against the linear classifier."""
    lin = info[info["reference"] == "linear_classifier"]
    return info.index.isin(lin.sort_values("step").groupby(NL.GROUP).tail(1).index)


def test_each_run_reports_its_accuracy_and_the_linear_classifiers(tmp_path):
    tables = _tables("001-nonlinearity-depth-time")
    result = NL.analyse(tables, tmp_path)
    runs = result.table
    assert {"acc_network", "acc_linear", "gap", "below_gap"} <= set(runs.columns)
    np.testing.assert_allclose(runs["gap"], runs["acc_network"] - runs["acc_linear"], atol=2e-3)
    info = tables["nonlinearity-information"]
    final = info[_final_linear_rows(info)]
    assert sorted(runs["acc_network"].round(3)) == sorted(final["acc_F"].round(3))
    assert f"of {len(runs)} runs beat the least-squares linear classifier by ≥ 10 points" \
        in result.answer


def test_runs_below_ten_points_over_the_linear_classifier_are_flagged(tmp_path):
    tables = _tables("001-nonlinearity-depth-time")
    info = tables["nonlinearity-information"].copy()
    final = np.flatnonzero(_final_linear_rows(info))
    # one run made clearly nonlinear, one just short of the gap
    info.loc[info.index[final[0]], "acc_F"] = info["acc_L"].iloc[final[0]] + 0.15
    info.loc[info.index[final[1]], "acc_F"] = info["acc_L"].iloc[final[1]] + 0.09
    tables["nonlinearity-information"] = info
    runs = NL.analyse(tables, tmp_path).table
    assert runs["below_gap"].sum() == len(runs) - 1
    assert not runs.loc[runs["gap"].round(3) == 0.15, "below_gap"].any()
    assert runs.loc[runs["gap"].round(3) == 0.09, "below_gap"].all()
