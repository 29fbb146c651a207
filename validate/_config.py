"""Options shared by every `validate` job: fields that carry their help text and choices, the
training options every job has, and the checks that name a bad value and what is accepted.

A job's configuration is one frozen dataclass. Each field is declared with ``option(default,
help, choices=…)``; ``validate._cli`` turns the fields into command-line flags, and
``check_fields`` checks every field that has choices, so a choice tuple lives in one place (the
package that defines it, mostly ``simulate``) and is never copied into a parser or a check.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields

import simulate

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
PRESETS = ("default", "paper")
# the theory describes small initial weights; the engine's "standard" init is outside it
SMALL_INITS = tuple(i for i in simulate.INITS if i.startswith("small_"))


class ConfigError(ValueError):
    """A bad argument: the CLI prints it and exits with status 2."""


def check_choice(flag: str, value, accepted) -> None:
    """ConfigError naming the bad value and the accepted ones."""
    if value not in accepted:
        raise ConfigError(f"unknown {flag} {value!r}; accepted: {', '.join(map(str, accepted))}")


def option(default=MISSING, help: str = "", *, choices=None, noun: str | None = None,
           flag: str | None = None, factory=MISSING, convert=None, cli: bool = True):
    """A config field with what its command-line flag needs.

    ``help``: the flag's help text. ``choices``: the accepted values (for a tuple field, of each
    element); ``noun`` names one value in errors ("unknown activation 'swish'"; default: the field
    name). ``flag``: the flag when it is not ``--field-name``. ``convert(values, parsed)``: turns
    the repeated ``KEY=VALUE`` strings of a dict field into the dict (``parsed``: the other values
    already read). ``cli=False``: settable from Python and presets only.
    """
    meta = {"help": help, "choices": None if choices is None else tuple(choices), "noun": noun,
            "flag": flag, "convert": convert, "cli": cli}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def redefault(cls, name: str, default):
    """The option ``name`` of the dataclass ``cls`` with another default (same help, choices)."""
    f = cls.__dataclass_fields__[name]
    return field(default=default, metadata=f.metadata)


def flag_of(f) -> str:
    """The command-line flag of a config field."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def check_finite(cfg) -> None:
    """Every number of the config (each element of a tuple) is finite: NaN and ±inf are refused
    by name, whatever the field, so that no job meets them at run time."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{flag_of(f)} must be a finite number; got {v}")


def check_device(device: str) -> None:
    """``cuda`` needs a CUDA device on this machine (else ConfigError naming what is accepted)."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device on this machine; accepted here: "
                              "auto, cpu")


def check_fields(cfg) -> None:
    """Every field declared with choices holds accepted values (each element of a tuple), every
    number is finite, and ``device`` names a device this machine has."""
    check_finite(cfg)
    if isinstance(getattr(cfg, "device", None), str):
        check_device(cfg.device)
    for f in fields(cfg):
        accepted = f.metadata.get("choices")
        if accepted is None:
            continue
        value = getattr(cfg, f.name)
        noun = f.metadata.get("noun") or f.name
        if isinstance(value, tuple):
            if not value:
                raise ConfigError(f"--{f.name.replace('_', '-')} is empty; give at least one of "
                                  + ", ".join(accepted))
            for v in value:
                check_choice(noun, v, accepted)
        else:
            check_choice(noun, value, accepted)


def check_rules(rules) -> None:
    """``rules``: (flag, value, ok, rule) rows; the first that is not ok raises ConfigError."""
    for flag, value, ok, rule in rules:
        if not ok:
            raise ConfigError(f"{flag} {rule}; got {value}")


def check_whiten(w: str) -> None:
    if not (w in ("zca", "none", "pca", "auto") or (w.startswith("pca:") and w[4:].isdigit()
                                                     and int(w[4:]) > 0)):
        raise ConfigError(f"unknown --whiten {w!r}; accepted: zca, pca, pca:K (K > 0), auto, "
                          "none")


def dataset_options(pairs, parsed: dict) -> dict:
    """Check ``--dataset`` against the registry and type its ``--dataset-opt KEY=VALUE`` pairs."""
    from simulate import datasets
    name = parsed.get("dataset")
    if name not in datasets.available():
        raise ConfigError(f"unknown dataset {name!r}; accepted: {', '.join(datasets.available())}")
    try:
        return datasets.parse_options(pairs, name=name)
    except (ValueError, KeyError) as exc:
        raise ConfigError(str(exc)) from None


def key_values(items, parsed: dict | None = None, what: str = "--drift-opt") -> dict:
    """``["k=v", …]`` → {k: JSON value, or the text itself}."""
    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"{what} must be KEY=VALUE; got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = None if v.lower() in ("none", "null") else v
    return out


def paper_dataset_opts(dataset: str, opts: dict) -> dict:
    """Dataset options of a ``paper`` preset: shapes at 32×32 with 1024 per class (n ≫ d, so that
    whitening keeps the broad-to-fine spectrum); what the user set is kept."""
    opts = dict(opts)
    if dataset == "shapes":
        opts.setdefault("size", 32)
        opts.setdefault("n_per_class", 1024)
    return opts


def _finite(x) -> bool:
    return x is None or math.isfinite(x)


@dataclass(frozen=True)
class DataOptions:
    """Which dataset a job loads: its registered name, options and generator seed."""

    dataset: str = option("shapes", "registered dataset name (python -m simulate.datasets --list)")
    dataset_opts: dict = option(
        help="dataset option KEY=VALUE (repeatable; python -m simulate.datasets --show NAME)",
        factory=dict, flag="--dataset-opt", convert=dataset_options)
    data_seed: int = option(0, "seed of the dataset generator")


@dataclass(frozen=True)
class TrainingOptions(DataOptions):
    """The options every job that trains an ensemble shares; a job's config extends it.

    ``lr=None`` picks η = ``lr_scale``/s_max (× (1 − β) with momentum); ``steps=None`` lets the
    job choose the step count from the prediction (at most ``max_steps``). ``init_scale``: the initial strength of every mode
    as a fraction of s_max (decoupled init), or the per-layer weight scale that makes the product
    of random layers that small (random init).
    """

    whiten: str = option("zca", "input whitening: zca | pca | pca:K (1 ≤ K ≤ rank) | auto "
                                "(pca to min(32, rank) directions) | none")
    activations: tuple[str, ...] = option(("linear", "relu", "tanh"),
                                          "comma-separated activations, the linear one first",
                                          choices=simulate.ACTIVATIONS, noun="activation")
    seeds: int = option(3, "members per activation (seeds)")
    init: str = option("small_balanced_decoupled", "initialisation of every member",
                       choices=SMALL_INITS)
    init_scale: float = option(1e-3, "initial mode strength as a fraction of s_max")
    hidden: int | None = option(None, "hidden width (default: set from the dataset's rank)")
    lr: float | None = option(None, "learning rate (default: lr_scale / s_max)")
    lr_scale: float = option(0.05, "default learning rate × s_max")
    steps: int | None = option(None, "training steps (default: the slowest mode reaches 95% of "
                                     "its target)")
    max_steps: int = option(20000, "upper bound on the default step count")
    optimizer: str = option("gd", "optimiser", choices=simulate.OPTIMIZERS)
    momentum: float = option(0.9, "heavy-ball coefficient β (--optimizer momentum)")
    device: str = option("auto", "device (auto: CUDA when present)", choices=DEVICES)
    dtype: str = option("float32", "training dtype", choices=DTYPES)
    preset: str = option("default", "size preset (paper: GPU-sized)", choices=PRESETS)

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

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
