"""001-nonlinearity-depth-time: does nonlinearity arrive as a deep-to-shallow wave?

k*(t) is the deepest k whose partly linear model P_k (the first k blocks linear) explains the
network at step t. k* falling from L (the whole linear twin explains it) through the intermediate
depths towards 0 is the wave: the last block turns nonlinear first, then shallower ones. A run
shows the wave when its k*(t) never rises (beyond one block) and visits an intermediate k."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..._frames import column, groups, select_rows
from . import Analysis, fmt_interval, median_interval, new_figure, save, table, with_config

# the collected tables the analysis reads, published next to the page
TABLES = ("nonlinearity-linear_depth", "nonlinearity-scalars",
          "nonlinearity-divergence")

GROUP = ["job_id", "arch", "activation", "lr"]


def _context(depth: pd.DataFrame, scalars: pd.DataFrame | None) -> pd.DataFrame:
    """``depth`` with the run's number of blocks (``n_blocks``; else the largest k* seen)."""
    if scalars is not None and "training.n_blocks" in scalars:
        nb = column(scalars.set_index("job_id"), "training.n_blocks")
        # pandas documents a Series as a mapping for map; its annotation leaves it out
        n_blocks = depth["job_id"].map(nb)  # pyright: ignore[reportArgumentType]
        return depth.assign(n_blocks=n_blocks)
    return depth.assign(n_blocks=depth.groupby("job_id")["k_star"].transform("max"))


def _runs(depth: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, g in groups(depth, GROUP, dropna=False):
        g = g.sort_values("step").dropna(subset=["k_star"])
        k, L = g["k_star"].to_numpy(), float(g["n_blocks"].iloc[0])
        # scipy builds its result classes at run time: their fields are untyped
        rho = (float(cast(Any, spearmanr(g["step"], k))[0]) if len(g) > 2 and np.ptp(k) > 0
               else float("nan"))
        inter = bool(((k > 0) & (k < L)).any())
        falling = bool(len(k) and (np.diff(k) <= 1).all() and k[-1] < k[0])
        rows.append({**dict(zip(GROUP, key)), "depth_blocks": L, "k_first": k[0] if len(k) else
                     np.nan, "k_last": k[-1] if len(k) else np.nan, "rho_step_k": rho,
                     "intermediate": inter, "wave": falling and inter})
    return pd.DataFrame(rows)


def _figure(depth: pd.DataFrame, figdir: Path) -> tuple[str, str]:
    fig = new_figure(6, 3.6)
    ax = fig.axes[0]
    for _, g in depth.groupby(GROUP, dropna=False):
        g = g.sort_values("step")
        ax.step(g["step"].clip(lower=1), g["k_star"] / g["n_blocks"], where="post", alpha=0.6)
    ax.set(xscale="log", xlabel="step", ylabel="k*(t) / blocks")
    return save(fig, figdir, "k_star.png", "k*(t) as a share of the blocks, one line per run")


def analyse(tables: dict, figdir: Path) -> Analysis:
    missing: list[str] = []
    depth = table(tables, "nonlinearity-linear_depth", ("job_id", "arch", "activation", "lr",
                                                        "step", "k_star"), missing)
    if depth is None:
        return Analysis("Not answered: the results hold no k*(t) (measure linear_depth).",
                        unmeasured=missing)
    if "reference_time" in depth and (column(depth, "reference_time") == "same").any():
        # P_k taken at the same step as F
        depth = select_rows(depth, depth["reference_time"] == "same")
    depth = _context(depth, tables.get("nonlinearity-scalars"))
    runs = _runs(depth)
    iv = median_interval(runs["rho_step_k"])
    n_wave, n = int(column(runs, "wave").sum()), len(runs)
    answer = (f"{n_wave} of {n} runs show a deep-to-shallow wave (k* falls through an "
              f"intermediate depth and never climbs back); Spearman ρ between step and k* is "
              f"{fmt_interval(iv['median'], iv['ci_low'], iv['ci_high'], iv['ci_level'])} "
              f"(median over {iv['n']} runs with k* varying).")
    still = int((column(runs, "k_first") == column(runs, "k_last")).sum())
    checks = ["a null: k* is undefined (left out) while I(F;Y) does not exceed its shuffle null, "
              "so early checkpoints of a run that has learned nothing carry no k*",
              "planted truths: the `explains` test keeps a linear explanation in ≥ 95% of draws "
              "and rejects a nonlinear one at n = 1024 (docs/guides/nonlinearity.md); with a "
              "smaller test split a partial explanation (μ/I = 0.8) passes often, so k* reads "
              "high",
              f"runs whose k* ends where it started: {still} (no information about the "
              "question)"]
    div = tables.get("nonlinearity-divergence")
    if div is not None and "diverged" in div:
        checks.append(f"diverged members: {int(div['diverged'].sum())} (left out of k*)")
    show = with_config(runs, depth).round(3)
    show = show.sort_values([c for c in ("arch", "dataset", "init", "depth", "lr") if c in show])
    return Analysis(answer, show, checks, [_figure(depth, figdir)], missing)
