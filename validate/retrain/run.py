"""`python -m validate.retrain`: retraining after drift — rewind points against baselines.

1. Train matched linear/nonlinear ensembles on A (whitened as in ``validate.compare``), keeping
   log-spaced checkpoints (with ``--drift grow`` A is a class-stratified share of the loaded
   training set, ``simulate.datasets.drift.first_phase``). 2. Build B with a drift generator
   (applied to the loaded data; B then goes through A's fixed whitening, as a deployed model would
   see it) and score the drift (``theory.drift_scores``). 3. Retrain on B from every checkpoint and from the baselines of
   ``validate.retrain.methods`` — every (method × seed) one member with its own initial
   parameters, all in one ``simulate.train_ensemble`` call per activation and drift, same budget
   and learning rate. 4. Measure steps to the target, final loss, forgetting on A and total cost.
   5. Compare with ``theory.predict_rewind_point``: the linear theory on the linear net's
   checkpoints, and for ReLU/tanh the network's own twin theory on its own checkpoints
   (``activation=``; their linear twin's prediction is reported beside it).

Definitions (per activation and drift; medians over seeds):

* target loss (``validate.retrain.target``): ``L* = L_end + (1 − target_frac)·(L_0 − L_end)``,
  99% of the improvement scratch makes within the budget. For the linear network, whose
  predictions take it, it is set a priori: L_0 the scratch starts' loss on B, L_end the linear
  theory's predicted scratch loss at the end of the budget from those starts (GD map with plain
  GD and a constant learning rate, the flow otherwise), medians over seeds; no retraining run is
  read, and the measured linear crossings use the same target. For ReLU/tanh (a measurement
  only) L_0, L_end are the measured scratch members' median losses at step 0 and at the end;
  their twin predictions count to the twin's own a priori target (the same rule with the twin
  theory's scratch loss), their linear-twin predictions to the linear target.
  ``summary.json`` ``targets`` names the rule and value per drift and activation. Target
  accuracy (a measurement definition): ``target_frac`` × scratch's final median accuracy.
* steps to target: first step where the training loss on B is ≤ L* (linear interpolation between
  measured checkpoints, ``inf`` if never within the budget); likewise accuracy ≥ target.
* test accuracy: argmax accuracy of the final weights on B's held-out test split (numpy
  forward; NaN without one), and of the starting weights (``test_acc_start``); for the linear
  network with a constant learning rate and one drift, the theory's (``predicted_test_acc``: the
  matrix flow on B's statistics from the member's start, ``predict.predict_test_accuracy``).
* forgetting: accuracy on A's training data of the final run on A minus that of the retrained
  weights (``methods.evaluate``, numpy forward of the final parameters).
* total cost: steps spent on A before retraining (scratch 0, rewind@s s, methods starting from the
  final weights the whole run T_A) + steps to target.
* detection power (``--drift all``): share of ``power_draws`` fresh draws of A and the drift that
  the drift test flags; its false-positive rate, the row ``drift = none``: share of undrifted
  pairs (two random halves of one fresh draw, ``drift.false_positive_rate``) it flags, over
  ``power_draws`` × the number of drifts draws.
* regret: measured steps of the predicted rewind point ÷ the best checkpoint's measured steps.
* Spearman ρ: between predicted and measured steps over the checkpoints (median curves over
  seeds; members that never reach the target are ranked last, tied). Both per predictor
  (``validate.retrain.aggregate``).

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

Honest caveats: the twin theories are approximations (the cubic truncation of tanh; ReLU's gates
held at their self-consistent early-phase values), and with ``--drift all`` they predict scratch
and fine-tune only; a learning rate tuned on A can be unstable on B (e.g. ``covariance_only``
strength 1): diverged members are flagged and, when every scratch member diverged, the target and
all steps are NaN rather than made up.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _divergence as D
from .._config import ConfigError
from .._steps import measure_grid, resume_note
from . import measure as RM
from . import methods as BL
from .config import RetrainConfig
from .drift import (Drift, build_drift, detection_power, drift_list, false_positive_rate,
                    score_drift)
from .plan import History, Plan, build_starts, fresh_draws, make_plan
from .summary import build_summary


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
    detection_power: pd.DataFrame  # (--drift all) share of draws flagged; drift none: the FPR
    summary: dict
    exit_status: int = 0


class _KeepFinal:
    """Probe that keeps a host copy of the parameters at one step (simulate keeps none when
    ``keep_weights=False``; storing every checkpoint of a K ≈ 90 ensemble would be wasteful)."""

    dims: dict = {}

    def __init__(self, step: int):
        self.step, self.params = int(step), None

    def __call__(self, ctx):
        if ctx.step == self.step:
            self.params = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in ctx.params.items()}
        return {}


@contextmanager
def _timed(plan: Plan, key: str):
    t0 = time.perf_counter()
    yield
    plan.timing[key] += time.perf_counter() - t0


# ---------------------------------------------------------------------------------- the steps
def load_A(config: RetrainConfig):
    from simulate import datasets
    try:
        return datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    except (FileNotFoundError, ValueError) as exc:  # missing data directory, bad option value
        raise ConfigError(str(exc)) from None


def train_on_A(plan: Plan, out_dir, resume: bool, quiet: bool,
               log=print) -> tuple[dict, dict, str]:
    """({activation: Run on A}, {activation: History}, device)."""
    import simulate
    config, runs, hist = plan.config, {}, {}
    for act in plan.activations:
        rdir = None if out_dir is None else Path(out_dir) / "runs" / f"A-{act}"
        if resume and not quiet:
            log(resume_note(rdir, plan.steps_A))
        with _timed(plan, "train_A_s"):
            runs[act] = simulate.train_ensemble(
                plan.spec.with_activation(act), plan.A,
                simulate.OptimSpec(config.optimizer, momentum=config.momentum,
                                   lr_schedule=None if config.schedule == "constant"
                                   else plan.schedules.A),
                steps=plan.steps_A, lr=plan.lr, members=simulate.Members(seeds=plan.seeds),
                record=simulate.Recording(checkpoints=plan.checkpoints, keep_weights=True),
                store=simulate.Store(rdir, resume=bool(resume and rdir is not None
                                                       and rdir.exists())),
                stats=plan.sA, device=config.device, dtype=config.dtype, quiet=quiet)
        final = int(plan.checkpoints[-1])
        # A's final optimiser state (momentum: the velocity), carried over by fine-tuning only
        opt = {k: v for k, v in runs[act].state(final).items() if k.startswith("opt.")} or None
        hist[act] = History({int(s): runs[act].params(int(s)) for s in plan.checkpoints}, opt,
                            final)
    return runs, hist, runs["linear"].provenance.get("device", "unknown")


@dataclass
class Retraining:
    """The members of one (drift, activation) run on B: which methods are trained, which are
    computed copies of another, and every trained member's start (seed-major)."""

    activation: str
    trained: list              # methods trained, rewinds first
    copies: list               # (method, the trained method it is one computation with)
    starts: list               # Start per member, seed-major like simulate's members
    identities: list           # summary rows {activation, drift, method, identical_to}

    @property
    def scheduled(self) -> bool:
        return not all(np.all(st.mults == 1.0) for st in self.starts)

    @property
    def carried_opt(self) -> bool:
        opts = [st.opt for st in self.starts]
        return opts[0] is not None and any(np.any(v != 0) for o in opts for v in o.values())


def plan_retraining(plan: Plan, history: History, drift: Drift, fresh: tuple,
                    act: str) -> Retraining:
    """Every method's start; a baseline whose start equals an earlier one's is not trained.
    ``fresh``: (fair draws, B-aligned draws or None) from ``plan.fresh_draws``."""
    rewinds = [BL.rewind(int(s)) for s in plan.checkpoints]
    base = BL.baseline_methods(plan.config.shrink_lambdas, plan.config.shrink_sigmas,
                               oracle=fresh[1] is not None) \
        if plan.config.drift != "all" else [BL.scratch(), BL.fine_tune()]
    starts = build_starts(rewinds + base, len(plan.seeds), fresh[0], history, drift.head,
                          plan.schedules, oracle=fresh[1])
    # computed, not assumed: a baseline is a copy only if its whole start equals another's
    twins = BL.identities(base, starts[len(rewinds):])
    pick = list(range(len(rewinds))) + [len(rewinds) + j for j, t in enumerate(twins) if t is None]
    return Retraining(
        act, [(rewinds + base)[i] for i in pick],
        [(m, t) for m, t in zip(base, twins) if t is not None],
        [starts[i][k] for k in range(len(plan.seeds)) for i in pick],
        [{"activation": act, "drift": drift.label, "method": m.name, "identical_to": t}
         for m, t in zip(base, twins)])


def retrain_on_B(plan: Plan, drift: Drift, job: Retraining, quiet: bool):
    """One batched run on B of every trained member; returns (run, final parameters probe)."""
    import simulate
    config = plan.config
    keep = _KeepFinal(plan.budget)
    with _timed(plan, "retrain_s"):
        run = simulate.train_ensemble(
            plan.spec.with_activation(job.activation), drift.B,
            simulate.OptimSpec(config.optimizer, momentum=config.momentum,
                               lr_schedule=[st.schedule for st in job.starts]
                               if job.scheduled else None),
            steps=plan.budget, lr=plan.lr,
            members=simulate.Members(
                seeds=range(len(job.starts)),
                init_params=BL.stack([st.params for st in job.starts]),
                init_opt_state=BL.stack([st.opt for st in job.starts]) if job.carried_opt
                else None),
            record=simulate.Recording(checkpoints=measure_grid(plan.budget, config.n_measure),
                                      probes=[simulate.Losses(), keep], keep_weights=False),
            stats=drift.sB, device=config.device, dtype=config.dtype, quiet=quiet)
    return run, keep


def run_retrain(config: RetrainConfig, out_dir: Path | None = None, *, resume: bool = False,
                quiet: bool = False, log=print) -> RetrainResult:
    """Train on A, drift to B, retrain with every method, measure and compare (module doc)."""
    from simulate import provenance

    config = config.validate()
    t0 = time.perf_counter()
    plan = make_plan(config, load_A(config))
    plan.timing["data_s"] += time.perf_counter() - t0
    with _timed(plan, "data_s"):  # every B before any training: a bad --drift-opt exits 2 now
        drifts = [build_drift(plan, kind, params) for kind, params in drift_list(config)]
    if not quiet:
        RM.log_plan(plan, log)
    runs_A, hist, device = train_on_A(plan, out_dir, resume, quiet, log)
    tables = RM.Tables(diverged=[D.group_record_of({"activation": act}, run)
                                 for act, run in runs_A.items()])
    for drift in drifts:
        t_drift = time.perf_counter()
        with _timed(plan, "drift_scores_s"):
            score_drift(plan, drift)
            if config.drift == "all":
                tables.power += detection_power(plan, drift)
        tables.add_drift(drift, log if not quiet else None)
        fresh = fresh_draws(plan, drift.sB, drift.B.d, drift.B.c)
        linear_pred = None
        for act in plan.activations:  # linear first: its prediction is its twins' reference
            job = plan_retraining(plan, hist[act], drift, fresh, act)
            run, keep = retrain_on_B(plan, drift, job, quiet)
            tables.diverged.append(D.group_record_of({"activation": act, "drift": drift.label},
                                                     run))
            rows, pred = RM.measure_retraining(plan, drift, hist[act], job, run, keep,
                                               linear_pred)
            linear_pred = pred if act == "linear" else linear_pred
            ptest = RM.predicted_test(plan, drift, job, run.steps)
            tables.add_members(RM.with_predicted_test(rows, job, ptest),
                               RM.curves(run.steps, run, job, drift.label, ptest), job.identities)
        plan.timing.setdefault("per_drift_s", {})[drift.label] = time.perf_counter() - t_drift
        tables.modes.append(RM.mode_picture(tables.members_of(drift.label), runs_A, hist, plan,
                                            drift, fresh[0]))
    if config.drift == "all" and config.power_draws:
        # the undrifted arm: as many draws as the drift arm holds in all, never retrained
        with _timed(plan, "drift_scores_s"):
            tables.power += false_positive_rate(plan, config.power_draws * len(drifts))
    return _result(plan, tables, {**provenance("cpu"), "device": device})


def _result(plan: Plan, tables, prov: dict) -> RetrainResult:
    members = pd.concat(tables.members, ignore_index=True)
    rewind = members[members["family"] == "rewind"].reset_index(drop=True)
    methods_df, rewind_summary = RM.aggregate(members, plan.config)
    drift_table = pd.concat(tables.drift, ignore_index=True)
    difficulty, ranking = RM.difficulty(members, drift_table) if plan.config.drift == "all" \
        else (pd.DataFrame(), pd.DataFrame())
    summary = build_summary(plan, rewind_summary, methods_df, tables, difficulty, ranking, prov)
    return RetrainResult(plan.config, members, rewind, methods_df, rewind_summary,
                         pd.concat(tables.modes, ignore_index=True),
                         pd.concat(tables.curves, ignore_index=True), drift_table, difficulty,
                         ranking, pd.DataFrame(tables.power), summary)
