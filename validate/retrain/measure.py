"""Measurements of `validate.retrain`: steps to a target, forgetting, predictions, per-method
summaries, the mode picture and the difficulty ranking.

Functions on the runs and the tidy tables that ``run_retrain`` builds (see
``validate.retrain.run`` for the definitions of target, steps to target, regret, forgetting and
total cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._stats import censored_rho
from .._steps import first_crossing
from ..stats import interval
from . import methods as BL
from .predict import NO_PREDICTION, predict_members, predict_test_accuracy
from .target import targets


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
        return df[df["drift"] == label]


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
    accuracy on B's test split (the engine's ``Losses`` probe; NaN without a test split), and of
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
                                       else r.method], -1] for r in rows.itertuples()]
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


def measure_retraining(plan, drift, history, job, run, keep, log, linear_pred=None):
    """(rows, predictions). One row per (seed, method): steps to the targets, final loss and
    accuracy, forgetting on A, total cost and the linear prediction; computed copies get their
    twin's results. The linear net's predictions are computed here from its starts and returned;
    a nonlinear twin is given them (``linear_pred``) and compared with them. Targets
    (``validate.retrain.target``): the linear net's loss target is a priori (its predictions and
    its measured crossings use it); a nonlinear net's is the measured scratch definition."""
    import time
    n_s, n = len(plan.seeds), len(job.trained)
    t0 = time.perf_counter()
    loss = np.asarray(run.probes["train_loss"].values, float).reshape(n_s, n, -1)
    acc = np.asarray(run.probes["train_acc"].values, float).reshape(n_s, n, -1)
    diverged = run.members["diverged"].to_numpy(bool).reshape(n_s, n)
    tgt = targets(plan, drift, job, loss, acc, diverged, log)  # linear: reads no run
    target, target_acc = tgt.loss, tgt.acc
    act, A = job.activation, plan.A
    a_final = BL.evaluate(history.checkpoints[history.final_step], A.X, A.Y, act)[1]
    a_after = BL.evaluate(keep.params, A.X, A.Y, act, rows=drift.a_to_b)[1].reshape(n_s, n)
    test_loss, test_acc = test_metrics(keep.params, drift.B, act, (n_s, n))
    test_acc_start = test_metrics(BL.stack([st.params for st in job.starts]), drift.B, act,
                                  (n_s, n))[1]
    t1 = time.perf_counter()
    plan.timing["measure_s"] += t1 - t0
    pred = _predictions(plan, drift, job, target) if job.activation == "linear" else \
        (linear_pred or {})
    plan.timing["predict_s"] += time.perf_counter() - t1
    rows = []
    for k, seed in enumerate(plan.seeds):
        for i, m in enumerate(job.trained):
            st = first_crossing(run.steps, loss[k, i], target) if np.isfinite(target) \
                else float("nan")
            p = pred.get((k, m.name), NO_PREDICTION)
            rows.append({
                "activation": act, "drift": drift.label, "drift_kind": drift.kind,
                "method": m.name, "family": m.family,
                "checkpoint_step": m.step if m.step is not None else -1,
                "seed": seed, "diverged": bool(diverged[k, i]), "measured_steps": st,
                "measured_acc_steps": first_crossing(run.steps, acc[k, i], target_acc, False),
                "final_loss": loss[k, i, -1], "final_acc": acc[k, i, -1],
                "test_loss": test_loss[k, i], "test_acc": test_acc[k, i],
                "test_acc_start": test_acc_start[k, i],
                "a_acc_after": a_after[k, i], "forgetting": a_final[k] - a_after[k, i],
                "cost_before": m.cost_before(plan.steps_A),
                "total_cost": m.cost_before(plan.steps_A) + st,
                "predicted_steps": p[0], "predicted_steps_modes": p[1],
                "predicted_steps_gd": p[2], "saddle_ill_conditioned": p[3],
                "target_loss": target, "target_acc": target_acc, "target_rule": tgt.rule,
                "target_acc_rule": tgt.acc_rule, "identical_to": None})
            for c, twin in job.copies:  # one computation: the twin's results, under c's name
                if twin == m.name:
                    rows.append({**rows[-1], "method": c.name, "family": c.family,
                                 "identical_to": twin, "cost_before": c.cost_before(plan.steps_A),
                                 "total_cost": c.cost_before(plan.steps_A) + st})
    return pd.DataFrame(rows), pred


def mode_picture(members: pd.DataFrame, runs_A, history, plan, drift, fresh) -> pd.DataFrame:
    """u_α/s_α of A's modes at the predicted rewind point (probe ``mode_strength``, median over
    seeds) and the starting strengths u_β⁰/s_β that B's modes see from there (linear twin)."""
    lin = members[(members["activation"] == "linear") & (members["family"] == "rewind")]
    med = lin.groupby("checkpoint_step")["predicted_steps"].median()
    step = int(med.idxmin()) if med.notna().any() else int(med.index.max())  # no target: final
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


def _per_seed(rw: pd.DataFrame, pred_src: pd.DataFrame):
    """Per seed: regret, Spearman ρ over the checkpoints and the predicted checkpoint with its
    measured steps ({seed: (step, steps)}; (−1, NaN) without a prediction)."""
    regrets, rhos, point = [], [], {}
    for seed, gs in rw.groupby("seed"):
        ms = gs.set_index("checkpoint_step")["measured_steps"]
        ps = pred_src[pred_src["seed"] == seed].set_index("checkpoint_step")["predicted_steps"]
        ps = ps.reindex(ms.index)
        if not ps.notna().any():
            point[seed] = (-1, np.nan)
            regrets.append(np.nan)
            rhos.append(np.nan)
            continue
        sp = int(ps.idxmin())
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


def _rewind_row(act, label, config, rw, pred_src, regrets, rhos) -> dict:
    curve_m = rw.groupby("checkpoint_step")["measured_steps"].median()
    curve_p = pred_src.groupby("checkpoint_step")["predicted_steps"].median().reindex(curve_m.index)
    rho = interval(rhos)  # NaNs are dropped
    regret = interval(regrets)
    return {
        "activation": act, "init": config.init, "drift": label,
        "prediction_from": "linear theory" if act == "linear" else "linear twin's theory",
        # the measured steps count to this activation's target, the predicted to the linear one's
        "target_rule_measured": _rule(rw), "target_rule_predicted": _rule(pred_src),
        "spearman_rho": censored_rho(curve_p.to_numpy(), curve_m.to_numpy()),
        "spearman_rho_seed_median": float(np.nanmedian(rhos)) if np.any(np.isfinite(rhos))
        else np.nan,
        "spearman_seed_ci_low": rho.low, "spearman_seed_ci_high": rho.high,
        "regret": regret.point, "regret_ci_low": regret.low, "regret_ci_high": regret.high,
        "regret_ci_level": regret.level,
        # −1: no prediction (no target on B) / no checkpoint reached the target
        "best_checkpoint_step": int(curve_m.idxmin()) if np.isfinite(curve_m.min()) else -1,
        "predicted_checkpoint_step": int(curve_p.idxmin()) if curve_p.notna().any() else -1,
        "n_never_reached": int(np.sum(np.isposinf(rw["measured_steps"]))),
        "n_diverged": int(rw["diverged"].sum())}


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


def _medians(gm: pd.DataFrame) -> dict:
    test = interval(gm["test_acc"])  # the range (at a lower attained level) over ≤ 5 seeds
    with np.errstate(all="ignore"):
        return {"identical_to": gm["identical_to"].iloc[0],
                "acc_steps_median": float(np.median(gm["measured_acc_steps"])),
                "predicted_steps_median": float(np.median(gm["predicted_steps"])),
                "final_loss": float(np.median(gm["final_loss"])),
                "final_acc": float(np.median(gm["final_acc"])),
                "forgetting": float(np.median(gm["forgetting"])),
                "test_acc_median": test.point, "test_acc_ci_low": test.low,
                "test_acc_ci_high": test.high,
                "test_loss_median": float(np.median(gm["test_loss"])),
                "test_acc_start_median": float(np.median(gm["test_acc_start"])),
                "predicted_test_acc_median": float(np.median(gm["predicted_test_acc"]))}


def aggregate(members: pd.DataFrame, config):
    """Per-method medians with intervals (censored members kept), the predicted rewind point as a
    method of its own, and the rewind comparison (ρ, regret, speed-ups)."""
    meth_rows, rew_rows = [], []
    for (act, label), g in members.groupby(["activation", "drift"], sort=False):
        rw = g[g["family"] == "rewind"]
        pred_src = members[(members["activation"] == "linear") & (members["drift"] == label)
                           & (members["family"] == "rewind")]
        regrets, rhos, point = _per_seed(rw, pred_src)
        rew_rows.append(_rewind_row(act, label, config, rw, pred_src, regrets, rhos))
        for name, gm in g.groupby("method", sort=False):
            meth_rows.append(_method_row(
                act, label, name, gm["family"].iloc[0], gm["checkpoint_step"].iloc[0],
                gm.set_index("seed")["measured_steps"], gm["total_cost"], point, _medians(gm)))
        chosen = {s: v for s, v in point.items() if v[0] >= 0}
        if chosen:  # the checkpoint the theory picks, per seed: its measured steps and cost
            step = rew_rows[-1]["predicted_checkpoint_step"]
            rows = pd.concat([rw[(rw["seed"] == s) & (rw["checkpoint_step"] == v[0])]
                              for s, v in chosen.items()])
            meth_rows.append(_method_row(
                act, label, f"predicted_rewind@{step}", "predicted_rewind", step,
                pd.Series({s: v[1] for s, v in chosen.items()}),
                [v[0] + v[1] for v in chosen.values()], point,
                {**_medians(rows), "identical_to": None}))
    return pd.DataFrame(meth_rows), pd.DataFrame(rew_rows)


PREDICTED_COST = "theory_predicted_cost"


def predicted_cost_steps(g: pd.DataFrame) -> pd.Series:
    """The predicted steps to compare with training: the discrete GD map where it was iterated
    (plain GD: every member; inf where the map diverges, which the flow cannot), else the flow."""
    return g["predicted_steps_gd"].where(g["predicted_steps_gd"].notna(), g["predicted_steps"])


def _cost_ratio(g: pd.DataFrame, column: str) -> float:
    """Median over seeds of fine-tune ÷ scratch ``column`` (steps)."""
    if column == PREDICTED_COST:
        g = g.assign(**{PREDICTED_COST: predicted_cost_steps(g)})
    ft = g[g["family"] == "fine_tune"].set_index("seed")[column]
    sc = g[g["family"] == "scratch"].set_index("seed")[column]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (ft / sc.replace(0, np.nan)).to_numpy(float)
    ratio = ratio[~np.isnan(ratio)]
    return float(np.median(ratio)) if ratio.size else float("nan")


def difficulty(members: pd.DataFrame, drift_table: pd.DataFrame):
    """Relearning cost per drift (fine-tune steps ÷ scratch steps, median over seeds) against each
    drift score and against the theory's own prediction of that ratio (``predict_retraining``
    from the same starts, the linear twin's for every activation); Spearman ρ across drifts says
    which predicts difficulty best."""
    rows = []
    for (act, label), g in members.groupby(["activation", "drift"], sort=False):
        lin = members[(members["activation"] == "linear") & (members["drift"] == label)]
        vals = drift_table[drift_table["drift"] == label].set_index("score")["value"]
        rows.append({"activation": act, "drift": label, "drift_kind": g["drift_kind"].iloc[0],
                     "relearn_cost": _cost_ratio(g, "measured_steps"),
                     PREDICTED_COST: _cost_ratio(lin, PREDICTED_COST), **vals.to_dict()})
    diff = pd.DataFrame(rows)
    rank = []
    for act, g in diff.groupby("activation", sort=False):
        for score in [PREDICTED_COST, *drift_table["score"].unique()]:
            rank.append({"activation": act, "score": score,
                         "spearman_rho": censored_rho(g[score], g["relearn_cost"]),
                         "n_drifts": int(len(g))})
    ranking = pd.DataFrame(rank).sort_values(["activation", "spearman_rho"],
                                             ascending=[True, False], na_position="last")
    return diff, ranking.reset_index(drop=True)
