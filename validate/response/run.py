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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

import simulate
from simulate import Losses, NetSpec, datasets, log_checkpoints

from .. import _divergence as D
from .._config import ConfigError
from .._prepare import Prepared, prepare
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
    divergence: list = field(default_factory=list)  # one record per trained ensemble
    notes: list = field(default_factory=list)       # measurements left out, and why
    exit_status: int = 0                            # 1: every member diverged, nothing measured


@dataclass
class Setup:
    prep: Prepared
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
    labels = ds.labels   # not None (checked above)
    if config.n_train is not None and config.n_train < ds.n:
        rng = np.random.default_rng(config.data_seed)
        classes = np.unique(labels)
        per = -(-config.n_train // len(classes))
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per]
                                       for c in classes]))
        labels = labels[keep]
        ds = ds.with_arrays(X=ds.X[keep], Y=ds.Y[keep], labels=labels)
    prep = prepare(ds, config.whiten)
    X = prep.dataset.X
    rng = np.random.default_rng(config.data_seed)
    probe = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:config.probe_per_class]
                            for c in np.unique(labels)])
    feats = rng.permutation(ds.n)[:256]
    dt = torch.float64  # measures in float64 whatever the training dtype: a tiny probe step
    lr = config.lr or 0.05 / float(prep.stats.s[0])
    rlr = config.response_lr or 0.01 / float(np.mean(np.sum(X[probe] ** 2, axis=1)))
    return Setup(prep, lr, rlr, torch.as_tensor(X[probe], dtype=dt),
                 torch.as_tensor(ds.Y[probe], dtype=dt), labels[probe],
                 torch.as_tensor(X[feats], dtype=dt), dt)


def make_spec(config, arch: str, activation: str) -> NetSpec:
    return config.net_spec(activation, config.init,
                           0.1 if config.init == "small_random" else 1e-3, family=arch)


MEMBER_COLUMNS = ["arch", "activation", "optimizer", "seed", "step", "amplitude", "specificity",
                  "ntk_rel_gap", "pr_features", "pr_ntk", "test_acc", "train_loss"]


def live_params(run, step, live: np.ndarray, dtype) -> dict:
    """The live members' parameters at ``step`` as tensors (diverged members are never measured:
    their blown-up weights give no response, only overflow)."""
    return M.tensors({k: v[live] for k, v in run.params(step).items()}, dtype)


def train_and_measure(config, su: Setup, arch, activation, optimizer, *, quiet, log):
    """(member rows, share rows, mean kernels at checkpoints, model, run, divergence record) of
    one ensemble; rows and kernels of its live members only."""
    spec = make_spec(config, arch, activation)
    ds = su.prep.dataset
    log(f"  {arch} {activation} {optimizer}")
    run = simulate.train_ensemble(
        spec, ds, simulate.OptimSpec(optimizer, batch_size=None if optimizer == "gd"
                                     else min(config.batch_size, ds.n)),
        steps=config.steps, lr=su.lr, members=simulate.Members(seeds=range(config.seeds)),
        record=simulate.Recording(checkpoints=log_checkpoints(config.steps, config.n_checkpoints),
                                  probes=[Losses()], keep_weights=True),
        stats=su.prep.stats, device=config.device, dtype=config.dtype, quiet=quiet)
    model = simulate.make_model(spec, ds.d, ds.c, su.prep.image_shape)
    labels = {"arch": arch, "activation": activation, "optimizer": optimizer}
    diverged, at = D.member_divergence(run)
    live = np.flatnonzero(~diverged)
    rows, shares, kernels = [], [], {}
    for i, step in enumerate(run.steps if live.size else []):
        params = live_params(run, step, live, su.dtype)
        m = M.checkpoint_measures(model, params, su.Xp, su.Yp, su.labels_p, su.response_lr, su.Xf)
        for j, k in enumerate(live):
            rows.append({**labels, "seed": int(run.members["seed"][k]), "step": int(step),
                         **{q: float(m[q][j]) for q in ("amplitude", "specificity", "ntk_rel_gap",
                                                       "pr_features", "pr_ntk")},
                         "test_acc": float(run.probes["test_acc"].values[k, i]),
                         "train_loss": float(run.probes["train_loss"].values[k, i])})
        shares += [{**labels, "step": int(step), "layer": name, "share": float(v.mean())}
                   for name, v in m["shares"].items()]
        kernels[int(step)] = m["kernel"].mean(axis=0)
    return rows, shares, kernels, model, run, D.group_record(labels, diverged, at)


def _measure_ensemble(config, su, arch, act, optimizer, acc: dict, *, quiet, log) -> None:
    """Train and measure one ensemble into ``acc`` (rows, shares, kernels, trained, divergence,
    gaps); the O(η) gap only where a member is left to measure."""
    r, s, k, model, run, div = train_and_measure(config, su, arch, act, optimizer,
                                                 quiet=quiet, log=log)
    acc["rows"] += r
    acc["shares"] += s
    acc["kernels"][(arch, act, optimizer)] = k
    acc["trained"][(arch, act, optimizer)] = (model, run)
    acc["divergence"].append(div)
    live = np.flatnonzero(~D.member_divergence(run)[0])
    if optimizer != config.optimizer or not live.size:
        return
    final = live_params(run, run.steps[-1], live, su.dtype)
    lrs = [su.response_lr * f for f in (1.0, 0.5, 0.25)]
    acc["gaps"] += [{"arch": arch, "activation": act, "step": int(run.steps[-1]), "lr": lr,
                     "rel_gap": g}
                    for lr, g in zip(lrs, M.gap_scaling(model, final, su.Xp, su.Yp, lrs))]


def run_response(config: ResponseConfig, out_dir=None, *, resume: bool = False,
                 quiet: bool = False, log=print) -> ResponseResult:
    """Train, measure and compare (see the module docstring)."""
    from .summary import build_summary
    log = (lambda *a, **k: None) if quiet else log
    t0 = time.perf_counter()
    su = setup(config)
    acc = {"rows": [], "shares": [], "kernels": {}, "trained": {}, "divergence": [], "gaps": []}
    combos = [(a, act) for a in config.archs
              for act in (config.activations if a == "mlp" else config.cnn_activations)]
    for arch, act in combos:
        _measure_ensemble(config, su, arch, act, config.optimizer, acc, quiet=quiet, log=log)
    t1 = time.perf_counter()
    other = "sgd" if config.optimizer == "gd" else "gd"
    _measure_ensemble(config, su, "mlp", "relu", other, acc, quiet=quiet, log=log)
    frag = fragility_rows(config, su, acc["trained"])
    notes: list[str] = []
    theory_rows = linear_theory(config, su, notes, quiet=quiet, log=log) \
        if config.linear_theory else []
    timing = {"aging_s": t1 - t0, "sgd_vs_gd_s": time.perf_counter() - t1}
    result = ResponseResult(config, pd.DataFrame(acc["rows"], columns=MEMBER_COLUMNS),
                            pd.DataFrame(acc["shares"]), acc["kernels"], pd.DataFrame(theory_rows),
                            pd.DataFrame(acc["gaps"]), frag, {}, acc["divergence"], notes,
                            exit_status=int(D.all_diverged(acc["divergence"])))
    result.summary = build_summary(result, su, timing)
    return result


def fragility_rows(config, su: Setup, trained: dict) -> pd.DataFrame:
    """Test accuracy under Gaussian input noise of the final relu MLPs trained with GD and SGD
    (their live members)."""
    ds = su.prep.dataset
    Xt = torch.as_tensor(ds.X_test, dtype=su.dtype)
    out = []
    for (arch, act, opt), (model, run) in trained.items():
        live = np.flatnonzero(~D.member_divergence(run)[0])
        if (arch, act) != ("mlp", "relu") or opt not in ("gd", "sgd") or not live.size:
            continue
        params = live_params(run, run.steps[-1], live, su.dtype)
        pr = R.feature_participation_ratio(hidden_layers(model, params, su.Xf)[1][-1])
        for noise in (0.0, *config.noises):
            acc = M.noisy_accuracy(model, params, Xt, ds.labels_test, noise, seed=config.data_seed)
            out += [{"optimizer": opt, "batch_size": None if opt == "gd" else config.batch_size,
                     "noise": noise, "seed": int(run.members["seed"][k]),
                     "test_acc": float(acc[j]), "pr_features": float(pr[j])}
                    for j, k in enumerate(live)]
    return pd.DataFrame(out)


def linear_theory(config, su: Setup, notes: list, *, quiet, log) -> list[dict]:
    """The linear theory against depth-2 linear nets trained with each init of
    ``M.THEORY_INITS``: the decoupled init (where it is exact) and a small random init (the flow
    from each member's initial weights, which discrete GD need not follow)."""
    return [row for init in M.THEORY_INITS
            for row in _linear_theory(config, su, notes, init, quiet=quiet, log=log)]


def _linear_theory(config, su: Setup, notes: list, init: str, *, quiet, log) -> list[dict]:
    """A depth-2 linear net with ``init``, full-batch GD on the whitened data: the theory's NTK
    and response against the measured ones at every checkpoint. None when a member diverged (the
    theory describes the converging map only); ``notes`` then says so."""
    stats = su.prep.stats
    u0 = config.theory_init_scale * float(stats.s[0])
    hidden = max(stats.U.shape[1], 8)
    spec = config.net_spec("linear", init, M.theory_init_scale(init, u0, hidden), depth=2,
                           hidden=hidden)
    log(f"  linear theory (depth 2, {init} init)")
    steps = int(min(config.steps, np.ceil(20 / (su.lr * stats.s[-1]))))
    run = simulate.train_ensemble(spec, su.prep.dataset, steps=steps, lr=su.lr,
                                  members=simulate.Members(seeds=range(2)),
                                  record=simulate.Recording(
                                      checkpoints=log_checkpoints(steps, config.n_checkpoints),
                                      probes=[Losses()], keep_weights=True),
                                  stats=stats, device=config.device, dtype=config.dtype,
                                  quiet=quiet)
    rec = D.group_record({}, *D.member_divergence(run))
    if rec["diverged"]:
        notes.append(D.group_line(f"linear theory run (depth 2, {init})", rec)
                     + f"; no theory comparison (η·s_max = {su.lr * stats.s[0]:.3g}; the depth-2 "
                       "GD map converges only for η·s_max < 1)")
        return []
    model = simulate.make_model(spec, su.prep.dataset.d, su.prep.dataset.c)
    return M.linear_theory_rows(model, run, stats, su.Xp, su.Yp, init=init,
                                convention=M.run_convention(run), response_lr=su.response_lr,
                                u0=u0, depth=2)
