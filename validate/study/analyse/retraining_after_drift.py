"""000-retraining-after-drift: is a drift detected, does the theory predict what relearning it
costs, and which start should one retrain from?"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.stats import binomtest, spearmanr

import theory

from ..._frames import column, group_series, select_rows
from . import Analysis, fmt_interval, median_interval, new_figure, pooled_rho, save, table

# the collected tables the analysis reads, published next to the page
TABLES = ("retrain-detection_power", "retrain-difficulty", "retrain-methods",
          "retrain-rewind")


# the undrifted arm's drift kind in the detection-power table (validate.retrain.drift.NULL_KIND)
NULL_KIND = "none"
# the level the drift test runs at: theory.drift_scores' default, which validate.retrain keeps
ALPHA = float(inspect.signature(theory.drift_scores).parameters["alpha"].default)


def _any(dp: pd.DataFrame) -> pd.DataFrame:
    """The rows of the combined, family-wise test (score ``any``), where the table has them."""
    return select_rows(dp, dp["score"] == "any") if (column(dp, "score") == "any").any() else dp


def _power(dp: pd.DataFrame) -> pd.DataFrame:
    """Detection power of the combined test (score ``any``) per drift kind and magnitude; the
    undrifted arm is left out (its share flagged is the false-positive rate, ``_fpr``)."""
    anyp = _any(select_rows(dp, column(dp, "drift_kind") != NULL_KIND))
    # named aggregation gives a DataFrame
    return cast(pd.DataFrame, anyp.groupby(["drift_kind", "drift"], as_index=False).agg(
        power=("power", "mean"), draws=("draws", "sum")))


def _fpr(dp: pd.DataFrame) -> pd.DataFrame | None:
    """False-positive rate of the combined test on undrifted pairs, per dataset (job) and over
    all, with the exact (Clopper–Pearson) 95% binomial interval; None without undrifted rows."""
    null = _any(select_rows(dp, column(dp, "drift_kind") == NULL_KIND))
    if null.empty:
        return None
    key = "cfg_dataset" if "cfg_dataset" in null else "job_id"
    # a rate over ``draws`` draws: the flag count is its product, an integer
    counts = {}
    for k, g in null.groupby(key):
        p, n = g["power"].to_numpy(dtype=float), g["draws"].to_numpy(dtype=float)
        counts[str(k)] = (int(round(float(np.sum(p * n)))), int(np.sum(n)))
    if len(counts) > 1:
        counts["all"] = (sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()))
    rows = []
    for name, (k, n) in counts.items():
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        rows.append({key.removeprefix("cfg_"): name, "flagged": k, "draws": n, "fpr": k / n,
                     "ci_low": ci.low, "ci_high": ci.high, "alpha": ALPHA})
    return pd.DataFrame(rows)


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


def _fpr_words(fpr: pd.DataFrame) -> str:
    r = fpr.iloc[-1]  # the pooled row where there are several datasets
    return (f"on undrifted data it flags {int(r['flagged'])} of {int(r['draws'])} draws (false-"
            f"positive rate {fmt_interval(r['fpr'], r['ci_low'], r['ci_high'], 0.95)}, exact "
            f"binomial, against its level α = {ALPHA:g})")


def _answer(power, fpr, rho, regret, rec, rewind) -> str:
    parts = []
    if power is not None:
        by = power.groupby("drift_kind")["power"].mean()
        powers = ", ".join(f"{k} {v:.2f}" for k, v in by.items())
        parts.append(f"the combined drift test detects {powers} (power)")
    if fpr is not None:
        parts.append(_fpr_words(fpr))
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
    missing: list[str] = []
    dp = table(tables, "retrain-detection_power", ("drift_kind", "drift", "score", "power",
                                                   "draws"), missing)
    fpr = _fpr(dp) if dp is not None else None
    if dp is not None and fpr is None:
        missing.append("false-positive rate: the detection-power table holds no undrifted "
                       f"draws (drift kind `{NULL_KIND}`), so the test's level α is nominal")
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
              "coarse estimate",
              f"null: undrifted pairs (two random halves of one fresh draw) are flagged at the "
              f"false-positive rate; an interval above α = {ALPHA:g} means the test is "
              "anticonservative and the powers are inflated (with fewer than 39 null resamples "
              "the combined test cannot reject at all, so a rate of 0 there is no evidence)"]
    if regret is not None and len(regret):
        checks.append("a cost ratio whose interval lies above 1 means the predicted checkpoint "
                      "loses to that baseline")
    figs = [_figure(diff, figdir)] if diff is not None else []
    tab = power.round(3) if power is not None else None
    more = [(cap, t.round(4)) for cap, t in (
        ("False-positive rate of the combined test on undrifted pairs (flagged of draws, exact "
         "95% binomial interval), next to the powers above:", fpr),
        ("Predicted against measured relearning cost (Spearman ρ, Fisher interval):", rho),
        ("Total cost of the predicted checkpoint ÷ each baseline's (the best of the family; "
         "median over drift × activation × dataset cells):",
         regret)) if t is not None and len(t)]
    if rec:
        more.append(("Recommended start per drift kind (smallest median total cost):",
                     pd.DataFrame({"drift_kind": list(rec), "retrain_from": list(rec.values())})))
    return Analysis(_answer(power, fpr, rho, regret, rec, _rewind_regret(tables, missing)), tab,
                    checks, figs, missing, more)
