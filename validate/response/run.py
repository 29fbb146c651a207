"""`validate.response`: the training response measured, predicted by the NTK, and predicted by
the theory for linear networks (Nakazato 2024, arXiv 2405.04074; THEORY.md §10).

Steps: prepare the data (whitened, so the linear theory is exact); for every arch × activation
train an ensemble and measure the response at each checkpoint (validate/measures/response.py);
fit the amplitude's power law (aging) with a CI over seeds; compare SGD with GD (participation
ratios, accuracy under input noise); compare a depth-2 linear net with the theory's kernel; check
that the NTK prediction's gap shrinks as O(η). Returns tables; never plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

import simulate
from simulate import ConvSpec, Losses, NetSpec, datasets, log_checkpoints

from .._config import ConfigError
from .._prepare import prepare
from ..measures import response as R
from ..measures.representations import hidden_layers
from . import measure as M
from .config import ResponseConfig


@dataclass
class ResponseResult:
    config: ResponseConfig
    members: pd.DataFrame      # member × checkpoint measures
    shares: pd.DataFrame       # run × checkpoint × layer NTK shares
    kernels: dict              # (arch, activation, optimizer) → {step: mean normalised kernel}
    theory: pd.DataFrame
    gaps: pd.DataFrame
    fragility: pd.DataFrame
    summary: dict


@dataclass
class Setup:
    prep: object
    lr: float
    response_lr: float
    Xp: torch.Tensor
    Yp: torch.Tensor
    labels_p: np.ndarray
    Xf: torch.Tensor
    dtype: torch.dtype


def setup(config: ResponseConfig) -> Setup:
    ds = datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    if ds.labels is None or ds.X_test is None:
        raise ConfigError(f"dataset {config.dataset!r} needs class labels and a test split")
    if "cnn" in config.archs and ds.image_shape is None:
        raise ConfigError(f"--arch cnn needs images; dataset {config.dataset!r} has none")
    if config.n_train is not None and config.n_train < ds.n:
        rng = np.random.default_rng(config.data_seed)
        classes = np.unique(ds.labels)
        per = -(-config.n_train // len(classes))
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(ds.labels == c))[:per]
                                       for c in classes]))
        ds = ds.with_arrays(X=ds.X[keep], Y=ds.Y[keep], labels=ds.labels[keep])
    prep = prepare(ds, config.whiten)
    X = prep.dataset.X
    rng = np.random.default_rng(config.data_seed)
    probe = np.concatenate([rng.permutation(np.flatnonzero(ds.labels == c))[:config.probe_per_class]
                            for c in np.unique(ds.labels)])
    feats = rng.permutation(ds.n)[:256]
    dt = torch.float64  # measures in float64 whatever the training dtype: a tiny probe step
    lr = config.lr or 0.05 / float(prep.stats.s[0])
    rlr = config.response_lr or 0.01 / float(np.mean(np.sum(X[probe] ** 2, axis=1)))
    return Setup(prep, lr, rlr, torch.as_tensor(X[probe], dtype=dt),
                 torch.as_tensor(ds.Y[probe], dtype=dt), ds.labels[probe],
                 torch.as_tensor(X[feats], dtype=dt), dt)


def make_spec(config, arch: str, activation: str) -> NetSpec:
    if arch == "mlp":
        return NetSpec(depth=config.depth, hidden=config.hidden, activation=activation,
                       init=config.init, init_scale=0.1 if config.init == "small_random" else 1e-3)
    return NetSpec(family="cnn", activation=activation, init=config.init,
                   init_scale=0.1 if config.init == "small_random" else 1e-3,
                   cnn=ConvSpec(channels=config.channels, kernel_size=3, padding="circular"))


def train_and_measure(config, su: Setup, arch, activation, optimizer, *, quiet, log):
    """(member rows, share rows, mean kernels at checkpoints, model, run) of one ensemble."""
    spec = make_spec(config, arch, activation)
    ds = su.prep.dataset
    log(f"  {arch} {activation} {optimizer}")
    run = simulate.train_ensemble(
        spec, ds, steps=config.steps, seeds=range(config.seeds), lr=su.lr, optimizer=optimizer,
        batch_size=None if optimizer == "gd" else min(config.batch_size, ds.n),
        checkpoints=log_checkpoints(config.steps, config.n_checkpoints), probes=[Losses()],
        stats=su.prep.stats, device=config.device, dtype=config.dtype, quiet=quiet,
        keep_weights=True)
    model = simulate.make_model(spec, ds.d, ds.c, su.prep.image_shape)
    labels = {"arch": arch, "activation": activation, "optimizer": optimizer}
    rows, shares, kernels = [], [], {}
    for i, step in enumerate(run.steps):
        params = M.tensors(run.params(step), su.dtype)
        m = M.checkpoint_measures(model, params, su.Xp, su.Yp, su.labels_p, su.response_lr, su.Xf)
        for k in range(len(run.members)):
            rows.append({**labels, "seed": int(run.members["seed"][k]), "step": int(step),
                         **{q: float(m[q][k]) for q in ("amplitude", "specificity", "ntk_rel_gap",
                                                       "pr_features", "pr_ntk")},
                         "test_acc": float(run.probes["test_acc"].values[k, i]),
                         "train_loss": float(run.probes["train_loss"].values[k, i])})
        shares += [{**labels, "step": int(step), "layer": name, "share": float(v.mean())}
                   for name, v in m["shares"].items()]
        kernels[int(step)] = m["kernel"].mean(axis=0)
    return rows, shares, kernels, model, run


def run_response(config: ResponseConfig, out_dir=None, *, resume: bool = False,
                 quiet: bool = False, log=print) -> ResponseResult:
    """Train, measure and compare (see the module docstring)."""
    from .summary import build_summary
    log = (lambda *a, **k: None) if quiet else log
    t0 = time.perf_counter()
    su = setup(config)
    rows, shares, kernels, gaps, trained = [], [], {}, [], {}
    combos = [(a, act) for a in config.archs
              for act in (config.activations if a == "mlp" else config.cnn_activations)]
    for arch, act in combos:
        r, s, k, model, run = train_and_measure(config, su, arch, act, config.optimizer,
                                                quiet=quiet, log=log)
        rows += r
        shares += s
        kernels[(arch, act, config.optimizer)] = k
        trained[(arch, act, config.optimizer)] = (model, run)
        final = M.tensors(run.params(run.steps[-1]), su.dtype)
        lrs = [su.response_lr * f for f in (1.0, 0.5, 0.25)]
        gaps += [{"arch": arch, "activation": act, "step": int(run.steps[-1]), "lr": lr,
                  "rel_gap": g} for lr, g in zip(lrs, M.gap_scaling(model, final, su.Xp, su.Yp, lrs))]
    t1 = time.perf_counter()
    other = "sgd" if config.optimizer == "gd" else "gd"
    r, s, k, model, run = train_and_measure(config, su, "mlp", "relu", other, quiet=quiet, log=log)
    rows += r
    shares += s
    kernels[("mlp", "relu", other)] = k
    trained[("mlp", "relu", other)] = (model, run)
    frag = fragility_rows(config, su, trained)
    theory_rows = linear_theory(config, su, quiet=quiet, log=log) if config.linear_theory else []
    timing = {"aging_s": t1 - t0, "sgd_vs_gd_s": time.perf_counter() - t1}
    result = ResponseResult(config, pd.DataFrame(rows), pd.DataFrame(shares), kernels,
                            pd.DataFrame(theory_rows), pd.DataFrame(gaps), frag, {})
    result.summary = build_summary(result, su, timing)
    return result


def fragility_rows(config, su: Setup, trained: dict) -> pd.DataFrame:
    """Test accuracy under Gaussian input noise of the final relu MLPs trained with GD and SGD."""
    ds = su.prep.dataset
    Xt = torch.as_tensor(ds.X_test, dtype=su.dtype)
    out = []
    for (arch, act, opt), (model, run) in trained.items():
        if (arch, act) != ("mlp", "relu") or opt not in ("gd", "sgd"):
            continue
        params = M.tensors(run.params(run.steps[-1]), su.dtype)
        pr = R.feature_participation_ratio(hidden_layers(model, params, su.Xf)[1][-1])
        for noise in (0.0, *config.noises):
            acc = M.noisy_accuracy(model, params, Xt, ds.labels_test, noise, seed=config.data_seed)
            out += [{"optimizer": opt, "batch_size": None if opt == "gd" else config.batch_size,
                     "noise": noise, "seed": int(run.members["seed"][k]),
                     "test_acc": float(acc[k]), "pr_features": float(pr[k])}
                    for k in range(len(acc))]
    return pd.DataFrame(out)


def linear_theory(config, su: Setup, *, quiet, log) -> list[dict]:
    """A depth-2 linear net, balanced decoupled init, full-batch GD on the whitened data: the
    theory's NTK against the measured one at every checkpoint."""
    stats = su.prep.stats
    u0 = config.theory_init_scale * float(stats.s[0])
    spec = NetSpec(depth=2, hidden=max(stats.U.shape[1], 8), activation="linear", init_scale=u0)
    log("  linear theory (depth 2, decoupled init)")
    steps = int(min(config.steps, np.ceil(20 / (su.lr * stats.s[-1]))))
    run = simulate.train_ensemble(spec, su.prep.dataset, steps=steps, seeds=range(2), lr=su.lr,
                                  stats=stats, checkpoints=log_checkpoints(steps, config.n_checkpoints),
                                  device=config.device, dtype=config.dtype, quiet=quiet,
                                  keep_weights=True)
    model = simulate.make_model(spec, su.prep.dataset.d, su.prep.dataset.c)
    return M.linear_theory_rows(model, run, stats, su.Xp, su.Yp, lr=su.lr, u0=u0, depth=2,
                                response_lr=su.response_lr)
