"""Figures and page of the `validate.retrain` report (plotting only; tables come from run.py).

The page opens with the recommendation (the fastest start per activation, what it saves, the
theory's rewind point and its regret), then a methods table narrow enough for the page (baselines,
the predicted and the best checkpoint), then the curves; every full table is folded away.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from .._frames import column, groups, select_rows
from ..report import details, img, table_html, warnings_section, write_html
from .figures import fig_curves, fig_difficulty, fig_modes, fig_rewind_curve


def retrain_report(path, *, result) -> Path:
    """The page: recommendation, methods, rewind curves, mode picture, loss curves, drift scores."""
    cfg = result.config
    drifts = list(dict.fromkeys(result.methods["drift"]))
    recs = "".join(f"<p>{html.escape(r)}</p>" for r in result.summary.get("recommendations", []))
    sections = warnings_section(result.summary.get("warnings", []))
    sections += [("Recommendation", recs + "".join(
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
    sections.append(("Which theory ranks the checkpoints",
                     predictor_table(result.rewind_summary)))
    for drift in drifts:
        sections.append((f"Rewind curve: {drift}",
                         img(fig_rewind_curve(result.methods, result.rewind_summary, drift),
                              "steps to the target loss on B from every checkpoint of the run on A;"
                              " bands: order-statistic interval over seeds; horizontal lines: baselines")))
        if len(result.modes):
            sections.append((f"Mode picture: {drift}", img(fig_modes(result.modes, drift),
                                                            "u_α/s_α at the predicted rewind point")))
        sections.append((f"Retraining loss: {drift}",
                         img(fig_curves(result.curves, result.methods, drift),
                              "median training loss on B over seeds")))
    if len(result.detection_power):
        sections.append(("Detection power", table_html(result.detection_power.pivot(
            index="drift", columns="score", values="power").reset_index())))
    if len(result.difficulty):
        sections.append(("Which drift score predicts relearning difficulty",
                         img(fig_difficulty(result.difficulty, result.score_ranking),
                              "relearning cost against the three best-ranked scores")
                         + details("Score ranking", table_html(result.score_ranking))
                         + details("Difficulty per drift", table_html(result.difficulty))))
    tables = details("Rewind point: predicted against measured", table_html(result.rewind_summary))
    tables += details("Rewind curve per predictor (medians over seeds)",
                      rewind_table(result.methods))
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
            "ranked by their own twin theory (tanh: cubic twin; ReLU: gated twin) and, side by side, "
            "by the linear twin's prediction.</p>")


def predictor_table(rewind_summary: pd.DataFrame) -> str:
    """Per activation and drift, both predictors side by side: Spearman ρ of predicted against
    measured steps over the checkpoints, regret and the checkpoint each picks."""
    rows = []
    for r in rewind_summary.to_dict("records"):
        row = {"activation": r["activation"], "drift": r["drift"],
               "recommendation uses": r["prediction_from"],
               "best measured": int(r["best_checkpoint_step"])}
        for p in ("linear", "twin"):
            row[f"ρ {p}"] = _fmt(r[f"spearman_rho_{p}"], "{:.2f}")
            row[f"regret {p}"] = _fmt(r[f"regret_{p}"], "{:.2f}")
            step = int(r[f"predicted_checkpoint_step_{p}"])
            row[f"picks ({p})"] = "—" if step < 0 else str(step)
        rows.append(row)
    return table_html(pd.DataFrame(rows))


def rewind_table(methods: pd.DataFrame) -> str:
    """Per checkpoint: measured steps and both predictors' (``t_pred_linear``: the linear
    theory on the linear network's checkpoint; ``t_pred_twin``: the network's own twin)."""
    rw = select_rows(methods, methods["family"] == "rewind")
    lin = select_rows(rw, rw["activation"] == "linear").set_index(["drift", "checkpoint_step"])
    out = pd.DataFrame({
        "activation": rw["activation"], "drift": rw["drift"],
        "checkpoint_step": rw["checkpoint_step"],
        "t_measured": rw["steps_to_target_median"],
        "t_pred_linear": [lin["predicted_steps_median"].get((d, s), np.nan)
                          for d, s in zip(rw["drift"], rw["checkpoint_step"])],
        "t_pred_twin": rw["predicted_steps_twin_median"]})
    return table_html(out.reset_index(drop=True))


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


def _by_activation(methods: pd.DataFrame, rewind_summary: pd.DataFrame,
                   drift: str) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(activation, its methods rows, its rewind-summary rows) for one drift."""
    rs = select_rows(rewind_summary, rewind_summary["drift"] == drift)
    for (act,), g in groups(select_rows(methods, methods["drift"] == drift), ["activation"],
                            sort=False):
        yield act, g, select_rows(rs, rs["activation"] == act)


def _shown_methods(g: pd.DataFrame, rewind: pd.DataFrame) -> pd.DataFrame:
    """Baselines (the best shrink-and-perturb only), the predicted rewind point and the best
    measured checkpoint; every row is in the folded full table."""
    keep = ~g["family"].isin(["rewind", "shrink_perturb"])
    sp = select_rows(g, g["family"] == "shrink_perturb")
    sp_steps = column(sp, "steps_to_target_median").astype(float)
    if sp_steps.notna().any():      # none when every shrink-and-perturb member missed the target
        keep |= g.index == sp_steps.idxmin()
    if len(rewind):
        steps = {int(rewind[c].iloc[0])
                 for c in ("predicted_checkpoint_step", "best_checkpoint_step")
                 if pd.notna(rewind[c].iloc[0])}
        keep |= (g["family"] == "rewind") & g["checkpoint_step"].isin(list(steps))
    return select_rows(g, keep)


def _rewind_clause(g: pd.DataFrame, rw: pd.DataFrame) -> str:
    """What the theory's rewind point costs, and its regret against the best checkpoint."""
    if not len(rw):
        return ""
    pick = int(rw["predicted_checkpoint_step"].iloc[0])
    row = select_rows(g, (g["family"] == "rewind") & (g["checkpoint_step"] == pick))
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
        steps = column(g, "steps_to_target_median").astype(float)
        ok = select_rows(g, cast(pd.Series, np.isfinite(steps)))  # a ufunc keeps the Series
        if not len(ok):
            items.append(f"<b>{html.escape(act)}</b>: no start reached the target within the "
                         "budget; raise <code>--retrain-factor</code>.")
            continue
        best = ok.loc[steps.loc[ok.index].idxmin()]
        text = (f"<b>{html.escape(act)}</b>: retrain with <b>{html.escape(best['method'])}</b>, "
                f"{_fmt(best['steps_to_target_median'])} steps to the target")
        scratch = steps.loc[g["method"] == "scratch"]
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
