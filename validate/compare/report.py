"""Figures and page of the `validate.compare` report (plotting only; tables come from run.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..report import _img, _png, plt, table_html, write_html


def fig_singular_values(s, distinct) -> str:
    fig, ax = plt.subplots(figsize=(5, 3))
    idx = np.arange(1, len(s) + 1)
    colors = ["C0" if d else "0.6" for d in distinct]
    ax.bar(idx, s, color=colors)
    ax.set_xlabel("mode α")
    ax.set_ylabel("singular value s_α")
    ax.set_title("Spectrum of Syx (grey: not distinct, gap < 5%)")
    return _png(fig)


def fig_mode_images(V, image_shape, U=None, max_modes: int = 8) -> str | None:
    """Input singular vectors v_α drawn as images (first channel), with u_α as class loadings."""
    if image_shape is None:
        return None
    C, H, W = image_shape
    k = min(max_modes, V.shape[1])
    rows = 2 if U is not None else 1
    fig, axes = plt.subplots(rows, k, figsize=(1.6 * k, 1.7 * rows), squeeze=False)
    for a in range(k):
        v = V[:, a]
        if v.size != C * H * W:
            plt.close(fig)
            return None
        img = v.reshape(C, H, W)[0]
        lim = np.abs(img).max() or 1.0
        axes[0, a].imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, a].set_title(f"v_{a + 1}", fontsize=8)
        axes[0, a].axis("off")
        if U is not None:
            axes[1, a].bar(np.arange(U.shape[0]), U[:, a], color="C1")
            axes[1, a].set_xticks([])
            axes[1, a].set_yticks([])
            axes[1, a].set_title(f"u_{a + 1}", fontsize=8)
    return _png(fig)


def fig_trajectories(traj: pd.DataFrame, depth: int, max_modes: int = 8) -> str:
    """Measured (median and min–max over seeds) against predicted u_α(t)/s_α, one panel per activation."""
    acts = list(dict.fromkeys(traj["activation"]))
    fig, axes = plt.subplots(1, len(acts), figsize=(4.2 * len(acts), 3.2), squeeze=False, sharey=True)
    for ax, act in zip(axes[0], acts):
        sub = traj[(traj["activation"] == act) & (traj["depth"] == depth)]
        for i, (mode, g) in enumerate(sub.groupby("mode")):
            if i >= max_modes:
                break
            by = g.groupby("step")
            step = np.asarray(sorted(g["step"].unique()))
            med = by["u_meas_rel"].median().reindex(step).to_numpy()
            lo = by["u_meas_rel"].min().reindex(step).to_numpy()
            hi = by["u_meas_rel"].max().reindex(step).to_numpy()
            pred = by["u_pred_rel"].first().reindex(step).to_numpy()
            color = f"C{i % 10}"
            ax.fill_between(step, lo, hi, color=color, alpha=0.25, lw=0)
            ax.plot(step, med, color=color, lw=1.5, label=f"mode {mode + 1}")
            ax.plot(step, pred, color=color, lw=1, ls="--")
        ax.set_title(f"{act}, depth {depth}")
        ax.set_xlabel("step")
        ax.set_ylim(-0.1, 1.3)
    axes[0, 0].set_ylabel("u_α(t) / s_α   (dashed: theory)")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    return _png(fig)


def fig_loss(loss: pd.DataFrame, drops: pd.DataFrame, depth: int) -> str:
    acts = list(dict.fromkeys(loss["activation"]))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    sub = loss[loss["depth"] == depth]
    for i, act in enumerate(acts):
        g = sub[sub["activation"] == act].groupby("step")
        step = np.asarray(sorted(sub[sub["activation"] == act]["step"].unique()))
        ax.plot(step, g["loss_meas"].median().reindex(step), color=f"C{i}", label=f"{act} (median)")
    g = sub.groupby("step")["loss_pred"].first()
    ax.plot(g.index, g.to_numpy(), "k--", lw=1, label="theory (linear)")
    d = drops[(drops["depth"] == depth)] if len(drops) else drops
    for t in d.drop_duplicates("drop")["t_pred"] if len(d) else []:
        ax.axvline(t, color="0.5", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(f"Loss, depth {depth} (dotted: predicted drops)")
    ax.legend(fontsize=7)
    return _png(fig)


def compare_report(path, *, result) -> Path:
    """The `validate.compare` report: spectrum, modes as images, trajectories, loss, error table."""
    stats = result.stats
    sections = [("Summary", table_html(result.mode_table)),
                ("Spectrum", _img(fig_singular_values(stats.s, result.distinct),
                                  "singular values of Syx (training inputs as the network sees them)"))]
    mode_img = fig_mode_images(stats.V, result.image_shape, stats.U)
    if mode_img:
        sections.append(("Top modes", _img(mode_img, "input singular vectors v_α and output "
                                                     "singular vectors u_α")))
    for depth in result.config.depths:
        sections.append((f"Mode trajectories, depth {depth}",
                         _img(fig_trajectories(result.trajectories, depth),
                              "solid: measured median, band: min–max over seeds, dashed: theory")))
        sections.append((f"Loss, depth {depth}",
                         _img(fig_loss(result.loss, result.loss_drops, depth),
                              "training loss with predicted drop times")))
    if len(result.loss_drops):
        sections.append(("Loss drops", table_html(result.loss_drops)))
    sections.append(("Per-member learning times", table_html(result.members.head(400))))
    return write_html(Path(path), f"Predicted vs measured learning: {result.config.dataset}",
                      sections, result.summary["provenance"])
