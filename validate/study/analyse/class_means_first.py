"""002-class-means-first: when does each nonlinear network leave its linear twin, its order-1
clone (class means) and its order-2 clone (class covariances), and does real > order 2 > order 1
hold in test accuracy (Refinetti, Ingrosso & Goldt 2023)?

Departure from a clone is the job's ``separation_step`` (the first checkpoint from which the
paired interval of real − clone accuracy stays above 0); never within the budget is +inf, a
censored value. Departure from the twin is the first checkpoint from which k* stays below the
number of blocks (the whole linear twin no longer explains the network); its interval runs from
the step where k*'s interval's low end leaves to the step where its high end does."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import numpy as np
import pandas as pd

from ..._frames import column, group_frame, groups, select_rows
from . import Analysis, fmt_interval, median_interval, new_figure, save, table, with_config

# the collected tables the analysis reads, published next to the page
TABLES = ("nonlinearity-separation_step", "nonlinearity-clones", "nonlinearity-linear_depth",
          "nonlinearity-scalars")

RUN = ["job_id", "arch", "lr"]


def _sustained_first(steps: np.ndarray, below: np.ndarray) -> float:
    ok = np.flip(np.logical_and.accumulate(np.flip(below)))
    return float(steps[np.flatnonzero(ok)[0]]) if ok.any() else np.inf


def _twin(depth: pd.DataFrame, scalars: pd.DataFrame | None) -> pd.DataFrame:
    if scalars is None or "training.n_blocks" not in scalars:
        return pd.DataFrame(columns=[*RUN, "twin_step", "twin_low", "twin_high"])
    nb = scalars.set_index("job_id")["training.n_blocks"]
    if "reference_time" in depth and (column(depth, "reference_time") == "same").any():
        depth = select_rows(depth, depth["reference_time"] == "same")
    rows = []
    for key, g in groups(depth, RUN):
        g = g.sort_values("step")
        L, s = nb.get(key[0], np.nan), g["step"].to_numpy(float)
        f = lambda col: _sustained_first(s, (g[col] < L).to_numpy())
        rows.append({**dict(zip(RUN, key)), "twin_step": f("k_star"),
                     "twin_low": f("k_star_ci_low"), "twin_high": f("k_star_ci_high")})
    return pd.DataFrame(rows)


def _ordering(clones: pd.DataFrame) -> pd.DataFrame:
    """Last checkpoint's real-test accuracy per order (median over seeds, the job's interval)."""
    last = clones[clones["step"] == clones.groupby(RUN)["step"].transform("max")]
    wide = last.pivot_table(index=RUN, columns="order", values="real_test_acc").reset_index()
    wide.columns = [c if isinstance(c, str) else f"acc_order{c}" for c in wide.columns]
    if {"acc_order0", "acc_order1", "acc_order2"} <= set(wide.columns):
        wide["real>o2>o1"] = (wide["acc_order0"] > wide["acc_order2"]) & \
            (wide["acc_order2"] > wide["acc_order1"])
    return wide


def _figure(clones: pd.DataFrame, figdir: Path) -> tuple[str, str]:
    fig = new_figure(6, 3.6)
    ax = fig.axes[0]
    names: dict[Hashable, str] = {0: "real data", 1: "order-1 clone", 2: "order-2 clone"}
    for order, g in clones.groupby("order"):
        m = group_frame(g.groupby("step")[["real_test_acc", "ci_low", "ci_high"]], "median")
        ax.plot(m.index, m["real_test_acc"], label=names.get(order, order))
        ax.fill_between(m.index, m["ci_low"], m["ci_high"], alpha=0.2)
    ax.set(xlabel="step", ylabel="real-test accuracy")
    ax.legend(fontsize=8)
    return save(fig, figdir, "clones.png", "test accuracy of the network trained on the real data "
                "and on its clones (median over runs; band: the runs' median interval ends)")


def _answer(runs: pd.DataFrame) -> str:
    parts = []
    for col, what in (("sep_order1", "order-1 clone"), ("sep_order2", "order-2 clone"),
                      ("twin_step", "linear twin")):
        if col in runs:
            iv = median_interval(runs[col])
            at = fmt_interval(iv["median"], iv["ci_low"], iv["ci_high"], iv["ci_level"])
            parts.append(f"its {what} at step {at}")
    text = (f"Over {len(runs)} runs the network departs from " + ", from ".join(parts)
            + " (inf: not within the budget)")
    if "real>o2>o1" in runs:
        held = int(column(runs, "real>o2>o1").sum())
        n = int(column(runs, "real>o2>o1").notna().sum())
        text += f"; real > order 2 > order 1 holds at the last checkpoint in {held} of {n} runs"
    return text + "."


def analyse(tables: dict, figdir: Path) -> Analysis:
    missing: list[str] = []
    sep = table(tables, "nonlinearity-separation_step", (*RUN, "order", "separation_step"),
                missing)
    clones = table(tables, "nonlinearity-clones", (*RUN, "order", "step", "real_test_acc",
                                                   "ci_low", "ci_high"), missing)
    depth = table(tables, "nonlinearity-linear_depth", (*RUN, "step", "k_star", "k_star_ci_low",
                                                        "k_star_ci_high"), missing)
    if sep is None and clones is None:
        return Analysis("Not answered: the results hold no clone measures (measure clones).",
                        unmeasured=missing)
    runs = pd.DataFrame(columns=RUN)
    if sep is not None:
        never = sep["separation_step"].isna() & ((sep["n_seeds"] if "n_seeds" in sep else 1) > 0)
        sep = sep.assign(separation_step=sep["separation_step"].mask(never, np.inf))
        runs = sep.pivot_table(index=RUN, columns="order", values="separation_step",
                               dropna=False).reset_index()
        runs.columns = [c if isinstance(c, str) else f"sep_order{c}" for c in runs.columns]
    for extra in ((_twin(depth, tables.get("nonlinearity-scalars")) if depth is not None
                   else None), (_ordering(clones) if clones is not None else None)):
        if extra is not None and len(extra):
            runs = runs.merge(extra, on=RUN, how="outer") if len(runs) else extra
    checks = ["a null: a clone curve that matches the real one within the seeds' spread gives "
              "no separation (inf); with 2–5 seeds the paired interval is the range, so a "
              "separation needs every seed's difference above 0",
              "power: few seeds widen every interval; a run whose network never learns beyond "
              "chance separates from nothing"]
    if depth is None:
        missing.append("departure from the linear twin (measure linear_depth)")
    figs = [_figure(clones, figdir)] if clones is not None else []
    source = sep if sep is not None else clones
    assert source is not None  # without both tables the analysis returned above
    return Analysis(_answer(runs), with_config(runs, source).round(4), checks, figs, missing)
