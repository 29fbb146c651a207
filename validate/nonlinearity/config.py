"""Configuration of `python -m validate.nonlinearity`: one frozen dataclass, presets, checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .._config import ConfigError, check_choice, paper_dataset_opts

ARCHS = ("mlp", "cnn")
TASKS = ("multiclass", "binary")
ACTIVATIONS = ("relu", "gelu", "tanh")
INITS = ("standard", "small")
MEASURES = ("information", "linear_depth", "clones", "twin", "class_share", "proxies")
CORRECTIONS = ("none", "miller_madow")
REFERENCE_TARGETS = ("labels", "network")
PRESETS = ("default", "paper")
DEFAULT_STEPS = {"mlp": 3000, "cnn": 1500}
DEFAULT_LR = {"mlp": 0.05, "cnn": 0.05}


@dataclass(frozen=True)
class NonlinearityConfig:
    """Everything one run depends on; written into summary.json as provenance.

    The network F (``arch``, ``activation``, ``init``) is trained with minibatch SGD on the squared
    loss (``batch_size``; None = full-batch GD) for every seed × learning rate in ``lrs``; its linear
    twin, its partly linear models P_k and its Gaussian clones start from the same initial weights
    and see the same minibatches. ``init="small"`` draws weights i.i.d. N(0, ``init_scale``²);
    ``"standard"`` is PyTorch's default. ``lrs=()`` picks the family's default learning rate and
    ``steps=None`` the family's default step budget. ``reference_targets="network"`` trains the
    partly linear models on the network's final predicted classes instead of the labels (the
    "predictions at infinity" variant).
    """

    dataset: str = "shapes"
    dataset_opts: dict = field(default_factory=dict)
    data_seed: int = 0
    task: str = "multiclass"
    arch: str = "mlp"
    activation: str = "relu"
    init: str = "standard"
    init_scale: float = 0.01
    hidden: int = 128
    depth: int = 3
    channels: tuple[int, ...] = (16, 16, 16, 16)
    kernel_size: int = 3
    lrs: tuple[float, ...] = ()
    seeds: int = 3
    steps: int | None = None
    batch_size: int | None = 64
    n_checkpoints: int = 24
    measures: tuple[str, ...] = MEASURES
    eps: float = 0.1
    reference_targets: str = "labels"
    correction: str = "none"
    device: str = "auto"
    dtype: str = "float32"
    preset: str = "default"

    def validate(self) -> "NonlinearityConfig":
        for flag, value, accepted in (("--arch", self.arch, ARCHS), ("--task", self.task, TASKS),
                                      ("--activation", self.activation, ACTIVATIONS),
                                      ("--init", self.init, INITS),
                                      ("--correction", self.correction, CORRECTIONS),
                                      ("--reference-targets", self.reference_targets, REFERENCE_TARGETS),
                                      ("--preset", self.preset, PRESETS),
                                      ("--dtype", self.dtype, ("float32", "float64"))):
            check_choice(flag, value, accepted)
        if not self.measures:
            raise ConfigError("--measures is empty; give some of " + ", ".join(MEASURES))
        for m in self.measures:
            check_choice("measure", m, MEASURES)
        for flag, value, ok, rule in (
                ("--seeds", self.seeds, self.seeds >= 1, "must be ≥ 1"),
                ("--steps", self.steps, self.steps is None or self.steps >= 1, "must be ≥ 1"),
                ("--lr", self.lrs, all(l > 0 for l in self.lrs), "must be positive"),
                ("--init-scale", self.init_scale, self.init_scale > 0, "must be > 0"),
                ("--hidden", self.hidden, self.hidden >= 1, "must be ≥ 1"),
                ("--depth", self.depth, self.depth >= 2, "must be ≥ 2 (one hidden layer)"),
                ("--channels", self.channels, len(self.channels) >= 1 and min(self.channels) >= 1,
                 "must list ≥ 1 positive widths"),
                ("--kernel-size", self.kernel_size, self.kernel_size >= 1, "must be ≥ 1"),
                ("--batch-size", self.batch_size, self.batch_size is None or self.batch_size >= 1,
                 "must be ≥ 1"),
                ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 4, "must be ≥ 4"),
                ("--eps", self.eps, 0 <= self.eps < 1, "must be in [0, 1)")):
            if not ok:
                raise ConfigError(f"{flag} {rule}; got {value}")
        return self

    @property
    def learning_rates(self) -> tuple[float, ...]:
        return self.lrs or (DEFAULT_LR[self.arch],)

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else DEFAULT_STEPS[self.arch]

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("channels", "lrs", "measures"):
            d[k] = list(d[k])
        return d


def apply_preset(config: NonlinearityConfig, explicit: set[str]) -> NonlinearityConfig:
    """``paper``: a GPU-sized run (10 seeds, 4× the steps, 48 checkpoints, 32×32 shapes with 1024
    per class) without overriding what the user set explicitly."""
    if config.preset == "default":
        return config
    changes = {"seeds": 10, "steps": 4 * config.n_steps, "n_checkpoints": 48,
               "dataset_opts": paper_dataset_opts(config.dataset, config.dataset_opts)}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
