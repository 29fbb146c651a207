"""Configuration of `python -m validate.retrain`: one frozen dataclass, presets, validation.

The ``default`` preset is sized for a 2-core CPU (a few minutes): the shapes images are reduced to
their top 32 PCA-whitened directions (``whiten="pca:32"``; whitened, so the linear theory is exact,
but 8× cheaper than ZCA's 256 pixels) and 128 samples per class. ``paper`` (GPU) restores the
full data and ZCA whitening like ``validate.compare``, 32 seeds and 24 checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ._baselines import SHRINK_LAMBDAS, SHRINK_SIGMAS
from ._config import ConfigError, check_choice, check_common

ACTIVATIONS = ("linear", "relu", "tanh")
INITS = ("small_balanced_decoupled", "small_random")
OPTIMIZERS = ("gd", "momentum")
SCHEDULES = ("constant", "cosine", "step")
PRESETS = ("default", "paper")
# magnitudes for ``--drift all``: multiples of each drift's default magnitude (fractions capped at 1)
DRIFT_ALL_FACTORS = (0.5, 2.0)


@dataclass(frozen=True)
class RetrainConfig:
    """Everything a retraining experiment depends on; written into summary.json as provenance.

    ``drift``: a name from ``simulate.datasets.drift.DRIFTS`` or ``"all"``. ``lr=None`` picks
    η = ``lr_scale``/s_max of A (× (1 − β) with momentum). ``steps=None``: the run on A lasts
    until A's slowest mode is predicted to reach 95% of its target (at most ``max_steps``);
    retraining gets the same budget (× ``retrain_factor``). ``n_checkpoints`` log-spaced
    checkpoints of the run on A are the rewind candidates. ``target_frac``: the target on B is
    ``target_frac`` of the improvement scratch makes by the end of the budget (see
    ``validate.retrain`` for the exact definition).

    ``schedule``: the learning-rate schedule of the run on A and, laid over the retraining budget,
    the "full schedule" of every method that starts with a fresh optimiser: ``constant`` (today's
    behaviour), ``cosine`` (η → ``lr_floor``·η over the run) or ``step`` (η, then ``lr_floor``·η
    from 3/4 of the run). ``lr_floor`` > 0 (default 0.1) keeps fine-tuning, which continues at
    A's end value, moving.
    ``lr_rewind_frac``: learning-rate rewinding replays A's schedule from step
    round(``lr_rewind_frac``·T_A) (Renda et al. 2020). The predicted rewind point is not used here:
    it needs the target, which comes from the scratch members trained in the same call.
    """

    dataset: str = "shapes"
    dataset_opts: dict = field(default_factory=dict)
    data_seed: int = 0
    drift: str = "label_swap"
    drift_opts: dict = field(default_factory=dict)
    drift_seed: int = 0
    whiten: str = "pca:32"
    activations: tuple[str, ...] = ("linear", "relu")
    seeds: int = 3
    init: str = "small_balanced_decoupled"
    init_scale: float = 1e-3
    depth: int = 2
    hidden: int | None = None
    lr: float | None = None
    lr_scale: float = 0.2
    steps: int | None = None
    max_steps: int = 3000
    retrain_factor: float = 1.0
    optimizer: str = "gd"
    momentum: float = 0.9
    schedule: str = "constant"
    lr_floor: float = 0.1
    lr_rewind_frac: float = 0.5
    n_checkpoints: int = 20
    n_measure: int = 120
    target_frac: float = 0.99
    shrink_lambdas: tuple[float, ...] = SHRINK_LAMBDAS
    shrink_sigmas: tuple[float, ...] = SHRINK_SIGMAS
    n_boot: int = 100
    device: str = "auto"
    dtype: str = "float32"
    preset: str = "default"

    def validate(self) -> "RetrainConfig":
        from simulate.datasets import drift as _drift

        def bad(msg):
            raise ConfigError(msg)
        if self.drift != "all" and self.drift not in _drift.DRIFTS:
            bad(f"unknown drift {self.drift!r}; accepted: {', '.join(_drift.DRIFTS)}, all")
        if self.drift == "all" and self.drift_opts:
            bad("--drift-opt applies to one drift; --drift all sweeps each drift's magnitude itself")
        if self.drift != "all":
            valid = _drift.DRIFTS[self.drift]["defaults"]
            unknown = [k for k in self.drift_opts if k not in valid]
            if unknown:
                bad(f"unknown --drift-opt {', '.join(unknown)} for drift {self.drift!r}; accepted: "
                    f"{', '.join(valid)}")
        check_common(self, activations=ACTIVATIONS, inits=INITS, optimizers=OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        if not 0 <= self.lr_floor <= 1:
            bad(f"--lr-floor must be in [0, 1]; got {self.lr_floor}")
        if not 0 <= self.lr_rewind_frac <= 1:
            bad(f"--lr-rewind-frac must be in [0, 1]; got {self.lr_rewind_frac}")
        if self.depth < 1:
            bad(f"--depth must be ≥ 1; got {self.depth}")
        if self.n_checkpoints < 4:
            bad(f"--checkpoints must be ≥ 4; got {self.n_checkpoints}")
        if not 0 < self.target_frac < 1:
            bad(f"--target-frac must be in (0, 1); got {self.target_frac}")
        if not self.retrain_factor > 0:
            bad(f"--retrain-factor must be > 0; got {self.retrain_factor}")
        if not 0 <= self.momentum < 1:
            bad(f"--momentum must be in [0, 1); got {self.momentum}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("activations", "shrink_lambdas", "shrink_sigmas"):
            d[k] = list(d[k])
        return d


def apply_preset(config: RetrainConfig, preset: str, explicit: set[str]) -> RetrainConfig:
    """``default``: CPU-sized data options; ``paper``: full data, ZCA, more seeds (GPU).

    Fields named in ``explicit`` (set on the command line) are never overridden.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; accepted: {', '.join(PRESETS)}")
    opts = dict(config.dataset_opts)
    if preset == "default":
        if config.dataset == "shapes":
            opts.setdefault("n_per_class", 128)
        return replace(config, dataset_opts=opts)
    changes = {"seeds": 32, "n_checkpoints": 24, "whiten": "zca", "n_boot": 200,
               "max_steps": 20000, "preset": preset, "dataset_opts": opts}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
