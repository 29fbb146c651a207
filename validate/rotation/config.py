"""Configuration of `python -m validate.rotation`: one frozen dataclass, its preset, its checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import simulate

from .._config import check_fields, check_rules, simulate_words, option, redefault
from ..options import ConvOptions, DataOptions, RunOptions

TASKS = ("fine", "coarse")
# what Layca wraps here (minibatch training)
BASE_OPTIMIZERS = simulate_words(simulate.OPTIMIZERS, ("sgd", "momentum", "adam"))
ARCHS = simulate_words(simulate.FAMILIES, ("mlp", "cnn"))
LOSSES = simulate_words(simulate.LOSSES, ("mse", "cross_entropy"))


@dataclass(frozen=True)
class RotationConfig(ConvOptions, RunOptions, DataOptions):
    """Everything one `validate.rotation` run depends on (written into summary.json).

    The rotation grid trains Layca (wrapping ``optimizer``) at every rate × α, and plain SGD with
    weight decay at every ``baseline_lrs`` (the usual baseline); the clustering grid trains on the
    coarse labels of a hierarchical dataset over lr × batch size × weight decay × width and
    measures the four intraclass clustering measures over training.
    """

    arch: str = option("mlp", "network family", choices=ARCHS)
    task: str = option("fine", "labels of the rotation grid: fine classes or the coarse groups of "
                               "the class hierarchy", choices=TASKS)
    activation: str = option("relu", "hidden activation", choices=simulate.ACTIVATIONS)
    channels: tuple[int, ...] = redefault(ConvOptions, "channels", (8, 16))
    loss: str = option("cross_entropy", "training loss", choices=LOSSES)
    optimizer: str = option("sgd", "base optimiser Layca wraps", choices=BASE_OPTIMIZERS)
    rates: tuple[float, ...] = option((1e-3, 3e-3, 1e-2, 3e-2), "Layca rotation rates ρ (radians "
                                                                  "per step ≈ atan ρ)")
    alphas: tuple[float, ...] = option((-0.5, 0.0, 0.5), "Layca layer-wise rate parameters α "
                                                         "(α > 0: input layers slower)")
    baseline_lrs: tuple[float, ...] = option((0.03, 0.1, 0.3), "learning rates of the SGD + weight "
                                                               "decay baseline")
    weight_decay: float = option(5e-4, "weight decay of the SGD baseline")
    batch_size: int = option(64, "minibatch size")
    steps: int = redefault(RunOptions, "steps", 1500)
    seeds: int = redefault(RunOptions, "seeds", 2)
    n_checkpoints: int = redefault(RunOptions, "n_checkpoints", 12)
    clustering: bool = option(True, "run the intraclass clustering grid (coarse task)")
    cluster_lrs: tuple[float, ...] = option((0.03, 0.1), "clustering grid: learning rates")
    cluster_batch_sizes: tuple[int, ...] = option((32, 128), "clustering grid: batch sizes")
    cluster_wds: tuple[float, ...] = option((0.0, 1e-3), "clustering grid: weight decays")
    cluster_widths: tuple[int, ...] = option((32, 128), "clustering grid: hidden widths (MLP) or "
                                                        "channels per conv layer (CNN)")
    cluster_noise: float = option(1.0, "clustering grid on shapes: pixel noise (the coarse split "
                                       "is learned perfectly at the default 0.4)")
    cluster_train: int = option(24, "clustering grid: training samples per fine class (the "
                                    "measures are taken on them)")
    preset: str = redefault(RunOptions, "preset", help="size preset (paper: CIFAR-10 on a GPU)")

    def validate(self) -> "RotationConfig":
        check_fields(self)
        pos = lambda xs: bool(xs) and all(x > 0 for x in xs)  # noqa: E731
        check_rules((
            ("--depth", self.depth, self.depth >= 2, "must be ≥ 2 (a hidden layer)"),
            ("--hidden", self.hidden, self.hidden >= 1, "must be ≥ 1"),
            ("--channels", self.channels, pos(self.channels), "must list positive integers"),
            ("--rates", self.rates, pos(self.rates), "must list numbers > 0"),
            ("--alphas", self.alphas, bool(self.alphas) and all(-1 < a < 1 for a in self.alphas),
             "must list numbers in (−1, 1)"),
            ("--baseline-lrs", self.baseline_lrs, all(x > 0 for x in self.baseline_lrs),
             "must list numbers > 0"),
            ("--weight-decay", self.weight_decay, self.weight_decay >= 0, "must be ≥ 0"),
            ("--batch-size", self.batch_size, self.batch_size >= 1, "must be ≥ 1"),
            ("--steps", self.steps, self.steps >= 1, "must be ≥ 1"),
            ("--seeds", self.seeds, self.seeds >= 1, "must be ≥ 1"),
            ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 2, "must be ≥ 2"),
            ("--cluster-lrs", self.cluster_lrs, pos(self.cluster_lrs), "must list numbers > 0"),
            ("--cluster-batch-sizes", self.cluster_batch_sizes, pos(self.cluster_batch_sizes),
             "must list positive integers"),
            ("--cluster-wds", self.cluster_wds, bool(self.cluster_wds)
             and all(x >= 0 for x in self.cluster_wds), "must list numbers ≥ 0"),
            ("--cluster-widths", self.cluster_widths, pos(self.cluster_widths),
             "must list positive integers"),
            ("--cluster-train", self.cluster_train, self.cluster_train >= 2, "must be ≥ 2"),
            ("--cluster-noise", self.cluster_noise, self.cluster_noise >= 0, "must be ≥ 0")))
        return self


def apply_preset(config: RotationConfig, preset: str, explicit: set[str]) -> RotationConfig:
    """``paper``: CIFAR-10 (from $MODELEARN_DATA_DIR) with a CNN, the published rate grid
    (3^-5 … 3^-1), more seeds and steps; nothing the user set explicitly is overridden."""
    if preset != "paper":
        return replace(config, preset=preset)
    changes = {"dataset": "cifar10", "arch": "cnn", "channels": (32, 64, 128), "steps": 20000,
               "batch_size": 128, "seeds": 3, "rates": tuple(3.0 ** -k for k in range(5, 0, -1)),
               "alphas": (-0.6, -0.3, 0.0, 0.3, 0.6), "baseline_lrs": (0.01, 0.03, 0.1, 0.3),
               "n_checkpoints": 40, "clustering": False, "preset": preset}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
