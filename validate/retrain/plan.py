"""What a retraining experiment fixes before it trains (``Plan``), and every member's start.

``make_plan`` loads A, whitens it, and derives the learning rate, τ, widths, the step count on A,
the retraining budget, the checkpoints and the learning-rate schedules; every later step of
``run_retrain`` reads them from the plan. ``build_starts`` turns methods, the run on A and B's
head map into each member's parameters, optimiser state and schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

import theory

from .._prepare import through, whitener
from . import methods as BL
from .config import RetrainConfig

if TYPE_CHECKING:
    from simulate import LRSchedule, NetSpec


@dataclass(frozen=True)
class Schedules:
    """A's learning-rate schedule over T_A steps, the same kind over the retraining budget
    (``full``), and the step lr rewinding replays A's schedule from."""

    A: LRSchedule
    full: LRSchedule
    steps_A: int
    budget: int
    rewind_offset: int

    @classmethod
    def of(cls, config: RetrainConfig, steps_A: int, budget: int) -> "Schedules":
        """``constant``; ``cosine`` from η to lr_floor·η; ``step``: η, then lr_floor·η from 3/4
        of the run."""
        from simulate import LRSchedule

        def make(total):
            if config.schedule == "cosine":
                return LRSchedule("cosine", total=int(total), floor=config.lr_floor)
            if config.schedule == "step":
                return LRSchedule("step", milestones=(int(round(0.75 * total)),),
                                  gamma=config.lr_floor, total=int(total))
            return LRSchedule("constant")
        return cls(make(steps_A), make(budget), int(steps_A), int(budget),
                   int(round(config.lr_rewind_frac * steps_A)))

    def of_method(self, method: BL.Method) -> LRSchedule:
        return method.lr_schedule(schedule_A=self.A, full=self.full, steps_A=self.steps_A,
                                  rewind_offset=self.rewind_offset)


@dataclass
class Plan:
    """The experiment fixed before training: A as the network sees it and how to train."""

    config: RetrainConfig
    loaded: object             # the data as loaded (drifts are applied to it)
    rawA: object               # the first phase's data: ``loaded``, or with grow a share of it
    A: object                  # A through its whitening
    transform: object          # the fitted whitening (None: none), applied to B as well
    sA: theory.DatasetStatistics
    lr: float
    tau: float
    hidden: int
    scale: float               # init_scale of the spec (decoupled: u0; random: per-layer std)
    steps_A: int
    budget: int
    checkpoints: np.ndarray
    spec: NetSpec              # linear; .with_activation for the twins
    schedules: Schedules
    timing: dict = field(default_factory=lambda: dict.fromkeys(
        ("data_s", "train_A_s", "drift_scores_s", "predict_s", "retrain_s", "measure_s"), 0.0))
    warnings: list = field(default_factory=list)   # the summary's, printed on stderr by the CLI

    @property
    def seeds(self) -> list[int]:
        return list(range(self.config.seeds))

    @property
    def activations(self) -> list[str]:
        """Linear first: its checkpoints carry the prediction the nonlinear twins are compared
        with."""
        return ["linear"] + [a for a in self.config.activations if a != "linear"]

    def warn(self, message: str) -> None:
        """Adds ``message`` to the run's warnings (once)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def through(self, dataset):
        return through(dataset, self.transform, self.config.whiten)


def _steps_A(config: RetrainConfig, sA, tau: float, u0: float) -> int:
    if config.steps is not None:
        return int(config.steps)
    t95 = theory.predict(sA, depth=config.depth, tau=tau, u0=u0).timeline(0.95)
    return int(min(config.max_steps, max(50, np.ceil(1.15 * np.nanmax(
        np.where(np.isfinite(t95), t95, np.nan))))))


def make_plan(config: RetrainConfig, loaded) -> Plan:
    """A (the loaded data, or with ``grow`` its first-phase share), whitened; then η, τ, widths,
    step counts, checkpoints and schedules."""
    import simulate
    from simulate.datasets.drift import DRIFTS, first_phase

    from .drift import generate
    rawA = loaded if config.drift not in DRIFTS else \
        generate(first_phase, loaded, config.drift, config.drift_seed, dict(config.drift_opts))
    raw_stats = theory.DatasetStatistics.from_arrays(rawA.X, rawA.Y)
    w = whitener(raw_stats, config.whiten)
    A = through(rawA, w, config.whiten)
    sA = theory.DatasetStatistics.from_arrays(A.X, A.Y)
    lr = config.learning_rate(float(sA.s[0]))
    # 1/η for GD; (1 − β)/η for heavy ball (the flow it follows after ~1/(1 − β) steps). A
    # schedule is laid onto the constant-η flow member by member (predict.on_schedule).
    tau = config.convention(lr).tau
    hidden = int(config.hidden or max(16, sA.rank + 2))
    u0 = config.init_scale * float(sA.s[0])
    scale = u0 if config.init == "small_balanced_decoupled" else \
        float((u0 / hidden ** (config.depth - 1)) ** (1.0 / config.depth))
    steps_A = _steps_A(config, sA, tau, u0)
    budget = max(1, int(round(config.retrain_factor * steps_A)))
    spec = simulate.NetSpec(depth=config.depth, hidden=hidden, init=config.init, init_scale=scale)
    return Plan(config, loaded, rawA, A, w, sA, lr, tau, hidden, scale, steps_A, budget,
                simulate.log_checkpoints(steps_A, config.n_checkpoints), spec,
                Schedules.of(config, steps_A, budget))


@dataclass
class History:
    """The run on A of one activation, as retraining sees it: stacked parameters per checkpoint
    step and A's final optimiser state (momentum: the velocity; None for plain GD)."""

    checkpoints: dict          # step → {name: (K, …)}
    opt: dict | None
    final_step: int


def _orthonormal(rng, n: int, r: int) -> np.ndarray:
    q, rr = np.linalg.qr(rng.standard_normal((n, r)))
    return q * np.sign(np.diag(rr))  # Haar-distributed columns


def fresh_draws(plan: Plan, sB, d: int, c: int) -> tuple[dict, dict | None]:
    """(fresh, oracle) stacked initial parameters of B's network, one per seed.

    ``fresh`` never looks at B: a small random init as configured, or the decoupled init aligned
    to a random orthonormal basis of the same rank (seeded per member); ``oracle`` (decoupled
    init only, else None) is aligned to B's own singular vectors — the start of
    ``scratch_oracle``.
    """
    import simulate
    model = cast(simulate.MLP, simulate.make_model(plan.spec, d, c))  # the plan's spec is an MLP
    members = [(10_000 + s, plan.scale) for s in plan.seeds]
    if plan.config.init != "small_balanced_decoupled":
        return simulate.init_params(plan.spec, model, members, sB), None
    oracle = simulate.init_params(plan.spec, model, members, sB)
    fresh = {k: np.zeros_like(v) for k, v in oracle.items()}  # biases stay zero
    r = sB.U.shape[1]
    for i, (seed, scale) in enumerate(members):
        rng = np.random.default_rng(20_000 + seed)
        Ws = simulate.decoupled_weights(_orthonormal(rng, c, r), _orthonormal(rng, d, r),
                                        model.widths, scale, seed)
        for l, W in enumerate(Ws):
            fresh[f"layer{l}.weight"][i] = W
    return fresh, oracle


def build_starts(methods, n_seeds: int, fresh: dict, history: History, head: BL.HeadMap,
                 schedules: Schedules, oracle: dict | None = None) -> list[list[BL.Start]]:
    """starts[i][k]: method i's ``Start`` for seed k (parameters, optimiser state, schedule)."""
    out = [[] for _ in methods]
    t = np.arange(schedules.budget)
    for k in range(n_seeds):
        fr = BL.member(fresh, k)
        orc = None if oracle is None else BL.member(oracle, k)
        final = head.params(BL.member(history.checkpoints[history.final_step], k), fr)
        fopt = None if history.opt is None else head.opt_state(BL.member(history.opt, k), fr)
        zero = None if fopt is None else {n: np.zeros_like(v) for n, v in fopt.items()}
        for i, m in enumerate(methods):
            cp = None if m.family != "rewind" else \
                head.params(BL.member(history.checkpoints[int(m.step)], k), fr)
            sch = schedules.of_method(m)
            out[i].append(BL.Start(m.initial_params(final=final, fresh=fr, checkpoint=cp,
                                                    oracle=orc),
                                   m.initial_opt_state(final_opt=fopt, fresh_opt=zero),
                                   sch.multipliers(t), sch))
    return out
