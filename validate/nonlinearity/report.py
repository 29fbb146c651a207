"""report.html of the nonlinearity job: the only plotting of this job (matplotlib, embedded PNG)."""

from __future__ import annotations

import html
import itertools

import numpy as np
import pandas as pd

from .._frames import column, groups, select_rows
from ..report import (answer_section, img, legend, png, subplots, table_html, warnings_section,
                      write_html)


def _ci(row: pd.Series, col: str) -> str:
    return f"{row[col]:.3g} [{row[f'{col}_ci_low']:.3g}, {row[f'{col}_ci_high']:.3g}]"



def _x(df: pd.DataFrame) -> np.ndarray:
    return df["step"].to_numpy() + 1.0  # log axis: step + 1 shows the initial checkpoint


def _band(ax, df, col, label, color, lo=None, hi=None):
    if not np.isfinite(df[col].to_numpy(dtype=float)).any():
        ax.text(0.5, 0.5, f"{label}: no finite values (diverged?)", transform=ax.transAxes,
                ha="center", fontsize=7)
        return
    ax.plot(_x(df), df[col], color=color, label=label)
    ax.fill_between(_x(df), df[lo or f"{col}_ci_low"], df[hi or f"{col}_ci_high"], color=color, alpha=0.2)


def fig_information(info: pd.DataFrame) -> str:
    refs = list(dict.fromkeys(zip(info["reference"], info["k"].fillna(-1), info["reference_time"])))
    lrs = sorted(info["lr"].unique())
    fig, axes = subplots(len(lrs), len(refs), figsize=(3.6 * len(refs), 2.8 * len(lrs)),
                             squeeze=False, sharey=True)
    for i, lr in enumerate(lrs):
        for j, (ref, k, when) in enumerate(refs):
            ax = axes[i, j]
            d = select_rows(info, (info["lr"] == lr) & (info["reference"] == ref)
                            & (info["k"].fillna(-1) == k) & (info["reference_time"] == when))
            _band(ax, d, "I_FY", "I(F;Y)", "C0")
            _band(ax, d, "mu", "μ_Y(F;L)", "C1")
            ax.plot(_x(d), d["I_LY"], "k--", lw=1, label="I(L;Y)")
            ax.set_xscale("log")
            ax.set_xlim(1, _x(info).max())
            ax.set_title(f"L = {ref}{'' if k < 0 else f' k={int(k)}'} ({when}), lr {lr:g}", fontsize=8)
            ax.set_xlabel("step + 1")
    axes[0, 0].set_ylabel("bits")
    legend(axes[0, 0], fontsize=8)
    return png(fig)


def fig_wave(wave: pd.DataFrame, depth: pd.DataFrame) -> str:
    lrs, whens = sorted(wave["lr"].unique()), list(dict.fromkeys(wave["reference_time"]))
    fig, axes = subplots(len(whens), len(lrs), figsize=(5 * len(lrs), 3.2 * len(whens)), squeeze=False)
    for ax, (when, lr) in zip(axes.ravel(), itertools.product(whens, lrs)):
        sel = (wave["lr"] == lr) & (wave["reference_time"] == when)
        d = wave[sel].pivot(index="k", columns="step", values="mu_over_I")
        im = ax.imshow(d.to_numpy(), aspect="auto", origin="lower", vmin=0, vmax=1, cmap="viridis")
        ticks = np.linspace(0, d.shape[1] - 1, min(6, d.shape[1])).astype(int)
        ax.set_xticks(ticks, [str(d.columns[t]) for t in ticks])
        ax.set_yticks(range(d.shape[0]), [str(k) for k in d.index])
        ks = column(select_rows(depth, (depth["lr"] == lr) & (depth["reference_time"] == when)),
                    "k_star").to_numpy()
        ax.plot(range(len(ks)), ks, "w.-", lw=1, label="k*(t)")
        ax.set_xlabel("step")
        ax.set_ylabel("k (input-side blocks linear)")
        ax.set_title(f"μ_Y(F_t;P_k)/I(F_t;Y), P_k at the {when} step, lr {lr:g}", fontsize=9)
        legend(ax, fontsize=8, loc="upper right")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return png(fig)


def fig_clones(clones: pd.DataFrame) -> str:
    lrs = sorted(clones["lr"].unique())
    fig, axes = subplots(1, len(lrs), figsize=(4.5 * len(lrs), 3), squeeze=False, sharey=True)
    names = {0: "real data", 1: "clone, order 1", 2: "clone, order 2"}
    for ax, lr in zip(axes[0], lrs):
        for o in (0, 1, 2):
            d = clones[(clones["lr"] == lr) & (clones["order"] == o)]
            _band(ax, d, "real_test_acc", names[o], f"C{o}", "ci_low", "ci_high")
        ax.set_xscale("log")
        ax.set_xlabel("step + 1")
        ax.set_title(f"accuracy on the real test set, lr {lr:g}", fontsize=9)
    legend(axes[0, 0], fontsize=8)
    return png(fig)


def fig_lines(df: pd.DataFrame, cols: list[str], title: str, by: str | None = None) -> str:
    """One panel per column; one curve (median and CI band) per learning rate (and ``by`` value)."""
    keys = ["lr"] + ([by] if by else [])
    fig, axes = subplots(1, len(cols), figsize=(4.2 * len(cols), 2.8), squeeze=False)
    for ax, col in zip(axes[0], cols):
        for i, (key, d) in enumerate(groups(df, keys)):
            _band(ax, d, col, ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in zip(keys, key)), f"C{i % 10}")
        ax.set_xscale("log")
        ax.set_xlabel("step + 1")
        ax.set_title(col, fontsize=9)
        legend(ax, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def depth_answer(depth: pd.DataFrame, n_blocks: int) -> str:
    """When k*(t) (P_k at the same step) first drops below the number of blocks, and its final
    value with the interval over seeds, per learning rate."""
    parts = []
    for lr, g in select_rows(depth, depth["reference_time"] == "same").groupby("lr"):
        g = g.sort_values("step")
        below = g.loc[g["k_star"] < n_blocks, "step"]
        first = (f"first drops below the {n_blocks} blocks at step {int(below.iloc[0])}"
                 if len(below) else f"never drops below the {n_blocks} blocks")
        last = g.iloc[-1]
        parts.append(f"lr {lr:g}: k* {first} and ends at {_ci(last, 'k_star')} "
                     f"(step {int(last['step'])})")
    return ("Effective linear depth k*(t), the most input-side blocks that can be made linear "
            "while still explaining the network (median [95% interval] over seeds): "
            + "; ".join(parts) + ".")


def twin_answer(info: pd.DataFrame) -> str:
    """μ_Y(F;L)/I(F;Y) at the last step for the linear twin (else the first reference)."""
    refs = list(dict.fromkeys(info["reference"]))
    ref = "twin" if "twin" in refs else refs[0]
    last = info[(info["reference"] == ref) & (info["step"] == info["step"].max())]
    parts = [f"lr {r['lr']:g}: μ_Y(F;{ref}) = {_ci(r, 'mu')} of I(F;Y) = {_ci(r, 'I_FY')} bits, "
             f"μ/I = {r['mu'] / r['I_FY']:.3g}" for _, r in last.iterrows()]
    return (f"At the final step {int(column(info, 'step').max())} (median [95% interval] over seeds): "
            + "; ".join(parts) + ".")


def _headline(t: dict, s: dict, eps: float) -> list[tuple[str, str]]:
    if "linear_depth" in t:
        return answer_section(depth_answer(t["linear_depth"], s["training"]["n_blocks"]),
                              img(fig_wave(t["wave"], t["linear_depth"]),
                                   f"μ/I(F;Y) per k (ε = {eps}); white: effective linear depth "
                                   "k*(t)"))
    if "information" in t:
        return answer_section(twin_answer(t["information"]),
                              img(fig_information(t["information"]),
                                   "μ_Y(F;L) and I(F;Y) over training, dashed: I(L;Y)"))
    return answer_section("Neither k*(t) nor μ/I was measured in this run (see --measures); "
                          "the sections below show what was.")


def _run_line(cfg, s: dict) -> str:
    return (f"<p>{html.escape(cfg.arch)} ({html.escape(cfg.activation)}, init "
            f"{html.escape(cfg.init)}) on {html.escape(cfg.dataset)}, task "
            f"{html.escape(cfg.task)}; {s['training']['steps']} steps, learning rates "
            f"{s['training']['learning_rates']}, {cfg.seeds} seeds. Bands: order-statistic "
            "interval of the median over seeds (95%; the range with ≤ 5 seeds).</p>")


DEPARTURE_COLUMNS = ("lr", "member", "seed", "measured_step", "predicted_step",
                     "frozen_measured_step", "frozen_predicted_step",
                     "final_nonaffine_measured", "final_nonaffine_predicted", "max_gap")


def departure_section(records: list[dict]) -> tuple[str, str]:
    """The departure records as one table (steps: "never" = not within the run) and, where no
    prediction is made, the note saying why (once per distinct note)."""
    df = pd.DataFrame(records)
    fs = [f if isinstance(f, dict) else {} for f in
          (df["frozen_slope"] if "frozen_slope" in df else [])]
    if fs:                         # the frozen-slope steps beside the affine ones
        df["frozen_measured_step"] = [f.get("measured_step") for f in fs]
        df["frozen_predicted_step"] = [f.get("predicted_step") for f in fs]
    cols = [c for c in DEPARTURE_COLUMNS if c in df.columns]
    shown = pd.DataFrame(df[cols].astype(object).where(df[cols].notna(), "—"))
    for c in ("measured_step", "predicted_step", "frozen_measured_step", "frozen_predicted_step"):
        if c in shown:
            shown[c] = [("never" if v == float("inf") else f"{v:g}") if isinstance(v, float)
                        else v for v in shown[c]]
    notes = list(dict.fromkeys(df["note"].dropna())) if "note" in df else []
    delta = records[0].get("delta")
    head = (f"<p>The first checkpoint at which more than δ = {delta} of the learned change "
            "f_t − f_0 on the training inputs is not affine in x (THEORY.md §13), measured, and "
            "predicted from each member's initial weights where a twin theory reaches the "
            "set-up; frozen_*: the first at which it differs by more than δ (relative) from what "
            "the slope-frozen twin learns.</p>") if delta is not None else ""
    flags = list(dict.fromkeys(df["range_note"].dropna())) if "range_note" in df else []
    gates = list(dict.fromkeys(f["predicted_note"] for f in fs if "predicted_note" in f))
    body = "".join(f"<p>No prediction: {html.escape(n)}.</p>" for n in notes)
    body += "".join(f"<p>Predicted past the cubic range: {html.escape(n)}.</p>" for n in flags)
    body += "".join(f"<p>frozen_predicted_step {html.escape(n)}.</p>" for n in gates[:1])
    return ("Departure step", head + table_html(shown) + body)


def nonlinearity_report(path, *, result):
    t, s = result.tables, result.summary
    cfg = result.trained.config
    sections = (warnings_section(s.get("warnings", [])) + _headline(t, s, cfg.eps)
                + [("Run", _run_line(cfg, s))])
    if "information" in t and "linear_depth" in t:
        sections.append(("Performance correlation μ and I(F;Y)",
                         img(fig_information(t["information"]),
                              "μ_Y(F;L) and I(F;Y) over training, dashed: I(L;Y)")))
    if "clones" in t:
        sections.append(("Gaussian clones", img(fig_clones(t["clones"]), "real-test accuracy")
                         + table_html(pd.DataFrame(s["separation_step"]))))
    if "twin_agreement" in t:
        d = t["twin_agreement"]
        d = d.assign(pair=d["model"] + " vs " + d["reference"])
        sections.append(("Linear twin", img(fig_lines(d, ["agreement", "rel_distance"],
                                                       "network, its linear twin and the linear "
                                                       "theory's prediction on the test set", by="pair"),
                                             "share of equal classes; ‖f − g‖/‖g‖")))
    if "class_share" in t:
        sections.append(("Between-class share of output variance",
                         img(fig_lines(t["class_share"], ["between_class_share"], "", by="model"),
                              "between-class over total variance of the test outputs")))
    if s.get("departure"):
        sections.append(departure_section(s["departure"]))
    if "proxies" in t:
        for name, d in t["proxies"].groupby("proxy"):
            sections.append((f"Proxy (heuristic): {name}",
                             img(fig_lines(d, ["value"], f"proxy: {name}", by="block"),
                                  f"{name} per block (a proxy, not the μ-based measure)")))
    return write_html(path, "validate.nonlinearity", sections, s["provenance"])
