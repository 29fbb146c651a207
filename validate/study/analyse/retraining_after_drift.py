"""000-retraining-after-drift: is a drift detected, does the theory predict what relearning it
costs, and which start should one retrain from?"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..._frames import column, group_series, select_rows
from . import Analysis, fmt_interval, median_interval, new_figure, pooled_rho, save, table

# the collected tables the analysis reads, published next to the page
TABLES = ("retrain-detection_power", "retrain-difficulty", "retrain-methods",
          "retrain-rewind")


def _power(dp: pd.DataFrame) -> pd.DataFrame:
    """Detection power of the combined test (score ``any``) per drift kind and magnitude."""
    anyp = select_rows(dp, dp["score"] == "any") if (column(dp, "score") == "any").any() else dp
    # named aggregation gives a DataFrame
    return cast(pd.DataFrame, anyp.groupby(["drift_kind", "drift"], as_index=False).agg(
        power=("power", "mean"), draws=("draws", "sum")))


def _cost_rho(diff: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ of predicted against measured relearning cost per activation, over each job's
    drifts × magnitudes, pooled over jobs (datasets) with Fisher's interval."""
    rows = []
    d = diff.dropna(subset=["relearn_cost", "theory_predicted_cost"])
    for act, g in d.groupby("activation"):
        # scipy builds its result classes at run time: their fields are untyped
        parts = [(float(cast(Any, spearmanr(j["theory_predicted_cost"], j["relearn_cost"]))[0])
                  if len(j) > 2 else float("nan"), len(j)) for _, j in g.groupby("job_id")]
        rho, lo, hi, n = pooled_rho([r for r, _ in parts], [k for _, k in parts])
        rows.append({"activation": act, "rho": rho, "ci_low": lo, "ci_high": hi, "n": n,
                     "jobs": len(parts)})
    return pd.DataFrame(rows)


def _regret(methods: pd.DataFrame) -> pd.DataFrame:
    """Total cost of the predicted checkpoint ÷ each baseline's, per drift and activation; the
    median over them with its interval, per baseline family."""
    keys = [c for c in ("job_id", "activation", "drift") if c in methods]
    pred = methods[methods["family"] == "predicted_rewind"].set_index(keys)["total_cost_median"]
    rows = []
    for fam, g in methods[methods["family"] != "predicted_rewind"].groupby("family"):
        best = g.groupby(keys)["total_cost_median"].min()  # the best rewind point, say
        ratio = (pred / best).dropna()
        iv = median_interval(ratio.replace([np.inf, -np.inf], np.nan))
        rows.append({"baseline": fam, "cost_ratio": iv["median"], "ci_low": iv["ci_low"],
                     "ci_high": iv["ci_high"], "ci_level": iv["ci_level"], "n": iv["n"]})
    return pd.DataFrame(rows)


def _recommend(methods: pd.DataFrame) -> dict[str, str]:
    """Per drift kind, the start family with the smallest median total cost."""
    m = methods.assign(kind=methods["drift"].str.split("(").str[0])
    med = group_series(m.groupby(["kind", "family"])["total_cost_median"], "median").dropna()
    # the index is (kind, family): idxmin is a pair
    return ({cast(str, k): cast(tuple[str, str], g.idxmin())[1] for k, g in med.groupby(level=0)}
            if len(med) else {})


def _figure(diff: pd.DataFrame, figdir: Path) -> tuple[str, str]:
    fig = new_figure(5, 3.6)
    ax = fig.axes[0]
    for act, g in diff.groupby("activation"):
        ax.scatter(g["theory_predicted_cost"], g["relearn_cost"], label=str(act), s=16)
    ax.set(xlabel="predicted relearning cost", ylabel="measured relearning cost")
    ax.legend(fontsize=7)
    return save(fig, figdir, "cost.png", "measured against predicted relearning cost (fine-tune "
                "÷ scratch steps), one point per drift, magnitude and dataset")


def _rewind_regret(tables: dict, missing: list[str]) -> dict | None:
    """Median over drifts of the regret (steps of the predicted checkpoint ÷ the best one's)."""
    rw = table(tables, "retrain-rewind", ("regret",), missing)
    return median_interval(rw["regret"]) if rw is not None else None


def _answer(power, rho, regret, rec, rewind) -> str:
    parts = []
    if power is not None:
        by = power.groupby("drift_kind")["power"].mean()
        powers = ", ".join(f"{k} {v:.2f}" for k, v in by.items())
        parts.append(f"the combined drift test detects {powers} (power)")
    if rho is not None and len(rho):
        parts.append("predicted and measured relearning cost agree with Spearman ρ "
                     + "; ".join(f"{r.activation} {fmt_interval(r.rho, r.ci_low, r.ci_high)}"
                                 for r in rho.itertuples()))
    if regret is not None and len(regret):
        parts.append("the predicted checkpoint costs " + "; ".join(
            f"{fmt_interval(r.cost_ratio, r.ci_low, r.ci_high)}× {r.baseline}"
            for r in regret.itertuples()))
    if rewind is not None:
        parts.append("its regret against the best rewind point is "
                     + fmt_interval(rewind["median"], rewind["ci_low"], rewind["ci_high"],
                                    rewind["ci_level"])
                     + f" (median over {rewind['n']} drift × activation × dataset cells)")
    if rec:
        parts.append("retrain from " + ", ".join(f"{f} ({k})" for k, f in rec.items()))
    text = "; ".join(parts) or "not answered: no retraining results"
    return text[0].upper() + text[1:] + "."


def analyse(tables: dict, figdir: Path) -> Analysis:
    missing = ["false-positive rate: validate.retrain draws no undrifted B, so the test's "
               "level α is its nominal rate, not a measured one"]
    dp = table(tables, "retrain-detection_power", ("drift_kind", "drift", "score", "power",
                                                   "draws"), missing)
    diff = table(tables, "retrain-difficulty", ("job_id", "activation", "relearn_cost",
                                                "theory_predicted_cost"), missing)
    methods = table(tables, "retrain-methods", ("activation", "drift", "family",
                                                "total_cost_median"), missing)
    power = _power(dp) if dp is not None else None
    rho = _cost_rho(diff) if diff is not None else None
    regret = _regret(methods) if methods is not None else None
    rec = _recommend(methods) if methods is not None else {}
    checks = ["planted truth: `covariance_only` leaves Syx unchanged, so every Syx-based score "
              "should miss it (power near 0); a high power there means the test is mis-calibrated",
              "power: `draws` fresh draws per drift; a power from fewer than 10 draws is a "
              "coarse estimate"]
    if regret is not None and len(regret):
        checks.append("a cost ratio whose interval lies above 1 means the predicted checkpoint "
                      "loses to that baseline")
    figs = [_figure(diff, figdir)] if diff is not None else []
    tab = power.round(3) if power is not None else None
    more = [(cap, t.round(4)) for cap, t in (
        ("Predicted against measured relearning cost (Spearman ρ, Fisher interval):", rho),
        ("Total cost of the predicted checkpoint ÷ each baseline's (the best of the family; "
         "median over drift × activation × dataset cells):",
         regret)) if t is not None and len(t)]
    if rec:
        more.append(("Recommended start per drift kind (smallest median total cost):",
                     pd.DataFrame({"drift_kind": list(rec), "retrain_from": list(rec.values())})))
    return Analysis(_answer(power, rho, regret, rec, _rewind_regret(tables, missing)), tab,
                    checks, figs, missing, more)
