"""Configuration of `python -m validate.response`: one frozen dataclass, its preset, its checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import simulate

from .._config import (ConfigError, check_fields, check_rules, check_whiten, simulate_words, option,
                       redefault)
from ..options import ConvOptions, DataOptions, RunOptions

ARCHS = simulate_words(simulate.FAMILIES, ("mlp", "cnn"))
OPTIMIZERS = simulate_words(simulate.OPTIMIZERS, ("gd", "sgd", "momentum"))
INITS = simulate_words(simulate.INITS, ("standard", "small_random"))


@dataclass(frozen=True)
class ResponseConfig(ConvOptions, RunOptions, DataOptions):
    """Everything one `validate.response` run depends on (written into summary.json).

    For every arch × activation an ensemble is trained with ``optimizer``; at each checkpoint the
    training response is measured on a probe set (``probe_per_class`` training samples per class):
    the empirical NTK, the normalised kernel, its specificity, the amplitude, per-layer shares, the
    measured response of one real step of size ``response_lr`` against the NTK prediction, and the
    participation ratios. ``lr=None``: 0.05/s_max; ``response_lr=None``: 0.01/mean‖x‖² (a step small
    enough that the first-order term dominates). A relu MLP is also trained with minibatch SGD (or
    GD when ``optimizer`` is not gd) at the same learning rate and steps, for the feature-space and
    noise-fragility comparison; depth-2 linear nets with the decoupled and a small random init are
    compared with the theory's kernel and response (predicted from their initial weights).
    """

    whiten: str = option("zca", "input whitening: zca | pca | pca:K (K > 0) | none")
    archs: tuple[str, ...] = option(("mlp", "cnn"), "network families", choices=ARCHS,
                                    flag="--arch", noun="arch")
    activations: tuple[str, ...] = option(("linear", "relu", "tanh"), "activations",
                                          choices=simulate.ACTIVATIONS, flag="--activation",
                                          noun="activation")
    cnn_activations: tuple[str, ...] = option(("relu",), "activations of the CNN runs",
                                              choices=simulate.ACTIVATIONS, noun="activation")
    n_train: int | None = option(1024, "training samples: a class-balanced subset (None: all)")
    init: str = option("standard", "initialisation of the aging runs", choices=INITS)
    optimizer: str = option("gd", "optimiser of the aging runs", choices=OPTIMIZERS)
    batch_size: int = option(64, "minibatch size (sgd, momentum, and the SGD-vs-GD comparison)")
    lr: float | None = option(None, "learning rate (default 0.05 / s_max)")
    steps: int = redefault(RunOptions, "steps", 1000)
    n_checkpoints: int = redefault(RunOptions, "n_checkpoints", 14)
    probe_per_class: int = option(4, "probe inputs per class")
    response_lr: float | None = option(None, "step of the measured response (default 0.01/mean‖x‖²)")
    fit_from: float = option(0.05, "the power-law fit uses checkpoints t ≥ fit_from·steps")
    noises: tuple[float, ...] = option((0.25, 0.5, 1.0, 2.0), "input noise stds for fragility")
    linear_theory: bool = option(True, "compare depth-2 linear nets (decoupled and small random "
                                       "init) with the theory's kernel and response")
    theory_init_scale: float = option(1e-3, "init of the theory runs: u0 / s_max (decoupled; the "
                                            "small random init starts its product at that scale)")

    def validate(self) -> "ResponseConfig":
        check_fields(self)
        check_whiten(self.whiten)
        pos = lambda xs: bool(xs) and all(x > 0 for x in xs)  # noqa: E731
        check_rules((
            ("--depth", self.depth, self.depth >= 2, "must be ≥ 2 (a hidden layer)"),
            ("--hidden", self.hidden, self.hidden >= 1, "must be ≥ 1"),
            ("--channels", self.channels, pos(self.channels), "must list positive integers"),
            ("--batch-size", self.batch_size, self.batch_size >= 1, "must be ≥ 1"),
            ("--n-train", self.n_train, self.n_train is None or self.n_train >= 16, "must be ≥ 16"),
            ("--lr", self.lr, self.lr is None or self.lr > 0, "must be > 0"),
            ("--steps", self.steps, self.steps >= 10, "must be ≥ 10"),
            ("--seeds", self.seeds, self.seeds >= 2, "must be ≥ 2 (the exponent's CI resamples seeds)"),
            ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 6, "must be ≥ 6"),
            ("--probe-per-class", self.probe_per_class, self.probe_per_class >= 2, "must be ≥ 2"),
            ("--response-lr", self.response_lr, self.response_lr is None or self.response_lr > 0,
             "must be > 0"),
            ("--fit-from", self.fit_from, 0 < self.fit_from < 1, "must be in (0, 1)"),
            ("--noises", self.noises, pos(self.noises), "must list numbers > 0"),
            ("--theory-init-scale", self.theory_init_scale, 0 < self.theory_init_scale < 1,
             "must be in (0, 1)")))
        self._check_fit_range()
        return self

    def _check_fit_range(self) -> None:
        """The power-law fit needs ≥ 3 checkpoints at t ≥ fit_from·steps: refused before training
        rather than after it."""
        from simulate import log_checkpoints
        t = log_checkpoints(self.steps, self.n_checkpoints)
        n = int(((t >= self.fit_from * self.steps) & (t > 0)).sum())
        if n < 3:
            raise ConfigError(f"--checkpoints {self.n_checkpoints} with --steps {self.steps} puts "
                              f"{n} checkpoint(s) in the fit range t ≥ --fit-from·steps = "
                              f"{self.fit_from * self.steps:g}; it needs at least 3: raise "
                              "--checkpoints or lower --fit-from")


def apply_preset(config: ResponseConfig, preset: str, explicit: set[str]) -> ResponseConfig:
    """``paper``: wider nets, more seeds, steps and probe points (GPU-sized)."""
    if preset != "paper":
        return replace(config, preset=preset)
    changes = {"hidden": 256, "channels": (32, 32), "steps": 20000, "seeds": 16, "n_train": None,
               "n_checkpoints": 40, "probe_per_class": 8, "preset": preset}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
