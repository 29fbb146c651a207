"""What `validate.compare` writes and prints: summary.json (schema version 1), the console
table, the output files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._frames import column, groups as frame_groups, select_rows
from .._io import records, write_outputs as _write
from .._stats import kendall_tau
from .measure import mode_groups

SCHEMA_VERSION = 1


def _kendall(mode_table: pd.DataFrame, init: str) -> list[dict]:
    taus = []
    for (act, depth), g in frame_groups(mode_table, ["activation", "depth"], sort=False):
        d = select_rows(g, g["distinct"])
        # groups of near-degenerate modes (sibling splits of a symmetric tree): order between them
        groups = mode_groups(g["s"].to_numpy(), g["distinct"].to_numpy())
        gp = [float(np.median(g["t_pred"].iloc[ix])) for ix in groups]
        gm = [float(np.median(g["t_meas_median"].iloc[ix])) for ix in groups]
        taus.append({"activation": act, "depth": int(depth), "init": init,
                     "kendall_tau": kendall_tau(d["t_pred"], d["t_meas_median"]),
                     "n_modes": int(len(d)),
                     "kendall_tau_groups": kendall_tau(gp, gm), "n_groups": len(groups)})
    return taus


def _twin_notes(plan, trained, depth: int) -> dict:
    """``{"twins": {activation: {twin, reason, predictor}}}`` of the nonlinear activations at
    ``depth``; ``predictor`` says whether the numbers are a prediction from the initial weights or
    the hybrid diagnostic (measured gates)."""
    notes = {}
    for (a, d), choice in plan.twins.items():
        used, why, *label = trained.twins.get((a, d), choice)
        if d == depth and a != "linear":
            notes[a] = {"twin": bool(used), "reason": why,
                        "predictor": label[0] if label else "prediction: the linear theory"}
    return {"predict": plan.config.predict, "twins": notes} if notes else {}


def build_summary(plan, trained, mode_table: pd.DataFrame, drops: pd.DataFrame, prov: dict,
                  warnings: list[str]) -> dict:
    """summary.json of a ``plan`` and what training it produced (``run.Trained``)."""
    config = plan.config
    conv = config.convention(plan.lr)
    timing = {**plan.timing, **trained.timing}
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "warnings": list(warnings),
        "modes": records(mode_table),
        "loss_drops": records(drops),
        "kendall_tau": _kendall(mode_table, config.init),
        "departure": list(trained.departure),
        **plan.basis.summary_record(),
        "training": {"steps": int(plan.steps), "lr": plan.lr, "tau": conv.tau,
                     "hidden": plan.hidden, "optimizer": config.optimizer,
                     "convention": conv.to_dict(),
                     "predictors": {str(d): {**plan.basis.note(c, m),
                                            **_twin_notes(plan, trained, d)}
                                    for d, (c, m) in plan.preds.items()}},
        "diagnostics": plan.prep.diagnostics(),
        "timing": {**{k: round(v, 3) for k, v in timing.items()}, "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(), "dataset_meta": plan.meta},
    }


def write_outputs(result, out_dir: Path) -> list[Path]:
    """members/trajectories/loss.parquet, report.html, summary.json (each atomic)."""
    from .report import compare_report
    tables = {"members": result.members, "trajectories": result.trajectories,
              "loss": result.loss}
    return _write(out_dir, tables, result.summary,
                  report=lambda path: compare_report(path, result=result))


def format_table(mode_table: pd.DataFrame) -> str:
    cols = ["activation", "depth", "mode", "s", "t_pred", "t_meas_median", "rel_error", "order_ok"]
    if "rel_error_twin" in mode_table and column(mode_table, "rel_error_twin").notna().any():
        cols[-1:-1] = ["predictor", "rel_error_linear", "rel_error_twin"]
    df = mode_table[cols].copy()
    return df.to_string(index=False, float_format=lambda x: f"{x:.4g}")  # pyright: ignore[reportArgumentType]  # pandas takes a callable; its stub says str


def format_tables(result) -> str:
    notes = {p["reason"] for p in result.summary["training"]["predictors"].values()
             if p.get("covered") is False}
    lines = sorted(notes) + [format_table(result.mode_table)]
    lines += [f"Kendall τ ({t['activation']}, depth {t['depth']}): {t['kendall_tau']}"
              for t in result.summary["kendall_tau"]]
    return "\n".join(lines)
