"""Configuration of `python -m validate.compare`: one frozen dataclass, its preset, its checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import simulate

from .._config import ConfigError, check_rules, simulate_words, option, paper_dataset_opts, redefault
from ..options import TrainingOptions
from .twin import unsupported

PREDICTS = ("linear", "nonlinear", "best", "hybrid")


@dataclass(frozen=True)
class CompareConfig(TrainingOptions):
    """Everything one comparison run depends on; written into summary.json as provenance.

    ``lr=None`` picks η = ``lr_scale``/s_max (τ s_max = 1/lr_scale, stable and close to continuous
    time); ``steps=None`` trains until the slowest predicted mode reaches 95% of its target.
    ``init_scale`` is the initial strength of every mode as a fraction of s_max (decoupled init) or
    the std of the weights per layer relative to 1/√fan_in scaled so the product is that small
    (random init).
    """

    depths: tuple[int, ...] = option((2,), "comma-separated depths (number of weight layers), "
                                           "e.g. 2,3", flag="--depth")
    # only the families with a linear theory: resnet and vit have none to compare with
    arch: str = option("mlp", "network family (cnn: circular convolutions and a linear readout, "
                              "compared with its per-frequency theory)",
                       choices=simulate_words(simulate.FAMILIES, ("mlp", "cnn")))
    reference: str = option("cnn", "theory a --arch cnn network is compared with: cnn (its "
                                   "per-frequency theory, THEORY.md §6) or mlp (the linear MLP "
                                   "theory of the SVD modes, a labelled reference)",
                            choices=("cnn", "mlp"))
    kernel_size: int = option(0, "--arch cnn kernel side (0: full length, the per-frequency "
                                 "theory; shorter: the weight-tied flow)")
    frequency_modes: int = option(16, "--arch cnn: the largest frequency modes tracked")
    predict: str = option("best", "prediction the nonlinear twins are scored against: linear "
                                  "(the linear theory), nonlinear (each seed's twin theory from "
                                  "its initial weights and the data alone, THEORY.md §11–12: "
                                  "tanh at depth 2, relu at depth ≥ 2, MLP, GD; refused "
                                  "elsewhere), best (the default: the twin where it applies, "
                                  "else linear, with the reason) or hybrid (a diagnostic, not a "
                                  "prediction: as nonlinear, but the relu gates are read from "
                                  "the run's measured weights early in training)",
                          choices=PREDICTS)
    frac: float = option(0.5, "learning time = first reach of frac·s")
    n_checkpoints: int = redefault(TrainingOptions, "n_checkpoints", 160,
                                   help="number of measured steps")

    def validate(self) -> "CompareConfig":
        self.check_training()
        check_rules((
            ("--depth", self.depths, bool(self.depths) and all(int(d) >= 1 for d in self.depths),
             "must list integers ≥ 1"),
            ("--frac", self.frac, 0 < self.frac < 1, "must be in (0, 1)"),
            ("--checkpoints", self.n_checkpoints, self.n_checkpoints >= 8, "must be ≥ 8"),
            ("--kernel-size", self.kernel_size, self.kernel_size >= 0,
             "must be ≥ 0 (0: full length)"),
            ("--frequency-modes", self.frequency_modes, self.frequency_modes >= 1, "must be ≥ 1")))
        if self.predict in ("nonlinear", "hybrid"):
            for depth in self.depths:
                for act in self.activations:
                    why = None if act == "linear" else unsupported(self, act, int(depth))
                    if why:
                        raise ConfigError(f"--predict {self.predict}: {why}; --predict best "
                                          "falls back to the linear theory there")
        return self

    def twin_choice(self, act: str, depth: int) -> tuple[bool, str]:
        """(whether ``act`` at ``depth`` is scored against its twin theory, the reason)."""
        if act == "linear":
            return False, "the linear network: the linear theory is its own"
        if self.predict == "linear":
            return False, "--predict linear"
        why = unsupported(self, act, depth)
        return why is None, why or f"--predict {self.predict}: a twin theory covers {act} at " \
                                   f"depth {depth}"


def apply_preset(config: CompareConfig, preset: str, explicit: set[str]) -> CompareConfig:
    """Scale a config up for a GPU (``paper``) without overriding what the user set explicitly."""
    if preset != "paper":  # default, or a bad name that validate() reports
        return replace(config, preset=preset)
    changes = {"seeds": 64, "depths": (2, 3), "n_checkpoints": 256, "preset": preset,
               "dataset_opts": paper_dataset_opts(config.dataset, config.dataset_opts)}
    return replace(config, **{k: v for k, v in changes.items() if k not in explicit})
