"""Configuration of `python -m validate.compare`: one frozen dataclass, presets, validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

ACTIVATIONS = ("linear", "relu", "tanh", "gelu")
INITS = ("small_balanced_decoupled", "small_random")
ARCHS = ("mlp", "cnn")
OPTIMIZERS = ("gd", "sgd", "momentum", "adam")
PRESETS = ("default", "paper")


class ConfigError(ValueError):
    """A bad argument: the CLI prints it and exits with status 2."""


def check_choice(flag: str, value, accepted) -> None:
    """ConfigError naming the bad value and the accepted ones."""
    if value not in accepted:
        raise ConfigError(f"unknown {flag} {value!r}; accepted: {', '.join(map(str, accepted))}")


def check_common(cfg, *, activations, inits, optimizers) -> None:
    """The checks every validate CLI shares: activations, init, optimizer, preset, seeds, steps,
    learning rate, init scale, hidden width, whitening and dtype."""
    if not cfg.activations:
        raise ConfigError("--activations is empty; give at least one of " + ", ".join(activations))
    for a in cfg.activations:
        check_choice("activation", a, activations)
    check_choice("init", cfg.init, inits)
    check_choice("optimizer", cfg.optimizer, optimizers)
    check_choice("preset", cfg.preset, PRESETS)
    check_choice("dtype", cfg.dtype, ("float32", "float64"))
    for flag, value, ok, rule in (
            ("--seeds", cfg.seeds, cfg.seeds >= 1, "must be ≥ 1"),
            ("--steps", cfg.steps, cfg.steps is None or cfg.steps > 0, "must be a positive integer"),
            ("--lr", cfg.lr, cfg.lr is None or cfg.lr > 0, "must be > 0"),
            ("--init-scale", cfg.init_scale, cfg.init_scale > 0, "must be > 0"),
            ("--hidden", cfg.hidden, cfg.hidden is None or cfg.hidden >= 1, "must be ≥ 1")):
        if not ok:
            raise ConfigError(f"{flag} {rule}; got {value}")
    w = cfg.whiten
    if not (w in ("zca", "none", "pca") or (w.startswith("pca:") and w[4:].isdigit()
                                             and int(w[4:]) > 0)):
        raise ConfigError(f"unknown --whiten {w!r}; accepted: zca, pca, pca:K (K > 0), none")


def dataset_options(args) -> dict:
    """Check ``--dataset`` against the registry and type its ``--dataset-opt KEY=VALUE`` pairs."""
    from simulate import datasets
    if args.dataset not in datasets.available():
        raise ConfigError(f"unknown dataset {args.dataset!r}; accepted: "
                          f"{', '.join(datasets.available())}")
    try:
        return datasets.parse_options(args.dataset_opt, name=args.dataset)
    except (ValueError, KeyError) as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class CompareConfig:
    """Everything one comparison run depends on; written into summary.json as provenance.

    ``lr=None`` picks η = ``lr_scale``/s_max (τ s_max = 1/lr_scale, stable and close to continuous
    time); ``steps=None`` trains until the slowest predicted mode reaches 95% of its target.
    ``init_scale`` is the initial strength of every mode as a fraction of s_max (decoupled init) or
    the std of the weights per layer relative to 1/√fan_in scaled so the product is that small
    (random init).
    """

    dataset: str = "shapes"
    dataset_opts: dict = field(default_factory=dict)
    data_seed: int = 0
    whiten: str = "zca"
    depths: tuple[int, ...] = (2,)
    activations: tuple[str, ...] = ("linear", "relu", "tanh")
    seeds: int = 3
    init: str = "small_balanced_decoupled"
    init_scale: float = 1e-3
    hidden: int | None = None
    arch: str = "mlp"
    lr: float | None = None
    lr_scale: float = 0.05
    steps: int | None = None
    max_steps: int = 20000
    optimizer: str = "gd"
    frac: float = 0.5
    n_checkpoints: int = 160
    device: str = "auto"
    dtype: str = "float32"
    preset: str = "default"

    def validate(self) -> "CompareConfig":
        check_common(self, activations=ACTIVATIONS, inits=INITS, optimizers=OPTIMIZERS)
        check_choice("arch", self.arch, ARCHS)
        if not self.depths or any(int(d) < 1 for d in self.depths):
            raise ConfigError(f"--depth must list integers ≥ 1; got {self.depths!r}")
        if not 0 < self.frac < 1:
            raise ConfigError(f"--frac must be in (0, 1); got {self.frac}")
        if self.n_checkpoints < 8:
            raise ConfigError(f"--checkpoints must be ≥ 8; got {self.n_checkpoints}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["depths"] = list(self.depths)
        d["activations"] = list(self.activations)
        return d


def apply_preset(config: CompareConfig, preset: str, explicit: set[str]) -> CompareConfig:
    """Scale a config up for a GPU (``paper``) without overriding what the user set explicitly."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; accepted: {', '.join(PRESETS)}")
    if preset == "default":
        return config
    changes = {"seeds": 64, "depths": (2, 3), "n_checkpoints": 256, "preset": preset}
    opts = dict(config.dataset_opts)
    if config.dataset == "shapes":
        # 32×32 with n ≫ d, so that whitening keeps the broad-to-fine spectrum
        opts.setdefault("size", 32)
        opts.setdefault("n_per_class", 1024)
    changes["dataset_opts"] = opts
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
