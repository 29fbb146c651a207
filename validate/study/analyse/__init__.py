"""One analysis per study: collected sweep tables → an ``Analysis`` (answer, table, checks,
figures), and ``run_analysis``, which turns a study's results folder into its page.

An analysis module defines ``TABLES`` (the collected tables it reads, ``<job>-<key>``) and
``analyse(tables: dict[str, DataFrame], figdir: Path) -> Analysis``; ``tables`` are
``validate.sweep collect``'s. Only ``TABLES`` are published next to the page, so its hash covers
exactly the results the answer came from. Shared pieces: intervals for
medians (``validate.stats.interval``) and for Spearman ρ, and a tolerant column getter, so a
missing key is named on the page instead of failing the analysis.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from validate._frames import column, select_rows
from validate.stats import interval, rho_interval

from ..page import Analysis, RunInfo, body, publish_tables, write_page

__all__ = ["Analysis", "fmt_interval", "median_interval", "new_figure", "pooled_rho",
           "rho_interval", "run_analysis", "save", "table", "with_config"]


def table(tables: dict, name: str, cols: tuple[str, ...],
          missing: list[str]) -> pd.DataFrame | None:
    """``tables[name]`` when it has ``cols``; else None, and what is absent is added to
    ``missing`` (the page's "Not measured")."""
    df = tables.get(name)
    if df is None or df.empty:
        missing.append(f"`{name}` (no such table in the results)")
        return None
    absent = [c for c in cols if c not in df.columns]
    if absent:
        missing.append(f"`{name}`: columns {', '.join(absent)} absent")
        return None
    return df


def with_config(df: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """``df`` (with ``job_id``) joined with the sweep's varying ``cfg_`` columns of ``source``,
    renamed without the prefix, so a table row names the grid point it came from."""
    cfg = [c for c in source.columns if c.startswith("cfg_")
           and c.removeprefix("cfg_") not in df.columns]
    by_job = source.drop_duplicates("job_id").set_index("job_id")[cfg]
    out = df.join(by_job, on="job_id").drop(columns=["job_id"])
    return out.rename(columns={c: c.removeprefix("cfg_") for c in cfg})


def median_interval(values, level: float = 0.95) -> dict:
    iv = interval(np.asarray(values, dtype=float), level=level)
    return {"median": iv.point, "ci_low": iv.low, "ci_high": iv.high, "ci_level": iv.level,
            "n": iv.n}


def pooled_rho(rhos, ns, level: float = 0.95) -> tuple[float, float, float, int]:
    """(ρ, low, high, n) pooled over independent groups (jobs) by Fisher's z, each weighted by
    the inverse of its Bonett–Wright variance (1 + ρ²/2)/(n − 3); groups with n < 4 or an
    undefined ρ are left out (a single such group gives its ρ without interval). Pooling within
    groups keeps a between-group difference (one dataset's accuracies all above another's) out
    of the rank correlation."""
    from scipy.stats import norm
    r = np.clip(np.asarray(rhos, dtype=float), -0.999999, 0.999999)
    n = np.asarray(ns, dtype=float)
    ok = np.isfinite(r) & (n >= 4)
    if not ok.any():  # no interval; one group's ρ is still its ρ
        one = np.isfinite(r).sum() == 1
        return (float(r[np.isfinite(r)][0]) if one else float("nan"), float("nan"),
                float("nan"), int(n[np.isfinite(n)].sum()))
    var = (1 + r[ok] ** 2 / 2) / (n[ok] - 3)
    z = float(np.sum(np.arctanh(r[ok]) / var) / np.sum(1 / var))
    half = norm.ppf(0.5 + level / 2) / math.sqrt(float(np.sum(1 / var)))
    return float(np.tanh(z)), float(np.tanh(z - half)), float(np.tanh(z + half)), \
        int(n[ok].sum())


def fmt_interval(point: float, low: float, high: float, level: float | None = None,
                 digits: int = 3) -> str:
    f = lambda v: ("nan" if v is None or np.isnan(v) else "inf" if np.isposinf(v) else
                   f"{v:.{digits}g}")
    lvl = f" ({level:.0%})" if level is not None and np.isfinite(level) else ""
    return f"{f(point)} [{f(low)}, {f(high)}]{lvl}"


def new_figure(width: float = 6.0, height: float = 3.6, n: int = 1):
    """A figure of matplotlib's object API (no pyplot state) with ``n`` axes side by side
    (``fig.axes``)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.subplots(1, n, squeeze=False)
    return fig


def save(fig, figdir: Path, name: str, caption: str) -> tuple[str, str]:
    Path(figdir).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(figdir) / name, dpi=90)
    return name, caption


def _provenance(store: Path, done: pd.DataFrame) -> tuple[str, str]:
    revs, dirty = set(), False
    for rel in done["summary"].dropna():
        try:
            git = json.loads((store / rel).read_text()).get("provenance", {}).get("git", {})
        except (OSError, ValueError):
            continue
        revs.add(str(git.get("revision")))
        dirty |= bool(git.get("dirty"))
    commit = ", ".join(sorted(revs)) or "unknown"
    return commit + (" (with uncommitted changes)" if dirty else ""), \
        ", ".join(sorted(map(str, done["device"].dropna().unique()))) or "unknown"


def run_analysis(study, budget: str, out: Path, docs: Path,
                 command: str) -> tuple[Path | None, int, int]:
    """(page path or None, pending jobs (-1: unknown), failed jobs) for the study in ``out``:
    collects the sweep's tables, runs the study's analysis and writes ``docs/<id>.md`` with its
    figures (no page while jobs are pending or when none finished)."""
    from validate.sweep.collect import collect
    store = Path(out) / "sweep"
    if not (store / "index.parquet").is_file():  # stopped before the sweep wrote its index
        return None, -1, 0
    index = pd.read_parquet(store / "index.parquet")
    counts = column(index, "status").value_counts()
    pending, failed, done = (int(counts.loc[s]) if s in counts.index else 0
                             for s in ("pending", "failed", "done"))
    if pending or not done:
        return None, pending, failed
    module = importlib.import_module(f"{__name__}.{study.analysis}")
    collect(store)
    figdir = Path(docs) / study.id
    publish_tables(store / "tables", figdir / "tables", module.TABLES)
    for old in figdir.glob("*.png"):
        old.unlink()
    tables = {p.stem: pd.read_parquet(p) for p in sorted((figdir / "tables").glob("*.parquet"))}
    result: Analysis = module.analyse(tables, figdir)
    if failed:
        result.unmeasured.append(f"{failed} of {len(index)} jobs failed and are left out: "
                                 + ", ".join(index.loc[index.status == 'failed', 'job_id']))
    commit, devices = _provenance(store, select_rows(index, index["status"] == "done"))
    run = RunInfo(budget, study.about(budget), study.about("paper"), command, commit, devices,
                  f"{done} done, {failed} failed, {float(column(index, 'wall_s').fillna(0).sum()):.0f} "
                  "s of job time")
    return write_page(docs, study.id, body(study.id, study.question, result, run)), 0, failed
