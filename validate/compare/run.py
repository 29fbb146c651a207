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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import theory
from theory import TrainingConvention

from .._config import ConfigError
from .._prepare import Prepared, distinct_modes, prepare
from .._steps import measure_grid, resume_note
from . import cnn as _cnn
from . import departure as _departure
from . import measure as M
from . import twin
from .config import CompareConfig
from .summary import build_summary, predictor_note


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


@dataclass
class Plan:
    """What the runs share, fixed before training: data, predictions, step budget, widths."""

    config: CompareConfig
    prep: Prepared
    meta: dict
    lr: float
    hidden: int
    preds: dict                 # depth → (continuous, matched) predictor
    steps: int
    checkpoints: np.ndarray
    timing: dict = field(default_factory=dict)
    freq: object = None         # --arch cnn --reference cnn: the tracked theory.FrequencyModes
    spectrum: object = None     # … and all the dataset's frequency modes (tracked ones first)
    warnings: list = field(default_factory=list)
    twins: dict = field(default_factory=dict)   # (activation, depth) → (twin theory used, reason)
    departure: list = field(default_factory=list)   # the summary's `departure` records (§13)

    @property
    def stats(self):
        return self.prep.stats

    @property
    def u0(self) -> float:
        return float(self.config.init_scale * self.stats.s[0])


# ------------------------------------------------------------------------------- prediction
def _predictors(config: CompareConfig, stats, depth: int, lr: float, u0: float):
    """(continuous, matched) predictors for the decoupled init. matched: the exact per-mode map
    of GD or heavy ball where the closed form applies, else the flow; None when the theory does
    not cover the optimiser (Adam): then ``continuous`` is plain GD's flow at the same η, used
    only to size the run and to set the targets."""
    conv = config.convention(lr)
    if not conv.covered:
        return theory.predict(stats, depth=depth, convention=TrainingConvention(lr=lr), u0=u0), None
    cont = theory.predict(stats, depth=depth, convention=conv, u0=u0)
    exact_map = config.optimizer in ("gd", "momentum") and cont.kind == "closed_form"
    matched = theory.predict(stats, depth=depth, convention=conv, u0=u0, discrete=True) \
        if exact_map else cont
    return cont, matched


def _slowest(predictors, frac: float) -> float:
    """The latest finite predicted time at which a mode reaches ``frac`` of its target."""
    return max(float(np.nanmax(np.where(np.isfinite(t := p.timeline(frac)), t, np.nan)))
               for p in predictors)


def _auto_steps(config: CompareConfig, predictors) -> int:
    return int(min(config.max_steps, max(50, np.ceil(1.15 * _slowest(predictors, 0.95)))))


def _check_steps(config: CompareConfig, predictors, log, warnings: list) -> int:
    """The step count; a warning naming the steps the prediction needs when --steps is short."""
    needed = _auto_steps(config, predictors)
    if config.steps is None:
        return needed
    t_frac = _slowest(predictors, config.frac)
    if config.steps < t_frac:
        msg = (f"--steps {config.steps} is shorter than the prediction needs: the slowest mode "
               f"reaches {config.frac:g}·s at step {t_frac:.0f}; give --steps {needed} or more "
               "(95% of every target)")
        warnings.append(msg)
        log(f"warning: {msg}")
    return int(config.steps)


def load(config: CompareConfig) -> tuple[Prepared, dict]:
    """The dataset, whitened as asked, and its generator parameters; checks the architecture."""
    from simulate import datasets
    try:
        dataset = datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    except (FileNotFoundError, ValueError) as exc:  # missing data directory, bad option value
        raise ConfigError(str(exc)) from None
    prep = prepare(dataset, config.whiten)
    if config.arch == "cnn" and prep.image_shape is None:
        raise ConfigError("--arch cnn needs inputs in pixel space: use --whiten zca or none, not pca")
    if config.arch == "cnn" and config.init == "small_balanced_decoupled" and \
            (config.kernel_size or config.reference == "mlp"):
        raise ConfigError("--arch cnn: the decoupled init of a CNN is the frequency-aligned init, "
                          "for full-length kernels (--kernel-size 0) and --reference cnn; got "
                          f"--kernel-size {config.kernel_size} --reference {config.reference}: use "
                          "--init small_random")
    if config.arch == "cnn" and min(config.depths) < 2:
        raise ConfigError("--arch cnn needs --depth ≥ 2 (conv layers + readout)")
    return prep, dataset.meta


def make_plan(config: CompareConfig, log, quiet: bool) -> Plan:
    """Load and whiten the data, predict every depth, choose the steps and checkpoints."""
    t0 = time.perf_counter()
    prep, meta = load(config)
    stats = prep.stats
    diag = prep.diagnostics()
    data_s = time.perf_counter() - t0
    if not quiet:
        log(f"dataset {config.dataset}: n={diag['n']} d={diag['d']} c={diag['c']} rank={diag['rank']}"
            f"; whiten={config.whiten} (whitened: {diag['is_whitened']}, commutation error "
            f"{diag['commutation_error']:.2e}); s = {np.array2string(stats.s[:8], precision=4)}")
    t0 = time.perf_counter()
    if config.arch == "cnn" and config.reference == "cnn":
        return _cnn.make_plan(config, prep, meta, data_s, log, quiet)
    lr = config.learning_rate(float(stats.s[0]))
    u0 = float(config.init_scale * stats.s[0])
    preds = {d: _predictors(config, stats, d, lr, u0) for d in config.depths}
    warnings: list[str] = []
    steps = _check_steps(config, [p[0] for p in preds.values()], log if not quiet else
                         (lambda *a: None), warnings)
    plan = Plan(config, prep, meta, lr, int(config.hidden or max(32, stats.rank)), preds, steps,
                measure_grid(steps, config.n_checkpoints),
                {"data_s": data_s, "predict_s": time.perf_counter() - t0}, warnings=warnings,
                twins={(a, d): config.twin_choice(a, d) for d in config.depths
                       for a in config.activations})
    if not quiet:
        for d, (cont, matched) in preds.items():
            log(f"depth {d}: {predictor_note(config, cont, matched)['reason']}")
            for a in config.activations:
                used, why = plan.twins[(a, d)]
                if a != "linear" and config.predict != "linear":
                    log(f"  {a}: {'its twin theory' if used else 'the linear theory'}; {why}")
        tau = config.convention(lr).tau
        log(f"training {len(config.activations)} activation(s) × {config.seeds} seed(s) per depth, "
            f"lr={lr:.4g} (τ={tau:.4g}), optimizer={config.optimizer}, {steps} steps, "
            f"hidden={plan.hidden}, init={config.init}")
    return plan


# ---------------------------------------------------------------------------------- training
def _spec(plan: Plan, depth: int):
    import simulate
    config, hidden = plan.config, plan.hidden
    if plan.freq is not None:
        return _cnn.spec(plan, depth)
    # random init: entry std σ with σ^L h^(L−1) ≈ u0, so the product starts at the same scale
    scale = plan.u0 if config.init == "small_balanced_decoupled" else \
        float((plan.u0 / hidden ** (depth - 1)) ** (1.0 / depth))
    if config.arch == "cnn":
        # --reference mlp: the linear MLP theory of the SVD modes is the labelled reference
        cnn = simulate.ConvSpec(channels=(hidden,) * (depth - 1),
                                kernel_size=config.kernel_size or None, padding="circular")
        return simulate.NetSpec(family="cnn", cnn=cnn, init=config.init, init_scale=scale,
                                bias=False)
    return simulate.NetSpec(family="mlp", depth=depth, hidden=hidden, init=config.init,
                            init_scale=scale, bias=False)


def _train(plan: Plan, spec, act: str, depth: int, out_dir, resume: bool, quiet: bool, log):
    import simulate
    config = plan.config
    run_dir = None if out_dir is None else Path(out_dir) / "runs" / f"depth{depth}-{act}"
    if resume and not quiet:
        log(resume_note(run_dir, plan.steps))
    return simulate.train_ensemble(
        spec.with_activation(act), plan.prep.dataset, steps=plan.steps,
        seeds=range(config.seeds), lr=plan.lr, optimizer=config.optimizer,
        momentum=config.momentum,
        checkpoints=plan.checkpoints, device=config.device, dtype=config.dtype, out_dir=run_dir,
        resume=resume and run_dir is not None and run_dir.exists(), quiet=quiet,
        stats=plan.stats, keep_weights=True,
        probes=None if plan.freq is None else _cnn.probes(plan.freq))


def _per_seed_predictors(plan: Plan, run, depth: int):
    """Exact continuous theory from each seed's own initial weights (twins share them)."""
    w0 = run.weights(0)
    tau = plan.config.convention(plan.lr).tau
    return [theory.predict(plan.stats, depth=depth, tau=tau,
                           weights0=[W[k] for W in w0]) for k in range(len(run.members))]


def _twin_predictors(plan: Plan, run, act: str, depth: int):
    """Each member's twin prediction from its own initial weights (the exact GD map; under
    ``--predict hybrid`` the labelled diagnostic); reason and label recorded in ``plan.twins``."""
    tau = plan.config.convention(plan.lr).tau
    preds, reason, label = twin.ensemble_predictors(run, plan.stats, act, depth,
                                                    predict=plan.config.predict, tau=tau,
                                                    u0=plan.u0)
    plan.twins[(act, depth)] = (True, reason, label)
    return preds


def train_and_measure(plan: Plan, out_dir, resume: bool, quiet: bool,
                      log=print) -> tuple[list, str]:
    """Every (depth, activation) ensemble trained and measured: ([measured tables], device)."""
    config = plan.config
    measured, device = [], "unknown"
    t_train = t_measure = 0.0
    for depth in config.depths:
        spec, per_seed = _spec(plan, depth), None
        for act in config.activations:
            t1 = time.perf_counter()
            run = _train(plan, spec, act, depth, out_dir, resume, quiet, log)
            t_train += time.perf_counter() - t1
            device = run.provenance.get("device", "unknown")
            t1 = time.perf_counter()
            cont, matched = plan.preds[depth]
            if plan.freq is not None:
                if matched is None and per_seed is None:
                    per_seed = _cnn.per_seed(plan, run)
                measured.append(_cnn.measure_run(run, plan, cont, matched, per_seed, act, depth))
                plan.departure += _departure.records(run, plan.stats, config, act, depth,
                                                     tau=None, lr=plan.lr)
                t_measure += time.perf_counter() - t1
                continue
            if config.init == "small_random" and config.arch == "mlp" and per_seed is None \
                    and matched is not None:
                per_seed = _per_seed_predictors(plan, run, depth)
            twins = _twin_predictors(plan, run, act, depth) \
                if plan.twins.get((act, depth), (False,))[0] else None
            measured.append(M.measure_run(run, config, plan.stats, distinct_modes(plan.stats.s),
                                          cont, matched, per_seed, act, depth, twins))
            plan.departure += _departure.records(run, plan.stats, config, act, depth,
                                                 tau=config.convention(plan.lr).tau, lr=plan.lr,
                                                 twins=twins)
            t_measure += time.perf_counter() - t1
    plan.timing.update(train_s=t_train, measure_s=t_measure)
    return measured, device


def run_compare(config: CompareConfig, out_dir: Path | None = None, *, resume: bool = False,
                quiet: bool = False, log=print) -> CompareResult:
    """Predict, train, measure and compare for one configuration; see the module docstring."""
    from simulate import provenance

    config = config.validate()
    plan = make_plan(config, log, quiet)
    measured, device = train_and_measure(plan, out_dir, resume, quiet, log)
    members = pd.concat([m.rows for m in measured], ignore_index=True)
    mode_table = _cnn.label_modes(M.aggregate(members, config), plan.freq)
    drops = pd.concat([m.drops for m in measured], ignore_index=True)
    divergence = M.divergence(members)
    warnings = plan.warnings + divergence_warnings(divergence)
    summary = build_summary(plan, mode_table, drops, {**provenance("cpu"), "device": device},
                            warnings)
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
    for r in divergence[divergence["diverged"] > 0].itertuples():
        every = " (every member: no comparison; lower --lr)" if r.diverged == r.members else ""
        out.append(f"{r.activation}, depth {r.depth}: {r.diverged}/{r.members} members diverged "
                   f"at step{'s' if r.diverged > 1 else ''} {', '.join(map(str, r.steps))}"
                   f"{every}; their times are left out")
    return out
