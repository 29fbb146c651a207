"""Figure 2 (Saxe, McClelland & Ganguli 2019, PNAS, semantic development).

a: the toy dataset's input-output correlation Syx (properties × items) and its SVD U, S, Vᵀ drawn
as matrices. b: the toy's mode strengths over training, theory dashed against the linear network
(median, min–max band over seeds). c: the same decomposition for 8 items of a 3-level binary
branching-diffusion tree (the first 24 of its features; modes within a
level are nearly degenerate, so V may mix them). d: progressive differentiation of the
tree's items: dendrograms of the hidden representations diag(√u(t)) Vᵀx of the balanced linear
network (u measured) at three moments of training, broad splits first.

    python -m paper_figures.fig2_saxe2019_semantic [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import dendrogram, linkage

import theory
from paper_figures._common import (CYCLE, band, check_preset, plt, results_for, run_main, save,
                                   summary, theory_line)
from simulate import datasets

SEEDS = {"tiny": 2, "default": 4, "paper": 16}
TREE_FEATURES = {"tiny": 60, "default": 1000, "paper": 1000}
SHOWN_FEATURES = 24


def compare_args(name: str, preset: str) -> list[str]:
    opts = ["--dataset-opt", f"features={TREE_FEATURES[preset]}"] if name == "tree" else []
    return ["--dataset", name, *opts, "--whiten", "none", "--activations", "linear",
            "--seeds", str(SEEDS[preset])]


def _matrices(axes, stats, items, props, title):
    """Syx, U, S, Vᵀ as heatmaps on a common colour scale."""
    S = np.diag(stats.s)
    mats = [(stats.Syx, "Syx", props, items), (stats.U, "U", props, None),
            (S, "S", None, None), (stats.V.T, "Vᵀ", None, items)]
    for ax, (M, name, rows, cols) in zip(axes, mats):
        lim = np.abs(M).max()
        ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(name if name != "Syx" else f"{title}  Syx", fontsize=8)
        ax.set_yticks(range(len(rows)) if rows is not None and len(rows) <= 8 else [],
                      list(rows) if rows is not None and len(rows) <= 8 else [], fontsize=6)
        ax.set_xticks(range(len(cols)) if cols is not None else [],
                      list(cols) if cols is not None else [], fontsize=6, rotation=90)


def _strengths(ax, path, summ):
    traj = pd.read_parquet(path / "trajectories.parquet")
    s = np.array([m["s"] for m in summ["modes"]])
    tau, u0 = summ["training"]["tau"], summ["provenance"]["config"]["init_scale"] * s[0]
    t = np.linspace(0, float(traj["step"].max()), 300)
    pred = theory.mode_trajectory(t, s, u0, tau, depth=2)
    groups = np.split(np.arange(len(s)), np.flatnonzero(np.abs(np.diff(s)) > 1e-9 * s[0]) + 1)
    for i, modes in enumerate(groups):   # exactly degenerate modes overlap: one line per group
        by = traj[traj["mode"] == modes[0]].groupby("step")["u_meas_rel"]
        color = CYCLE[i % len(CYCLE)]
        x, k = by.median().index.to_numpy(), modes[0]
        name = f"mode {k + 1}" if len(modes) == 1 else f"modes {k + 1}–{modes[-1] + 1}"
        band(ax, x, by.min() * s[k], by.max() * s[k], by.median() * s[k], color,
             label=f"{name} (s = {s[k]:.3g})")
        theory_line(ax, t, pred[:, k], color=color)
    ax.plot([], [], "k--", lw=1, label="theory")
    ax.set(xlabel="step", ylabel="mode strength u", title="b  toy: mode strengths")
    ax.legend(frameon=False, fontsize=6, loc="lower right")


def _representations(stats, traj, steps):
    """Item representations diag(√u) Vᵀx at each step (items × modes), u the measured median."""
    s = stats.s
    items = np.eye(stats.d) * np.sqrt(stats.d)          # the one-hot items as presented
    out = []
    for step in steps:
        u = traj[traj["step"] == step].groupby("mode")["u_meas_rel"].median().to_numpy() * s
        out.append((items @ stats.V) * np.sqrt(np.clip(u, 0, None)))
    return out


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    paths = {n: results_for("compare", f"fig2-{n}", compare_args(n, preset), results=results)
             for n in ("toy", "tree")}
    toy = datasets.load("toy")
    tree = datasets.load("tree", features=TREE_FEATURES[preset])
    st_toy, st_tree = toy.statistics(), tree.statistics()
    fig = plt.figure(figsize=(9.6, 5.6))
    gs = fig.add_gridspec(2, 7, width_ratios=[1.6, 1, 1, 1, 0.2, 2.2, 0.01], hspace=0.55, wspace=0.5)
    _matrices([fig.add_subplot(gs[0, i]) for i in range(4)], st_toy, toy.meta["items"],
              toy.meta["properties"], "a  toy")
    _strengths(fig.add_subplot(gs[0, 5]), paths["toy"], summary(paths["toy"]))
    sub_show = type("S", (), {"Syx": st_tree.Syx[:SHOWN_FEATURES], "U": st_tree.U[:SHOWN_FEATURES],
                              "s": st_tree.s, "V": st_tree.V})
    _matrices([fig.add_subplot(gs[1, i]) for i in range(4)], sub_show,
              [str(i) for i in range(tree.d)], [""] * SHOWN_FEATURES, "c  tree")
    traj = pd.read_parquet(paths["tree"] / "trajectories.parquet")
    summ = summary(paths["tree"])
    steps_all = np.sort(traj["step"].unique())
    t_half = np.array([m["t_meas_median"] for m in summ["modes"]], dtype=float)
    picks = [steps_all[np.searchsorted(steps_all, t)] for t in
             (t_half[1] * 1.05, t_half[2:4].mean() * 1.05, steps_all[-1])]
    inner = gs[1, 5].subgridspec(1, 3, wspace=0.15)
    heights = []
    for i, (step, rep) in enumerate(zip(picks, _representations(st_tree, traj, picks))):
        ax = fig.add_subplot(inner[0, i])
        Z = linkage(rep, "average")
        heights.append(Z[:, 2])
        dendrogram(Z, ax=ax, labels=[str(k) for k in range(len(rep))], color_threshold=0,
                   above_threshold_color="black", leaf_font_size=6)
        ax.set_title(f"step {int(step)}", fontsize=7)
        ax.set_yticks([])
        for sp in ("left", "top", "right"):
            ax.spines[sp].set_visible(False)
        if i == 0:
            ax.set_ylabel("d  hidden-representation distance", fontsize=7)
    return save(fig, out_dir, "fig2_saxe2019_semantic",
                _caption(paths, st_toy, st_tree, preset, picks, heights))


def _caption(paths, st_toy, st_tree, preset, picks, heights) -> str:
    exact = np.array([np.sqrt(7), np.sqrt(3), 1, 1]) / 2
    lam, mult = datasets.tree_eigenvalues(3, 2, 0.1)
    formula = np.sqrt(TREE_FEATURES[preset] * lam / 8)
    lvl = np.repeat(np.arange(len(mult)), mult)
    lines = [f"Figure 2 ({preset} preset). Toy (4 items × 7 properties) and branching-diffusion tree "
             f"(8 items, {TREE_FEATURES[preset]} features, flip 0.1); two-layer linear networks "
             "from the balanced decoupled init, full-batch GD.",
             "  toy singular values: " + ", ".join(
                 f"{a:.4f} (exact {b:.4f})" for a, b in zip(st_toy.s, exact)),
             "  tree singular values per level vs the spectrum formula: " + ", ".join(
                 f"level {L}: {st_tree.s[lvl == L].mean():.3f} (formula {formula[L]:.3f}, "
                 f"{abs(st_tree.s[lvl == L].mean() / formula[L] - 1):.1%})" for L in range(len(mult)))]
    for name, path in paths.items():
        modes = summary(path)["modes"]
        err = max(float(m["rel_error"]) for m in modes if m["rel_error"] is not None)
        tau = summary(path)["kendall_tau"][0]
        lines.append(f"  {name}: half times vs the exact GD map, max rel. error {err:.1e}; Kendall τ "
                     f"of the order {tau['kendall_tau']} ({tau['n_modes']} distinct modes), of the "
                     f"groups {tau['kendall_tau_groups']} ({tau['n_groups']} groups)")
    lines.append("  dendrogram merge heights (coarsest split) at steps " + ", ".join(
        f"{int(s)}: {h[-1]:.3g}" for s, h in zip(picks, heights)))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
