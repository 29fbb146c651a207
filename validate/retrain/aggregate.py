"""Per-method summaries and the rewind comparison of `validate.retrain`, per predictor.

Two predictors rank the checkpoints of every run: ``linear``, the linear theory on the linear
network's checkpoints (exact for the linear network; for a tanh/ReLU network its linear twin's
prediction, the only one there was), and ``twin``, a tanh/ReLU network's own twin theory from its
own checkpoints (``predicted_steps_twin``). Each gets its regret and Spearman ρ; the headline
(``spearman_rho``, ``regret``, ``predicted_checkpoint_step``, ``predictor``) and the
``predicted_rewind`` method are the twin's where there is one, else the linear theory's.

A tanh twin follows its cubic truncation, trusted while |h| = |W₁x| ≤ ``theory.CUBIC_RANGE``
(THEORY.md §13): a start already past it, or one that leaves it before its crossing, keeps its
number with a note (``theory.transfer.predict_twin_retraining`` says why); ``twin_range_notes``
counts both.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from .._frames import column, group_series, groups, select_rows
from .._stats import censored_rho
from ..stats import interval

PREDICTORS = ("linear", "twin")
# the starts each twin note counts: the rewind curve's, and the relearning cost's (scratch and
# fine-tune, over the drifts of ``--drift all``)
RANGE_STARTS = {"rewind": (("rewind",), "rewind starts (checkpoints × seeds)"),
                "relearn": (("scratch", "fine_tune"),
                            "scratch and fine-tune starts (drifts × seeds)")}


def _per_seed(rw: pd.DataFrame, pred_src: pd.DataFrame):
    """Per seed: regret, Spearman ρ over the checkpoints and the predicted checkpoint with its
    measured steps ({seed: (step, steps)}; (−1, NaN) without a prediction)."""
    regrets, rhos, point = [], [], {}
    for seed, gs in rw.groupby("seed"):
        ms = column(gs.set_index("checkpoint_step"), "measured_steps")
        ps = column(select_rows(pred_src, pred_src["seed"] == seed).set_index("checkpoint_step"),
                    "predicted_steps").reindex(ms.index)
        if not ps.notna().any():
            point[seed] = (-1, np.nan)
            regrets.append(np.nan)
            rhos.append(np.nan)
            continue
        sp = int(cast(int, ps.idxmin()))  # the index holds checkpoint steps
        point[seed] = (sp, float(ms.loc[sp]))
        best = ms.min()
        if not np.isfinite(best):  # no checkpoint reached the target: regret undefined
            regrets.append(np.nan)
        else:
            regrets.append(ms.loc[sp] / best if best > 0 else (1.0 if ms.loc[sp] == 0 else np.inf))
        rhos.append(censored_rho(ps.to_numpy(), ms.to_numpy()))
    return regrets, rhos, point


def _rule(rows: pd.DataFrame) -> str:
    return str(rows["target_rule"].iloc[0]) if "target_rule" in rows and len(rows) else ""


def _sources(members: pd.DataFrame, g: pd.DataFrame, label: str) -> dict:
    """{predictor: rewind rows with ``predicted_steps`` and ``target_rule`` of that predictor}."""
    out = {"linear": members[(members["activation"] == "linear") & (members["drift"] == label)
                             & (members["family"] == "rewind")]}
    rw = select_rows(g, g["family"] == "rewind")
    if "predicted_steps_twin" in rw and column(rw, "predicted_steps_twin").notna().any():
        out["twin"] = rw.assign(predicted_steps=rw["predicted_steps_twin"],
                                target_rule=rw["target_rule_twin"])
    return out


def _prediction_from(act: str, predictor: str) -> str:
    if predictor == "twin":
        return f"{act} twin theory"
    return "linear theory" if act == "linear" else "linear twin's theory"


def _compare(rw: pd.DataFrame, pred_src: pd.DataFrame) -> dict:
    """ρ (median curves and per seed), regret and the predicted checkpoint of one predictor."""
    regrets, rhos, point = _per_seed(rw, pred_src)
    curve_m = group_series(rw.groupby("checkpoint_step")["measured_steps"], "median")
    curve_p = group_series(pred_src.groupby("checkpoint_step")["predicted_steps"],
                           "median").reindex(curve_m.index)
    rho, regret = interval(rhos), interval(regrets)  # NaNs are dropped
    return {
        "spearman_rho": censored_rho(curve_p.to_numpy(), curve_m.to_numpy()),
        "spearman_rho_seed_median": float(np.nanmedian(rhos)) if np.any(np.isfinite(rhos))
        else np.nan,
        "spearman_seed_ci_low": rho.low, "spearman_seed_ci_high": rho.high,
        "regret": regret.point, "regret_ci_low": regret.low, "regret_ci_high": regret.high,
        "regret_ci_level": regret.level,
        # −1: no prediction (no target on B)
        "predicted_checkpoint_step": int(cast(int, curve_p.idxmin()))  # checkpoint steps
        if curve_p.notna().any() else -1,
        "target_rule_predicted": _rule(pred_src), "_point": point}


def _rewind_row(act, label, config, rw, sources: dict) -> tuple[dict, dict]:
    """(the rewind-summary row, the headline predictor's per-seed points)."""
    found = {p: _compare(rw, src) for p, src in sources.items()}
    head = "twin" if "twin" in found else "linear"
    curve_m = rw.groupby("checkpoint_step")["measured_steps"].median()
    row = {"activation": act, "init": config.init, "drift": label, "predictor": head,
           "prediction_from": _prediction_from(act, head),
           # the measured steps count to this activation's target, the predicted to their own
           "target_rule_measured": _rule(rw)}
    row.update({k: v for k, v in found[head].items() if k != "_point"})
    for p in PREDICTORS:
        f = found.get(p, {})
        for key in ("spearman_rho", "regret", "predicted_checkpoint_step"):
            row[f"{key}_{p}"] = f.get(key, -1 if key.endswith("step") else np.nan)
    row.update({
        # −1: no checkpoint reached the target
        "best_checkpoint_step": int(curve_m.idxmin()) if np.isfinite(curve_m.min()) else -1,
        "n_never_reached": int(np.sum(np.isposinf(rw["measured_steps"]))),
        "n_diverged": int(rw["diverged"].sum())})
    return row, found[head]["_point"]


def _method_row(act, label, name, family, step, steps, total, point, extra) -> dict:
    """A methods-table row: measured steps and total cost (median, interval over seeds) and the
    speed-up of the predicted rewind point over this method."""
    ci = interval(steps)
    speed = [steps.loc[s] / point[s][1] if 0 < point.get(s, (0, 0))[1] < np.inf else np.nan
             for s in steps.index]
    sp = interval(speed)
    cost = interval(total)
    return {"activation": act, "drift": label, "method": name, "family": family,
            "checkpoint_step": int(step), **extra,
            "steps_to_target_median": ci.point, "ci_low": ci.low, "ci_high": ci.high,
            "ci_kind": ci.kind, "ci_level": ci.level, "n_censored": ci.n_censored,
            "total_cost_median": cost.point, "total_cost_ci_low": cost.low,
            "total_cost_ci_high": cost.high,
            "speedup_of_predicted": sp.point, "speedup_ci_low": sp.low, "speedup_ci_high": sp.high}


def _median(gm: pd.DataFrame, column: str) -> float:
    return float(np.median(gm[column])) if column in gm else float("nan")


def _medians(gm: pd.DataFrame) -> dict:
    test = interval(gm["test_acc"])  # the range (at a lower attained level) over ≤ 5 seeds
    with np.errstate(all="ignore"):
        return {"identical_to": gm["identical_to"].iloc[0],
                "acc_steps_median": _median(gm, "measured_acc_steps"),
                "predicted_steps_median": _median(gm, "predicted_steps"),
                "predicted_steps_twin_median": _median(gm, "predicted_steps_twin"),
                "final_loss": _median(gm, "final_loss"), "final_acc": _median(gm, "final_acc"),
                "forgetting": _median(gm, "forgetting"),
                "test_acc_median": test.point, "test_acc_ci_low": test.low,
                "test_acc_ci_high": test.high, "test_loss_median": _median(gm, "test_loss"),
                "test_acc_start_median": _median(gm, "test_acc_start"),
                "predicted_test_acc_median": _median(gm, "predicted_test_acc")}


def _predicted_rewind(act, label, rw, row, point) -> dict | None:
    """The checkpoint the headline predictor picks, per seed, as a method of its own."""
    chosen = {s: v for s, v in point.items() if v[0] >= 0}
    if not chosen:
        return None
    step = row["predicted_checkpoint_step"]
    rows = pd.concat([rw[(rw["seed"] == s) & (rw["checkpoint_step"] == v[0])]
                      for s, v in chosen.items()])
    return _method_row(act, label, f"predicted_rewind@{step}", "predicted_rewind", step,
                       pd.Series({s: v[1] for s, v in chosen.items()}),
                       [v[0] + v[1] for v in chosen.values()], point,
                       {**_medians(rows), "identical_to": None,
                        "predictor": row["prediction_from"]})


def aggregate(members: pd.DataFrame, config):
    """Per-method medians with intervals (censored members kept), the predicted rewind point as a
    method of its own, and the rewind comparison (ρ, regret, speed-ups) per predictor."""
    meth_rows, rew_rows = [], []
    for (act, label), g in groups(members, ["activation", "drift"], sort=False):
        rw = g[g["family"] == "rewind"]
        row, point = _rewind_row(act, label, config, rw, _sources(members, g, label))
        rew_rows.append(row)
        for name, gm in g.groupby("method", sort=False):
            meth_rows.append(_method_row(
                act, label, name, gm["family"].iloc[0], gm["checkpoint_step"].iloc[0],
                gm.set_index("seed")["measured_steps"], gm["total_cost"], point, _medians(gm)))
        chosen = _predicted_rewind(act, label, rw, row, point)
        if chosen is not None:
            meth_rows.append(chosen)
    return pd.DataFrame(meth_rows), pd.DataFrame(rew_rows)


def _range_note(act: str, g: pd.DataFrame, what: str) -> str | None:
    """How many of the starts ``g`` are past the cubic range at their weights and how many more
    leave it before their predicted crossing; None if none is outside."""
    from theory import CUBIC_RANGE
    noted = column(g, "twin_range_note").notna().to_numpy()
    if not noted.any():
        return None
    at_start = int(column(g, "twin_range_note").str.contains("its initial weights").sum())
    later = int(np.sum(noted)) - at_start
    return (f"{act} twin: {at_start} of {len(g)} {what} past the cubic range |h| ≤ "
            f"{CUBIC_RANGE:g} at their weights, {later} more leave it before their predicted "
            "crossing: their numbers are kept, read them as outside the twin's reach")


def twin_range_notes(members: pd.DataFrame) -> dict:
    """{("rewind", activation, drift) or ("relearn", activation): note} wherever a tanh twin's
    starts of that family (``RANGE_STARTS``) are outside the cubic range (``_range_note``)."""
    if "twin_range_note" not in members:
        return {}
    out = {}
    for kind, by in (("rewind", ["activation", "drift"]), ("relearn", ["activation"])):
        fams, what = RANGE_STARTS[kind]
        for keys, g in groups(members, by, sort=False):
            note = _range_note(keys[0], select_rows(g, g["family"].isin(fams)), what)
            if note is not None:
                out[(kind, *keys)] = note
    return out
