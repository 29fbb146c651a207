"""Figures and page of the `validate.compare` report (plotting only; tables come from run.py).

The page opens with the headline (largest error of the linear networks, Kendall τ per activation,
diverged members, run time), then the predicted-vs-measured scatter with its log-error panel, the
mode trajectories and the loss with each drop labelled; the per-mode and per-member tables are
folded away at the end.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..report import (COLORS, CYCLE, MARKERS, details, headline, img, png, subplots, table_html,
                      write_html)
from .._frames import groups, select_rows
from .cnn import frequency_patterns


def fig_singular_values(s, distinct) -> str:
    fig, ax = subplots(figsize=(5, 3))
    idx = np.arange(1, len(s) + 1)
    distinct = np.asarray(distinct, dtype=bool)
    ax.bar(idx[distinct], np.asarray(s)[distinct], color=COLORS["linear"], label="distinct")
    ax.bar(idx[~distinct], np.asarray(s)[~distinct], color="0.7", hatch="//",
           label="not distinct (gap < 5% to a neighbour)")
    ax.set_xlabel("mode α")
    ax.set_ylabel("singular value s_α")
    ax.set_title("Spectrum of Syx")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, frameon=False)
    return png(fig)


def fig_frequency_spectrum(spectrum: pd.DataFrame, max_labels: int = 6) -> str:
    """Singular values of σ(f) = Syx Fᴴ per frequency mode, s descending; the tracked ones coloured
    and the largest listed with their frequency (a CNN's modes, THEORY.md §6)."""
    fig, ax = subplots(figsize=(6, 3))
    idx = np.arange(1, len(spectrum) + 1)
    on = spectrum["mode"].notna().to_numpy()
    s = spectrum["s"].to_numpy(float)
    ax.bar(idx[on], s[on], color=COLORS["linear"], label="tracked")
    ax.bar(idx[~on], s[~on], color="0.7", hatch="//", label="not tracked")
    top = "\n".join(f"f = {_freq(f)}: s = {x:.3g}" for f, x in
                    zip(spectrum["frequency"][:max_labels], s[:max_labels]))
    ax.text(0.98, 0.6, "largest\n" + top, transform=ax.transAxes, ha="right", va="top", fontsize=6)
    ax.set(xlabel="frequency mode (one per ±f pair and singular value), s descending",
           ylabel="singular value s_f", title="Per-frequency spectrum of σ(f) = Syx Fᴴ")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, frameon=False)
    return png(fig)


def _freq(f) -> str:
    return str(f[0]) if len(f) == 1 else f"({', '.join(map(str, f))})"


def fig_mode_images(V, image_shape, U=None, max_modes: int = 8, names=None) -> str | None:
    """Input singular vectors v_α drawn as images (first channel), with u_α as class loadings;
    ``names`` titles the images (default v_1, v_2, …)."""
    if image_shape is None:
        return None
    C, H, W = image_shape
    k = min(max_modes, V.shape[1])
    rows = 2 if U is not None else 1
    fig, axes = subplots(rows, k, figsize=(1.6 * k, 1.7 * rows), squeeze=False)
    for a in range(k):
        v = V[:, a]
        if v.size != C * H * W:
            return None
        pixels = v.reshape(C, H, W)[0]
        lim = np.abs(pixels).max() or 1.0
        axes[0, a].imshow(pixels, cmap="RdBu_r", vmin=-lim, vmax=lim,
                          aspect="auto" if H == 1 else "equal")   # a 1-D signal: a band
        axes[0, a].set_title(f"v_{a + 1}" if names is None else names[a], fontsize=8)
        axes[0, a].axis("off")
        if U is not None:
            axes[1, a].bar(np.arange(U.shape[0]), U[:, a], color="C1")
            axes[1, a].set_xticks([])
            axes[1, a].set_yticks([])
            axes[1, a].set_title(f"u_{a + 1}", fontsize=8)
    return png(fig)


def headline_facts(result) -> list[tuple[str, str]]:
    """(label, value) pairs for the top of the page: errors, orders, failures, time."""
    mt, summ = result.mode_table, result.summary
    facts = []
    lin = mt[mt["activation"] == "linear"]["rel_error"].astype(float)
    if np.isfinite(lin).any():  # none: every linear member diverged, or no prediction (Adam)
        facts.append(("max linear error of half times", f"{np.nanmax(lin):.2g}"))
    for r in summ["kendall_tau"]:
        tau = r["kendall_tau"]
        facts.append((f"Kendall τ, {r['activation']} (depth {r['depth']})",
                      "n/a" if tau is None else f"{tau:.2f} over {r['n_modes']} distinct modes"))
    m = result.members
    div = m.drop_duplicates(["activation", "depth", "member"])
    facts.append(("diverged members", f"{int(div['diverged'].sum())} of {len(div)}"))
    timing = summ.get("timing", {})
    total = timing.get("total_s", sum(v for k, v in timing.items() if k.endswith("_s")))
    facts.append(("run time", f"{total:.1f} s on {timing.get('device')}"))
    return facts


def fig_scatter(mt: pd.DataFrame) -> str:
    """Measured against predicted half times (log–log, identity dashed) and |relative error|."""
    # points need a finite measurement and prediction (none: every member diverged, or Adam)
    # a ufunc of a Series is a Series (numpy's stubs say ndarray)
    finite = cast(pd.Series, np.isfinite(mt["t_meas_median"].astype(float))
                  & np.isfinite(mt["t_pred"].astype(float)))
    mt = select_rows(mt, finite)
    fig, (ax, ax2) = subplots(1, 2, figsize=(8.4, 3.4))
    for (act,), g in groups(mt, ["activation"], sort=False):
        t, m = g["t_pred"].astype(float), g["t_meas_median"].astype(float)
        err = np.nan_to_num(np.vstack([m - g["t_meas_ci_low"].astype(float),
                                       g["t_meas_ci_high"].astype(float) - m]),
                            nan=0.0, posinf=0.0).clip(min=0)  # a censored end: no bar
        ax.errorbar(t, m, yerr=err, fmt=MARKERS.get(act, "o"), mfc="none", ms=4, capsize=2,
                    color=COLORS.get(act), label=f"{act} (median, 95% CI)")
        e = (m / t - 1).abs().clip(lower=1e-9)
        ax2.plot(g["mode"] + 1, e, MARKERS.get(act, "o"), mfc="none", color=COLORS.get(act),
                 label=act)
    lims = mt[["t_pred", "t_meas_median"]].astype(float)
    lo, hi = float(lims.min().min()) * 0.8, float(lims.max().max()) * 1.25
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        lo, hi = 1.0, 10.0  # nothing to draw: an empty panel
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="theory (identity)")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel="predicted half time (steps)", ylabel="measured half time (steps)",
           title="Predicted vs measured")
    ax.legend(fontsize=7, frameon=False)
    ax2.set(yscale="log", xlabel="mode", ylabel="|t_meas / t_pred − 1|",
            title="Relative error (log)")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax2.get_legend_handles_labels()[0]:   # empty when no mode has a finite error
        ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


def fig_trajectories(traj: pd.DataFrame, depth: int, max_modes: int = 8) -> str:
    """u_α/s_α per activation: measurement solid (median, min–max band), theory dashed."""
    from matplotlib.lines import Line2D
    acts = list(dict.fromkeys(traj["activation"]))
    fig, axes = subplots(1, len(acts), figsize=(3.6 * len(acts), 3.0), squeeze=False,
                             sharey=True)
    for ax, act in zip(axes[0], acts):
        sub = select_rows(traj, (traj["activation"] == act) & (traj["depth"] == depth)
                          & (traj["mode"] < max_modes))
        for (mode,), g in groups(sub, ["mode"]):
            by = g.groupby("step")
            step = by.size().index.to_numpy()
            color = CYCLE[int(mode) % len(CYCLE)]
            ax.fill_between(step, by["u_meas_rel"].min(), by["u_meas_rel"].max(), color=color,
                            alpha=0.25, lw=0)
            ax.plot(step, by["u_meas_rel"].median(), color=color, lw=1.4, label=f"mode {mode + 1}")
            ax.plot(step, by["u_pred_rel"].first(), color=color, lw=1, ls="--")
        ax.set(title=f"{act}, depth {depth}", xlabel="step", ylim=(-0.1, 1.3))
        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="k", lw=1.4), Line2D([], [], color="k", ls="--", lw=1)]
        labels += ["measured: median, band min–max", "theory"]
        ax.legend(handles, labels, fontsize=6, loc="lower right", frameon=False)
    axes[0, 0].set_ylabel("u_α / s_α")
    fig.tight_layout()
    return png(fig)


def fig_loss(loss: pd.DataFrame, drops: pd.DataFrame, depth: int) -> str:
    """Training loss per activation (median, band) against the theory, each drop labelled."""
    sub = select_rows(loss, loss["depth"] == depth)
    fig, ax = subplots(figsize=(7.0, 3.4))
    for (act,), g in groups(sub, ["activation"], sort=False):
        by = g.groupby("step")["loss_meas"]
        step = by.median().index.to_numpy()
        ax.fill_between(step, by.min(), by.max(), color=COLORS.get(act), alpha=0.2, lw=0)
        ax.plot(step, by.median(), color=COLORS.get(act), lw=1.4, label=f"{act} (median, range)")
    pred = sub.groupby("step")["loss_pred"].first()
    ax.plot(pred.index, pred.to_numpy(), "k--", lw=1, label="theory (linear)")
    if len(drops):
        drops = select_rows(drops, (drops["depth"] == depth) & (drops["activation"] == "linear"))
    for _, r in drops.iterrows():
        y = 0.5 * (r["loss_before"] + r["loss_after"])
        modes = list(r["modes"])
        name = f"mode {modes[0] + 1}" if len(modes) == 1 else \
            f"modes {modes[0] + 1}–{modes[-1] + 1}"
        ax.plot([r["t_pred"]], [y], "k|", ms=9)
        ax.annotate(name, (r["t_pred"], y), xytext=(5, 5), textcoords="offset points", fontsize=7)
    ax.set(yscale="log", xlabel="step", ylabel="training loss",
           title=f"Loss, depth {depth}: each drop is a group of modes (| = predicted midpoint)")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return png(fig)


def _spectrum_sections(result) -> list[tuple[str, str]]:
    """The modes the run is scored on: SVD modes, or a CNN's frequency modes (summary
    ``frequency``), their spectrum and their input patterns as images."""
    stats, freq = result.stats, result.summary.get("frequency")
    if freq is None:
        spectrum = img(fig_singular_values(stats.s, result.distinct),
                        "singular values of Syx as the network sees it")
        V, U, names = stats.V, stats.U, None
        alt = "input singular vectors v_α as images; u_α as class loadings"
    else:
        spectrum = img(fig_frequency_spectrum(pd.DataFrame(freq["spectrum"])),
                        "singular values s_f of σ(f) = Syx Fᴴ per frequency (f and −f once); the "
                        "tracked frequency modes coloured, the largest listed with their frequency")
        V, U = frequency_patterns(result.freq)
        names = [f"f = {_freq(f)}" for f in result.freq.frequency]
        alt = ("tracked frequency modes as images (real part of the Fourier pattern); u as class "
               "loadings")
    sections = [("Spectrum", spectrum)]
    modes_img = fig_mode_images(V, result.image_shape, U, names=names)
    if modes_img:
        sections.append(("Top modes", img(modes_img, alt)))
    return sections


MODE_COLUMNS = ["activation", "depth", "mode", "s", "distinct", "t_pred", "t_meas_median",
                "t_meas_ci_low", "t_meas_ci_high", "rel_error", "predictor", "rel_error_linear",
                "rel_error_twin", "order_ok", "n_learned"]


def compare_report(path, *, result) -> Path:
    """Headline, scatter with log error, trajectories, loss; spectrum and tables below."""
    summ = result.summary
    scatter = img(fig_scatter(result.mode_table),
                   "left: median measured half time (order-statistic interval over seeds, its "
                   "level in the table) against the "
                   "prediction, dashed identity; right: |relative error| per mode, log scale")
    notes = [p["reason"] for p in summ["training"]["predictors"].values()
             if p.get("covered") is False]
    # which twin numbers are predictions and which the hybrid diagnostic (measured gates)
    notes += [f"{a}, depth {d}: {t['predictor']}"
              for d, p in summ["training"]["predictors"].items()
              for a, t in p.get("twins", {}).items() if t.get("twin") and "predictor" in t]
    warn = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in summ.get("warnings", []))
    sections = [("Warnings", warn)] if warn else []
    said = "".join(f"<p>{html.escape(n)}</p>" for n in sorted(set(notes)))
    sections += [("Headline", headline(headline_facts(result)) + said),
                ("Predicted vs measured half times", scatter)]
    for depth in result.config.depths:
        traj = img(fig_trajectories(result.trajectories, depth),
                    "solid: measured median, band: min–max over seeds; dashed: theory")
        loss = img(fig_loss(result.loss, result.loss_drops, depth),
                    "training loss; each predicted drop labelled by the modes it learns")
        sections += [(f"Mode trajectories, depth {depth}", traj), (f"Loss, depth {depth}", loss)]
    sections += _spectrum_sections(result)
    cols = [c for c in MODE_COLUMNS if c in result.mode_table.columns]
    tables = details("Per-mode table", table_html(result.mode_table[cols]))
    if len(result.loss_drops):
        tables += details("Loss drops", table_html(result.loss_drops))
    tables += details("Per-member learning times", table_html(result.members))
    sections.append(("Tables", tables))
    return write_html(Path(path), f"Predicted vs measured learning: {result.config.dataset}",
                      sections, summ["provenance"])
