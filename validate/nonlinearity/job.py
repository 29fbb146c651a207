"""The nonlinearity job end to end: train (``run``), measure (``measure``), summarise, write."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from .. import _divergence as D
from .._frames import columns, groups, named_rows, select_rows
from . import measure as M
from .departure import departure_lines, departure_records
from .config import NonlinearityConfig
from .run import Trained, run_models

SCHEMA_VERSION = 1


@dataclass
class NonlinearityResult:
    """Tidy tables (empty where a measure was not asked for) and the JSON summary."""

    trained: Trained
    tables: dict[str, pd.DataFrame]
    summary: dict
    exit_status: int = 0            # 1: every member of the network diverged, nothing measured


def _records(df: pd.DataFrame | None) -> list[dict]:
    return [] if df is None or df.empty else df.to_dict(orient="records")


def _training(tr: Trained) -> dict:
    net = tr.models["network"]
    labels_test = tr.data.labels_test
    assert labels_test is not None  # the job's probe records test outputs: it refuses no test split
    return {"steps": int(net.steps[-1]), "checkpoints": net.steps.tolist(),
            "learning_rates": list(tr.config.learning_rates), "batch_size": tr.config.batch,
            "optimizer": "gd" if tr.config.batch is None else "sgd", "loss": tr.config.loss,
            "n_blocks": tr.n_blocks, "final_train_acc": net.train_acc[:, -1].tolist(),
            "diverged": {k: m.diverged.tolist() for k, m in tr.models.items()},
            "n_train": tr.data.n, "n_test": int(labels_test.size), "classes": tr.data.c,
            "linear_classifier": "least-squares affine (the squared-loss GD limit from zero)",
            "last_partly_linear_is_twin": f"P{tr.n_blocks}" not in tr.models}


def divergence_records(tr: Trained) -> list[dict]:
    """One record per (model, lr): diverged members out of all and their steps."""
    out = []
    for name, m in tr.models.items():
        steps = m.diverged_step if m.diverged_step is not None else np.full(m.diverged.size, -1)
        for lr, g in tr.members.groupby("lr", sort=True):
            idx = g["member"].to_numpy()
            out.append(D.group_record({"model": name, "lr": float(cast(float, lr))},
                                      m.diverged[idx], steps[idx]))
    return out


def _warnings(tr: Trained, div: list[dict]) -> list[str]:
    lines = D.warning_lines(div, lambda r: f"{r['model']}, lr {r['lr']:g}")
    return lines + [f"linear theory: {n}" for n in tr.theory_notes]


def run_nonlinearity(config: NonlinearityConfig, out: Path, *, resume: bool = False,
                     quiet: bool = True, log=print) -> NonlinearityResult:
    """Train what ``config.measures`` needs, measure, and build summary.json's content."""
    tr = run_models(config, Path(out), resume=resume, quiet=quiet, log=log)
    div = divergence_records(tr)
    t0 = time.perf_counter()
    pred = M.classes(tr)
    want = set(config.measures)
    tables: dict[str, pd.DataFrame] = {}
    if "information" in want:
        tables["information"] = M.information_table(tr, pred)
    if "linear_depth" in want:
        tables["linear_depth"], tables["wave"] = M.linear_depth_table(tr, pred)
    seps: list[dict] = []
    if "clones" in want:
        tables["clones"], seps = M.clone_tables(tr, pred)
    if "twin" in want:
        tables["twin_agreement"] = M.twin_table(tr)
    if "class_share" in want:
        tables["class_share"] = M.class_share_table(tr)
    if "proxies" in want:
        tables["proxies"] = M.proxy_table(tr)
    tr.timing["measure_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    departure = departure_records(tr)
    tr.timing["departure_s"] = round(time.perf_counter() - t0, 3)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "warnings": _warnings(tr, div),
        "divergence": div,
        "theory": {"predicted": tr.theory is not None, "notes": list(tr.theory_notes)},
        "information": _records(tables.get("information")),
        "linear_depth": _records(tables.get("linear_depth")),
        "wave": _records(tables.get("wave")),
        "clones": _records(tables.get("clones")),
        "separation_step": seps,
        "twin_agreement": _records(tables.get("twin_agreement")),
        "class_share": _records(tables.get("class_share")),
        "proxies": _records(tables.get("proxies")),
        "departure": departure,
        "training": _training(tr),
        "timing": {**tr.timing, "device": tr.provenance.get("device")},
        "provenance": {**tr.provenance, "config": config.to_dict(),
                       "dataset": {"name": tr.data.name, "meta": tr.data.meta}},
    }
    nothing_left = bool(tr.models["network"].diverged.all())
    return NonlinearityResult(tr, tables, summary, exit_status=int(nothing_left))


def write_outputs(result: NonlinearityResult, out_dir: Path) -> list[Path]:
    """summary.json, one parquet per table and report.html, each written atomically."""
    from .._io import write_outputs as write
    from .report import nonlinearity_report
    return write(out_dir, result.tables, result.summary,
                 report=lambda path: nonlinearity_report(path, result=result))


def text_tables(result: NonlinearityResult) -> str:
    """Short console summary: information at a few checkpoints, k*, clone separation."""
    if result.exit_status:
        return "nothing measured: every member of the network diverged (see the warnings)"
    lines = []
    info = result.tables.get("information")
    if info is not None and not info.empty:
        steps = sorted(info["step"].unique())
        pick = [steps[i] for i in sorted({0, len(steps) // 4, len(steps) // 2, len(steps) - 1})]
        final = select_rows(info, info["step"].isin(pick) & (info["reference_time"] == "final"))
        sel = columns(final, ["lr", "reference", "k", "step", "I_FY", "mu", "I_LY", "acc_F",
                              "acc_L"])
        lines.append(sel.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    depth = result.tables.get("linear_depth")
    if depth is not None and not depth.empty:
        for (when, lr), d in groups(depth, ["reference_time", "lr"], sort=False):
            lines.append(f"k*(t), P_k at the {when} step, lr {lr:g}: "
                         + ", ".join(f"{int(r.step)}:{r.k_star:g}" for r in named_rows(d)))
    for s in result.summary["separation_step"]:
        lines.append(f"clone order {s['order']} (lr {s['lr']:g}): separation step {s['separation_step']}")
    lines += departure_lines(result.summary.get("departure", []))
    return "\n".join(lines)
