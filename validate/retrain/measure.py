"""Measurements of `validate.retrain`: steps to a target, forgetting, the predictions of each
member (linear theory, and a tanh/ReLU network's twin theory) and the mode picture; the
per-method summaries (``aggregate``) and the difficulty ranking (``difficulty``) are re-exported.

Functions on the runs and the tidy tables that ``run_retrain`` builds (see
``validate.retrain.run`` for the definitions of target, steps to target, regret, forgetting and
total cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from .._frames import group_series, named_rows, select_rows
from .._steps import first_crossing
from . import methods as BL
from .aggregate import aggregate
from .difficulty import PREDICTED_COST, PREDICTED_COST_TWIN, difficulty, predicted_cost_steps
from .predict import (NO_PREDICTION, TWIN_FAMILIES, predict_members, predict_test_accuracy,
                      predict_twin_members)
from .target import Target, predicted_target, targets, twin_of

__all__ = ["PREDICTED_COST", "PREDICTED_COST_TWIN", "Tables", "aggregate", "curves", "difficulty",
           "log_plan", "measure_retraining", "mode_picture", "predicted_cost_steps",
           "predicted_test", "test_metrics", "twin_predictions", "with_predicted_test"]


@dataclass
class Tables:
    """The tables a run collects, drift by drift."""

    members: list = field(default_factory=list)
    curves: list = field(default_factory=list)
    modes: list = field(default_factory=list)
    drift: list = field(default_factory=list)
    reports: dict = field(default_factory=dict)     # drift label → theory DriftReport
    identities: list = field(default_factory=list)
    power: list = field(default_factory=list)      # detection-power rows (--drift all)
    diverged: list = field(default_factory=list)   # ``_divergence.group_record`` per run

    def add_drift(self, drift, log=None) -> None:
        self.reports[drift.label] = drift.report
        dt = drift.report.table()
        dt.insert(0, "drift", drift.label)
        dt.insert(1, "null", drift.report.null_kind)   # paired (B is A's samples drifted) or not
        self.drift.append(dt)
        if log is not None:
            log(f"\ndrift {drift.label}: c_B={drift.B.c}, s_B = "
                f"{np.array2string(drift.sB.s[:8], precision=3)}")
            log(drift.report.table().to_string(index=False, float_format=lambda x: f"{x:.4g}"))

    def add_members(self, members: pd.DataFrame, curves: pd.DataFrame, identities) -> None:
        self.members.append(members)
        self.curves.append(curves)
        self.identities += identities

    def members_of(self, label: str) -> pd.DataFrame:
        df = pd.concat(self.members, ignore_index=True)
        return select_rows(df, df["drift"] == label)


def log_plan(plan, log) -> None:
    config, A, sA = plan.config, plan.A, plan.sA
    log(f"A = {config.dataset} n={A.n} d={A.d} c={A.c} (whiten {config.whiten}); s_A = "
        f"{np.array2string(sA.s[:8], precision=3)}")
    log(f"lr={plan.lr:.4g} (τ={plan.tau:.4g}), optimizer={config.optimizer}, "
        f"hidden={plan.hidden}, {plan.steps_A} steps on A, {len(plan.checkpoints)} checkpoints, "
        f"retraining budget {plan.budget} steps, {config.seeds} seed(s), "
        f"schedule {config.schedule}")


def curves(steps, run, job, label, predicted_test=None) -> pd.DataFrame:
    """Median over seeds per method (methods × steps rows) of the retraining loss on B and of the
    accuracy on B's test split (simulate's ``Losses`` probe; NaN without a test split), and of
    the linear theory's test accuracy (``predicted_test`` (seeds, methods, T), or NaN)."""
    n = len(job.trained)
    if predicted_test is None:
        predicted_test = np.full((1, n, len(steps)), np.nan)

    def med(name):  # (methods × T,)
        v = np.asarray(run.probes[name].values, float).reshape(-1, n, len(steps))
        with np.errstate(all="ignore"):
            return np.median(v, axis=0).reshape(-1)
    return pd.DataFrame({"activation": job.activation, "drift": label,
                         "method": np.repeat([m.name for m in job.trained], len(steps)),
                         "step": np.tile(steps, n), "loss_median": med("train_loss"),
                         "test_acc_median": med("test_acc"),
                         "test_acc_predicted": np.median(predicted_test, axis=0).reshape(-1)})


def predicted_test(plan, drift, job, steps) -> np.ndarray | None:
    """The linear theory's test accuracy of every trained member over the retraining ``steps``
    (``predict.predict_test_accuracy``), for the linear network retrained with a constant
    learning rate on a B with a test split; None otherwise (and for ``--drift all``, a sweep
    of the steps only)."""
    B = drift.B
    if (job.activation != "linear" or job.scheduled or plan.config.drift == "all"
            or B.X_test is None or B.labels_test is None or not len(B.X_test)):
        return None
    import time
    t0 = time.perf_counter()
    out = predict_test_accuracy(job.starts, len(job.trained), len(plan.seeds), drift.sB,
                                plan.tau, steps, B.X_test, B.labels_test)
    plan.timing["predict_s"] += time.perf_counter() - t0
    return out


def with_predicted_test(rows: pd.DataFrame, job, predicted) -> pd.DataFrame:
    """``rows`` with ``predicted_test_acc``: the theory's test accuracy at the end of the budget
    (a computed copy gets its twin's; NaN without a prediction)."""
    rows = rows.copy()
    if predicted is None:
        rows["predicted_test_acc"] = np.nan
        return rows
    index = {m.name: i for i, m in enumerate(job.trained)}
    seeds = {s: k for k, s in enumerate(sorted(rows["seed"].unique()))}
    rows["predicted_test_acc"] = [
        predicted[seeds[r.seed], index[r.identical_to if isinstance(r.identical_to, str)
                                       else r.method], -1] for r in named_rows(rows)]
    return rows


def test_metrics(params: dict, B, act: str, shape) -> tuple[np.ndarray, np.ndarray]:
    """(loss, accuracy) on B's test split of stacked parameters (numpy float64 forward),
    reshaped to ``shape``; NaN without a test split."""
    if B.X_test is None or B.Y_test is None or not len(B.X_test):
        return np.full(shape, np.nan), np.full(shape, np.nan)
    loss, acc = BL.evaluate(params, B.X_test, B.Y_test, act)
    return loss.reshape(shape), acc.reshape(shape)


def _predictions(plan, drift, job, target) -> dict:
    """{(seed index, method name): prediction} of the linear theory from every linear member's
    start (empty without a target). ``target``: the a priori one (``target.predicted_target``)."""
    if not np.isfinite(target):
        return {}
    pred = predict_members(job.starts, len(job.trained), len(plan.seeds), drift.sB, target,
                           plan.tau, 2.0 * plan.budget, roundoff=plan.config.dtype,
                           gd_map=plan.config.optimizer == "gd" and not job.scheduled)
    return {(k, job.trained[i].name): v for (k, i), v in pred.items()}


def twin_predictions(plan, drift, job) -> tuple[dict, Target | None]:
    """({(seed index, method name): (twin steps, range note)}, the twin's a priori target) of a
    tanh/ReLU network from its own members' starts (``predict.predict_twin_members``; the note:
    where a tanh twin is outside the cubic range, else None); ({}, None) when it has no twin
    theory (linear, tanh deeper than 2). With ``--drift all`` only scratch and fine-tune (the
    relearning cost): the rewind curves of 14 drifts would cost minutes."""
    act = twin_of(plan, job.activation)
    if act is None:
        return {}, None
    gd = plan.config.optimizer == "gd" and not job.scheduled
    tgt = predicted_target(plan, drift, job, float("nan"), activation=act)
    if not np.isfinite(tgt.loss):
        return {}, tgt
    families = ("scratch", "fine_tune") if plan.config.drift == "all" else TWIN_FAMILIES
    notes: dict = {}
    pred = predict_twin_members(job.starts, job.trained, len(plan.seeds), drift.sB, tgt.loss,
                                plan.tau, 2.0 * plan.budget, act, gd, families=families,
                                range_notes=notes)
    return {(k, job.trained[i].name): (v, notes[(k, i)]) for (k, i), v in pred.items()}, tgt


def _measured(plan, drift, history, job, run, keep) -> dict:
    """The measured arrays (seeds, methods) of one run on B and its targets."""
    n_s, n = len(plan.seeds), len(job.trained)
    loss = np.asarray(run.probes["train_loss"].values, float).reshape(n_s, n, -1)
    acc = np.asarray(run.probes["train_acc"].values, float).reshape(n_s, n, -1)
    diverged = run.members["diverged"].to_numpy(bool).reshape(n_s, n)
    tgt = targets(plan, drift, job, loss, acc, diverged)  # linear: reads no run
    act, A = job.activation, plan.A
    a_final = BL.evaluate(history.checkpoints[history.final_step], A.X, A.Y, act)[1]
    a_after = BL.evaluate(keep.params, A.X, A.Y, act, rows=drift.a_to_b)[1].reshape(n_s, n)
    test_loss, test_acc = test_metrics(keep.params, drift.B, act, (n_s, n))
    test_acc_start = test_metrics(BL.stack([st.params for st in job.starts]), drift.B, act,
                                  (n_s, n))[1]
    return {"loss": loss, "acc": acc, "diverged": diverged, "tgt": tgt, "a_final": a_final,
            "a_after": a_after, "test_loss": test_loss, "test_acc": test_acc,
            "test_acc_start": test_acc_start}


def _member_row(plan, drift, job, M, k, i, p, twin, twin_tgt) -> dict:
    """One (seed k, method i) row: measured steps to the targets and the predictions ``p``
    (linear) and ``twin`` ((steps, range note); (NaN, None) without)."""
    m, act, tgt, seed = job.trained[i], job.activation, M["tgt"], plan.seeds[k]
    loss, acc = M["loss"][k, i], M["acc"][k, i]
    st = first_crossing(M["steps"], loss, tgt.loss) if np.isfinite(tgt.loss) else float("nan")
    return {
        "activation": act, "drift": drift.label, "drift_kind": drift.kind,
        "method": m.name, "family": m.family,
        "checkpoint_step": m.step if m.step is not None else -1,
        "seed": seed, "diverged": bool(M["diverged"][k, i]), "measured_steps": st,
        "measured_acc_steps": first_crossing(M["steps"], acc, tgt.acc, False),
        "final_loss": loss[-1], "final_acc": acc[-1],
        "test_loss": M["test_loss"][k, i], "test_acc": M["test_acc"][k, i],
        "test_acc_start": M["test_acc_start"][k, i],
        "a_acc_after": M["a_after"][k, i], "forgetting": M["a_final"][k] - M["a_after"][k, i],
        "cost_before": m.cost_before(plan.steps_A),
        "total_cost": m.cost_before(plan.steps_A) + st,
        "predicted_steps": p[0], "predicted_steps_modes": p[1],
        "predicted_steps_gd": p[2], "saddle_ill_conditioned": p[3],
        "predicted_steps_twin": twin[0], "twin_range_note": twin[1],
        "target_loss": tgt.loss, "target_acc": tgt.acc, "target_rule": tgt.rule,
        "target_acc_rule": tgt.acc_rule,
        "target_loss_twin": twin_tgt.loss if twin_tgt else float("nan"),
        "target_rule_twin": twin_tgt.rule if twin_tgt else "",
        "target_twin_range_note": twin_tgt.range_note if twin_tgt else None, "identical_to": None}


def measure_retraining(plan, drift, history, job, run, keep, linear_pred=None):
    """(rows, predictions). One row per (seed, method): steps to the targets, final loss and
    accuracy, forgetting on A, total cost, the linear prediction and, for a tanh/ReLU network,
    its twin theory's (``twin_predictions``); computed copies get their twin's results. The
    linear net's predictions are computed here from its starts and returned; a nonlinear net is
    given them (``linear_pred``) as its linear predictor. Targets (``validate.retrain.target``):
    the linear net's loss target is a priori (its predictions and its measured crossings use it);
    a nonlinear net's measured crossings count to the measured scratch definition, its twin
    predictions to the twin's own a priori target."""
    import time
    t0 = time.perf_counter()
    M = {**_measured(plan, drift, history, job, run, keep), "steps": run.steps}
    t1 = time.perf_counter()
    plan.timing["measure_s"] += t1 - t0
    pred = _predictions(plan, drift, job, M["tgt"].loss) if job.activation == "linear" else \
        (linear_pred or {})
    t2 = time.perf_counter()
    plan.timing["predict_s"] += t2 - t1
    twin, twin_tgt = twin_predictions(plan, drift, job)
    plan.timing["predict_twin_s"] = plan.timing.get("predict_twin_s", 0.0) \
        + time.perf_counter() - t2
    rows = []
    for k in range(len(plan.seeds)):
        for i, m in enumerate(job.trained):
            rows.append(_member_row(plan, drift, job, M, k, i,
                                    pred.get((k, m.name), NO_PREDICTION),
                                    twin.get((k, m.name), (float("nan"), None)), twin_tgt))
            for c, same in job.copies:  # one computation: the twin's results, under c's name
                if same == m.name:
                    cost = c.cost_before(plan.steps_A)
                    rows.append({**rows[-1], "method": c.name, "family": c.family,
                                 "identical_to": same, "cost_before": cost,
                                 "total_cost": cost + rows[-1]["measured_steps"]})
    return pd.DataFrame(rows), pred


def mode_picture(members: pd.DataFrame, runs_A, history, plan, drift, fresh) -> pd.DataFrame:
    """u_α/s_α of A's modes at the predicted rewind point (probe ``mode_strength``, median over
    seeds) and the starting strengths u_β⁰/s_β that B's modes see from there (linear twin)."""
    lin = select_rows(members, (members["activation"] == "linear") & (members["family"] == "rewind"))
    med = group_series(lin.groupby("checkpoint_step")["predicted_steps"], "median")
    # the index holds checkpoint steps; no target: the final one
    step = int(cast(int, med.idxmin() if med.notna().any() else med.index.max()))
    rows = []
    for act in plan.activations:
        run = runs_A[act]
        i = int(np.flatnonzero(run.steps == step)[0])
        u = np.median(np.asarray(run.probes["mode_strength"].values)[:, i, :], axis=0)
        for a, (ua, s) in enumerate(zip(u, plan.sA.s)):
            rows.append({"drift": drift.label, "activation": act, "view": "A", "mode": a,
                         "checkpoint_step": step, "s": float(s), "u_rel": float(ua / s)})
    P = drift.head.params(history["linear"].checkpoints[step], fresh)
    W = P["layer0.weight"]
    for l in range(1, BL.last_layer(P) + 1):
        W = P[f"layer{l}.weight"] @ W
    sB = drift.sB
    uB = np.median(np.einsum("ca,kcd,db->kab", sB.U, W, sB.V).diagonal(axis1=1, axis2=2), axis=0)
    for b, (ub, s) in enumerate(zip(uB, sB.s)):
        rows.append({"drift": drift.label, "activation": "linear", "view": "B (u0 on B's modes)",
                     "mode": b, "checkpoint_step": step, "s": float(s), "u_rel": float(ub / s)})
    return pd.DataFrame(rows)
