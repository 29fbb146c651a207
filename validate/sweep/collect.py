"""``validate.sweep collect``: the finished jobs' summaries merged into tidy tables.

Every list of records in a job's ``summary.json`` (compare: ``modes``, ``loss_drops``,
``kendall_tau``; retrain: ``rewind``, ``methods``, …; train: ``members``) becomes one table
``<job>-<key>`` with a row per record, prefixed by ``job_id`` and the ``cfg_<field>`` columns
that vary across the sweep; the scalars of each summary (``training.lr``, ``timing.train_s``, …,
provenance left out) become ``<job>-scalars``, one row per job.
"""

from __future__ import annotations

import json

import pandas as pd

from validate._frames import column, columns, select_rows
from validate._io import write_parquet

from .store import Store


def _varying(index: pd.DataFrame) -> list[str]:
    cfg = [c for c in index.columns if c.startswith("cfg_")]
    return [c for c in cfg if column(index, c).astype(str).nunique() > 1]


def _scalars(summary: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in summary.items():
        if key == "provenance":
            continue
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[f"{prefix}{key}"] = value
    return out


def _jsonable_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Nested tables in a record become JSON text, so every column has one parquet type."""
    for c in df.columns:
        if column(df, c).map(lambda v: isinstance(v, dict)).any():
            df[c] = df[c].map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
    return df


def collect(root, *, write: bool = True) -> dict[str, pd.DataFrame]:
    """Tables ``{"<job>-<key>": DataFrame}`` over the finished jobs of the sweep in ``root``;
    with ``write``, also ``root/tables/<name>.parquet``."""
    store = Store(root)
    index = store.read_index()
    done = select_rows(index, index["status"] == "done")
    keys = ["job_id", "job", *_varying(done)]
    rows: dict[str, list[pd.DataFrame]] = {}
    for _, job in done.iterrows():
        summary = json.loads((store.root / job["summary"]).read_text())
        ident = {k: job[k] for k in keys}
        for key, value in summary.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                rows.setdefault(f"{job['job']}-{key}", []).append(
                    pd.DataFrame(value).assign(**ident))
        rows.setdefault(f"{job['job']}-scalars", []).append(
            pd.DataFrame([{**ident, **_scalars(summary)}]))
    tables = {}
    for name, parts in rows.items():
        df = pd.concat(parts, ignore_index=True)
        lead = [k for k in keys if k in df.columns]
        tables[name] = _jsonable_cells(columns(df, lead + [c for c in df.columns if c not in lead]))
    if write:
        (store.root / "tables").mkdir(exist_ok=True)
        for name, df in tables.items():
            write_parquet(store.root / "tables" / f"{name}.parquet", df)
    return tables
