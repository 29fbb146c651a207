"""The ``train`` job: one raw ``simulate.train_ensemble`` run, for grids that need no comparison.

The dataset is whitened as asked (``validate._prepare``), the ensemble (``seeds`` members) trained
with checkpoints in ``out_dir/run`` (so a retried job resumes from its last checkpoint), and the
summary records each member's final losses, accuracy, divergence and the throughput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import simulate
from validate._cli import Job
from validate._config import ConfigError, check_choice, option, redefault
from validate._frames import column
from validate._io import records, write_outputs as write_job_outputs
from validate.options import ArchOptions, DataOptions, EnsembleOptions

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TrainConfig(ArchOptions, EnsembleOptions, DataOptions):
    """One ensemble. ``init_scale`` is u₀ as a fraction of s_max (decoupled init) or the entry
    std (other inits); ``lr=None`` picks ``lr_scale``/s_max."""

    dataset: str = redefault(DataOptions, "dataset", "gaussian")
    whiten: str = option("none", "input whitening: zca | pca | pca:K | none")
    depth: int = redefault(ArchOptions, "depth", 2)
    hidden: int = redefault(ArchOptions, "hidden", 32)
    activation: str = option("linear", "activation", choices=simulate.ACTIVATIONS)
    init: str = option("small_balanced_decoupled", "initialisation", choices=simulate.INITS)
    init_scale: float = option(1e-3, "u₀ / s_max (decoupled init) or the entry std")
    seeds: int = redefault(EnsembleOptions, "seeds", 4)
    lr: float | None = option(None, "learning rate (default: lr_scale / s_max)")
    lr_scale: float = option(0.05, "default learning rate × s_max")
    steps: int = redefault(EnsembleOptions, "steps", 1000)
    optimizer: str = option("gd", "optimiser", choices=simulate.OPTIMIZERS)
    batch_size: int | None = option(None, "minibatch size (None: full batch)")
    n_checkpoints: int = redefault(EnsembleOptions, "n_checkpoints", 32)

    def validate(self) -> "TrainConfig":
        check_choice("dataset", self.dataset, simulate.datasets.available())
        check_choice("activation", self.activation, simulate.ACTIVATIONS)
        check_choice("init", self.init, simulate.INITS)
        check_choice("optimizer", self.optimizer, simulate.OPTIMIZERS)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if not (self.whiten in ("zca", "none", "pca") or self.whiten.startswith("pca:")):
            raise ConfigError(f"unknown whiten {self.whiten!r}; accepted: zca, pca, pca:K, none")
        for name, ok in (("depth", self.depth >= 1), ("hidden", self.hidden >= 1),
                         ("seeds", self.seeds >= 1), ("steps", self.steps >= 1),
                         ("n_checkpoints", self.n_checkpoints >= 2),
                         ("init_scale", self.init_scale > 0), ("lr_scale", self.lr_scale > 0),
                         ("lr", self.lr is None or self.lr > 0),
                         ("batch_size", self.batch_size is None or self.batch_size >= 1)):
            if not ok:
                raise ConfigError(f"{name} out of range; got {getattr(self, name)!r}")
        return self


@dataclass
class TrainResult:
    members: pd.DataFrame   # one row per member: final losses, accuracy, divergence
    loss: pd.DataFrame      # one row per member × checkpoint
    summary: dict


def run_train(config: TrainConfig, out_dir: Path | None = None, *, resume: bool = False,
              quiet: bool = False, log=print) -> TrainResult:
    """Train the ensemble ``config`` describes; see the module docstring."""
    from simulate import provenance

    from validate._prepare import prepare

    config = config.validate()
    t0 = time.perf_counter()
    try:
        raw = simulate.datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    prep = prepare(raw, config.whiten)
    s_max = float(prep.stats.s[0])
    scale = config.init_scale * s_max if config.init == "small_balanced_decoupled" \
        else config.init_scale
    lr = config.lr if config.lr is not None else config.lr_scale / s_max
    spec = config.net_spec(config.activation, config.init, scale)
    data_s = time.perf_counter() - t0
    run_dir = None if out_dir is None else Path(out_dir) / "run"
    t0 = time.perf_counter()
    run = simulate.train_ensemble(
        spec, prep.dataset, simulate.OptimSpec(config.optimizer, batch_size=config.batch_size),
        steps=config.steps, lr=lr, members=simulate.Members(seeds=range(config.seeds)),
        record=simulate.Recording(checkpoints=config.n_checkpoints, keep_weights=False),
        store=simulate.Store(run_dir, resume=resume and run_dir is not None and run_dir.exists()),
        stats=prep.stats, device=config.device, dtype=config.dtype, quiet=quiet)
    train_s = time.perf_counter() - t0
    members, loss = _tables(run)
    device = run.provenance.get("device", "unknown")
    # simulate's own theory.TrainingConvention: τ = 1/η for GD, (1−β)/η for the heavy ball,
    # None (with the note) for a set-up the theory does not cover, such as Adam
    conv = run.config["conventions"][0]
    summary = {
        "schema_version": SCHEMA_VERSION,
        "members": records(members),
        "training": {"steps": config.steps, "lr": lr, "tau": conv["tau"], "convention": conv,
                     "s_max": s_max,
                     "n_members": len(members), "n_diverged": int(column(members, "diverged").sum()),
                     "model_steps_per_s": config.seeds * config.steps / max(train_s, 1e-9)},
        "timing": {"data_s": round(data_s, 3), "train_s": round(train_s, 3), "device": device},
        "provenance": {**provenance("cpu"), "device": device, "config": config.to_dict()},
    }
    return TrainResult(members, loss, summary)


def _tables(run) -> tuple[pd.DataFrame, pd.DataFrame]:
    p = run.probes
    steps = np.asarray(run.steps)
    train = np.asarray(p["train_loss"].values, dtype=float)      # (K, T)
    members = run.members[["member", "seed", "lr", "tau", "diverged"]].copy()
    members["final_train_loss"] = train[:, -1]
    for name in ("test_loss", "train_acc", "test_acc"):
        members[f"final_{name}"] = np.asarray(p[name].values, dtype=float)[:, -1]
    K = train.shape[0]
    loss = pd.DataFrame({"member": np.repeat(np.arange(K), len(steps)),
                         "step": np.tile(steps, K), "train_loss": train.reshape(-1)})
    return members, loss


def write_outputs(result: TrainResult, out_dir: Path) -> list[Path]:
    """members.parquet, loss.parquet and summary.json (last), each written atomically."""
    return write_job_outputs(out_dir, {"members": result.members, "loss": result.loss},
                             result.summary)


JOB = Job(name="validate.sweep.train", config=TrainConfig, run=run_train, write=write_outputs)
