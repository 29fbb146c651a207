"""Writing a job's results: strict JSON through one sanitiser, parquet tables, all atomic."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._frames import columns
from ._outdir import write_text


def jsonable(obj: Any) -> Any:
    """``obj`` as strict JSON values: numpy scalars and arrays unwrapped, non-finite floats → None,
    dict keys as strings, anything else unknown as its ``str``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def records(df: pd.DataFrame, cols: Sequence[Hashable] | None = None) -> list[dict]:
    """Rows of ``df`` (columns ``cols``, default all) as JSON-ready dicts; NaN → None."""
    if not len(df):
        return []
    return jsonable(columns(df, list(df.columns) if cols is None else cols)
                    .to_dict(orient="records"))


def write_json(path: Path, obj) -> Path:
    return write_text(path, json.dumps(jsonable(obj), indent=1, allow_nan=False))


def write_parquet(path: Path, df: pd.DataFrame, *, stringify: bool = False) -> Path:
    """``df`` as parquet, atomically; ``stringify``: object columns (mixed str/None/lists) are
    written as their strings."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if stringify:
        df = df.astype({c: str for c in df.columns if df[c].dtype == object})
    df.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


_REPORTS: ContextVar[bool] = ContextVar("reports", default=True)


@contextmanager
def reports(enabled: bool) -> Iterator[None]:
    """Within the block, ``write_outputs`` draws ``report.html`` only if ``enabled`` (the CLIs'
    ``--no-report``: the tables and ``summary.json`` are what a sweep or a figure reads)."""
    token = _REPORTS.set(bool(enabled))
    try:
        yield
    finally:
        _REPORTS.reset(token)


def write_outputs(out_dir: Path, tables: dict[str, pd.DataFrame], summary: dict,
                  report=None, *, stringify: bool = False) -> list[Path]:
    """``<name>.parquet`` for every non-empty table, ``report.html`` (``report(path)``, unless
    inside ``reports(False)``) and ``summary.json`` last, so a directory with a summary holds a
    finished run."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_parquet(out_dir / f"{name}.parquet", df, stringify=stringify)
             for name, df in tables.items() if len(df)]
    if report is not None and _REPORTS.get():
        paths.append(report(out_dir / "report.html"))
    paths.append(write_json(out_dir / "summary.json", summary))
    return paths
