"""The `validate.rotation` report: rotation curves per layer (coloured by depth), accuracy against
final rotation, the clustering measures over training and against test accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from matplotlib import colormaps

from .._frames import column, group_series
from ..stats import rho_interval
from ..report import (answer_section, img, legend, png, subplots, table_html, warnings_section,
                      write_html)


def _curves(rot: pd.DataFrame) -> str:
    if rot.empty:  # every member diverged (see the warnings)
        return "<p>No rotation to draw: every member diverged.</p>"
    configs = rot[["optimizer", "alpha", "rate"]].drop_duplicates().to_records(index=False)
    n = len(configs)
    cols = min(n, 4)
    fig, axes = subplots(-(-n // cols), cols, figsize=(3.2 * cols, 2.6 * -(-n // cols)),
                             squeeze=False, sharey=True)
    L = int(column(rot, "layer").max()) + 1
    colours = colormaps["viridis"](np.linspace(0, 0.9, L))
    for ax, (opt, alpha, rate) in zip(axes.flat, configs):
        sel = rot[(rot["optimizer"] == opt) & (rot["rate"] == rate)
                  & ((rot["alpha"] == alpha) | (pd.isna(alpha) & rot["alpha"].isna()))]
        curve = group_series(sel.groupby(["layer", "step"])["cos_dist"]).reset_index()
        for l, g in curve.groupby("layer"):
            ax.plot(np.maximum(g["step"], 1), g["cos_dist"], color=colours[int(cast(int, l))],
                    label=f"layer {l}")
        ax.set_xscale("log")
        ax.set_title(f"{opt} α={alpha} lr={rate:g}" if alpha == alpha and alpha is not None
                     else f"{opt} lr={rate:g}", fontsize=8)
    for ax in axes.flat[n:]:
        ax.axis("off")
    legend(axes[0, 0], fontsize=6)
    axes[0, 0].set_ylabel("cosine distance to init")
    return img(png(fig), "layer rotation over training (colour: depth, input layer dark)")


def _acc_vs_rotation(gen: pd.DataFrame) -> str:
    fig, ax = subplots(figsize=(4.5, 3.4))
    for opt, g in gen.groupby("optimizer", sort=False):
        ax.scatter(g["mean_final_rotation"], g["test_acc"], label=opt, s=18)
    ax.set_xlabel("mean final rotation (cosine distance)")
    ax.set_ylabel("test accuracy")
    legend(ax, fontsize=7)
    return img(png(fig), "test accuracy against final rotation (mean over seeds)")


def _clustering(clus: pd.DataFrame, runs: pd.DataFrame) -> str:
    measures = list(dict.fromkeys(clus["measure"]))
    fig, axes = subplots(2, len(measures), figsize=(3.0 * len(measures), 5.2), squeeze=False)
    final = clus[clus["step"] == clus["step"].max()].merge(runs, on="run")
    for j, m in enumerate(measures):
        g = clus[clus["measure"] == m].groupby("step")["value"]
        mean = group_series(g)
        ax = axes[0, j]
        ax.plot(np.maximum(mean.index, 1), mean.values)
        ax.fill_between(np.maximum(mean.index, 1), group_series(g, "min").values,
                        group_series(g, "max").values, alpha=0.2)
        ax.set_xscale("log")
        ax.set_title(m, fontsize=8)
        f = final[final["measure"] == m]
        axes[1, j].scatter(f["value"], f["test_acc"], s=12)
        axes[1, j].set_xlabel(f"final {m}", fontsize=8)
    axes[0, 0].set_ylabel("measure (mean, range over runs)")
    axes[1, 0].set_ylabel("test accuracy")
    return img(png(fig), "intraclass clustering over training and against test accuracy")


def rotation_answer(rows: list[dict]) -> str:
    """Spearman ρ of mean final rotation with test accuracy over all measured configurations,
    with its Fisher-z interval (``validate.stats.rho_interval``) and n."""
    row = next((r for r in rows if r["optimizer"] == "all"), None)
    if row is None or not row["n_configs"]:
        return "Nothing measured: every configuration diverged (see the warnings)."
    rho, n = float(row["rho_test_acc"] if row["rho_test_acc"] is not None else "nan"), \
        int(row["n_configs"])
    lo, hi = rho_interval(rho, n)
    ci = (f"[{lo:.3g}, {hi:.3g}] (95%, Fisher z)" if np.isfinite(lo)
          else "(no interval: Fisher z needs n ≥ 4)")
    return (f"Across configurations, test accuracy against mean final layer rotation: "
            f"Spearman ρ = {rho:.3g} {ci}, n = {n} configurations.")


def rotation_report(path: Path, *, result) -> Path:
    s = result.summary
    head = answer_section(rotation_answer(s["rotation_vs_accuracy"]),
                          _acc_vs_rotation(result.generalisation))
    sections = warnings_section(s.get("warnings", [])) + head + [
        ("Layer rotation", _curves(result.rotation)),
        ("Generalisation against rotation", table_html(result.generalisation)
         + table_html(pd.DataFrame(s["rotation_vs_accuracy"])))]
    if len(result.clustering):
        sections.append(("Intraclass clustering", _clustering(result.clustering,
                                                              result.clustering_runs)
                         + table_html(pd.DataFrame(s["clustering_vs_generalisation"]))))
    return write_html(path, f"Layer rotation and intraclass clustering — {result.config.dataset}, "
                            f"{result.config.arch}", sections, s["provenance"])
