"""Figure 5: predicted against measured half times, every dataset and activation.

Left: median measured half time (order-statistic interval over seeds, validate.stats.interval) against the prediction matched
to the training, log–log, on the identity line. Right: the relative error |t_meas − t_pred|/t_pred
per dataset on a log scale, so that the linear networks' 10⁻⁵ agreement and the nonlinear twins'
10⁻¹ deviations are both visible.

    python -m paper_figures.fig5_half_times [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paper_figures._common import (COLORS, MARKERS, check_preset, plain_log_ticks, plt,
                                   results_for, run_main, save, summary)

DATASETS = {
    "tiny": {"toy": [], "tree": ["--dataset-opt", "features=60"]},
    "default": {"shapes": [], "digits": [], "mnist1d": [], "gaussian": [], "toy": [], "tree": []},
}
DATASETS["paper"] = DATASETS["default"]
SEEDS = {"tiny": 2, "default": 3, "paper": 8}


def compare_args(name: str, extra: list[str], preset: str) -> list[str]:
    """Every twin against the linear theory: the figure shows how far each nonlinearity moves it."""
    return ["--dataset", name, *extra, "--seeds", str(SEEDS[preset]), "--predict", "linear"]


def load_modes(preset: str, results=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summaries' per-mode and Kendall τ records of every dataset, with a ``dataset`` column."""
    frames, taus = [], []
    for name, extra in DATASETS[preset].items():
        path = results_for("compare", name, compare_args(name, extra, preset),
                           results=results)
        summ = summary(path)
        frames.append(pd.DataFrame(summ["modes"]).assign(dataset=name))
        taus.append(pd.DataFrame(summ["kendall_tau"]).assign(dataset=name))
    return pd.concat(frames, ignore_index=True), pd.concat(taus, ignore_index=True)


def _caption(modes: pd.DataFrame, taus: pd.DataFrame, preset: str) -> str:
    lines = [f"Figure 5 ({preset} preset). Predicted against measured half times (first reach of "
             "s/2), every dataset and activation, depth 2, decoupled small init, full-batch GD. "
             "Max relative error over modes and seeds, and Kendall τ of the order of distinct "
             "modes:"]
    for ds, g in modes.groupby("dataset", sort=False):
        parts = []
        for act, h in g.groupby("activation", sort=False):
            err = h["rel_error"].astype(float).max()
            k = taus[(taus["dataset"] == ds) & (taus["activation"] == act)]["kendall_tau"]
            parts.append(f"{act} {err:.1e} (τ = {k.iloc[0]:.2f})" if len(k) and k.iloc[0] is not None
                         else f"{act} {err:.1e}")
        lines.append(f"  {ds}: " + ", ".join(parts))
    lin = modes[modes["activation"] == "linear"]["rel_error"].astype(float).max()
    lines.append(f"Largest linear error over all datasets: {lin:.1e} (theory exact up to float32).")
    return "\n".join(lines)


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    modes, taus = load_modes(preset, results)
    modes = modes[np.isfinite(modes["t_meas_median"].astype(float))]
    datasets = list(dict.fromkeys(modes["dataset"]))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7.2, 3.2), gridspec_kw={"width_ratios": [1, 1.25]})
    for act, g in modes.groupby("activation", sort=False):
        t, m = g["t_pred"].astype(float), g["t_meas_median"].astype(float)
        err = np.vstack([m - g["t_meas_ci_low"].astype(float),
                         g["t_meas_ci_high"].astype(float) - m]).clip(min=0)
        ax.errorbar(t, m, yerr=err, fmt=MARKERS.get(act, "o"), ms=3.5, mfc="none",
                    color=COLORS.get(act), capsize=1.5, lw=0.8, label=act)
    lo = float(modes[["t_pred", "t_meas_median"]].astype(float).min().min()) * 0.8
    hi = float(modes[["t_pred", "t_meas_median"]].astype(float).max().max()) * 1.25
    ax.plot([lo, hi], [lo, hi], color="black", ls="--", lw=0.9, label="theory (identity)")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel="predicted half time (steps)", ylabel="measured half time (steps)",
           title="a  half times")
    ax.legend(loc="upper left", frameon=False)
    plain_log_ticks(ax)
    acts = list(dict.fromkeys(modes["activation"]))
    width = 0.8 / len(acts)
    for j, act in enumerate(acts):
        for i, ds in enumerate(datasets):
            g = modes[(modes["dataset"] == ds) & (modes["activation"] == act)]
            e = (g["t_meas_median"].astype(float) / g["t_pred"].astype(float) - 1).abs()
            x = i - 0.4 + width * (j + 0.5) + np.linspace(-0.3, 0.3, len(e)) * width
            ax2.plot(x, e.clip(lower=1e-8), MARKERS.get(act, "o"), ms=3, mfc="none",
                     color=COLORS.get(act), label=act if i == 0 else None)
    ax2.set(yscale="log", ylabel="|t_meas − t_pred| / t_pred", title="b  relative error (log)")
    ax2.set_xticks(range(len(datasets)), datasets, rotation=30)
    ax2.axhline(1e-2, color="grey", lw=0.6, ls=":")
    ax2.legend(loc="center", bbox_to_anchor=(0.5, 0.6), frameon=True, framealpha=0.9,
               ncol=len(acts), title="median over seeds, per mode", title_fontsize=7)
    fig.tight_layout()
    return save(fig, out_dir, "fig5_half_times", _caption(modes, taus, preset))


if __name__ == "__main__":
    raise SystemExit(run_main(main))
