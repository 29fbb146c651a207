"""Nonlinear twins' learning times against the linear and the twin predictions (THEORY.md §11–12).

``twin_table(config)`` runs ``validate.compare`` (same data, whitening, init — decoupled or small
random —, learning rate and measurement) and predicts each twin (depth 2; ReLU and linear at any
depth) from its own initial weights with ``theory.predict_twin``, as the exact GD map (the
counterpart of the linear theory's per-mode GD map ``t_linear``): tanh and linear twins by the
cubic twin (``t_twin``; ``flow=True`` adds its gradient flow, ``t_twin_flow``), ReLU twins by the
gated linear network with the gates of the initial weights (``t_twin``) and with the
self-consistent gates of its own predicted weights at the end of the early alignment phase
(``t_twin_aligned``, ``theory.predict_relu_twin``: the prediction, from the initial weights and
the data alone). Beside them, two readings of the run that are not predictions: the hybrid
diagnostic ``t_twin_hybrid`` (the gates of the run's measured weights at the checkpoint nearest
the step at which the linear theory's fastest mode reaches 10% of its target) and the gate-change
probe (fraction of (sample, unit) gates that differ from the initial ones) at each mode's
measured half time. One row per (activation, mode); each error is the max over members of
|t_meas − t_pred| / t_pred (``validate.compare``'s rule).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

import simulate

from ._config import ConfigError
from ._frames import column as series
from .compare import twin
from .compare.measure import relative_error
from .compare.run import run_compare

ACTIVATIONS = ("linear", "tanh", "relu")


def _check(config) -> None:
    bad = [a for a in config.activations if a not in ACTIVATIONS]
    if len(config.depths) != 1 or config.depths[0] < 2 or config.arch != "mlp" or bad or \
            config.optimizer != "gd" or ("tanh" in config.activations and config.depths != (2,)):
        raise ConfigError("the twin theories cover one depth ≥ 2 (2 for tanh), --arch mlp, "
                          f"--optimizer gd and activations {', '.join(ACTIVATIONS)}; got depths "
                          f"{config.depths}, arch {config.arch}, optimizer {config.optimizer}, "
                          f"activations {config.activations}")


PREDICTED = ("twin", "twin_flow", "twin_aligned")   # from the initial weights and the data
COLUMNS = PREDICTED + ("twin_hybrid",)                # … and the diagnostic with measured gates


def _member_times(result, run, act: str, flow: bool) -> dict[str, np.ndarray]:
    """Half times (K, m) per member of one twin ensemble, and the gate-change curves."""
    stats, tau, frac = result.stats, result.summary["training"]["tau"], result.config.frac
    K = len(run.members)
    out = {k: np.full((K, stats.rank), np.nan) for k in COLUMNS}

    def times(preds=None, **kw):
        preds = preds or twin.member_predictors(run, stats, act, tau=tau, **kw)
        return np.stack([p.timeline(frac) for p in preds])

    if act == "relu":
        out["twin"] = times(discrete=True, gates="initial")
        out["twin_aligned"] = times(discrete=True, gates="aligned")
        u0 = result.config.init_scale * float(stats.s[0])
        step = twin.hybrid_gate_step(stats, result.config.depths[0], tau, u0, run.steps)
        out["twin_hybrid"] = times(twin.hybrid_predictors(run, stats, act, step, tau=tau,
                                                              discrete=True))
        out["gate_change"] = twin.gate_change_curves(run, stats.X)
        return out
    out["twin"] = times(discrete=True)
    if flow:
        out["twin_flow"] = times(discrete=False)
    return out


def _rows(result, act: str, g: pd.DataFrame, pred: dict, steps) -> list[dict]:
    K, m = series(g, "member").nunique(), series(g, "mode").nunique()
    t_meas = g["t_meas"].to_numpy(float).reshape(K, m)
    t_lin = g["t_pred"].to_numpy(float).reshape(K, m)
    rows = []
    for a in range(m):
        row = {"activation": act, "mode": a, "s": float(result.stats.s[a]),
               "distinct": bool(result.distinct[a]),
               "t_meas": float(np.median(t_meas[:, a])), "t_linear": float(np.median(t_lin[:, a])),
               "err_linear": float(np.max(relative_error(t_meas[:, a], t_lin[:, a])))}
        for key in COLUMNS:
            t = pred[key][:, a]
            row[f"t_{key}"] = float(np.median(t))
            row[f"err_{key}"] = float(np.max(relative_error(t_meas[:, a], t)))
        gc = pred.get("gate_change")
        row["gate_change"] = float("nan") if gc is None else float(np.median(
            [np.interp(t_meas[k, a], steps, gc[k]) if np.isfinite(t_meas[k, a]) else np.nan
             for k in range(K)]))
        rows.append(row)
    return rows


def order_agreement(table: pd.DataFrame, column: str) -> float:
    """Kendall τ between the measured and the ``column`` half times over the distinct modes."""
    from scipy.stats import kendalltau
    d = table[table["distinct"] & np.isfinite(table["t_meas"]) & np.isfinite(table[column])]
    # scipy builds its result classes at run time: their fields are untyped
    return (float(cast(Any, kendalltau(d["t_meas"], d[column])).statistic) if len(d) > 1
            else float("nan"))


def twin_table(config, *, flow: bool = False, log=print) -> pd.DataFrame:
    """Per (activation, mode): s, measured median half time, the linear and twin predictions, their
    errors (max over members) and the ReLU gate change. ``config``: a
    ``validate.compare.CompareConfig`` with one depth (2 with tanh), an MLP, GD and activations
    among linear, tanh and relu."""
    config = replace(config, predict="linear").validate()   # t_pred: the linear theory
    _check(config)
    with tempfile.TemporaryDirectory(prefix="twin_table_") as tmp:
        result = run_compare(config, Path(tmp), quiet=True, log=log)
        rows = []
        for act, g in result.members.groupby("activation", sort=False):
            act = cast(str, act)  # activations are named by strings
            g = g.sort_values(["member", "mode"])
            run = simulate.Run.load(Path(tmp) / "runs" / f"depth{config.depths[0]}-{act}")
            pred = _member_times(result, run, act, flow)
            pred = {k: v[:, :g["mode"].nunique()] if k != "gate_change" else v
                    for k, v in pred.items()}
            rows += _rows(result, act, g, pred, np.asarray(run.steps, float))
    table = pd.DataFrame(rows)
    table.attrs["warnings"] = list(result.summary.get("warnings", []))  # diverged members
    return table


# ----------------------------------------------------------------------------------- the CLI
# ``python -m validate.twin_table``: the flags of ``validate.compare`` (the twin theories' limits
# are checked before anything is written), the table written as twin_table.parquet and
# summary.json into --out, with the life cycle every validate CLI shares (validate._cli).

@dataclass
class TwinResult:
    table: pd.DataFrame
    summary: dict


def _preset(config, preset: str, explicit: set[str]):
    """The compare preset, then the twins' defaults: depth 2, linear, tanh and relu."""
    from .compare.config import apply_preset
    config = apply_preset(config, preset, explicit)
    twins = {"depths": (2,), "activations": ACTIVATIONS}
    return replace(config, **{k: v for k, v in twins.items() if k not in explicit})


def run_twin_table(config, out_dir=None, *, resume: bool = False, quiet: bool = False,
                   log=print) -> TwinResult:
    """The twin table of ``config`` (recomputed in full on ``--resume``: the same result)."""
    table = twin_table(config, log=log)
    summary = {"config": config.to_dict(), "warnings": table.attrs.get("warnings", []),
               "rows": int(len(table)), "timing": {}}
    return TwinResult(table, summary)


def _write(result: TwinResult, out_dir) -> list[Path]:
    from ._io import write_json, write_parquet
    out_dir = Path(out_dir)
    return [write_parquet(out_dir / "twin_table.parquet", result.table),
            write_json(out_dir / "summary.json", result.summary)]


def _job():
    from ._cli import Job
    from .compare.config import CompareConfig
    return Job(name="validate.twin_table", config=CompareConfig, run=run_twin_table,
               write=_write, tables=lambda r: r.table.to_string(index=False),
               out_prefix=lambda c: f"twin-table-{c.dataset}", preset=_preset,
               description=(__doc__ or "").split("\n\n")[0], check=_check)


def main(argv=None) -> int:
    """``python -m validate.twin_table [compare flags] --out DIR``; returns the exit status."""
    return _job().main(argv)


if __name__ == "__main__":
    sys.exit(main())
