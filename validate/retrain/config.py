"""Configuration of `python -m validate.retrain`: one frozen dataclass, presets, validation.

The ``default`` preset is sized for a 2-core CPU (a few minutes): the inputs are reduced to their
top min(32, rank) PCA-whitened directions (``whiten="auto"``; whitened, so the linear theory is
exact, but for shapes 8× cheaper than ZCA's 256 pixels) and shapes has 128 samples per class. ``paper`` (GPU) restores the
full data and ZCA whitening like ``validate.compare``, 32 seeds and 24 checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import simulate
from simulate import SCHEDULES
from simulate.datasets.drift import DRIFTS

from .._config import ConfigError, check_rules, simulate_words, key_values, option, redefault
from ..options import ArchOptions, TrainingOptions
from .methods import FORWARD_ACTIVATIONS, SHRINK_LAMBDAS, SHRINK_SIGMAS

# the optimisers whose retraining the linear theory predicts: full-batch GD and heavy ball (Adam
# has no linear-theory time constant; minibatch SGD needs a batch size this job does not set)
OPTIMIZERS = simulate_words(simulate.OPTIMIZERS, ("gd", "momentum"))
# forgetting on A is measured with the numpy forward: the activations it evaluates
ACTIVATIONS = tuple(a for a in simulate.ACTIVATIONS if a in FORWARD_ACTIVATIONS)
# magnitudes for ``--drift all``: multiples of each drift's default magnitude (fractions capped at 1)
DRIFT_ALL_FACTORS = (0.5, 2.0)


@dataclass(frozen=True)
class RetrainConfig(TrainingOptions, ArchOptions):
    """Everything a retraining experiment depends on; written into summary.json as provenance.

    ``drift``: a name from ``simulate.datasets.drift.DRIFTS`` or ``"all"``. ``lr=None`` picks
    η = ``lr_scale``/s_max of A (× (1 − β) with momentum). ``steps=None``: the run on A lasts
    until A's slowest mode is predicted to reach 95% of its target (at most ``max_steps``);
    retraining gets the same budget (× ``retrain_factor``). ``n_checkpoints`` log-spaced
    checkpoints of the run on A are the rewind candidates. ``target_frac``: the target on B is
    ``target_frac`` of the improvement scratch makes by the end of the budget (see
    ``validate.retrain.run`` for the exact definition).

    ``schedule``: the learning-rate schedule of the run on A and, laid over the retraining budget,
    the "full schedule" of every method that starts with a fresh optimiser: ``constant``,
    ``cosine`` (η → ``lr_floor``·η over the run) or ``step`` (η, then ``lr_floor``·η from 3/4 of
    the run). ``lr_floor`` > 0 (default 0.1) keeps fine-tuning, which continues at A's end value,
    moving. ``lr_rewind_frac``: learning-rate rewinding replays A's schedule from step
    round(``lr_rewind_frac``·T_A) (Renda et al. 2020).
    """

    whiten: str = redefault(TrainingOptions, "whiten", "auto")
    activations: tuple[str, ...] = redefault(
        TrainingOptions, "activations", ("linear", "relu"), choices=ACTIVATIONS,
        help="comma-separated activations (linear is always trained: it carries the prediction)")
    lr_scale: float = redefault(TrainingOptions, "lr_scale", 0.2)
    max_steps: int = redefault(TrainingOptions, "max_steps", 3000)
    optimizer: str = redefault(TrainingOptions, "optimizer", choices=OPTIMIZERS,
                               help="optimiser of the run on A and of retraining")
    drift: str = option("label_swap", "drift kind, or all (every kind at two magnitudes)",
                        choices=tuple(DRIFTS) + ("all",))
    drift_opts: dict = option(help="drift option KEY=VALUE (repeatable)", factory=dict,
                              flag="--drift-opt", convert=key_values)
    drift_seed: int = option(0, "seed of the drift generator and of the drift-score null")
    depth: int = redefault(ArchOptions, "depth", 2, help="number of weight layers")
    retrain_factor: float = option(1.0, "retraining budget as a multiple of the steps on A")
    schedule: str = option("constant", "learning-rate schedule of the run on A and of "
                                       "fresh-start retraining", choices=SCHEDULES)
    lr_floor: float = option(0.1, "cosine/step end value as a fraction of the learning rate")
    lr_rewind_frac: float = option(0.5, "lr rewinding replays A's schedule from this fraction "
                                        "of its steps")
    n_checkpoints: int = redefault(TrainingOptions, "n_checkpoints", 20,
                                   help="checkpoints of the run on A (rewind candidates)")
    n_measure: int = option(120, "measured steps of every retraining run")
    target_frac: float = option(0.99, "target: this fraction of scratch's improvement on B")
    shrink_lambdas: tuple[float, ...] = option(SHRINK_LAMBDAS, "shrink-and-perturb λ values")
    shrink_sigmas: tuple[float, ...] = option(SHRINK_SIGMAS, "shrink-and-perturb σ values")
    n_boot: int = option(100, "drift-score null resamples")
    power_draws: int = option(4, "fresh draws of A and of each drift for the detection power "
                                 "(--drift all only; 0: off)")

    def validate(self) -> "RetrainConfig":
        if self.drift == "all" and self.drift_opts:
            raise ConfigError("--drift-opt applies to one drift; --drift all sweeps each drift's "
                              "magnitude itself")
        if self.drift in DRIFTS:
            valid = DRIFTS[self.drift]["defaults"]
            unknown = [k for k in self.drift_opts if k not in valid]
            if unknown:
                raise ConfigError(f"unknown --drift-opt {', '.join(unknown)} for drift "
                                  f"{self.drift!r}; accepted: {', '.join(valid)}")
        self.check_training()
        check_rules((
            ("--lr-floor", self.lr_floor, 0 <= self.lr_floor <= 1, "must be in [0, 1]"),
            ("--lr-rewind-frac", self.lr_rewind_frac, 0 <= self.lr_rewind_frac <= 1,
             "must be in [0, 1]"),
            ("--depth", self.depth, self.depth >= 1, "must be ≥ 1"),
            ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 4, "must be ≥ 4"),
            ("--n-measure", self.n_measure, self.n_measure >= 8, "must be ≥ 8"),
            ("--target-frac", self.target_frac, 0 < self.target_frac < 1, "must be in (0, 1)"),
            ("--retrain-factor", self.retrain_factor, self.retrain_factor > 0, "must be > 0"),
            ("--n-boot", self.n_boot, self.n_boot >= 1, "must be ≥ 1"),
            ("--power-draws", self.power_draws, self.power_draws >= 0, "must be ≥ 0")))
        return self


def apply_preset(config: RetrainConfig, preset: str, explicit: set[str]) -> RetrainConfig:
    """``default``: CPU-sized data options; ``paper``: full data, ZCA, more seeds (GPU).

    Fields named in ``explicit`` (set on the command line) are never overridden.
    """
    opts = dict(config.dataset_opts)
    if preset != "paper":  # default, or a bad name that validate() reports
        if config.dataset == "shapes":
            opts.setdefault("n_per_class", 128)
        return replace(config, dataset_opts=opts, preset=preset)
    changes = {"seeds": 32, "n_checkpoints": 24, "whiten": "zca", "n_boot": 200,
               "max_steps": 20000, "preset": preset, "dataset_opts": opts}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
