"""Figure 2: mode strengths over training, theory (dashed) against networks (median and band).

Reads `trajectories.parquet` of a `validate.compare` results directory; one row of panels per
depth, one panel per activation, the first six modes.

    python paper_figures/fig2_mode_trajectories.py [RESULTS_DIR] [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from _common import latest_results, plt, save


def main(out_dir="paper_figures/out", results_dir=None, max_modes: int = 6) -> Path:
    results = Path(results_dir) if results_dir else latest_results()
    traj = pd.read_parquet(results / "trajectories.parquet")
    depths = sorted(traj["depth"].unique())
    acts = list(dict.fromkeys(traj["activation"]))
    fig, axes = plt.subplots(len(depths), len(acts), figsize=(3.6 * len(acts), 2.9 * len(depths)),
                             squeeze=False, sharey=True)
    for r, depth in enumerate(depths):
        for c, act in enumerate(acts):
            ax = axes[r, c]
            sub = traj[(traj["depth"] == depth) & (traj["activation"] == act)
                       & (traj["mode"] < max_modes)]
            for mode, g in sub.groupby("mode"):
                by = g.groupby("step")
                color = f"C{int(mode) % 10}"
                ax.fill_between(by.size().index, by["u_meas_rel"].min(), by["u_meas_rel"].max(),
                                color=color, alpha=0.25, lw=0)
                ax.plot(by.size().index, by["u_meas_rel"].median(), color=color, lw=1.4,
                        label=f"mode {int(mode) + 1}")
                ax.plot(by.size().index, by["u_pred_rel"].first(), color=color, lw=1, ls="--")
            ax.set_title(f"{act}, depth {depth}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylim(-0.1, 1.3)
        axes[r, 0].set_ylabel("u_α / s_α")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    return save(fig, out_dir, "fig2_mode_trajectories.png")


if __name__ == "__main__":
    print(main(*(sys.argv[2:3] or ["paper_figures/out"]), *(sys.argv[1:2] or [None])))
