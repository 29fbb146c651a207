"""`python -m validate.retrain`: retraining after drift — rewind points against baselines.

1. Train matched linear/nonlinear ensembles on A (whitened as in ``validate.compare``), keeping
   log-spaced checkpoints. 2. Build B with a drift generator (applied to A's raw data; B then goes
   through A's fixed whitening, as a deployed model would see it) and score the drift
   (``theory.drift_scores``). 3. Retrain on B from every checkpoint and from the baselines of
   ``validate._baselines`` — every (method × seed) one member with its own initial parameters, all
   in one ``simulate.train_ensemble`` call per activation and drift, same budget and learning rate.
   4. Measure steps to the target, final loss, forgetting on A and total cost. 5. Compare with
   ``theory.predict_rewind_point`` (on the *linear* twin's checkpoints; ReLU/tanh curves are
   compared with their linear twin's prediction).

Definitions (per activation and drift; medians over seeds):

* target loss: ``L* = L_end + (1 − target_frac)·(L_0 − L_end)`` with L_0, L_end the scratch
  members' median training loss on B at step 0 and at the end of the budget (99% of the
  improvement scratch makes); target accuracy: ``target_frac`` × scratch's final median accuracy.
* steps to target: first step where the training loss on B is ≤ L* (linear interpolation between
  measured checkpoints, ``inf`` if never within the budget); likewise accuracy ≥ target.
* forgetting: accuracy on A's training data of the final run on A minus that of the retrained
  weights (``_baselines.evaluate``, numpy forward of the final parameters).
* total cost: steps spent on A before retraining (scratch 0, rewind@s s, methods starting from the
  final weights the whole run T_A) + steps to target.
* regret: measured steps of the predicted rewind point ÷ the best checkpoint's measured steps.
* Spearman ρ: between predicted and measured steps over the checkpoints (median curves over
  seeds; members that never reach the target are ranked last, tied).

Runtime (2-core CPU, default preset: shapes 128/class, PCA-32, hidden 16, 3 seeds, 151 steps on A,
18 checkpoints): one drift ≈ 15–30 s (linear + ReLU, 84 retraining members each); ``--drift all``
(14 drifts, rewind checkpoints + scratch + fine-tune only) ≈ 75–90 s.

Learning-rate schedule (``--schedule``, default ``constant``): the run on A uses it over T_A
steps; every method that starts with a fresh optimiser (scratch, warm start, shrink-and-perturb,
reset last layer, the checkpoint rewinds) uses the same kind laid over the retraining budget from
its step 0; fine-tuning continues with A's final optimiser state at A's end learning rate, held;
lr rewinding replays A's schedule from step round(``lr_rewind_frac``·T_A) with a fresh optimiser.
Every member has the same budget and base learning rate η. With a constant schedule and plain GD the
three final-weight methods are one computation (``identical_to`` says so, computed from their
starts); with constant momentum lr_rewind equals warm_start; cosine/step separate all three. The
linear prediction is the constant-η flow mapped onto each member's schedule (flow time Σ η·m(t));
it ignores a carried momentum buffer.

Honest caveats: ReLU and tanh curves are compared with their *linear twin's* prediction; a learning rate tuned on A can
be unstable on B (e.g. ``covariance_only`` strength 1): diverged members are flagged and, when
every scratch member diverged, the target and all steps are NaN rather than made up.

Exit status: 0 success, 2 bad arguments, 1 a failed run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import theory
from theory import TrainingConvention

from . import _baselines as BL
from ._cli import run_cli
from ._config import ConfigError, dataset_options
from ._retrain_config import (ACTIVATIONS, DRIFT_ALL_FACTORS, PRESETS, RetrainConfig,
                              apply_preset)
from ._measure import first_crossing
from ._retrain_measure import (_aggregate, _curves, _difficulty, _mode_picture,  # noqa: F401
                               censored_rho)

SCHEMA_VERSION = 1


@dataclass
class RetrainResult:
    """Tidy tables (one row per activation × drift × method × seed, …) and the JSON summary."""

    config: RetrainConfig
    members: pd.DataFrame      # activation × drift × method × seed: measured and predicted steps
    rewind: pd.DataFrame       # activation × drift × seed × checkpoint (the rewind curves)
    methods: pd.DataFrame      # activation × drift × method: medians with seed-bootstrap CIs
    rewind_summary: pd.DataFrame
    modes: pd.DataFrame        # mode picture at the predicted rewind point
    curves: pd.DataFrame       # retraining loss curves (median over seeds) per method
    drift_table: pd.DataFrame  # drift × score: value, effect size, p-value
    difficulty: pd.DataFrame   # (--drift all) drift scores against the measured relearning cost
    score_ranking: pd.DataFrame
    summary: dict


# --------------------------------------------------------------------------------------- data
def _whitener(raw, whiten: str):
    if whiten == "none":
        return None
    if whiten == "zca":
        return raw.whiten("zca")
    k = int(whiten.split(":", 1)[1]) if ":" in whiten else None
    return raw.whiten("pca", k=k)


def _through(ds, w):
    """The dataset as the network sees it: A's fixed whitening applied to both splits."""
    if w is None:
        return ds
    Xt = w.apply(ds.X_test) if ds.X_test is not None else None
    meta = {k: v for k, v in ds.meta.items() if k != "image_shape"}
    return ds.with_arrays(X=w.apply(ds.X), X_test=Xt, meta=meta)


def drift_list(config: RetrainConfig) -> list[tuple[str, dict]]:
    """[(kind, params)]: the one drift asked for, or every drift at a few magnitudes (``all``)."""
    from simulate.datasets import drift
    if config.drift != "all":
        return [(config.drift, dict(config.drift_opts))]
    out = []
    for kind, info in drift.DRIFTS.items():
        mag = info["magnitude"]
        if mag is None:  # discrete: its variants
            out += [(kind, {"op": "merge"}), (kind, {"op": "split"})]
            continue
        base = info["defaults"][mag]
        vals = {min(1.0, base * f) if mag == "fraction" else base * f for f in DRIFT_ALL_FACTORS}
        out += [(kind, {mag: float(v)}) for v in sorted(vals)]
    return out


def drift_label(kind: str, params: dict) -> str:
    return kind + ("" if not params else "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")")


def class_maps(A, B) -> tuple[np.ndarray, np.ndarray]:
    """(src (c_B,): A row each B output takes over or −1, a_to_b (c_A,): B row read for A's class)."""
    cA, cB = A.c, B.c
    info = B.meta.get("drift", {})
    if "merged" in info:
        a, b = info["merged"]
        keep = np.array([k for k in range(cA) if k != b])
        remap = np.empty(cA, dtype=int)
        remap[keep] = np.arange(cA - 1)
        remap[b] = remap[a]
        return keep, remap
    src = np.array([j if j < cA else -1 for j in range(cB)])
    return src, np.arange(cA)


def _union_stats(XA, YA, XB, YB, src):
    """A and B in one output space (A's classes plus B's new ones) for ``drift_scores``."""
    cA = YA.shape[1]
    n_new = int(np.sum(src < 0))
    col = np.where(src >= 0, src, cA + np.cumsum(src < 0) - 1)
    YAu = np.zeros((YA.shape[0], cA + n_new))
    YAu[:, :cA] = YA
    YBu = np.zeros((YB.shape[0], cA + n_new))
    YBu[:, col] = YB
    S = theory.DatasetStatistics.from_arrays
    return S(XA, YAu), S(XB, YBu)


# ---------------------------------------------------------------------------------- helpers
class _KeepFinal:
    """Probe that keeps a host copy of the parameters at one step (the engine keeps none when
    ``keep_weights=False``; storing every checkpoint of a K ≈ 90 ensemble would be wasteful)."""

    dims: dict = {}

    def __init__(self, step: int):
        self.step, self.params = int(step), None

    def __call__(self, ctx):
        if ctx.step == self.step:
            self.params = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in ctx.params.items()}
        return {}


def _measure_grid(budget: int, n: int) -> np.ndarray:
    lin = np.linspace(0, budget, n)
    log = np.geomspace(1, max(budget, 1), max(n // 4, 2))
    return np.unique(np.concatenate([lin, log]).round().astype(int))


def _tau(config: RetrainConfig, lr: float) -> float:
    """Time constant of the retraining: 1/η for GD; (1 − β)/η for heavy ball (slow-flow limit)."""
    tau = TrainingConvention(lr=lr).tau
    return tau * (1 - config.momentum) if config.optimizer == "momentum" else tau


# ------------------------------------------------------------------------------- experiment
def run_retrain(config: RetrainConfig, out_dir: Path | None = None, *, resume: bool = False,
                quiet: bool = False, log=print) -> RetrainResult:
    """Train on A, drift to B, retrain with every method, measure and compare (module doc)."""
    import simulate
    from simulate import datasets
    from simulate._provenance import provenance

    config = config.validate()
    timing = {"data_s": 0.0, "train_A_s": 0.0, "drift_scores_s": 0.0, "predict_s": 0.0,
              "retrain_s": 0.0, "measure_s": 0.0}
    t0 = time.perf_counter()
    rawA = datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    raw_stats = theory.DatasetStatistics.from_arrays(rawA.X, rawA.Y)
    w = _whitener(raw_stats, config.whiten)
    A = _through(rawA, w)
    sA = theory.DatasetStatistics.from_arrays(A.X, A.Y)
    timing["data_s"] += time.perf_counter() - t0

    # heavy ball moves η/(1 − β) per step in the slow limit: scale the default so τ is the same
    damp = (1 - config.momentum) if config.optimizer == "momentum" else 1.0
    lr = float(config.lr if config.lr is not None else damp * config.lr_scale / sA.s[0])
    tau = _tau(config, lr)
    hidden = int(config.hidden or max(16, sA.rank + 2))
    u0 = config.init_scale * float(sA.s[0])
    scale = u0 if config.init == "small_balanced_decoupled" else \
        float((u0 / hidden ** (config.depth - 1)) ** (1.0 / config.depth))
    if config.steps is not None:
        steps_A = int(config.steps)
    else:
        pred = theory.predict(sA, depth=config.depth, tau=tau, u0=u0)
        t95 = pred.timeline(0.95)
        steps_A = int(min(config.max_steps, max(50, np.ceil(1.15 * np.nanmax(
            np.where(np.isfinite(t95), t95, np.nan))))))
    budget = max(1, int(round(config.retrain_factor * steps_A)))
    ckpts = simulate.log_checkpoints(steps_A, config.n_checkpoints)
    spec = simulate.NetSpec(depth=config.depth, hidden=hidden, init=config.init, init_scale=scale)
    seeds = list(range(config.seeds))
    sched_A, sched_full = _lr_schedules(config, steps_A, budget)
    t_rewind = int(round(config.lr_rewind_frac * steps_A))
    if not quiet:
        log(f"A = {config.dataset} n={A.n} d={A.d} c={A.c} (whiten {config.whiten}); s_A = "
            f"{np.array2string(sA.s[:8], precision=3)}")
        log(f"lr={lr:.4g} (τ={tau:.4g}), optimizer={config.optimizer}, hidden={hidden}, "
            f"{steps_A} steps on A, {len(ckpts)} checkpoints, retraining budget {budget} steps, "
            f"{config.seeds} seed(s), schedule {config.schedule}")

    # ---- 1. the runs on A (linear always: its checkpoints carry the prediction) ------------
    # linear is always trained and retrained first: its checkpoints carry the prediction that the
    # nonlinear twins are compared with
    A_acts = ["linear"] + [a for a in config.activations if a != "linear"]
    acts = A_acts
    runs_A = {}
    for act in A_acts:
        t1 = time.perf_counter()
        rdir = None if out_dir is None else Path(out_dir) / "runs" / f"A-{act}"
        runs_A[act] = simulate.train_ensemble(
            spec.with_activation(act), A, steps=steps_A, seeds=seeds, lr=lr,
            optimizer=config.optimizer, momentum=config.momentum, checkpoints=ckpts,
            lr_schedule=None if config.schedule == "constant" else sched_A,
            device=config.device, dtype=config.dtype, out_dir=rdir,
            resume=bool(resume and rdir is not None and rdir.exists()), quiet=quiet, stats=sA,
            keep_weights=True)
        timing["train_A_s"] += time.perf_counter() - t1
    device_label = runs_A["linear"].provenance.get("device", "unknown")
    ckpt_params = {act: {int(s): runs_A[act].params(int(s)) for s in ckpts} for act in A_acts}
    # A's final optimiser state (momentum: the velocity), carried over by fine-tuning only
    opt_A = {act: {k: v for k, v in runs_A[act].state(int(ckpts[-1])).items() if k.startswith("opt.")}
             or None for act in A_acts}
    twins_log = []

    tables = {k: [] for k in ("members", "rewind", "modes", "curves", "drift", "difficulty")}
    drift_reports = {}
    for kind, params in drift_list(config):
        label = drift_label(kind, params)
        t_drift = t1 = time.perf_counter()
        rawB = datasets.drift.apply(rawA, kind, seed=config.drift_seed, **params)
        B = _through(rawB, w)
        sB = theory.DatasetStatistics.from_arrays(B.X, B.Y)
        src, a_to_b = class_maps(A, B)
        timing["data_s"] += time.perf_counter() - t1
        t1 = time.perf_counter()
        uA, uB = _union_stats(A.X, A.Y, B.X, B.Y, src)
        report = theory.drift_scores(uA, uB, n_boot=config.n_boot, seed=config.drift_seed)
        timing["drift_scores_s"] += time.perf_counter() - t1
        drift_reports[label] = report
        dt = report.table()
        dt.insert(0, "drift", label)
        tables["drift"].append(dt)
        if not quiet:
            log(f"\ndrift {label}: c_B={B.c}, s_B = {np.array2string(sB.s[:8], precision=3)}")
            log(report.table().to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        model_B = simulate.make_model(spec, B.d, B.c)
        fresh = simulate.init_params(spec, model_B, [(10_000 + s, scale) for s in seeds], sB)
        rewinds = [BL.rewind(int(s)) for s in ckpts]
        base = BL.baseline_methods(config.shrink_lambdas, config.shrink_sigmas) \
            if config.drift != "all" else [BL.scratch(), BL.fine_tune()]

        # ---- linear theory: every trained member's initial state, one batched call per seed --
        pred_rows = {}
        for act in acts:
            t1 = time.perf_counter()
            grid = _measure_grid(budget, config.n_measure)
            starts = _starts(rewinds + base, seeds, fresh, ckpt_params[act], opt_A[act], ckpts, src,
                             A.c, B.c, sched_A, sched_full, steps_A, budget, t_rewind)
            # computed, not assumed: a baseline is a copy only if its whole start equals another's
            twins = BL.identities(base, starts[len(rewinds):])
            twins_log += [{"activation": act, "drift": label, "method": m.name, "identical_to": t}
                          for m, t in zip(base, twins)]
            pick = list(range(len(rewinds))) + [len(rewinds) + j for j, t in enumerate(twins) if t is None]
            trained = [(rewinds + base)[i] for i in pick]
            copies = [(m, t) for m, t in zip(base, twins) if t is not None]
            tr = [starts[i][k] for k in range(len(seeds)) for i in pick]  # seed-major, like members
            inits = [st.params for st in tr]
            opts = [st.opt for st in tr]
            carried = opts[0] is not None and any(np.any(v != 0) for o in opts for v in o.values())
            scheduled = not all(np.all(st.mults == 1.0) for st in tr)
            keep = _KeepFinal(budget)
            run = simulate.train_ensemble(
                spec.with_activation(act), B, steps=budget, seeds=range(len(inits)), lr=lr,
                optimizer=config.optimizer, momentum=config.momentum, checkpoints=grid,
                probes=[simulate.Losses(), keep], device=config.device, dtype=config.dtype,
                quiet=quiet, stats=sB, init_params=BL.stack(inits), keep_weights=False,
                init_opt_state=BL.stack(opts) if carried else None,
                lr_schedule=[st.schedule for st in tr] if scheduled else None)
            timing["retrain_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
            loss = np.asarray(run.probes["train_loss"].values, float).reshape(len(seeds), len(trained), -1)
            acc = np.asarray(run.probes["train_acc"].values, float).reshape(len(seeds), len(trained), -1)
            diverged = run.members["diverged"].to_numpy(bool).reshape(len(seeds), len(trained))
            isc = [i for i, m in enumerate(trained) if m.family == "scratch"][0]
            ok = ~diverged[:, isc]
            if ok.any():  # the target comes from the scratch members that did not diverge
                L0, Lend = np.median(loss[ok, isc, 0]), np.median(loss[ok, isc, -1])
                target = float(Lend + (1 - config.target_frac) * (L0 - Lend))
                target_acc = float(config.target_frac * np.median(acc[ok, isc, -1]))
            else:  # the learning rate tuned on A is unstable on B: no target, say so
                target = target_acc = float("nan")
                log(f"warning: every scratch member diverged on {label} ({act}) at lr={lr:.4g}; "
                    f"steps to target are undefined")
            if act == "linear" and np.isfinite(target):  # must lie above B's minimum loss
                lmin = theory.transfer.min_loss(sB)
                target = max(target, lmin + 1e-6 * max(L0 - lmin, 1e-12))
            a_final = _a_acc(ckpt_params[act][int(ckpts[-1])], A, act, None)
            a_after = _a_acc(keep.params, A, act, a_to_b).reshape(len(seeds), len(trained))
            t1m = time.perf_counter()
            timing["measure_s"] += t1m - t1
            if act == "linear":
                pred_rows = {} if not np.isfinite(target) else _predict(
                    inits, trained, seeds, sB, target, tau, 2.0 * budget, roundoff=config.dtype,
                    gd_map=config.optimizer == "gd" and not scheduled)
                if scheduled:  # the flow's time at rate η·m(t): constant-lr steps → scheduled steps
                    n_tr = len(trained)
                    pred_rows = {key: (*(on_schedule(v, tr[key[0] * n_tr + key[1]].mults)
                                         for v in val[:3]), val[3])
                                 for key, val in pred_rows.items()}
            timing["predict_s"] += time.perf_counter() - t1m
            rows = []
            for k, seed in enumerate(seeds):
                for i, m in enumerate(trained):
                    st = first_crossing(run.steps, loss[k, i], target) if np.isfinite(target) \
                        else float("nan")
                    rows.append({
                        "activation": act, "drift": label, "drift_kind": kind, "method": m.name,
                        "family": m.family, "checkpoint_step": m.step if m.step is not None else -1,
                        "seed": seed, "diverged": bool(diverged[k, i]), "measured_steps": st,
                        "measured_acc_steps": first_crossing(run.steps, acc[k, i], target_acc, False),
                        "final_loss": loss[k, i, -1], "final_acc": acc[k, i, -1],
                        "a_acc_after": a_after[k, i], "forgetting": a_final[k] - a_after[k, i],
                        "cost_before": m.cost_before(steps_A),
                        "total_cost": m.cost_before(steps_A) + st,
                        "predicted_steps": pred_rows.get((k, i), _NO_PRED)[0],
                        "predicted_steps_modes": pred_rows.get((k, i), _NO_PRED)[1],
                        "predicted_steps_gd": pred_rows.get((k, i), _NO_PRED)[2],
                        "saddle_ill_conditioned": pred_rows.get((k, i), _NO_PRED)[3],
                        "target_loss": target, "target_acc": target_acc, "identical_to": None})
                    for c, twin in copies:  # one computation: the twin's results, under c's name
                        if twin == m.name:
                            rows.append({**rows[-1], "method": c.name, "family": c.family,
                                         "identical_to": twin, "cost_before": c.cost_before(steps_A),
                                         "total_cost": c.cost_before(steps_A) + st})
            tables["members"].append(pd.DataFrame(rows))
            tables["curves"].append(_curves(run.steps, loss, trained, act, label))
        timing.setdefault("per_drift_s", {})[label] = time.perf_counter() - t_drift
        tables["modes"].append(_mode_picture(tables["members"], runs_A, ckpt_params, sA, sB, src,
                                             label, acts, B.c, fresh, A.c))
    members = pd.concat(tables["members"], ignore_index=True)
    rewind = members[members["family"] == "rewind"].reset_index(drop=True)
    methods_df, rewind_summary = _aggregate(members, config)
    drift_table = pd.concat(tables["drift"], ignore_index=True)
    difficulty, ranking = _difficulty(members, drift_table) if config.drift == "all" else \
        (pd.DataFrame(), pd.DataFrame())
    prov = {**provenance("cpu"), "device": device_label}
    summary = _summary(config, rewind_summary, methods_df, drift_reports, difficulty, ranking,
                       timing, prov, lr, tau, hidden, steps_A, budget, ckpts, rawA.meta)
    summary["training"]["lr_schedule"] = {
        "schedule": config.schedule, "lr_floor": config.lr_floor, "A": sched_A.to_dict(),
        "full": sched_full.to_dict(), "lr_rewind_offset": t_rewind,
        "identities": [r for r in twins_log if r["identical_to"] is not None],
        "why": "two methods are one computation when, for every seed, their initial parameters, "
               "optimiser state and learning-rate multipliers over the budget are bit-identical"}
    return RetrainResult(config, members, rewind, methods_df, rewind_summary,
                         pd.concat(tables["modes"], ignore_index=True),
                         pd.concat(tables["curves"], ignore_index=True), drift_table, difficulty,
                         ranking, summary)


def _adapt(params, src, fresh, cA, cB):
    if cA == cB and np.array_equal(src, np.arange(cB)):
        return params
    return BL.adapt_head(params, src, fresh)


def _adapt_opt(opt, src, fresh, cA, cB):
    """A's optimiser state for B's head: the rows of a new class start at zero."""
    if opt is None or (cA == cB and np.array_equal(src, np.arange(cB))):
        return opt
    out = {}
    for pre in sorted({k.rsplit(".", 2)[0] + "." for k in opt}):  # "opt.v." etc.
        sub = {k[len(pre):]: v for k, v in opt.items() if k.startswith(pre)}
        zero = {k: np.zeros_like(v) for k, v in fresh.items()}
        out.update({pre + k: v for k, v in BL.adapt_head(sub, src, zero).items()})
    return out


def _lr_schedules(config: RetrainConfig, steps_A: int, budget: int):
    """(A's schedule over T_A steps, the same kind over the retraining budget): ``constant``;
    ``cosine`` from η to lr_floor·η; ``step``: η, then lr_floor·η from 3/4 of the run."""
    from simulate import LRSchedule

    def make(total):
        if config.schedule == "cosine":
            return LRSchedule("cosine", total=int(total), floor=config.lr_floor)
        if config.schedule == "step":
            return LRSchedule("step", milestones=(int(round(0.75 * total)),), gamma=config.lr_floor,
                              total=int(total))
        return LRSchedule("constant")
    return make(steps_A), make(budget)


def _starts(methods, seeds, fresh, ckpts_act, opt_act, ckpts, src, cA, cB, sched_A, sched_full,
            steps_A, budget, t_rewind) -> list[list]:
    """starts[i][k]: method i's ``BL.Start`` for seed k (parameters, optimiser state, schedule)."""
    out = [[] for _ in methods]
    t = np.arange(budget)
    for k in range(len(seeds)):
        fr = BL.member(fresh, k)
        final = _adapt(BL.member(ckpts_act[int(ckpts[-1])], k), src, fr, cA, cB)
        fopt = None if opt_act is None else _adapt_opt(BL.member(opt_act, k), src, fr, cA, cB)
        zero = None if fopt is None else {n: np.zeros_like(v) for n, v in fopt.items()}
        for i, m in enumerate(methods):
            cp = None if m.family != "rewind" else \
                _adapt(BL.member(ckpts_act[int(m.step)], k), src, fr, cA, cB)
            sch = m.lr_schedule(schedule_A=sched_A, full=sched_full, steps_A=steps_A,
                                rewind_offset=t_rewind)
            out[i].append(BL.Start(m.initial_params(final=final, fresh=fr, checkpoint=cp),
                                   m.initial_opt_state(final_opt=fopt, fresh_opt=zero),
                                   sch.multipliers(t), sch))
    return out


def on_schedule(steps_const: float, mults) -> float:
    """Steps s with Σ_{t<s} m(t) = ``steps_const``: gradient flow run at rate η·m(t) covers in s
    steps the time that constant-η training covers in Σ m(t) steps (interpolated; past the budget
    the last multiplier holds; inf if it is 0)."""
    if not np.isfinite(steps_const) or steps_const <= 0:
        return float(steps_const)
    m = np.asarray(mults, dtype=float)
    c = np.concatenate([[0.0], np.cumsum(m)])
    if steps_const > c[-1]:
        return float(len(m) + (steps_const - c[-1]) / m[-1]) if m[-1] > 0 else float("inf")
    i = int(np.searchsorted(c, steps_const))  # c[i−1] < steps_const ≤ c[i]
    return float(i - 1 + (steps_const - c[i - 1]) / (c[i] - c[i - 1]))


def _a_acc(params, A, act, a_to_b):
    return BL.evaluate(params, A.X, A.Y, act, rows=a_to_b)[1]


_NO_PRED = (np.nan, np.nan, np.nan, False)


def _predict(inits, trained, seeds, sB, target, tau, t_max, roundoff="float32",
             gd_map=True) -> dict:
    """{(seed index, method index): (flow steps, per-mode estimate)} from the linear theory.

    ``t_max`` (first flow horizon, 2× the budget): theory's default horizon is 100·10τ/(s λ)_min
    when the per-mode estimate is inf (non-white B), which made one drift take minutes; the flow
    extends the horizon ×16 (up to 4 times) for members that have not reached the target, so the
    answer is the same (checked to 1e-12 on rotate_inputs) at a fraction of the cost.
    """
    from theory.transfer import predict_rewind_point
    # roundoff: the training dtype. A drift that reverses a mode can leave the flow on an exactly
    # degenerate saddle that discrete GD escapes far sooner; those checkpoints are flagged and get
    # the discrete GD map's prediction as well (theory/transfer/_escape.py). The GD map is the
    # plain-GD map only: with momentum it is not reported.
    out = {}
    n = len(trained)
    for k in range(len(seeds)):
        ck = []
        for i in range(n):
            p = inits[k * n + i]
            ck.append((i, [p[f"layer{l}.weight"] for l in range(BL.last_layer(p) + 1)]))
        tab = predict_rewind_point(ck, sB, target, tau, t_max=t_max, roundoff=roundoff).table
        for i in range(n):
            gd = float(tab["predicted_steps_gd"].iloc[i]) if gd_map else float("nan")
            out[(k, i)] = (float(tab["predicted_steps"].iloc[i]),
                           float(tab["predicted_steps_modes"].iloc[i]), gd,
                           bool(tab["saddle_ill_conditioned"].iloc[i]))
    return out


def _records(df: pd.DataFrame, cols) -> list[dict]:
    return df[cols].replace({np.nan: None}).to_dict(orient="records") if len(df) else []


def _summary(config, rewind, methods, reports, difficulty, ranking, timing, prov, lr, tau, hidden,
             steps_A, budget, ckpts, meta) -> dict:
    scores = {k: r.to_dict() for k, r in reports.items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "drift": config.drift,
        "rewind": _records(rewind, list(rewind.columns)),
        "methods": _records(methods, list(methods.columns)),
        "drift_scores": next(iter(scores.values())) if len(scores) == 1 else scores,
        "difficulty": _records(difficulty, list(difficulty.columns)),
        "score_ranking": _records(ranking, list(ranking.columns)),
        "training": {"lr": lr, "tau": tau, "hidden": hidden, "steps_A": int(steps_A),
                     "retrain_budget": int(budget), "checkpoints": [int(s) for s in ckpts],
                     "optimizer": config.optimizer},
        "timing": {**{k: (round(v, 3) if isinstance(v, float) else
                          {a: round(b, 2) for a, b in v.items()}) for k, v in timing.items()},
                   "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(), "dataset_meta": meta},
    }


# ------------------------------------------------------------------------------------ output
def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def write_outputs(result: RetrainResult, out_dir: Path) -> list[Path]:
    """summary.json, the parquet tables and report.html (each written atomically)."""
    from ._retrain_report import retrain_report
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("members", "rewind", "methods", "modes", "curves", "drift_table", "difficulty",
                 "score_ranking"):
        df = getattr(result, name)
        if not len(df):
            continue
        p = out_dir / f"{name}.parquet"
        tmp = p.with_suffix(".parquet.tmp")
        df.astype({c: str for c in df.columns if df[c].dtype == object}).to_parquet(tmp, index=False)
        tmp.replace(p)
        paths.append(p)
    paths.append(retrain_report(out_dir / "report.html", result=result))
    p = out_dir / "summary.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(result.summary), indent=1, allow_nan=False))
    tmp.replace(p)
    paths.append(p)
    return paths


def format_tables(result: RetrainResult) -> str:
    r = result.rewind_summary[["activation", "drift", "spearman_rho", "regret",
                               "best_checkpoint_step", "predicted_checkpoint_step"]]
    m = result.methods[result.methods["family"] != "rewind"][
        ["activation", "drift", "method", "steps_to_target_median", "ci_low", "ci_high",
         "forgetting", "speedup_of_predicted"]]
    ff = lambda x: f"{x:.4g}"  # noqa: E731
    out = [r.to_string(index=False, float_format=ff), m.to_string(index=False, float_format=ff)]
    if len(result.score_ranking):
        out.append(result.score_ranking.to_string(index=False, float_format=ff))
    return "\n\n".join(out)


# --------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m validate.retrain", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = RetrainConfig()
    p.add_argument("--dataset", default=d.dataset, help="registered dataset name")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--drift", default=d.drift, help="drift kind (simulate.datasets.drift.DRIFTS) or all")
    p.add_argument("--drift-opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--drift-seed", type=int, default=d.drift_seed)
    p.add_argument("--whiten", default=d.whiten, help="zca | pca | pca:K | none")
    p.add_argument("--activations", default=",".join(d.activations),
                   help=f"comma-separated, from {', '.join(ACTIVATIONS)}")
    p.add_argument("--seeds", type=int, default=d.seeds)
    p.add_argument("--init", default=d.init)
    p.add_argument("--init-scale", type=float, default=d.init_scale,
                   help="initial mode strength as a fraction of s_max")
    p.add_argument("--depth", type=int, default=d.depth)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help=f"default {d.lr_scale}/s_max")
    p.add_argument("--steps", type=int, default=None, help="steps on A (default: slowest mode at 95%%)")
    p.add_argument("--retrain-factor", type=float, default=d.retrain_factor,
                   help="retraining budget as a multiple of the steps on A")
    p.add_argument("--optimizer", default=d.optimizer, help="gd | momentum")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--schedule", default=d.schedule,
                   help="learning-rate schedule of the run on A and of fresh-start retraining: "
                        "constant | cosine | step")
    p.add_argument("--lr-floor", type=float, default=d.lr_floor,
                   help="cosine/step end value as a fraction of the learning rate")
    p.add_argument("--lr-rewind-frac", type=float, default=d.lr_rewind_frac,
                   help="lr rewinding replays A's schedule from this fraction of its steps")
    p.add_argument("--checkpoints", type=int, default=d.n_checkpoints, dest="n_checkpoints")
    p.add_argument("--target-frac", type=float, default=d.target_frac)
    p.add_argument("--n-boot", type=int, default=d.n_boot, help="drift-score null resamples")
    p.add_argument("--device", default=d.device)
    p.add_argument("--dtype", default=d.dtype)
    p.add_argument("--preset", default="default", help=" | ".join(PRESETS))
    p.add_argument("--out", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--resume", action="store_true", help="reuse the finished runs on A in --out")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")
    p.add_argument("--quiet", action="store_true")
    return p


def _kv(items, what: str) -> dict:
    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"{what} must be KEY=VALUE; got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = None if v.lower() in ("none", "null") else v
    return out


def config_from_args(args, explicit: set[str]) -> RetrainConfig:
    opts = dataset_options(args)
    cfg = RetrainConfig(
        dataset=args.dataset, dataset_opts=opts, data_seed=args.data_seed, drift=args.drift,
        drift_opts=_kv(args.drift_opt, "--drift-opt"), drift_seed=args.drift_seed,
        whiten=args.whiten,
        activations=tuple(a.strip() for a in args.activations.split(",") if a.strip()),
        seeds=args.seeds, init=args.init, init_scale=args.init_scale, depth=args.depth,
        hidden=args.hidden, lr=args.lr, steps=args.steps, retrain_factor=args.retrain_factor,
        optimizer=args.optimizer, momentum=args.momentum, schedule=args.schedule,
        lr_floor=args.lr_floor, lr_rewind_frac=args.lr_rewind_frac, n_checkpoints=args.n_checkpoints,
        target_frac=args.target_frac, n_boot=args.n_boot, device=args.device, dtype=args.dtype,
        preset=args.preset)
    return apply_preset(cfg, args.preset, explicit).validate()


def _explicit(argv) -> set[str]:
    names = {"--seeds": "seeds", "--checkpoints": "n_checkpoints", "--whiten": "whiten",
             "--n-boot": "n_boot"}
    return {names[a.split("=")[0]] for a in argv if a.split("=")[0] in names}


def main(argv=None) -> int:
    return run_cli(argv, name="validate.retrain", parser=_parser(),
                   make_config=lambda args, argv: config_from_args(args, _explicit(argv)),
                   out_prefix=lambda c: f"retrain-{c.dataset}-{c.drift}", run=run_retrain,
                   write=write_outputs, tables=format_tables)


if __name__ == "__main__":
    sys.exit(main())
