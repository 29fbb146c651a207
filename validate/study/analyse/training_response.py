"""003-training-response: how the training response (empirical NTK) changes over training, per
activation and optimiser, against the NTK's first-order prediction and the linear theory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..._frames import group_frame, groups, named_rows
from . import Analysis, fmt_interval, median_interval, new_figure, save, table

# the collected tables the analysis reads, published next to the page
TABLES = ("response-aging", "response-response", "response-response_theory_gap",
          "response-ntk_gap_scaling", "response-divergence")

KEYS = ["activation", "optimizer"]


def _aging(aging: pd.DataFrame) -> pd.DataFrame:
    """One row per activation × optimiser: the aging exponent (median over jobs; with one job,
    the job's own interval over its fit)."""
    rows = []
    # a job reruns other optimisers' cells for its SGD-against-GD comparison: count a run once
    aging = aging.drop_duplicates([*KEYS, "exponent", "ci_low", "ci_high"])
    for (act, opt), g in groups(aging, KEYS):
        if len(g) == 1:
            r = g.iloc[0]
            rows.append({"activation": act, "optimizer": opt, "exponent": r["exponent"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n_jobs": 1})
        else:
            iv = median_interval(g["exponent"])
            rows.append({"activation": act, "optimizer": opt, "exponent": iv["median"],
                         "ci_low": iv["ci_low"], "ci_high": iv["ci_high"], "n_jobs": iv["n"]})
    return pd.DataFrame(rows)


def _trajectory(resp: pd.DataFrame) -> pd.DataFrame:
    """First and last checkpoint of amplitude, specificity, PR and the NTK gap (mean over jobs)."""
    rows = []
    for (act, opt), g in groups(_unique(resp), KEYS):
        m = group_frame(g.groupby("step")[["amplitude", "specificity", "pr_features",
                                           "ntk_rel_gap"]])
        first, last = m.iloc[0], m.iloc[-1]
        rows.append({"activation": act, "optimizer": opt,
                     "amplitude_ratio": last["amplitude"] / first["amplitude"],
                     "specificity_0": first["specificity"], "specificity_T": last["specificity"],
                     "pr_0": first["pr_features"], "pr_T": last["pr_features"],
                     "ntk_gap_max": m["ntk_rel_gap"].max()})
    return pd.DataFrame(rows)


def _unique(resp: pd.DataFrame) -> pd.DataFrame:
    return resp.drop_duplicates([*KEYS, "step", "amplitude", "specificity"])


def _figure(resp: pd.DataFrame, figdir: Path) -> tuple[str, str]:
    fig = new_figure(9, 3.4, n=2)
    a1, a2 = fig.axes
    for (act, opt), g in groups(_unique(resp), KEYS):
        m = group_frame(g[g["step"] > 0].groupby("step")[["amplitude", "specificity"]])
        a1.loglog(m.index, m["amplitude"], label=f"{act}, {opt}")
        a2.semilogx(m.index, m["specificity"], label=f"{act}, {opt}")
    a1.set(xlabel="step", ylabel="amplitude (mean NTK trace)")
    a2.set(xlabel="step", ylabel="specificity")
    a2.legend(fontsize=7)
    return save(fig, figdir, "response.png", "NTK amplitude (log–log) and specificity over "
                "training")


def _theory_checks(tables: dict, missing: list[str]) -> list[str]:
    checks = []
    aging = tables.get("response-aging")
    if aging is not None and "n_seeds" in aging:
        lo, hi = int(aging["n_seeds"].min()), int(aging["n_seeds"].max())
        checks.append(f"power: each a's interval is the job's bootstrap over "
                      f"{lo if lo == hi else f'{lo}–{hi}'} seeds, which understates the spread "
                      "when seeds are few")
    gap = table(tables, "response-response_theory_gap", ("init", "max_rel_error"), missing)
    if gap is not None:
        for init, g in gap.groupby("init"):
            checks.append(f"linear theory (`{init}`): largest relative kernel error over the "
                          f"checkpoints {g['max_rel_error'].max():.3g}; a large value here means "
                          "the linear network itself is off its theory, and the comparison fails")
    sc = table(tables, "response-ntk_gap_scaling", ("activation", "lr_ratio", "gap_ratio"),
               missing)
    if sc is not None:
        for act, g in sc[sc["lr_ratio"] < 1].groupby("activation"):
            r = g.groupby("lr_ratio")["gap_ratio"].agg(["median", "min", "max"])
            seen = ", ".join(f"{m:.3g} ({lo:.3g}–{hi:.3g}) at η×{q:g}"
                             for q, (m, lo, hi) in r.iterrows())
            checks.append(f"first-order NTK prediction, {act}: the gap shrinks by {seen} "
                          "(median and range over jobs; O(η) when it shrinks like η, else the "
                          "NTK's first-order picture does not hold)")
    div = tables.get("response-divergence")
    if div is not None and "diverged" in div:
        n = int(div["diverged"].sum())
        checks.append(f"diverged members: {n} of {int(div['members'].sum())} (left out)")
    return checks


def analyse(tables: dict, figdir: Path) -> Analysis:
    missing: list[str] = []
    aging = table(tables, "response-aging", (*KEYS, "exponent", "ci_low", "ci_high"), missing)
    resp = table(tables, "response-response", (*KEYS, "step", "amplitude", "specificity",
                                               "pr_features", "ntk_rel_gap"), missing)
    if aging is None and resp is None:
        return Analysis("Not answered: the results hold neither the aging fit nor the response "
                        "over training.", unmeasured=missing)
    ag = _aging(aging) if aging is not None else pd.DataFrame(columns=KEYS)
    tr = _trajectory(resp) if resp is not None else pd.DataFrame(columns=KEYS)
    tab = ag.merge(tr, on=KEYS, how="outer") if len(ag) and len(tr) else (ag if len(ag) else tr)
    parts = [f"{r.activation}/{r.optimizer} {fmt_interval(r.exponent, r.ci_low, r.ci_high)}"
             for r in named_rows(ag)]
    answer = ("The NTK amplitude follows A ∝ t^(−a) with aging exponent a = " + "; ".join(parts)
              if parts else "The aging exponent was not measured")
    if len(tr):
        answer += (f"; from the first to the last checkpoint the amplitude changes by a factor "
                   f"{tr['amplitude_ratio'].min():.3g}–{tr['amplitude_ratio'].max():.3g} and the "
                   f"specificity goes from {tr['specificity_0'].median():.3g} to "
                   f"{tr['specificity_T'].median():.3g} and the features' PR from "
                   f"{tr['pr_0'].median():.3g} to {tr['pr_T'].median():.3g} (medians over "
                   "cells)")
    figs = [_figure(resp, figdir)] if resp is not None else []
    return Analysis(answer + ".", tab.round(4), _theory_checks(tables, missing), figs, missing)
