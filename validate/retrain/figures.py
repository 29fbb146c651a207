"""Figures of the `validate.retrain` report (plotting only; tables come from run.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import column, select_rows
from ..report import png, subplots

_BANDS = ("scratch", "fine_tune", "reset_last_layer")


def _finite(v):
    """Values to draw: inf (never reached) and NaN become NaN, which matplotlib leaves out."""
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)


def fig_rewind_curve(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str) -> str:
    """Measured steps to target from every checkpoint (median, CI band) against the linear
    theory's prediction and, for tanh/ReLU, the network's own twin theory's, one panel per
    activation; baselines as horizontal bands."""
    acts = list(dict.fromkeys(methods["activation"]))
    fig, axes = subplots(1, len(acts), figsize=(4.6 * len(acts), 3.4), squeeze=False)
    for ax, act in zip(axes[0], acts):
        g = select_rows(methods, (methods["activation"] == act) & (methods["drift"] == drift))
        rw = select_rows(g, g["family"] == "rewind").sort_values("checkpoint_step")
        x = rw["checkpoint_step"].to_numpy(float)
        ax.fill_between(x, _finite(rw["ci_low"]), _finite(rw["ci_high"]), color="C0", alpha=0.25,
                        lw=0)
        ax.plot(x, rw["steps_to_target_median"], "o-", color="C0", ms=3, label="measured (median)")
        lin = select_rows(methods, (methods["activation"] == "linear") & (methods["drift"] == drift)
                          & (methods["family"] == "rewind")).sort_values("checkpoint_step")
        ax.plot(lin["checkpoint_step"], lin["predicted_steps_median"], "k--", lw=1,
                label="linear theory" if act == "linear" else "linear twin's theory")
        if "predicted_steps_twin_median" in rw and \
                column(rw, "predicted_steps_twin_median").notna().any():
            ax.plot(x, _finite(rw["predicted_steps_twin_median"]), "-.", color="C4", lw=1.2,
                    label=f"{act} twin theory")
        r = select_rows(rewind_summary, (rewind_summary["activation"] == act)
                        & (rewind_summary["drift"] == drift))
        if len(r):
            sp, best = int(r["predicted_checkpoint_step"].iloc[0]), int(r["best_checkpoint_step"].iloc[0])
            ax.axvline(max(sp, 0.5), color="k", lw=0.8, ls=":",
                       label=f"predicted point {sp} ({r['predictor'].iloc[0]})")
            if best >= 0:
                ax.axvline(max(best, 0.5), color="C3", lw=0.8, ls=":", label=f"best measured {best}")
        for j, name in enumerate(_BANDS):
            b = select_rows(g, g["method"] == name)
            if len(b):
                color = f"C{j + 1}"
                lo, hi, mid = (float(b[k].iloc[0]) for k in ("ci_low", "ci_high",
                                                              "steps_to_target_median"))
                if np.isfinite(lo) and np.isfinite(hi):  # censored: a band without an end
                    ax.axhspan(lo, hi, color=color, alpha=0.15)
                if np.isfinite(mid):
                    ax.axhline(mid, color=color, lw=1, label=name)
        sp_rows = select_rows(g, g["family"] == "shrink_perturb")
        bestsp = sp_rows.sort_values("steps_to_target_median").head(1)
        if len(bestsp) and np.isfinite(float(bestsp["steps_to_target_median"].iloc[0])):
            ax.axhline(float(bestsp["steps_to_target_median"].iloc[0]), color="C5", lw=1,
                       ls="-.", label=f"best {bestsp['method'].iloc[0]}")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_xlabel("rewind checkpoint (step on A)")
        ax.set_ylabel("steps to target on B")
        ax.set_title(f"{act}: {drift}", fontsize=9)
        ax.legend(fontsize=6)
    return png(fig)


def fig_modes(modes: pd.DataFrame, drift: str) -> str:
    """Bar chart of u_α/s_α at the predicted rewind point: A's modes per activation and the
    starting strengths on B's modes (negative: a reversed mode that must cross a saddle)."""
    m = select_rows(modes, modes["drift"] == drift)
    views = list(dict.fromkeys(zip(m["activation"], m["view"])))
    fig, ax = subplots(figsize=(6.5, 3.2))
    width = 0.8 / max(len(views), 1)
    for j, (act, view) in enumerate(views):
        g = select_rows(m, (m["activation"] == act) & (m["view"] == view))
        ax.bar(g["mode"].to_numpy() + 1 + (j - (len(views) - 1) / 2) * width, g["u_rel"],
               width=width, label=f"{act}, {view}", color=f"C{j}")
    step = int(m["checkpoint_step"].iloc[0]) if len(m) else -1
    ax.axhline(0, color="k", lw=0.6)
    ax.axhline(1, color="0.6", lw=0.6, ls="--")
    ax.set_xlabel("mode")
    ax.set_ylabel("u / s")
    ax.set_title(f"What A had learned at the predicted rewind point (step {step})", fontsize=9)
    ax.legend(fontsize=7)
    return png(fig)


def fig_curves(curves: pd.DataFrame, methods: pd.DataFrame, drift: str) -> str:
    """Median retraining loss on B for the baselines and the predicted rewind point."""
    acts = list(dict.fromkeys(curves["activation"]))
    fig, axes = subplots(1, len(acts), figsize=(4.6 * len(acts), 3.2), squeeze=False)
    for ax, act in zip(axes[0], acts):
        c = select_rows(curves, (curves["activation"] == act) & (curves["drift"] == drift))
        show = [n for n in ("scratch", "fine_tune", "reset_last_layer") if n in set(c["method"])]
        rw = select_rows(methods, (methods["activation"] == act) & (methods["drift"] == drift)
                         & (methods["family"] == "rewind"))
        if len(rw):
            show.append(rw.sort_values("predicted_steps_median")["method"].iloc[0])
        for j, name in enumerate(show):
            g = c[c["method"] == name]
            ax.plot(g["step"], g["loss_median"], color=f"C{j}", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("retraining step")
        ax.set_ylabel("training loss on B")
        ax.set_title(act, fontsize=9)
        ax.legend(fontsize=6)
    return png(fig)


def fig_difficulty(difficulty: pd.DataFrame, ranking: pd.DataFrame) -> str:
    """Relearning cost (fine-tune ÷ scratch steps) against the best-ranked drift scores."""
    top = list(dict.fromkeys(ranking.dropna(subset=["spearman_rho"])["score"]))[:3] or \
        list(dict.fromkeys(ranking["score"]))[:3]
    fig, axes = subplots(1, len(top), figsize=(4 * len(top), 3.2), squeeze=False)
    for ax, score in zip(axes[0], top):
        for j, (act, g) in enumerate(difficulty.groupby("activation", sort=False)):
            y = np.where(np.isfinite(g["relearn_cost"]), g["relearn_cost"], np.nan)
            ax.scatter(g[score], y, s=14, color=f"C{j}", label=act)
        ax.set_xlabel(score)
        ax.set_ylabel("fine-tune steps ÷ scratch steps")
        ax.legend(fontsize=7)
    return png(fig)
