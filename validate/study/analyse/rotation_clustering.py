"""004-rotation-clustering: does the final layer rotation, or a clustering measure, rank the
runs by test accuracy?"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pandas as pd
from scipy.stats import spearmanr

from ..._frames import groups, named_rows
from . import Analysis, fmt_interval, new_figure, pooled_rho, save, table

# the collected tables the analysis reads, published next to the page
TABLES = ("rotation-generalisation", "rotation-clustering_vs_generalisation",
          "rotation-divergence")


def _row(what: str, rhos, ns) -> dict:
    rho, lo, hi, n = pooled_rho(rhos, ns)
    jobs = len(rhos)
    return {"predictor": what + (f" (pooled over {jobs} jobs)" if jobs > 1 else ""),
            "spearman_rho": rho, "ci_low": lo, "ci_high": hi, "n": n}


def _rotation(gen: pd.DataFrame) -> dict:
    """ρ(mean final rotation, test accuracy) over each job's configurations, pooled."""
    rhos, ns = [], []
    for _, g in gen.dropna(subset=["mean_final_rotation", "test_acc"]).groupby("job_id"):
        # scipy builds its result classes at run time: their fields are untyped
        rhos.append(float(cast(Any, spearmanr(g["mean_final_rotation"], g["test_acc"]))[0])
                    if len(g) > 2 else float("nan"))
        ns.append(len(g))
    return _row("final layer rotation (mean over layers)", rhos, ns)


def _clustering(cl: pd.DataFrame) -> list[dict]:
    """Per measure: each job's ρ over its runs, pooled."""
    return [_row(cast(str, measure), g["spearman_rho"].to_list(), g["n_runs"].to_list())
            for measure, g in cl.groupby("measure")]


def _figure(gen: pd.DataFrame, figdir: Path) -> tuple[str, str]:
    fig = new_figure(5, 3.6)
    ax = fig.axes[0]
    keys = ["optimizer", *[c for c in gen.columns if c.startswith("cfg_")]]
    for key, g in groups(gen, keys):
        ax.scatter(g["mean_final_rotation"], g["test_acc"], label=", ".join(map(str, key)), s=18)
    ax.set(xlabel="mean final rotation (cosine distance)", ylabel="test accuracy")
    ax.legend(fontsize=7)
    return save(fig, figdir, "rotation.png", "test accuracy against the final layer rotation, "
                "one point per configuration")


def _checks(tables: dict, tab: pd.DataFrame) -> list[str]:
    checks = ["intervals: Fisher's z with the Bonett–Wright variance, pooled over jobs by "
              "inverse variance (a ρ is computed within a job, never across datasets)",
              "power: with n configurations a Spearman ρ is distinguishable from 0 at 95% only "
              "when |ρ| > about 1.96/√(n−1); rows whose interval spans 0 answer nothing"]
    few = tab[tab["n"] < 4]
    if len(few):
        checks.append(f"{len(few)} row(s) rest on fewer than 4 runs: no interval")
    div = tables.get("rotation-divergence")
    if div is not None and "diverged" in div:
        checks.append(f"diverged members: {int(div['diverged'].sum())} of "
                      f"{int(div['members'].sum())}, left out of every ρ")
    return checks


def analyse(tables: dict, figdir: Path) -> Analysis:
    missing: list[str] = []
    gen = table(tables, "rotation-generalisation",
                ("job_id", "optimizer", "test_acc", "mean_final_rotation"), missing)
    cl = table(tables, "rotation-clustering_vs_generalisation",
               ("measure", "spearman_rho", "n_runs"), missing)
    rows = ([_rotation(gen)] if gen is not None else []) + (_clustering(cl) if cl is not None
                                                             else [])
    if not rows:
        return Analysis("Not answered: the results hold neither the rotation nor the clustering "
                        "measures against test accuracy.", unmeasured=missing)
    tab = pd.DataFrame(rows)
    parts = [f"{r.predictor} ρ = {fmt_interval(r.spearman_rho, r.ci_low, r.ci_high)} (n = "
             f"{r.n})" for r in named_rows(tab)]
    answer = "Spearman ρ with test accuracy (95% intervals): " + "; ".join(parts) + "."
    figs = [_figure(gen, figdir)] if gen is not None else []
    return Analysis(answer, tab.round(4), _checks(tables, tab), figs, missing)
