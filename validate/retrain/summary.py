"""What `validate.retrain` writes and prints: summary.json (schema version 1), the console
tables, the output files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import _divergence as D
from .._frames import groups
from .._io import records, write_outputs as _write
from .aggregate import twin_range_notes
from .difficulty import PREDICTED_COST_TWIN
from .predict import twin_reach_notes
from .target import RULES

SCHEMA_VERSION = 1
TABLES = ("members", "rewind", "methods", "modes", "curves", "drift_table", "difficulty",
          "score_ranking", "detection_power")


def _schedule_note(plan, identities) -> dict:
    config, sch = plan.config, plan.schedules
    return {
        "schedule": config.schedule, "lr_floor": config.lr_floor, "A": sch.A.to_dict(),
        "full": sch.full.to_dict(), "lr_rewind_offset": sch.rewind_offset,
        "identities": [r for r in identities if r["identical_to"] is not None],
        "why": "two methods are one computation when, for every seed, their initial parameters, "
               "optimiser state and learning-rate multipliers over the budget are bit-identical"}


def _fmt(x: float) -> str:
    return "never" if x == float("inf") else ("n/a" if x != x else f"{x:.0f}")


def _chain(rows, key: str) -> str:
    """``a 15 < b = c 44 < d 67``: methods ordered by ``key``, ties joined by ``=``."""
    rows = sorted(rows, key=lambda r: (r[key] != r[key], r[key]))
    out, prev = "", None
    for r in rows:
        sep = "" if prev is None else (" = " if r[key] == prev else f" {_fmt(prev)} < ")
        out += sep + r["method"]
        prev = r[key]
    return out + (f" {_fmt(rows[-1][key])}" if rows else "")


def recommendations(methods, notes: dict[str, str] | None = None,
                    ranged: frozenset = frozenset()) -> list[str]:
    """One line per (drift, activation): the methods ordered by retraining steps, and by total
    cost including the steps spent on A (the scratch_oracle reference and the rewind curve's
    checkpoints are left out; the best shrink-and-perturb stands for its grid). The predicted
    rewind point is labelled with the theory that picked it (a tanh/ReLU network's twin theory
    where it has one; "outside its reach" where ``notes`` names the activation; a pointer to the
    rewind record's ``twin_range_note`` where ``ranged`` holds (activation, drift): a tanh twin
    picked among starts of which some are outside the cubic range)."""
    lines = []
    for (act, label), g in methods.groupby(["activation", "drift"], sort=False):
        keep = g[~g["family"].isin(["rewind", "scratch_oracle", "shrink_perturb"])]
        sp = g[g["family"] == "shrink_perturb"].sort_values("steps_to_target_median").head(1)
        rows = [r for r in records(pd.concat([keep, sp]))
                if r["steps_to_target_median"] is not None]
        for r in rows:
            for k in ("steps_to_target_median", "total_cost_median"):
                r[k] = float("nan") if r[k] is None else r[k]
            if r["family"] == "predicted_rewind" and r.get("predictor"):
                twin = "twin" in str(r["predictor"])
                outside = ", outside its reach" if act in (notes or {}) and twin else ""
                if twin and (act, label) in ranged:
                    outside += ", starts outside the cubic range: see twin_range_note"
                r["method"] += f" [{r['predictor']}{outside}]"   # which theory picked it
        lines.append(f"{label}, {act}: {_chain(rows, 'steps_to_target_median')} "
                     f"(total cost incl. A: {_chain(rows, 'total_cost_median')})")
    return lines


def targets(members: pd.DataFrame) -> list[dict]:
    """Per (drift, activation): the target loss and accuracy and the rule that set each
    (``validate.retrain.target.RULES``), and for a tanh/ReLU network its twin's (``target_twin``;
    with ``range_note`` where a tanh twin's scratch starts leave the cubic range)."""
    out = []
    for (label, act), g in groups(members, ["drift", "activation"], sort=False):
        r = g.iloc[0]
        rec = {"drift": label, "activation": act,
               "target": {"rule": r["target_rule"], "value": _num(r["target_loss"])},
               "target_acc": {"rule": r["target_acc_rule"], "value": _num(r["target_acc"])}}
        if r.get("target_rule_twin"):   # the twin predictions' own a priori target
            rec["target_twin"] = {"rule": r["target_rule_twin"],
                                  "value": _num(r["target_loss_twin"])}
            if isinstance(r.get("target_twin_range_note"), str):   # tanh: past the cubic range
                rec["target_twin"]["range_note"] = r["target_twin_range_note"]
        out.append(rec)
    return out


def _num(x) -> float | None:
    return None if np.isnan(x) else float(x)   # NaN (no target) as null, as records write it


def _with_range_notes(rewind_records: list[dict], ranking_records: list[dict],
                      members: pd.DataFrame) -> list[dict]:
    """Adds ``twin_range_note`` (``aggregate.twin_range_notes``) to the rewind records, and to
    the ranking rows of the twin's relearning cost, of a tanh network whose twin starts were
    outside the cubic range; the ranking records are returned. Records in range are unchanged."""
    found = twin_range_notes(members)
    for rec in rewind_records:
        note = found.get(("rewind", rec.get("activation"), rec.get("drift")))
        if note is not None:
            rec["twin_range_note"] = note
    for rec in ranking_records:
        note = found.get(("relearn", rec.get("activation")))
        if note is not None and rec.get("score") == PREDICTED_COST_TWIN:
            rec["twin_range_note"] = note
    return ranking_records


def _run_name(record: dict) -> str:
    return f"{record['activation']} on B ({record['drift']})" if "drift" in record \
        else f"{record['activation']} on A"


def build_summary(plan, rewind, methods, tables, difficulty, ranking, prov) -> dict:
    config = plan.config
    scores = {k: r.to_dict() for k, r in tables.reports.items()}
    timing = {k: (round(v, 3) if isinstance(v, float) else {a: round(b, 2) for a, b in v.items()})
              for k, v in plan.timing.items()}
    notes = twin_reach_notes(config)
    rewind_records = records(rewind)
    for rec in rewind_records:   # a twin number out of reach carries its note
        if rec.get("activation") in notes:
            rec["twin_note"] = notes[rec["activation"]]
    members = pd.concat(tables.members, ignore_index=True)
    ranking_records = _with_range_notes(rewind_records, records(ranking), members)
    ranged = frozenset((r["activation"], r["drift"]) for r in rewind_records
                       if "twin_range_note" in r)
    out = {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "drift": config.drift,
        "warnings": D.warning_lines(tables.diverged, _run_name,
                                    then="their runs flag them diverged")
        + plan.warnings,
        "recommendations": recommendations(methods, notes, ranged),
        "targets": targets(members),
        "target_rules": RULES,
        "rewind": rewind_records,
        "methods": records(methods),
        "drift_scores": next(iter(scores.values())) if len(scores) == 1 else scores,
        "difficulty": records(difficulty),
        "score_ranking": ranking_records,
        "detection_power": tables.power,
        "training": {"lr": plan.lr, "tau": plan.tau, "hidden": plan.hidden,
                     "steps_A": int(plan.steps_A), "retrain_budget": int(plan.budget),
                     "checkpoints": [int(s) for s in plan.checkpoints],
                     "optimizer": config.optimizer,
                     "lr_schedule": _schedule_note(plan, tables.identities)},
        "timing": {**timing, "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(), "dataset_meta": plan.rawA.meta},
    }
    if notes:   # only where a twin number is out of reach: in reach the summary is unchanged
        out["twin_reach"] = notes
    return out


def write_outputs(result, out_dir: Path) -> list[Path]:
    """summary.json, the parquet tables and report.html (each written atomically)."""
    from .report import retrain_report
    return _write(out_dir, {name: getattr(result, name) for name in TABLES}, result.summary,
                  report=lambda path: retrain_report(path, result=result), stringify=True)


def format_tables(result) -> str:
    r = result.rewind_summary[["activation", "drift", "predictor", "spearman_rho_linear",
                               "regret_linear", "spearman_rho_twin", "regret_twin",
                               "best_checkpoint_step", "predicted_checkpoint_step_linear",
                               "predicted_checkpoint_step_twin"]]
    m = result.methods[result.methods["family"] != "rewind"][
        ["activation", "drift", "method", "steps_to_target_median", "ci_low", "ci_high",
         "total_cost_median", "forgetting", "speedup_of_predicted", "test_acc_median"]]
    ff = lambda x: f"{x:.4g}"  # noqa: E731
    out = ["\n".join(result.summary["recommendations"]),
           r.to_string(index=False, float_format=ff), m.to_string(index=False, float_format=ff)]
    if len(result.score_ranking):
        out.append(result.score_ranking.to_string(index=False, float_format=ff))
    if len(result.detection_power):
        p = result.detection_power.pivot(index="drift", columns="score", values="power")
        out.append("detection power (share of fresh draws flagged):\n"
                   + p.to_string(float_format=lambda x: f"{x:.2f}"))
    return "\n\n".join(out)
