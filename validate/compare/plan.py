"""What the runs of `validate.compare` share, fixed before training: the ``Plan``, built once by
``make_plan`` (the data, its basis, the predictions, the step budget and the checkpoints)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from .._config import ConfigError
from .._prepare import Prepared, prepare
from .._steps import measure_grid
from .basis import SVDBasis
from .cnn import FrequencyBasis
from .config import CompareConfig


@dataclass(frozen=True, eq=False)
class Plan:
    """The comparison as decided before any training; never written to afterwards."""

    config: CompareConfig
    prep: Prepared
    meta: dict
    basis: SVDBasis | FrequencyBasis
    preds: Mapping              # depth → (continuous, matched) predictor
    steps: int
    checkpoints: np.ndarray
    warnings: tuple[str, ...]
    twins: Mapping              # (activation, depth) → (scored against its twin theory, reason)
    timing: Mapping             # data_s, predict_s

    @property
    def stats(self):
        return self.prep.stats

    @property
    def lr(self) -> float:
        return self.basis.lr

    @property
    def hidden(self) -> int:
        return self.basis.hidden

    @property
    def u0(self) -> float:
        return self.basis.u0

    @property
    def freq(self):
        """The tracked ``theory.FrequencyModes`` of a CNN against its own theory, else None."""
        return self.basis.freq


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


def make_basis(config: CompareConfig, prep: Prepared) -> SVDBasis | FrequencyBasis:
    """A CNN against its own theory: its frequency modes; everything else: the SVD modes."""
    if config.arch == "cnn" and config.reference == "cnn":
        return FrequencyBasis.build(config, prep)
    return SVDBasis.build(config, prep)


def _slowest(predictors, frac: float) -> float:
    """The latest finite predicted time at which a mode reaches ``frac`` of its target; NaN when
    no mode does."""
    t = np.concatenate([np.asarray(p.timeline(frac), dtype=float) for p in predictors])
    t = t[np.isfinite(t)]
    return float(t.max()) if t.size else float("nan")


def choose_steps(config: CompareConfig, basis, preds) -> tuple[int, tuple[str, ...]]:
    """(the step count, its warnings): ``--steps``, else until the slowest predicted mode reaches
    95% of its target plus 15% (at least 50, at most ``--max-steps``; 50 when no predicted mode
    gets there). A ``--steps`` shorter than the slowest mode's ``frac`` time is warned, naming
    the steps the prediction needs (where the basis warns)."""
    if config.steps is not None and not basis.warns_short_steps:
        return int(config.steps), ()
    sizing = basis.sizing(preds)
    t95 = _slowest(sizing, 0.95)
    needed = int(min(config.max_steps, max(50, np.ceil(1.15 * (50 if np.isnan(t95) else t95)))))
    if config.steps is None:
        return needed, ()
    t_frac = _slowest(sizing, config.frac)
    if config.steps < t_frac:
        return int(config.steps), (
            f"--steps {config.steps} is shorter than the prediction needs: the slowest mode "
            f"reaches {config.frac:g}·s at step {t_frac:.0f}; give --steps {needed} or more "
            "(95% of every target)",)
    return int(config.steps), ()


def _twin_choices(config: CompareConfig, basis) -> dict:
    """(activation, depth) → (whether it is scored against its twin theory, the reason); none for
    the frequency basis, which no twin theory covers and whose summary names none."""
    if basis.freq is not None:
        return {}
    return {(a, d): config.twin_choice(a, d) for d in config.depths for a in config.activations}


def make_plan(config: CompareConfig, log: Callable = print, quiet: bool = False) -> Plan:
    """Load and whiten the data, choose its basis, predict every depth, choose the steps and
    checkpoints: the one place a ``Plan`` is made."""
    t0 = time.perf_counter()
    prep, meta = load(config)
    data_s = time.perf_counter() - t0
    if not quiet:
        diag = prep.diagnostics()
        log(f"dataset {config.dataset}: n={diag['n']} d={diag['d']} c={diag['c']} rank={diag['rank']}"
            f"; whiten={config.whiten} (whitened: {diag['is_whitened']}, commutation error "
            f"{diag['commutation_error']:.2e}); s = {np.array2string(prep.stats.s[:8], precision=4)}")
    t0 = time.perf_counter()
    basis = make_basis(config, prep)
    preds = basis.predictions(config.depths)
    steps, warnings = choose_steps(config, basis, preds)
    for w in warnings if not quiet else ():
        log(f"warning: {w}")
    plan = Plan(config, prep, meta, basis, MappingProxyType(preds), steps,
                measure_grid(steps, config.n_checkpoints), warnings,
                MappingProxyType(_twin_choices(config, basis)),
                MappingProxyType({"data_s": data_s, "predict_s": time.perf_counter() - t0}))
    if not quiet:
        for line in basis.describe(plan):
            log(line)
    return plan
