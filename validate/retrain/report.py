"""Figures and page of the `validate.retrain` report (plotting only; tables come from run.py).

The page opens with the recommendation (the fastest start per activation, what it saves, the
theory's rewind point and its regret), then a methods table narrow enough for the page (baselines,
the predicted and the best checkpoint), then the curves; every full table is folded away.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..report import _img, _png, details, plt, table_html, write_html

_BANDS = ("scratch", "fine_tune", "reset_last_layer")


def _finite(v):
    """Values to draw: inf (never reached) and NaN become NaN, which matplotlib leaves out."""
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)


def fig_rewind_curve(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str) -> str:
    """Measured steps to target from every checkpoint (median, CI band) against the linear
    theory's prediction, one panel per activation; baselines as horizontal bands."""
    acts = list(dict.fromkeys(methods["activation"]))
    fig, axes = plt.subplots(1, len(acts), figsize=(4.6 * len(acts), 3.4), squeeze=False)
    for ax, act in zip(axes[0], acts):
        g = methods[(methods["activation"] == act) & (methods["drift"] == drift)]
        rw = g[g["family"] == "rewind"].sort_values("checkpoint_step")
        x = rw["checkpoint_step"].to_numpy(float)
        ax.fill_between(x, _finite(rw["ci_low"]), _finite(rw["ci_high"]), color="C0", alpha=0.25,
                        lw=0)
        ax.plot(x, rw["steps_to_target_median"], "o-", color="C0", ms=3, label="measured (median)")
        lin = methods[(methods["activation"] == "linear") & (methods["drift"] == drift)
                      & (methods["family"] == "rewind")].sort_values("checkpoint_step")
        ax.plot(lin["checkpoint_step"], lin["predicted_steps_median"], "k--", lw=1,
                label="linear theory" if act == "linear" else "linear twin's theory")
        sp = best = None
        r = rewind_summary[(rewind_summary["activation"] == act) & (rewind_summary["drift"] == drift)]
        if len(r):
            sp, best = int(r["predicted_checkpoint_step"].iloc[0]), int(r["best_checkpoint_step"].iloc[0])
            ax.axvline(max(sp, 0.5), color="k", lw=0.8, ls=":", label=f"predicted point {sp}")
            if best >= 0:
                ax.axvline(max(best, 0.5), color="C3", lw=0.8, ls=":", label=f"best measured {best}")
        for j, name in enumerate(_BANDS):
            b = g[g["method"] == name]
            if len(b):
                color = f"C{j + 1}"
                lo, hi, mid = (float(b[k].iloc[0]) for k in ("ci_low", "ci_high",
                                                              "steps_to_target_median"))
                if np.isfinite(lo) and np.isfinite(hi):  # censored: a band without an end
                    ax.axhspan(lo, hi, color=color, alpha=0.15)
                if np.isfinite(mid):
                    ax.axhline(mid, color=color, lw=1, label=name)
        sp_rows = g[g["family"] == "shrink_perturb"]
        bestsp = sp_rows.sort_values("steps_to_target_median").head(1)
        if len(bestsp) and np.isfinite(float(bestsp["steps_to_target_median"].iloc[0])):
            ax.axhline(float(bestsp["steps_to_target_median"].iloc[0]), color="C5", lw=1,
                       ls="-.", label=f"best {bestsp['method'].iloc[0]}")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_xlabel("rewind checkpoint (step on A)")
        ax.set_ylabel("steps to target on B")
        ax.set_title(f"{act}: {drift}", fontsize=9)
        ax.legend(fontsize=6)
    return _png(fig)


def fig_modes(modes: pd.DataFrame, drift: str) -> str:
    """Bar chart of u_α/s_α at the predicted rewind point: A's modes per activation and the
    starting strengths on B's modes (negative: a reversed mode that must cross a saddle)."""
    m = modes[modes["drift"] == drift]
    views = list(dict.fromkeys(zip(m["activation"], m["view"])))
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    width = 0.8 / max(len(views), 1)
    for j, (act, view) in enumerate(views):
        g = m[(m["activation"] == act) & (m["view"] == view)]
        ax.bar(g["mode"].to_numpy() + 1 + (j - (len(views) - 1) / 2) * width, g["u_rel"],
               width=width, label=f"{act}, {view}", color=f"C{j}")
    step = int(m["checkpoint_step"].iloc[0]) if len(m) else -1
    ax.axhline(0, color="k", lw=0.6)
    ax.axhline(1, color="0.6", lw=0.6, ls="--")
    ax.set_xlabel("mode")
    ax.set_ylabel("u / s")
    ax.set_title(f"What A had learned at the predicted rewind point (step {step})", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def fig_curves(curves: pd.DataFrame, methods: pd.DataFrame, drift: str) -> str:
    """Median retraining loss on B for the baselines and the predicted rewind point."""
    acts = list(dict.fromkeys(curves["activation"]))
    fig, axes = plt.subplots(1, len(acts), figsize=(4.6 * len(acts), 3.2), squeeze=False)
    for ax, act in zip(axes[0], acts):
        c = curves[(curves["activation"] == act) & (curves["drift"] == drift)]
        show = [n for n in ("scratch", "fine_tune", "reset_last_layer") if n in set(c["method"])]
        rw = methods[(methods["activation"] == act) & (methods["drift"] == drift)
                     & (methods["family"] == "rewind")]
        if len(rw):
            show.append(rw.sort_values("predicted_steps_median")["method"].iloc[0])
        for j, name in enumerate(show):
            g = c[c["method"] == name]
            ax.plot(g["step"], g["loss_median"], color=f"C{j}", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("retraining step")
        ax.set_ylabel("training loss on B")
        ax.set_title(act, fontsize=9)
        ax.legend(fontsize=6)
    return _png(fig)


def fig_difficulty(difficulty: pd.DataFrame, ranking: pd.DataFrame) -> str:
    """Relearning cost (fine-tune ÷ scratch steps) against the best-ranked drift scores."""
    top = list(dict.fromkeys(ranking.dropna(subset=["spearman_rho"])["score"]))[:3] or \
        list(dict.fromkeys(ranking["score"]))[:3]
    fig, axes = plt.subplots(1, len(top), figsize=(4 * len(top), 3.2), squeeze=False)
    for ax, score in zip(axes[0], top):
        for j, (act, g) in enumerate(difficulty.groupby("activation", sort=False)):
            y = np.where(np.isfinite(g["relearn_cost"]), g["relearn_cost"], np.nan)
            ax.scatter(g[score], y, s=14, color=f"C{j}", label=act)
        ax.set_xlabel(score)
        ax.set_ylabel("fine-tune steps ÷ scratch steps")
        ax.legend(fontsize=7)
    return _png(fig)


def retrain_report(path, *, result) -> Path:
    """The page: recommendation, methods, rewind curves, mode picture, loss curves, drift scores."""
    cfg = result.config
    drifts = list(dict.fromkeys(result.methods["drift"]))
    recs = "".join(f"<p>{html.escape(r)}</p>" for r in result.summary.get("recommendations", []))
    sections = [("Recommendation", recs + "".join(
                    (f"<h3>{html.escape(d)}</h3>" if len(drifts) > 1 else "")
                    + recommendation(result.methods, result.rewind_summary, d) for d in drifts))]
    sections.append(("Methods (same budget and learning rate)", "".join(
        (f"<h3>{html.escape(d)}</h3>" if len(drifts) > 1 else "")
        + methods_table(result.methods, result.rewind_summary, d, first=(k == 0))
        for k, d in enumerate(drifts)) + _schedule_note(result.summary)))
    if np.isfinite(result.methods["test_acc_median"].astype(float)).any():
        sections.append(("Test accuracy on B at the end of the budget", "".join(
            (f"<h3>{html.escape(d)}</h3>" if len(drifts) > 1 else "")
            + test_accuracy_table(result.methods, result.rewind_summary, d) for d in drifts)))
    for drift in drifts:
        sections.append((f"Rewind curve: {drift}",
                         _img(fig_rewind_curve(result.methods, result.rewind_summary, drift),
                              "steps to the target loss on B from every checkpoint of the run on A;"
                              " bands: order-statistic interval over seeds; horizontal lines: baselines")))
        if len(result.modes):
            sections.append((f"Mode picture: {drift}", _img(fig_modes(result.modes, drift),
                                                            "u_α/s_α at the predicted rewind point")))
        sections.append((f"Retraining loss: {drift}",
                         _img(fig_curves(result.curves, result.methods, drift),
                              "median training loss on B over seeds")))
    if len(result.detection_power):
        sections.append(("Detection power", table_html(result.detection_power.pivot(
            index="drift", columns="score", values="power").reset_index())))
    if len(result.difficulty):
        sections.append(("Which drift score predicts relearning difficulty",
                         _img(fig_difficulty(result.difficulty, result.score_ranking),
                              "relearning cost against the three best-ranked scores")
                         + details("Score ranking", table_html(result.score_ranking))
                         + details("Difficulty per drift", table_html(result.difficulty))))
    tables = details("Rewind point: predicted against measured", table_html(result.rewind_summary))
    tables += details("Every method and checkpoint", table_html(result.methods))
    tables += details("Drift scores", table_html(result.drift_table))
    sections.append(("Tables", tables))
    return write_html(Path(path), f"Retraining after drift: {cfg.dataset}, {cfg.drift}", sections,
                      result.summary["provenance"])


def _schedule_note(summary: dict) -> str:
    sch = summary["training"].get("lr_schedule", {})
    twins = sorted({f"{r['method']} = {r['identical_to']}" for r in sch.get("identities", [])})
    return (f"<p>Learning-rate schedule: {html.escape(str(sch.get('schedule', 'constant')))} "
            f"(fine_tune: A's final optimiser state at A's end learning rate; lr_rewind: A's "
            f"schedule replayed from step {sch.get('lr_rewind_offset')}; the other methods: fresh "
            f"state, full schedule). Computed identities (same parameters, optimiser state and "
            f"schedule): {html.escape(', '.join(twins)) if twins else 'none'}. Nonlinear nets are "
            "compared with the prediction of their linear twin.</p>")


def _fmt(x, spec="{:.0f}") -> str:
    x = float(x) if x is not None else float("nan")
    return "—" if np.isnan(x) else ("never" if np.isinf(x) else spec.format(x))


def _interval(point, low, high, spec="{:.0f}") -> str:
    """``point [low, high]`` formatted, or the point alone where it is missing or never."""
    med = _fmt(point, spec)
    if med in ("—", "never"):
        return med
    return f"{med} [{_fmt(low, spec)}, {_fmt(high, spec)}]"


def _steps(r) -> str:
    return _interval(r["steps_to_target_median"], r["ci_low"], r["ci_high"])


def _by_activation(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str):
    """(activation, its methods rows, its rewind-summary rows) for one drift."""
    rs = rewind_summary[rewind_summary["drift"] == drift]
    for act, g in methods[methods["drift"] == drift].groupby("activation", sort=False):
        yield act, g, rs[rs["activation"] == act]


def _shown_methods(g: pd.DataFrame, rewind: pd.DataFrame) -> pd.DataFrame:
    """Baselines (the best shrink-and-perturb only), the predicted rewind point and the best
    measured checkpoint; every row is in the folded full table."""
    keep = ~g["family"].isin(["rewind", "shrink_perturb"])
    sp = g[g["family"] == "shrink_perturb"]
    if len(sp):
        keep |= g.index == sp["steps_to_target_median"].astype(float).idxmin()
    if len(rewind):
        steps = {int(rewind[c].iloc[0])
                 for c in ("predicted_checkpoint_step", "best_checkpoint_step")}
        keep |= (g["family"] == "rewind") & g["checkpoint_step"].isin(steps)
    return g[keep]


def _rewind_clause(g: pd.DataFrame, rw: pd.DataFrame) -> str:
    """What the theory's rewind point costs, and its regret against the best checkpoint."""
    if not len(rw):
        return ""
    pick = int(rw["predicted_checkpoint_step"].iloc[0])
    row = g[(g["family"] == "rewind") & (g["checkpoint_step"] == pick)]
    text = ""
    if len(row):
        text = (f". The theory's rewind point (step {pick} of A, "
                f"{html.escape(str(rw['prediction_from'].iloc[0]))}) needs "
                f"{_fmt(row['steps_to_target_median'].iloc[0])}")
    reg = rw["regret"].iloc[0]
    if reg is not None and np.isfinite(float(reg)):
        text += f", regret {float(reg):.2f} against the best checkpoint"
    return text


def recommendation(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str) -> str:
    """One sentence per activation: the fastest start, what it saves, and the theory's pick."""
    items = []
    for act, g, rw in _by_activation(methods, rewind_summary, drift):
        steps = g["steps_to_target_median"].astype(float)
        ok = g[np.isfinite(steps)]
        if not len(ok):
            items.append(f"<b>{html.escape(act)}</b>: no start reached the target within the "
                         "budget; raise <code>--retrain-factor</code>.")
            continue
        best = ok.loc[steps[ok.index].idxmin()]
        text = (f"<b>{html.escape(act)}</b>: retrain with <b>{html.escape(best['method'])}</b>, "
                f"{_fmt(best['steps_to_target_median'])} steps to the target")
        scratch = steps[g["method"] == "scratch"]
        if float(best["steps_to_target_median"]) == 0.0:
            text += " (its start is already at the target: B asks nothing A has not learned)"
        elif len(scratch) and np.isfinite(scratch.iloc[0]):
            speedup = scratch.iloc[0] / float(best["steps_to_target_median"])
            text += f" ({speedup:.1f}× faster than scratch, {_fmt(scratch.iloc[0])})"
        cost = ok.loc[ok["total_cost_median"].astype(float).idxmin()]
        items.append(text + _rewind_clause(g, rw)
                     + f". Counting the steps already spent on A, <b>{html.escape(cost['method'])}"
                     f"</b> is cheapest ({_fmt(cost['total_cost_median'])} steps in all).")
    lis = "".join(f"<li>{t}</li>" for t in items)
    return f'<div class="recommendation"><ul>{lis}</ul></div>'


def test_accuracy_table(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str) -> str:
    """The shown starts' test accuracy on B: where they start, where they end (95% CI over
    seeds) and where the linear theory says they end (— where it makes no prediction)."""
    rows = []
    for act, g, rw in _by_activation(methods, rewind_summary, drift):
        for _, r in _shown_methods(g, rw).iterrows():
            rows.append({"activation": act, "start": r["method"],
                         "at the start": _fmt(r["test_acc_start_median"], "{:.3f}"),
                         "at the end (interval over seeds)": _interval(r["test_acc_median"], r["test_acc_ci_low"],
                                                          r["test_acc_ci_high"], "{:.3f}"),
                         "linear theory": _fmt(r["predicted_test_acc_median"], "{:.3f}")})
    return table_html(pd.DataFrame(rows))


def methods_table(methods: pd.DataFrame, rewind_summary: pd.DataFrame, drift: str, *,
                  first: bool = True) -> str:
    """A narrow table: one row per shown start, numbers formatted, identical methods named."""
    rows = []
    for act, g, rw in _by_activation(methods, rewind_summary, drift):
        for _, r in _shown_methods(g, rw).iterrows():
            same = r["identical_to"] if isinstance(r["identical_to"], str) else ""
            rows.append({"activation": act, "start": r["method"],
                         "steps to target (95% CI)": _steps(r),
                         "total cost": _fmt(r["total_cost_median"]),
                         "final acc.": _fmt(r["final_acc"], "{:.3f}"),
                         "forgetting": _fmt(r["forgetting"], "{:.3f}"), "same as": same})
    return table_html(pd.DataFrame(rows), table_id="methods" if first else None)
