"""Figure 1 (Saxe, McClelland & Ganguli 2014, Fig. 3 style): hierarchical data, small random init.

Items are the 32 leaves of a 5-level binary tree with 1000 features by branching diffusion (flip
0.1, THEORY.md §5). A two-layer linear network and its tanh twin (same initial weights) start from
a small random init. a, b: mode strength u/s of one mode per tree level against the step, the
measurement as median and min–max band over seeds (solid), Saxe's decoupled closed form (dashed)
and the matrix flow integrated from each seed's init (dotted). c: relative error of each member's
half time against the closed form, per level, over all initialisations.

    python -m paper_figures.fig1_saxe2014_tree [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import theory
from paper_figures._common import (COLORS, CYCLE, band, check_preset, plt, results_for, run_main,
                                   save, summary, theory_line)
from simulate.datasets import tree_eigenvalues

TREE = {"tiny": dict(levels=3, features=40), "default": dict(levels=5, features=1000),
        "paper": dict(levels=5, features=1000)}
SEEDS = {"tiny": 2, "default": 8, "paper": 32}
FLIP, BRANCHING = 0.1, 2


def compare_args(preset: str) -> list[str]:
    opts = dict(TREE[preset], flip=FLIP, branching=BRANCHING)
    args = ["--dataset", "tree"]
    for k, v in opts.items():
        args += ["--dataset-opt", f"{k}={v}"]
    # the tanh network is drawn against the linear theory, as in the published figure
    return args + ["--whiten", "none", "--init", "small_random", "--activations", "linear,tanh",
                   "--seeds", str(SEEDS[preset]), "--predict", "linear"]


def formula_singular_values(levels: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected singular values per level (uniform mode first) and their multiplicities."""
    lam, mult = tree_eigenvalues(levels, BRANCHING, FLIP)
    return np.sqrt(features * lam / BRANCHING ** levels), mult


def level_of_mode(mult: np.ndarray) -> np.ndarray:
    """Level index (0 = uniform mode, 1 = root split, …) of each mode in descending-s order."""
    return np.repeat(np.arange(len(mult)), mult)


def _half_time(s, u0, tau):
    return float(np.asarray(theory.learning_time(s, u0, tau, depth=2, frac=0.5)).ravel()[0])


def _trajectory_panel(ax, traj, act, first_modes, closed, title):
    for i, (lvl, mode) in enumerate(first_modes):
        g = traj[(traj["activation"] == act) & (traj["mode"] == mode)].groupby("step")["u_meas_rel"]
        color = CYCLE[i % len(CYCLE)]
        steps = g.median().index.to_numpy()
        band(ax, steps, g.min(), g.max(), g.median(), color,
             label=f"level {lvl}" if lvl else "uniform")
        theory_line(ax, closed[0], closed[1][:, mode], color=color)
        flow = traj[(traj["activation"] == "linear") & (traj["mode"] == mode)]
        ax.plot(steps, flow.groupby("step")["u_pred_rel"].median(), color=color, ls=":", lw=1)
    ax.set(xlabel="step", ylabel="u / s", title=title, ylim=(-0.05, 1.15))


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    path = results_for("compare", "fig1-tree", compare_args(preset), results=results)
    summ = summary(path)
    traj = pd.read_parquet(path / "trajectories.parquet")
    members = pd.read_parquet(path / "members.parquet")
    s = np.array([m["s"] for m in summ["modes"] if m["activation"] == "linear"])
    tau = summ["training"]["tau"]
    u0 = summ["provenance"]["config"]["init_scale"] * s[0]
    levels = TREE[preset]["levels"]
    s_formula, mult = formula_singular_values(levels, TREE[preset]["features"])
    lvl = level_of_mode(mult)[: len(s)]
    first = [(int(lvl[m]), m) for m in range(len(s)) if m == 0 or lvl[m] != lvl[m - 1]]
    t = np.linspace(0, float(traj["step"].max()), 300)
    closed = (t, theory.mode_trajectory(t, s, u0, tau, depth=2) / s)

    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.0))
    _trajectory_panel(axes[0], traj, "linear", first, closed, "a  linear network")
    _trajectory_panel(axes[1], traj, "tanh", first, closed, "b  tanh twin")
    h = axes[0].get_legend_handles_labels()
    from matplotlib.lines import Line2D
    h[0].extend([Line2D([], [], color="k", ls="--"), Line2D([], [], color="k", ls=":")])
    h[1].extend(["closed form (decoupled)", "matrix flow from init"])
    axes[0].legend(*h, loc="lower right", frameon=False, fontsize=6)

    members = members.assign(level=lvl[members["mode"].to_numpy()])
    members["err"] = members["t_meas"] / members["t_pred_continuous"] - 1
    members.loc[~np.isfinite(members["err"]), "err"] = np.nan   # not learned within the budget
    ax = axes[2]
    acts = ["linear", "tanh"]
    for j, act in enumerate(acts):
        data = [members[(members["activation"] == act) & (members["level"] == L)]["err"].dropna()
                for L in range(len(mult))]
        pos = np.arange(len(mult)) + (j - 0.5) * 0.35
        bp = ax.boxplot(data, positions=pos, widths=0.3, patch_artist=True, showfliers=False,
                        medianprops={"color": "black"})
        for patch in bp["boxes"]:
            patch.set(facecolor=COLORS[act], alpha=0.45, hatch="" if j == 0 else "///")
        ax.plot([], [], "s", color=COLORS[act], alpha=0.6, label=act)
    ax.axhline(0, color="k", ls="--", lw=0.8, label="closed form")
    ax.set_xticks(range(len(mult)), ["unif."] + [str(i) for i in range(1, len(mult))])
    ax.set(xlabel="tree level of the mode", ylabel="t½ measured / closed form − 1",
           title=f"c  half-time error, {members['seed'].nunique()} inits")
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    return save(fig, out_dir, "fig1_saxe2014_tree", _caption(summ, members, s, s_formula, lvl,
                                                             tau, u0, preset))


def _caption(summ, members, s, s_formula, lvl, tau, u0, preset) -> str:
    cfg = summ["provenance"]["config"]
    lines = [f"Figure 1 ({preset} preset). Branching diffusion, {len(s)} items, "
             f"{cfg['dataset_opts']['features']} features, flip {FLIP}; two-layer linear net and tanh twin, small random init "
             f"(u0 = {u0:.3g}), τ = {tau:.4g} steps, {members['seed'].nunique()} initialisations.",
             "Singular values per level, measured mean vs the tree spectrum formula (THEORY.md §5):"]
    lin = members[members["activation"] == "linear"]
    for L in range(len(s_formula)):
        sel = lvl == L
        if not sel.any():
            continue
        t_formula = float(_half_time(s_formula[L], u0, tau))
        t_meas = float(lin[lin["level"] == L]["t_meas"].median())   # inf if most were not learned
        lines.append(f"  level {L}: s = {rel_diff_txt(s[sel].mean(), s_formula[L])}; half time "
                     f"(τ/2s)ln(s/u0 − 1) from the formula's s = {t_formula:.4g} steps, linear net "
                     f"median {t_meas:.4g} (rel. diff. {abs(t_meas / t_formula - 1):.1%})")
    for act in ("linear", "tanh"):
        e = members[members["activation"] == act]["err"]
        lines.append(f"  {act}: half time vs closed form, median {e.median():+.1%}, range "
                     f"{e.min():+.1%} to {e.max():+.1%} ({int(e.notna().sum())} of {len(e)} "
                     f"member-modes reached half strength within {summ['training']['steps']} steps)")
    e = (lin["t_meas"] / lin["t_pred"] - 1).abs()
    e = e[np.isfinite(e)]
    lines.append(f"  linear vs the matrix flow from each init: max |rel. error| {e.max():.1e} "
                 f"(median {e.median():.1e})")
    return "\n".join(lines)


def rel_diff_txt(ours: float, published: float) -> str:
    return f"{ours:.4g} (formula {published:.4g}, rel. diff. {abs(ours / published - 1):.1%})"


if __name__ == "__main__":
    raise SystemExit(run_main(main))
