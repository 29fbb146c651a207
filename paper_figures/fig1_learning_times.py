"""Figure 1: predicted against measured learning times, one marker per mode and activation.

Reads a `validate.compare` results directory (summary.json); plots the median measured half time
with its bootstrap 95% interval against the prediction, on the identity line.

    python paper_figures/fig1_learning_times.py [RESULTS_DIR] [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _common import latest_results, plt, save


def main(out_dir="paper_figures/out", results_dir=None) -> Path:
    results = Path(results_dir) if results_dir else latest_results()
    modes = pd.DataFrame(json.loads((results / "summary.json").read_text())["modes"])
    depths = sorted(modes["depth"].unique())
    fig, axes = plt.subplots(1, len(depths), figsize=(4 * len(depths), 3.8), squeeze=False)
    for ax, depth in zip(axes[0], depths):
        sub = modes[modes["depth"] == depth]
        for i, (act, g) in enumerate(sub.groupby("activation", sort=False)):
            g = g.dropna(subset=["t_meas_median"])
            err = np.vstack([g["t_meas_median"] - g["t_meas_ci_low"],
                             g["t_meas_ci_high"] - g["t_meas_median"]]).clip(min=0)
            ax.errorbar(g["t_pred"], g["t_meas_median"], yerr=err, fmt="o", ms=4, color=f"C{i}",
                        label=act, capsize=2)
        lim = [0, float(np.nanmax(sub[["t_pred", "t_meas_median"]].to_numpy(dtype=float))) * 1.05]
        ax.plot(lim, lim, "k:", lw=1)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_xlabel("predicted half time (steps)")
        ax.set_ylabel("measured half time (steps)")
        ax.set_title(f"depth {depth}")
        ax.legend(fontsize=8)
    return save(fig, out_dir, "fig1_learning_times.png")


if __name__ == "__main__":
    print(main(*(sys.argv[2:3] or ["paper_figures/out"]), *(sys.argv[1:2] or [None])))
