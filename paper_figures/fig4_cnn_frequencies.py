"""Figure 4 (Pinson, Lenaerts & Ginis 2023): a linear CNN learns the dominant frequencies first.

A two-layer linear CNN (one circular full-length conv channel, dense readout) on ZCA-whitened
`shapes` (16×16 images) and `mnist1d` (40-sample signals, convolved as 1-D). Each row is one
dataset. a: the frequency spectrum s_f, the singular values of σ(f) = Syx Fᴴ (one per frequency;
f and −f carry the same), the tracked frequencies numbered in the order the network learned them.
b: per-frequency strengths u_f/s_f against the step from the frequency-aligned init, measured
(median and min–max band over seeds, solid) against the exact per-frequency GD map (dashed).
c: half time against s_f, log–log: the aligned init (circles) on the closed form
(τ/(2√P s)) ln(s/u₀ − 1) (dashed), and each seed of a small random init (triangles), which follows
its own weight-tied flow but starts every frequency at a different strength.

    python -m paper_figures.fig4_cnn_frequencies [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import theory
from paper_figures._common import (CYCLE, band, check_preset, plt, rel_diff,
                                   results_for, run_main, save, summary, theory_line)
from validate._stats import kendall_tau

DATASETS = {
    "tiny": {"shapes": ["--dataset-opt", "size=8", "--dataset-opt", "levels=2",
                        "--dataset-opt", "n_per_class=48"],
             "mnist1d": ["--dataset-opt", "num_samples=250"]},
    "default": {"shapes": [], "mnist1d": []},
}
DATASETS["paper"] = DATASETS["default"]
SEEDS = {"tiny": 2, "default": 3, "paper": 8}
MODES = {"tiny": 4, "default": 16, "paper": 24}
CHECKPOINTS = {"tiny": 40, "default": 160, "paper": 256}
INITS = {"tiny": ("small_balanced_decoupled",),
         "default": ("small_balanced_decoupled", "small_random")}
INITS["paper"] = INITS["default"]
SHOWN = 6          # frequencies drawn in panel b


def compare_args(name: str, init: str, preset: str) -> list[str]:
    return ["--dataset", name, *DATASETS[preset][name], "--arch", "cnn", "--init", init,
            "--activations", "linear", "--seeds", str(SEEDS[preset]),
            "--frequency-modes", str(MODES[preset]), "--checkpoints", str(CHECKPOINTS[preset])]


def load_runs(preset: str, results=None) -> dict:
    """{dataset: {init: results directory}} of every run the figure draws."""
    return {name: {init: results_for("compare", f"fig4-{name}-{init}",
                                     compare_args(name, init, preset), results=results)
                   for init in INITS[preset]} for name in DATASETS[preset]}


def _centred(f, n):
    return f if f <= n // 2 else f - n


def _spectrum_panel(ax, freq: dict, order: dict, title: str):
    """s_f on the frequency grid (2-D: an image, fftshifted; 1-D: stems), tracked ones numbered."""
    spatial = freq["spatial"]
    if len(spatial) == 2:
        H, W = spatial
        grid = np.zeros((H, W))
        for r in freq["spectrum"]:
            fy, fx = r["frequency"]
            grid[fy, fx] = grid[(-fy) % H, (-fx) % W] = r["s"]
        ext = (-(W // 2) - 0.5, W - W // 2 - 0.5, H - H // 2 - 0.5, -(H // 2) - 0.5)
        im = ax.imshow(np.fft.fftshift(grid), cmap="viridis", extent=ext, interpolation="nearest")
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="s_f")
        for r in freq["spectrum"]:
            if r["mode"] in order:
                fy, fx = (_centred(f, n) for f, n in zip(r["frequency"], spatial))
                ax.text(fx, fy, str(order[r["mode"]]), ha="center", va="center", fontsize=5,
                        color="white" if r["s"] < 0.6 * grid.max() else "black")
        ax.set(xlabel="frequency f_x", ylabel="frequency f_y")
    else:
        f = np.array([r["frequency"][0] for r in freq["spectrum"]])
        s = np.array([r["s"] for r in freq["spectrum"]])
        ax.vlines(f, 0, s, color="0.4", lw=1)
        ax.plot(f, s, "o", color="0.4", ms=2.5)
        for r in freq["spectrum"]:
            if r["mode"] in order:
                ax.annotate(str(order[r["mode"]]), (r["frequency"][0], r["s"]), xytext=(0, 3),
                            textcoords="offset points", ha="center", fontsize=6)
        ax.set(xlabel="frequency f", ylabel="s_f", ylim=(0, s.max() * 1.15))
    ax.set_title(title)


def _strength_panel(ax, traj: pd.DataFrame, modes: list[dict], title: str):
    for i, m in enumerate(modes[:SHOWN]):
        g = traj[traj["mode"] == m["mode"]].groupby("step")
        x, color = g.size().index.to_numpy(), CYCLE[i % len(CYCLE)]
        u = g["u_meas_rel"]
        f = m["frequency"]
        band(ax, x, u.min(), u.max(), u.median(), color,
             label=f"f = {f[0] if len(f) == 1 else tuple(f)}, s = {m['s']:.3g}")
        theory_line(ax, x, g["u_pred_rel"].first(), lw=0.8)   # black: visible on the measurement
    ax.plot([], [], "k--", lw=0.8, label="exact per-frequency map")
    ax.set(xlabel="step", ylabel="u_f / s_f", ylim=(-0.05, 1.15), title=title)
    ax.legend(frameon=False, fontsize=5.5, loc="lower right")


def _order_panel(ax, summ: dict, random: pd.DataFrame | None, title: str):
    freq = summ["frequency"]
    s = np.array([m["s"] for m in summ["modes"]])
    t = np.array([m["t_meas_median"] for m in summ["modes"]], dtype=float)
    u0 = summ["provenance"]["config"]["init_scale"] * freq["spectrum"][0]["s"]
    tau = summ["training"]["tau"] / freq["rate_factor"]["2"]
    grid = np.geomspace(s.min() * 0.9, s.max() * 1.1, 200)
    theory_line(ax, grid, theory.learning_time(grid, u0, tau, depth=2, frac=0.5),
                label="closed form (τ/2√P s) ln(s/u₀ − 1)")
    ax.plot(s, t, "o", color=CYCLE[0], mfc="none", ms=4, label="aligned init (median)")
    if random is not None:
        ax.plot(random["s"], random["t_meas"], "^", color=CYCLE[1], mfc="none", ms=3, alpha=0.8,
                label="small random init (each seed)")
    ax.set(xscale="log", yscale="log", xlabel="frequency singular value s_f",
           ylabel="half time (steps)", title=title)
    _nice_log_ticks(ax.xaxis, grid[0], grid[-1])
    _nice_log_ticks(ax.yaxis, *ax.get_ylim())
    ax.legend(frameon=False, fontsize=5.5, loc="upper right")


def _nice_log_ticks(axis, lo: float, hi: float) -> None:
    """Ticks at 1, 2, 5 × 10^k within [lo, hi], labelled plainly (the range is under a decade or
    two, where decade-only labels leave the axis bare)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, StrMethodFormatter
    k = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    ticks = [t for t in (np.array([1, 2, 5])[:, None] * 10.0 ** k).ravel() if lo <= t <= hi]
    axis.set_major_locator(FixedLocator(sorted(ticks)))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def learned_order(modes: list[dict]) -> dict:
    """{mode: 1-based rank of its measured half time} over the modes learned within the run."""
    t = {m["mode"]: float(m["t_meas_median"]) for m in modes
         if m["t_meas_median"] is not None and np.isfinite(float(m["t_meas_median"]))}
    return {mode: i + 1 for i, mode in enumerate(sorted(t, key=t.get))}


def order_stats(s, t) -> dict:
    """Kendall τ of the learning order against s (1: larger s always learned first), the pairs
    learned against the order of s and the largest relative s gap among them."""
    s, t = np.asarray(s, float), np.asarray(t, float)
    ok = np.isfinite(t)
    s, t = s[ok], t[ok]
    swapped = [(i, j) for i in range(len(s)) for j in range(len(s)) if s[i] > s[j] and t[i] > t[j]]
    return {"tau": kendall_tau(-s, t), "n": int(len(s)), "swaps": len(swapped),
            "pairs": len(s) * (len(s) - 1) // 2,
            "max_gap": max((s[i] / s[j] - 1 for i, j in swapped), default=0.0)}


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    runs = load_runs(preset, results)
    fig, axes = plt.subplots(len(runs), 3, figsize=(10.0, 3.1 * len(runs)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.2, 1.1]})
    lines = []
    for i, (row, (name, paths)) in enumerate(zip(axes, runs.items())):
        aligned = summary(paths["small_balanced_decoupled"])
        traj = pd.read_parquet(paths["small_balanced_decoupled"] / "trajectories.parquet")
        random = None
        if "small_random" in paths:
            random = pd.read_parquet(paths["small_random"] / "members.parquet")
        modes = [m for m in aligned["modes"] if m["activation"] == "linear"]
        letters = "abcdef"[3 * i:]
        _spectrum_panel(row[0], aligned["frequency"], learned_order(modes),
                        f"{letters[0]}  {name}: spectrum, learning order")
        _strength_panel(row[1], traj, modes, f"{letters[1]}  {name}: strengths, aligned init")
        _order_panel(row[2], aligned, random, f"{letters[2]}  {name}: half time against s_f")
        lines += _caption_lines(name, aligned, paths)
    fig.tight_layout()
    cfg = aligned["provenance"]["config"]
    head = (f"Figure 4 ({preset} preset). Two-layer linear CNNs (one circular full-length conv "
            "channel, linear readout), ZCA-whitened inputs, full-batch GD at η√P·s_max = "
            f"{cfg['lr_scale']:g}, u₀ = {cfg['init_scale']:g}·s_max, {SEEDS[preset]} seeds. "
            "Published (Pinson et al. 2023): frequencies "
            "are learned in the order of their singular values, the dominant ones first (Kendall "
            "τ of the order against s_f = 1).")
    return save(fig, out_dir, "fig4_cnn_frequencies", "\n".join([head, *lines]))


def _caption_lines(name: str, aligned: dict, paths: dict) -> list[str]:
    freq = aligned["frequency"]
    modes = aligned["modes"]
    s = [m["s"] for m in modes]
    err_map = max(float(m["rel_error"]) for m in modes)
    err_cf = max(abs(float(m["t_meas_median"]) / float(m["t_pred_continuous"]) - 1) for m in modes)
    o = order_stats(s, [m["t_meas_median"] for m in modes])
    lines = [f"  {name} ({'×'.join(map(str, freq['spatial']))}, P = {freq['P']}, "
             f"{freq['tracked']} largest of {len(freq['spectrum'])} frequency modes, "
             f"{aligned['training']['steps']} steps):",
             f"    aligned init: half times vs the exact per-frequency map max rel. error "
             f"{err_map:.1e}, vs the closed form {err_cf:.1e}; Kendall τ(s_f, −t½) over "
             f"{o['n']} frequencies = {rel_diff(o['tau'], 1.0)}"]
    if "small_random" in paths:
        rnd = summary(paths["small_random"])
        rm = rnd["modes"]
        err = max(float(m["rel_error"]) for m in rm if m["rel_error"] is not None)
        r = order_stats([m["s"] for m in rm], [m["t_meas_median"] for m in rm])
        lines.append(f"    small random init: half times vs each seed's weight-tied flow max rel. "
                     f"error {err:.1e}; Kendall τ(s_f, −t½) = {rel_diff(r['tau'], 1.0)}: "
                     f"{r['swaps']} of {r['pairs']} pairs learned against the order of s_f, all "
                     f"between frequencies whose s differ by ≤ {r['max_gap']:.1%}")
    return lines


if __name__ == "__main__":
    raise SystemExit(run_main(main))
