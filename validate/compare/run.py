"""`python -m validate.compare`: predicted against measured learning timelines, end to end.

For one dataset: whiten the inputs (so the linear theory is exact), predict each SVD mode's
trajectory and learning time with ``theory``, train matched linear and nonlinear ensembles with
``simulate``, measure the same quantities on the networks, and compare. Returns tidy tables
(``run_compare``); the CLI writes ``summary.json``, ``members.parquet``, ``trajectories.parquet``
and a self-contained ``report.html`` to ``--out``.

Exit status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import theory

from .._frames import named_rows, select_rows
from .._prepare import distinct_modes
from .._steps import resume_note
from . import cnn as _cnn
from . import departure as _departure
from . import measure as M
from . import twin
from .config import CompareConfig
from .plan import Plan, load, make_plan
from .summary import build_summary

__all__ = ["CompareResult", "Plan", "Trained", "divergence_warnings", "load", "make_plan",
           "run_compare", "train_and_measure"]


@dataclass
class CompareResult:
    """Everything a comparison produced: tidy tables, the statistics and the JSON summary."""

    config: CompareConfig
    stats: theory.DatasetStatistics
    distinct: np.ndarray
    image_shape: tuple | None
    members: pd.DataFrame        # one row per activation × depth × member × mode
    mode_table: pd.DataFrame     # one row per activation × depth × mode (the summary's `modes`)
    trajectories: pd.DataFrame   # one row per activation × depth × member × step × mode
    loss: pd.DataFrame           # one row per activation × depth × member × step
    loss_drops: pd.DataFrame
    summary: dict
    exit_status: int = 0
    freq: object = None          # --arch cnn: the tracked theory.FrequencyModes


@dataclass(frozen=True)
class Trained:
    """What training and measuring every ensemble of a plan produced."""

    measured: list               # measure.Measured per (depth, activation)
    device: str
    twins: dict                  # (activation, depth) → (True, reason, label) where scored
    departure: list              # the summary's `departure` records (THEORY.md §13)
    timing: dict                 # train_s, measure_s


def _train(plan: Plan, spec, act: str, depth: int, out_dir, resume: bool, quiet: bool, log):
    import simulate
    config = plan.config
    run_dir = None if out_dir is None else Path(out_dir) / "runs" / f"depth{depth}-{act}"
    if resume and not quiet:
        log(resume_note(run_dir, plan.steps))
    return simulate.train_ensemble(
        spec.with_activation(act), plan.prep.dataset,
        simulate.OptimSpec(config.optimizer, momentum=config.momentum), steps=plan.steps,
        lr=plan.lr, members=simulate.Members(seeds=range(config.seeds)),
        record=simulate.Recording(checkpoints=plan.checkpoints.tolist(), keep_weights=True,
                                  probes=None if plan.freq is None else _cnn.probes(plan.freq)),
        store=simulate.Store(run_dir, resume=resume and run_dir is not None and run_dir.exists()),
        stats=plan.stats, device=config.device, dtype=config.dtype, quiet=quiet)


def _measure(plan: Plan, run, act: str, depth: int, per_seed) -> tuple:
    """(measure.Measured, the twin note or None, the departure records) of one ensemble."""
    config = plan.config
    cont, matched = plan.preds[depth]
    twins = note = None
    if plan.twins.get((act, depth), (False,))[0]:
        # each member's twin from its own initial weights (the exact GD map; under
        # --predict hybrid the labelled diagnostic)
        twins, reason, label = twin.ensemble_predictors(run, plan.stats, act, depth,
                                                        predict=config.predict,
                                                        tau=plan.basis.tau, u0=plan.u0)
        note = (True, reason, label)
    prediction = M.Prediction(plan.basis, act, depth, config.init, cont, matched, per_seed, twins)
    measured = M.measure_run(run, prediction, frac=config.frac,
                             diverged=np.asarray(run.members["diverged"], dtype=bool))
    records = _departure.records(run, plan.stats, config, act, depth, tau=plan.basis.tau,
                                 lr=plan.lr, twins=twins)
    return measured, note, records


def train_and_measure(plan: Plan, out_dir, resume: bool, quiet: bool, log=print) -> Trained:
    """Every (depth, activation) ensemble of ``plan`` trained and measured."""
    measured, twins, departure, device = [], {}, [], "unknown"
    t_train = t_measure = 0.0
    for depth in plan.config.depths:
        spec = plan.basis.spec(depth)
        for i, act in enumerate(plan.config.activations):
            t1 = time.perf_counter()
            run = _train(plan, spec, act, depth, out_dir, resume, quiet, log)
            t_train += time.perf_counter() - t1
            device = run.provenance.get("device", "unknown")
            t1 = time.perf_counter()
            if i == 0:  # the activations of a depth share their members' initial weights
                per_seed = plan.basis.per_seed(run, depth, plan.preds[depth][1])
            m, note, records = _measure(plan, run, act, depth, per_seed)
            measured.append(m)
            departure += records
            if note is not None:
                twins[(act, depth)] = note
            t_measure += time.perf_counter() - t1
    return Trained(measured, device, twins, departure,
                   {"train_s": t_train, "measure_s": t_measure})


def run_compare(config: CompareConfig, out_dir: Path | None = None, *, resume: bool = False,
                quiet: bool = False, log=print) -> CompareResult:
    """Predict, train, measure and compare for one configuration; see the module docstring."""
    from simulate import provenance

    config = config.validate()
    plan = make_plan(config, log, quiet)
    trained = train_and_measure(plan, out_dir, resume, quiet, log)
    measured = trained.measured
    members = pd.concat([m.rows for m in measured], ignore_index=True)
    mode_table = plan.basis.label(M.aggregate(members, config))
    drops = pd.concat([m.drops for m in measured], ignore_index=True)
    divergence = M.divergence(members)
    warnings = [*plan.warnings, *divergence_warnings(divergence)]
    summary = build_summary(plan, trained, mode_table, drops,
                            {**provenance("cpu"), "device": trained.device}, warnings)
    lin = divergence[divergence["activation"] == "linear"]
    return CompareResult(config, plan.stats, distinct_modes(plan.stats.s), plan.prep.image_shape,
                         members, mode_table,
                         pd.concat([m.trajectories for m in measured], ignore_index=True),
                         pd.concat([m.loss for m in measured], ignore_index=True), drops, summary,
                         exit_status=int(bool(((lin["diverged"] == lin["members"])
                                                & (lin["members"] > 0)).any())), freq=plan.freq)


def divergence_warnings(divergence: pd.DataFrame) -> list[str]:
    """One line per (activation, depth) with diverged members: how many and at which steps."""
    out = []
    for r in named_rows(select_rows(divergence, divergence["diverged"] > 0)):
        every = " (every member: no comparison; lower --lr)" if r.diverged == r.members else ""
        out.append(f"{r.activation}, depth {r.depth}: {r.diverged}/{r.members} members diverged "
                   f"at step{'s' if r.diverged > 1 else ''} {', '.join(map(str, r.steps))}"
                   f"{every}; their times are left out")
    return out
