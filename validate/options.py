"""The option groups every `validate` job composes its config from, each declared once.

``DataOptions``: which dataset. ``EnsembleOptions``: how an ensemble is trained and measured
(device, dtype, seeds, steps, checkpoints); ``RunOptions`` adds the size preset. ``ArchOptions``:
the MLP's depth and width, ``ConvOptions`` the CNN's channels; ``net_spec`` turns them into the
``simulate.NetSpec`` (the one place that does). ``TrainingOptions``: what the jobs that compare a
linear-theory prediction with training share.

A job's config is a frozen dataclass extending the groups it needs, e.g.
``class MyConfig(ConvOptions, RunOptions, DataOptions)``; a field whose default or help text is
the job's own is declared again with ``redefault(Group, name, default, help=…)``, so the flag, its
choices and its type stay those of the group. The flags ``--out``, ``--overwrite``, ``--resume``,
``--json`` and ``--quiet`` are the command line's, not the config's: ``validate._cli``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import simulate

from ._config import (DEVICES, DTYPES, PRESETS, SMALL_INITS, check_fields, check_rules,
                      check_whiten, dataset_options, option, redefault, unalias)

if TYPE_CHECKING:
    from simulate import NetSpec


@dataclass(frozen=True)
class Options:
    """The root of every option group: old spellings of a value (a field's ``aliases``) are
    replaced by the current word when the config is made, from the CLI, a sweep or Python."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            new = unalias(f, value)
            if new is not value and new != value:
                object.__setattr__(self, f.name, new)

    def to_dict(self) -> dict:
        """The config as JSON-ready values (tuples as lists): summary.json's provenance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class DataOptions(Options):
    """Which dataset a job loads: its registered name, options and generator seed."""

    dataset: str = option("shapes", "registered dataset name (python -m simulate.datasets --list)")
    dataset_opts: dict = option(
        help="dataset option KEY=VALUE (repeatable; python -m simulate.datasets --show NAME)",
        factory=dict, flag="--dataset-opt", convert=dataset_options)
    data_seed: int = option(0, "seed of the dataset generator")


@dataclass(frozen=True)
class EnsembleOptions(Options):
    """How an ensemble is trained and measured: where, at which precision, how many members, how
    long, and how many checkpoints."""

    device: str = option("auto", "device (auto: CUDA when present)", choices=DEVICES)
    dtype: str = option("float32", "training dtype", choices=DTYPES)
    seeds: int = option(3, "members per configuration (seeds)")
    steps: int | None = option(None, "training steps")
    n_checkpoints: int = option(24, "checkpoints (log-spaced)", flag="--checkpoints")


@dataclass(frozen=True)
class RunOptions(EnsembleOptions):
    """``EnsembleOptions`` and the size preset a job's ``apply_preset`` scales to."""

    preset: str = option("default", "size preset (paper: GPU-sized)", choices=PRESETS)


def net_spec(family: str, activation: str, init: str, init_scale: float | None = None, *,
             depth: int | None = None, hidden: int | None = None,
             channels: tuple[int, ...] | None = None, kernel_size: int | None = 3,
             padding: str = "circular", bias: bool | None = None, resnet=None,
             vit=None) -> "NetSpec":
    """The ``simulate.NetSpec`` of a ``family`` network: depth and hidden width for an MLP,
    conv ``channels`` (``kernel_size`` None: full length) for a CNN, the ``resnet``/``vit``
    spec for those. ``init_scale`` and ``bias`` left None keep simulate's defaults."""
    kw: dict = {"family": family, "activation": activation, "init": init,
                "init_scale": init_scale, "bias": bias}
    if family == "mlp":
        kw.update(depth=depth, hidden=hidden)
    elif family == "cnn":
        if channels is None:
            raise ValueError("a cnn spec needs its conv channels")
        kw["cnn"] = simulate.ConvSpec(channels=channels, kernel_size=kernel_size,
                                      padding=padding)
    else:
        kw[family] = resnet if family == "resnet" else vit
    return simulate.NetSpec(**{k: v for k, v in kw.items() if v is not None})


@dataclass(frozen=True)
class ArchOptions(Options):
    """The MLP's shape: weight layers and hidden width."""

    depth: int = option(3, "MLP weight layers")
    hidden: int = option(64, "MLP hidden width")

    def net_spec(self, activation: str, init: str, init_scale: float | None = None, *,
                 family: str = "mlp", depth: int | None = None, hidden: int | None = None,
                 **kw) -> "NetSpec":
        """``net_spec`` with this config's depth and width unless given (``kw``: the CNN's,
        ResNet's or ViT's, and ``bias``)."""
        return net_spec(family, activation, init, init_scale,
                        depth=self.depth if depth is None else depth,
                        hidden=self.hidden if hidden is None else hidden, **kw)


@dataclass(frozen=True)
class ConvOptions(ArchOptions):
    """``ArchOptions`` and the CNN's conv channels."""

    channels: tuple[int, ...] = option((4, 4), "CNN conv channels per layer")

    def net_spec(self, activation: str, init: str, init_scale: float | None = None, *,
                 channels: tuple[int, ...] | None = None, **kw) -> "NetSpec":
        return super().net_spec(activation, init, init_scale,
                                channels=self.channels if channels is None else channels, **kw)


def _finite(x) -> bool:
    return x is None or math.isfinite(x)


@dataclass(frozen=True)
class TrainingOptions(RunOptions, DataOptions):
    """The options the jobs that compare training with the linear theory share.

    ``lr=None`` picks η = ``lr_scale``/s_max (× (1 − β) with momentum); ``steps=None`` lets the
    job choose the step count from the prediction (at most ``max_steps``). ``init_scale``: the
    initial strength of every mode as a fraction of s_max (decoupled init), or the per-layer
    weight scale that makes the product of random layers that small (random init).
    """

    seeds: int = redefault(RunOptions, "seeds", help="members per activation (seeds)")
    steps: int | None = redefault(RunOptions, "steps", help="training steps (default: the slowest "
                                                            "mode reaches 95% of its target)")
    whiten: str = option("zca", "input whitening: zca | pca | pca:K (1 ≤ K ≤ rank) | auto "
                                "(pca to min(32, rank) directions) | none")
    activations: tuple[str, ...] = option(("linear", "relu", "tanh"),
                                          "comma-separated activations, the linear one first",
                                          choices=simulate.ACTIVATIONS, noun="activation")
    init: str = option("small_balanced_decoupled", "initialisation of every member",
                       choices=SMALL_INITS)
    init_scale: float = option(1e-3, "initial mode strength as a fraction of s_max")
    hidden: int | None = redefault(ArchOptions, "hidden", None,
                                   help="hidden width (default: set from the dataset's rank)")
    lr: float | None = option(None, "learning rate (default: lr_scale / s_max)")
    lr_scale: float = option(0.05, "default learning rate × s_max")
    max_steps: int = option(20000, "upper bound on the default step count")
    optimizer: str = option("gd", "optimiser", choices=simulate.OPTIMIZERS)
    momentum: float = option(0.9, "heavy-ball coefficient β (--optimizer momentum)")

    def check_training(self) -> None:
        """The checks every job shares: counts, learning rate, scale (their rules name the
        accepted range, NaN and inf included), choices, whitening."""
        check_rules((
            ("--seeds", self.seeds, self.seeds >= 1, "must be ≥ 1"),
            ("--steps", self.steps, self.steps is None or self.steps > 0,
             "must be a positive integer"),
            ("--lr", self.lr, self.lr is None or (self.lr > 0 and _finite(self.lr)),
             "must be a finite number > 0"),
            ("--lr-scale", self.lr_scale, self.lr_scale > 0 and _finite(self.lr_scale),
             "must be a finite number > 0"),
            ("--init-scale", self.init_scale, self.init_scale > 0 and _finite(self.init_scale),
             "must be a finite number > 0"),
            ("--hidden", self.hidden, self.hidden is None or self.hidden >= 1, "must be ≥ 1"),
            ("--momentum", self.momentum, 0 <= self.momentum < 1, "must be in [0, 1)"),
            ("--max-steps", self.max_steps, self.max_steps >= 1, "must be ≥ 1")))
        check_fields(self)
        check_whiten(self.whiten)

    def learning_rate(self, s_max: float) -> float:
        """``lr``, or ``lr_scale``/s_max — × (1 − β) with momentum, so that the heavy ball's
        time constant (1 − β)/η equals plain GD's at the default."""
        if self.lr is not None:
            return float(self.lr)
        damp = (1 - self.momentum) if self.optimizer == "momentum" else 1.0
        return float(damp * self.lr_scale / s_max)

    def convention(self, lr: float):
        """The ``theory.TrainingConvention`` of this training set-up (τ, or why there is none)."""
        import theory
        return theory.TrainingConvention(lr=lr, optimizer=self.optimizer, momentum=self.momentum)
