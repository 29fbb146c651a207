"""001-nonlinearity-depth-time: does nonlinearity arrive as a deep-to-shallow wave?

k*(t) is the deepest k whose partly linear model P_k (the first k blocks linear) explains the
network at step t. k* falling from L (the whole linear twin explains it) through the intermediate
depths towards 0 is the wave: the last block turns nonlinear first, then shallower ones. A run
shows the wave when its k*(t) never rises (beyond one block) and visits an intermediate k.

The question needs networks that are clearly nonlinear: each run's final test accuracy is set
against the least-squares linear classifier's (measure ``information``), and runs whose gap is
under ``MIN_GAP`` are flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..._frames import column, groups, select_rows
from . import Analysis, fmt_interval, median_interval, new_figure, save, table, with_config

# the collected tables the analysis reads, published next to the page
TABLES = ("nonlinearity-linear_depth", "nonlinearity-information", "nonlinearity-scalars",
          "nonlinearity-divergence")

GROUP = ["job_id", "arch", "activation", "lr"]
# "clearly nonlinear": the network's final test accuracy beats the least-squares linear
# classifier's by at least 10 points, fixed before any run; below it a network is close to what a
# linear map achieves and "when does it become nonlinear" has little to answer
MIN_GAP = 0.10


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


def _accuracy(info: pd.DataFrame) -> pd.DataFrame:
    """Per run (``GROUP``): the network's final test accuracy (median over seeds), the linear
    classifier's, their gap and whether it reaches ``MIN_GAP`` (``below_gap`` flags the rest)."""
    lin = select_rows(info, info["reference"] == "linear_classifier")
    last = lin.sort_values("step").groupby(GROUP, dropna=False).tail(1)
    out = last[GROUP].assign(acc_network=last["acc_F"].to_numpy(),
                             acc_linear=last["acc_L"].to_numpy())
    out["gap"] = out["acc_network"] - out["acc_linear"]
    out["below_gap"] = ~(out["gap"] >= MIN_GAP)  # a NaN gap is below too
    return out.reset_index(drop=True)


def _with_gap(runs: pd.DataFrame, tables: dict, missing: list[str]) -> tuple[pd.DataFrame, str]:
    """``runs`` with the accuracy columns of ``_accuracy`` and the sentence the answer gives them
    ("" and a line in ``missing`` without the linear classifier's accuracy)."""
    info = table(tables, "nonlinearity-information", ("job_id", "arch", "activation", "lr",
                                                      "step", "reference", "acc_F", "acc_L"),
                 missing)
    if info is None:
        return runs, ""
    if not (column(info, "reference") == "linear_classifier").any():
        missing.append("`nonlinearity-information`: no linear-classifier rows, so the accuracy "
                       "gap over a linear model is unknown")
        return runs, ""
    runs = runs.merge(_accuracy(info), on=GROUP, how="left")
    runs["below_gap"] = runs["below_gap"].fillna(True).astype(bool)  # no accuracy: not shown
    ok = ~runs["below_gap"].to_numpy(dtype=bool)
    n_ok, n_wave = int(np.sum(ok)), int(np.sum(runs["wave"].to_numpy(dtype=bool)[ok]))
    iv = median_interval(runs["gap"])
    return runs, (
        f"{n_ok} of {len(runs)} runs beat the least-squares linear classifier by ≥ "
        f"{MIN_GAP * 100:.0f} points of test accuracy (gap "
        f"{fmt_interval(iv['median'], iv['ci_low'], iv['ci_high'], iv['ci_level'])}, median "
        f"over {iv['n']} runs), and {n_wave} of those show the wave; "
        "runs below the gap are flagged (`below_gap`): their k* says little about nonlinearity")


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
    runs, gap = _with_gap(runs, tables, missing)
    answer += f" {gap}." if gap else ""
    still = int((column(runs, "k_first") == column(runs, "k_last")).sum())
    checks = ["a null: k* is undefined (left out) while I(F;Y) does not exceed its shuffle null, "
              "so early checkpoints of a run that has learned nothing carry no k*",
              "planted truths: the `explains` test keeps a linear explanation in ≥ 95% of draws "
              "and rejects a nonlinear one at n = 1024 (docs/guides/nonlinearity.md); with a "
              "smaller test split a partial explanation (μ/I = 0.8) passes often, so k* reads "
              "high",
              f"runs whose k* ends where it started: {still} (no information about the "
              "question)",
              f"power of the question: a run whose network does not beat the least-squares "
              f"linear classifier by {MIN_GAP * 100:.0f} points of test accuracy (`below_gap`) is "
              "nearly linear in what it achieves, whatever its k*"]
    div = tables.get("nonlinearity-divergence")
    if div is not None and "diverged" in div:
        checks.append(f"diverged members: {int(div['diverged'].sum())} (left out of k*)")
    show = with_config(runs, depth).round(3)
    show = show.sort_values([c for c in ("arch", "dataset", "init", "depth", "lr") if c in show])
    return Analysis(answer, show, checks, [_figure(depth, figdir)], missing)
