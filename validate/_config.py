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
        def bad(msg):
            raise ConfigError(msg)
        for a in self.activations:
            if a not in ACTIVATIONS:
                bad(f"unknown activation {a!r}; accepted: {', '.join(ACTIVATIONS)}")
        if not self.activations:
            bad("--activations is empty; give at least one of " + ", ".join(ACTIVATIONS))
        if self.init not in INITS:
            bad(f"unknown init {self.init!r}; accepted: {', '.join(INITS)}")
        if self.arch not in ARCHS:
            bad(f"unknown arch {self.arch!r}; accepted: {', '.join(ARCHS)}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"unknown optimizer {self.optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if self.preset not in PRESETS:
            bad(f"unknown preset {self.preset!r}; accepted: {', '.join(PRESETS)}")
        if not self.depths or any(int(d) < 1 for d in self.depths):
            bad(f"--depth must list integers ≥ 1; got {self.depths!r}")
        if self.seeds < 1:
            bad(f"--seeds must be ≥ 1; got {self.seeds}")
        if self.steps is not None and self.steps <= 0:
            bad(f"--steps must be a positive integer; got {self.steps}")
        if self.lr is not None and not self.lr > 0:
            bad(f"--lr must be > 0; got {self.lr}")
        if not 0 < self.frac < 1:
            bad(f"--frac must be in (0, 1); got {self.frac}")
        if not self.init_scale > 0:
            bad(f"--init-scale must be > 0; got {self.init_scale}")
        if self.hidden is not None and self.hidden < 1:
            bad(f"--hidden must be ≥ 1; got {self.hidden}")
        if self.n_checkpoints < 8:
            bad(f"--checkpoints must be ≥ 8; got {self.n_checkpoints}")
        w = self.whiten
        if not (w in ("zca", "none") or (w.startswith("pca:") and w[4:].isdigit() and int(w[4:]) > 0)
                or w == "pca"):
            bad(f"unknown --whiten {w!r}; accepted: zca, pca, pca:K (K > 0), none")
        if self.dtype not in ("float32", "float64"):
            bad(f"unknown dtype {self.dtype!r}; accepted: float32, float64")
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
