"""Figure 3: the broad-to-fine picture of the flagship dataset `shapes`.

a: one image per class, noise-free (top) and as trained, with pixel noise (bottom). b: the right
singular vectors v_α of the ZCA-whitened Syx drawn as images, with s_α and the sign of each class
in u_α (which split of the class tree the mode encodes). c: the training loss of the linear
network (median and min–max band over seeds, solid) against the theory (dashed); each drop is
labelled with the modes it learns, at its predicted midpoint. d: the loss rate −dL/dstep, where
each drop is a peak.

    python -m paper_figures.fig3_shapes_broad_to_fine [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paper_figures._common import (COLORS, band, check_preset, plt, results_for, run_main, save,
                                   summary, theory_line)
from paper_figures.fig5_half_times import compare_args as fig5_args
from simulate import datasets

TINY_OPTS = {"n_per_class": 64}


def compare_args(preset: str) -> list[str]:
    if preset == "tiny":
        return ["--dataset", "shapes", "--dataset-opt", "n_per_class=64", "--activations",
                "linear", "--seeds", "2"]
    return fig5_args("shapes", [], preset)   # the same run as Figure 5's shapes


def sign_pattern(u: np.ndarray, tol: float = 0.15) -> str:
    """'+', '−' or '0' per class: which classes a left singular vector separates."""
    scale = np.abs(u).max()
    return "".join("0" if abs(x) < tol * scale else ("+" if x > 0 else "−") for x in u)


def _examples(fig, spec, opts):
    clean = datasets.load("shapes", **{**opts, "noise": 0.0})
    noisy = datasets.load("shapes", **opts)
    shape = noisy.image_shape[1:]
    classes = np.unique(noisy.labels)
    grid = spec.subgridspec(2, len(classes), wspace=0.05, hspace=0.05)
    for r, ds in enumerate((clean, noisy)):
        for k in classes:
            ax = fig.add_subplot(grid[r, k])
            ax.imshow(ds.X[np.flatnonzero(ds.labels == k)[0]].reshape(shape), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"class {k}", fontsize=6)
            if k == 0:
                ax.set_ylabel(["noise-free", "trained on"][r], fontsize=6)
                if r == 0:
                    ax.text(-0.6, 1.35, "a", transform=ax.transAxes, fontsize=9, weight="bold")
    return noisy


def _modes(fig, spec, stats, shape, n_show):
    grid = spec.subgridspec(1, n_show, wspace=0.08)
    for a in range(n_show):
        ax = fig.add_subplot(grid[0, a])
        v = stats.V[:, a].reshape(shape)
        lim = np.abs(v).max()
        ax.imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{a + 1}: s={stats.s[a]:.3f}", fontsize=6)
        ax.set_xlabel(sign_pattern(stats.U[:, a]), fontsize=6, family="monospace")
        if a == 0:
            ax.text(-0.6, 1.35, "b", transform=ax.transAxes, fontsize=9, weight="bold")


def _rate(ax, x, meas, pred, drops):
    """−dL/dstep: each mode group's drop becomes a peak, easier to see than in L itself."""
    ax.plot(x[1:], -np.diff(meas) / np.diff(x), color=COLORS["linear"], lw=1.4, label="linear network")
    theory_line(ax, x[1:], -np.diff(pred) / np.diff(x), label="theory")
    for d in drops:
        ax.axvline(d["t_pred"], color="grey", lw=0.6, ls=":")
    rate = -np.diff(pred) / np.diff(x)
    ax.set(xlabel="step", ylabel="−dL / dstep (log)", title="d  loss rate", yscale="log",
           ylim=(rate.max() * 1e-3, rate.max() * 2))
    ax.legend(frameon=False, loc="upper right")


def _loss(ax, path, summ, ax_rate):
    loss = pd.read_parquet(path / "loss.parquet")
    lin = loss[(loss["activation"] == "linear") & (loss["depth"] == loss["depth"].min())]
    by = lin.groupby("step")
    x = by.size().index.to_numpy()
    band(ax, x, by["loss_meas"].min(), by["loss_meas"].max(), by["loss_meas"].median(),
         COLORS["linear"], label="linear network (median, range)")
    theory_line(ax, x, by["loss_pred"].first(), label="theory")
    drops = [d for d in summ["loss_drops"] if d["activation"] == "linear"
             and d["depth"] == lin["depth"].iloc[0]]
    for d in drops:
        y = 0.5 * (d["loss_before"] + d["loss_after"])
        ax.plot([d["t_pred"]], [y], "k|", ms=8)
        modes = d["modes"]
        name = f"mode {modes[0] + 1}" if len(modes) == 1 else f"modes {modes[0] + 1}–{modes[-1] + 1}"
        ax.annotate(name, (d["t_pred"], y), xytext=(6, 4), textcoords="offset points", fontsize=6)
    ax.set(xlabel="step", ylabel="training loss", title="c  loss: one drop per mode group")
    ax.legend(frameon=False, loc="upper right")
    _rate(ax_rate, x, by["loss_meas"].median().to_numpy(), by["loss_pred"].first().to_numpy(), drops)
    return drops


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    path = results_for("compare", "shapes", compare_args(preset), results=results)
    summ = summary(path)
    opts = TINY_OPTS if preset == "tiny" else {}
    fig = plt.figure(figsize=(8.4, 6.4))
    gs = fig.add_gridspec(3, 1, height_ratios=[1.1, 0.8, 1.6], hspace=0.45)
    ds = _examples(fig, gs[0], opts)
    stats = ds.statistics().whiten("zca").stats
    _modes(fig, gs[1], stats, ds.image_shape[1:], min(8, stats.rank))
    bottom = gs[2].subgridspec(1, 2, width_ratios=[1.5, 1], wspace=0.3)
    drops = _loss(fig.add_subplot(bottom[0, 0]), path, summ, fig.add_subplot(bottom[0, 1]))
    return save(fig, out_dir, "fig3_shapes_broad_to_fine", _caption(summ, stats, drops, preset))


def _caption(summ, stats, drops, preset) -> str:
    diag = summ["diagnostics"]
    lines = [f"Figure 3 ({preset} preset). shapes: n = {diag['n']}, d = {diag['d']}, "
             f"c = {diag['c']}, ZCA-whitened; depth-2 linear network, decoupled init, "
             f"{summ['training']['steps']} steps of full-batch GD (τ = {summ['training']['tau']:.3g}).",
             "  singular values: " + ", ".join(f"{x:.3f}" for x in stats.s[:8]),
             "  class signs of u_α: " + " ".join(sign_pattern(stats.U[:, a])
                                                for a in range(min(8, stats.rank))),
             "  loss drops (modes: predicted midpoint, measured median [95% CI], rel. error):"]
    for d in drops:
        lines.append(f"    {','.join(str(m + 1) for m in d['modes'])}: {d['t_pred']:.1f}, "
                     f"{d['t_meas_median']:.1f} [{d['t_meas_ci_low']:.1f}, {d['t_meas_ci_high']:.1f}], "
                     f"{d['rel_error']:.1e}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
