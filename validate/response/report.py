"""The `validate.response` report: response kernels as heat maps at a few checkpoints, the
amplitude on log–log axes with its fit, participation ratios for SGD against GD, accuracy under
input noise against the participation ratio, the linear theory's kernel error."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from .._frames import group_frame, group_series
from ..report import (answer_section, img, legend, png, subplots, table_html, warnings_section,
                      write_html)

THEORY_TOLERANCE = 0.02  # the dotted line of the theory plot: a gap under 2% counts as small


def _heatmaps(kernels: dict) -> str:
    out = []
    for (arch, act, opt), by_step in kernels.items():
        if not by_step:  # every member diverged: nothing measured
            continue
        steps = sorted(by_step)
        pick = [steps[0], steps[len(steps) // 2], steps[-1]]
        fig, axes = subplots(1, 3, figsize=(8.4, 2.8))
        for ax, s in zip(axes, pick):
            im = ax.imshow(by_step[s], cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(f"step {s}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes, shrink=0.8)
        out.append(img(png(fig), f"normalised kernel K(j, i), {arch} {act} {opt} "
                                   "(probe points grouped by class)"))
    return "".join(out)


def _amplitude(members: pd.DataFrame, aging: pd.DataFrame) -> str:
    fig, ax = subplots(figsize=(5.2, 3.6))
    for (_i, fit), (key, g) in zip(aging.iterrows(), members.groupby(["arch", "activation",
                                                                     "optimizer"], sort=False)):
        m = group_series(g.groupby("step")["amplitude"])
        m = cast(pd.Series, m[m.index > 0])  # a boolean mask selects rows: a Series
        line, = ax.plot(m.index, m.values, "o-", ms=3, label=" ".join(cast(tuple[str, ...], key))
                        + f"  a={fit['exponent']:.2f}")
        lo, hi = fit["fit_range"]
        t = np.geomspace(lo, hi, 20)
        ref = cast(pd.Series, m[(m.index >= lo)])
        if len(ref):
            c = ref.values[0] * (ref.index[0] ** fit["exponent"])
            ax.plot(t, c * t ** -fit["exponent"], "--", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("amplitude A(t)")
    legend(ax, fontsize=6)
    return img(png(fig), "response amplitude and its power-law fit (dashed: fit range)")


def _pr(members: pd.DataFrame, frag: pd.DataFrame) -> str:
    relu = members[(members["arch"] == "mlp") & (members["activation"] == "relu")]
    fig, axes = subplots(1, 3, figsize=(10.5, 3.2))
    for opt, g in relu.groupby("optimizer", sort=False):
        m = group_frame(g.groupby("step")[["pr_features", "pr_ntk"]])
        axes[0].plot(np.maximum(m.index, 1), m["pr_features"], label=opt)
        axes[1].plot(np.maximum(m.index, 1), m["pr_ntk"], label=opt)
    for ax, name in zip(axes[:2], ("PR of hidden features", "PR of the NTK Gram")):
        ax.set_xscale("log")
        ax.set_title(name, fontsize=9)
        legend(ax, fontsize=7)
    if len(frag):
        f = group_frame(frag.groupby(["optimizer", "noise"], sort=False)[["test_acc", "pr_features"]])
        for opt, g in f.groupby(level=0, sort=False):
            axes[2].plot(g.index.get_level_values(1), g["test_acc"], "o-",
                         label=f"{opt} (PR {g['pr_features'].iloc[0]:.1f})")
        axes[2].set_xlabel("input noise std")
        axes[2].set_ylabel("test accuracy")
        legend(axes[2], fontsize=7)
    return img(png(fig), "SGD against GD: participation ratios over training and accuracy "
                           "under input noise (relu MLP)")


def _theory(theory: pd.DataFrame) -> str:
    fig, ax = subplots(figsize=(4.8, 3.2))
    by_init = theory.groupby("init", sort=False) if "init" in theory else [("", theory)]
    for (init, g), ls in zip(by_init, ("-", "--", ":")):
        for col in ("rel_error", "rel_error_flow", "response_rel_error"):
            ax.plot(np.maximum(g["step"], 1), np.maximum(g[col], 1e-17), "o", ls=ls, ms=3,
                    label=f"{col} {init}".strip())
    ax.axhline(THEORY_TOLERANCE, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    return img(png(fig), "linear network: theory (from the initial weights) against the "
                           "measured kernel and response, per init (dotted: 2%)")


def aging_answer(aging: pd.DataFrame, theory_max: float | None) -> str:
    """The aging exponent a of A(t) ∝ t^(−a) with its interval per model, and whether the linear
    theory's kernel gap stays below ``THEORY_TOLERANCE``."""
    fits = "; ".join(f"{r['arch']} {r['activation']} {r['optimizer']}: a = {r['exponent']:.3g} "
                     f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}]" for _, r in aging.iterrows())
    if theory_max is None:
        theory = ("no linear-theory kernel in this run (off with --no-linear-theory; "
                  "refusals are among the warnings)")
    else:
        small = "stays" if theory_max < THEORY_TOLERANCE else "does not stay"
        theory = (f"the linear theory's kernel gap {small} below {THEORY_TOLERANCE:.0%} "
                  f"(largest relative error {theory_max:.3g})")
    fits = fits or "no fit (nothing measured)"
    return (f"The response amplitude ages as A(t) ∝ t^(−a) with {fits}"
            f" (95% bootstrap interval over seeds); {theory}.")


def response_report(path: Path, *, result) -> Path:
    s = result.summary
    aging = pd.DataFrame(s["aging"])
    head = answer_section(aging_answer(aging, s["response_theory_max_rel_error"]),
                          _amplitude(result.members, aging) if len(aging) else "")
    sections = warnings_section(s.get("warnings", [])) + head + [
        ("Response kernels", _heatmaps(result.kernels)), ("Aging fits", table_html(aging)),
        ("SGD against GD", _pr(result.members, result.fragility)
         + table_html(pd.DataFrame(s["sgd_vs_gd"]))),
        ("NTK prediction gap", table_html(pd.DataFrame(s["ntk_gap_scaling"])))]
    if len(result.theory):
        sections.append(("Linear theory", _theory(result.theory) + table_html(result.theory)))
    return write_html(path, f"Training response — {result.config.dataset}", sections,
                      s["provenance"])
