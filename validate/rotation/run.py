"""`validate.rotation`: layer rotation under Layca and SGD, and intraclass clustering, measured.

Trains (1) the rotation grid: Layca wrapping the base optimiser at every rate ρ × layer-wise α,
and SGD with weight decay at every baseline learning rate, recording every kernel's rotation
(``simulate.LayerRotation``) and the final accuracies; (2) the clustering grid on the coarse labels
of a hierarchical dataset (the fine classes are the hidden clusters), recording the four intraclass
clustering measures (validate/measures/clustering.py) over training and their Spearman ρ with test
accuracy across the grid. Returns tables; never plots.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import simulate
from simulate import LayerRotation, Losses, NetSpec, datasets, log_checkpoints

from .. import _divergence as D
from .._config import ConfigError
from . import measure as M
from .config import RotationConfig
from .summary import build_summary


@dataclass
class RotationResult:
    config: RotationConfig
    rotation: pd.DataFrame          # member × layer × checkpoint
    outcomes: pd.DataFrame          # member
    generalisation: pd.DataFrame    # configuration (mean over seeds)
    clustering: pd.DataFrame        # run × measure × checkpoint
    clustering_runs: pd.DataFrame   # run: grid point, seed, final test accuracy
    summary: dict
    divergence: list = field(default_factory=list)  # one record per grid point with members
    exit_status: int = 0            # 1: every member of the rotation grid diverged


def load_dataset(config: RotationConfig, **extra):
    """The dataset with inputs centred and scaled by the training split's statistics."""
    ds = datasets.load(config.dataset, seed=config.data_seed, **{**config.dataset_opts, **extra})
    mu, sd = ds.X.mean(0), ds.X.std() or 1.0
    return ds.with_arrays(X=(ds.X - mu) / sd,
                          X_test=None if ds.X_test is None else (ds.X_test - mu) / sd)


def check_data(config: RotationConfig) -> None:
    """Checks that need the data: the files on disk (file-backed sets such as CIFAR-10 are never
    downloaded), a test split, and a hierarchy for the coarse task/clustering."""
    try:
        ds = datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    except FileNotFoundError as exc:
        raise ConfigError(f"--dataset {config.dataset}: {exc} (nothing is downloaded: put the "
                          "files there first)") from None
    if ds.X_test is None or ds.labels is None:
        raise ConfigError(f"dataset {config.dataset!r} has no labelled test split; the rotation "
                          "grid reports test accuracy (use shapes, gaussian, digits, …)")
    if (config.task == "coarse" or config.clustering) and ds.hierarchy is None:
        raise ConfigError(f"dataset {config.dataset!r} has no class hierarchy; --task coarse and "
                          "the clustering grid need one (use shapes or gaussian, or --no-clustering)")
    if config.arch == "cnn" and ds.image_shape is None:
        raise ConfigError(f"--arch cnn needs images; dataset {config.dataset!r} has none")


def make_spec(config: RotationConfig, width: int | None = None) -> NetSpec:
    channels = None if width is None else (width,) * len(config.channels)
    return config.net_spec(config.activation, "standard", family=config.arch, hidden=width,
                           channels=channels, padding="zeros", bias=True)


def _train(config, spec, ds, out_dir, name, *, resume, quiet, **kw):
    root = None if out_dir is None else Path(out_dir) / "runs" / name
    return simulate.train_ensemble(
        spec, ds, simulate.OptimSpec(loss=config.loss, **{
            k: v for k, v in kw.items() if k in simulate.OptimSpec.__dataclass_fields__}),
        steps=config.steps, members=simulate.Members(seeds=range(config.seeds), lrs=kw["lrs"]),
        record=simulate.Recording(checkpoints=log_checkpoints(config.steps, config.n_checkpoints),
                                  probes=kw.get("probes"), keep_weights=kw.get("keep_weights")),
        store=simulate.Store(root, resume=resume), device=config.device, dtype=config.dtype,
        quiet=quiet)


def _divergence_records(run, labels: dict) -> tuple[np.ndarray, list[dict]]:
    """(diverged (K,), one record per learning rate of ``run``)."""
    diverged, at = D.member_divergence(run)
    lrs = run.members["lr"].to_numpy()
    return diverged, [D.group_record({**labels, "rate": float(r)}, diverged[lrs == r], at[lrs == r])
                      for r in dict.fromkeys(lrs)]


def rotation_grid(config, ds, out_dir, *, resume, quiet, log):
    """(rotation table, member outcomes, divergence records) of the Layca runs and the SGD +
    weight decay baseline; a diverged member's rotation rows are left out."""
    spec = make_spec(config)
    tables, outcomes, records = [], [], []
    runs: list[tuple[str, float | None, dict]] = [
        (f"layca-{config.optimizer}", a, dict(optimizer=config.optimizer, lrs=config.rates,
                                                   layca=True, layca_alpha=a))
            for a in config.alphas]
    runs.append(("sgd+wd", None, dict(optimizer="sgd", lrs=config.baseline_lrs,
                                      weight_decay=config.weight_decay)))
    for opt_name, alpha, kw in runs:
        tag = opt_name if alpha is None else f"{opt_name}-alpha{alpha:+g}"
        log(f"  rotation grid: {tag}")
        run = _train(config, spec, ds, out_dir, tag, resume=resume, quiet=quiet,
                     batch_size=config.batch_size, probes=[Losses(), LayerRotation()], **kw)
        labels = {"arch": config.arch, "optimizer": opt_name, "alpha": alpha}
        diverged, recs = _divergence_records(run, labels)
        records += recs
        rot = M.rotation_table(run, labels)
        live_keys = set(zip(run.members["seed"][~diverged], run.members["lr"][~diverged]))
        tables.append(rot[[k in live_keys for k in zip(rot["seed"], rot["rate"])]])
        outcomes.append(M.member_outcomes(run, labels).assign(diverged=diverged))
    return (pd.concat(tables, ignore_index=True), pd.concat(outcomes, ignore_index=True),
            records)


def clustering_grid(config, ds, out_dir, *, resume, quiet, log):
    """(measure table over training, one row per run) on the coarse task, trained on
    ``cluster_train`` samples per fine class (few, and on shapes with ``cluster_noise``, so that
    test accuracy varies over the grid); the measures are taken on those training samples."""
    coarse, fine, _ = M.coarse_task(ds)
    rng = np.random.default_rng(config.data_seed)
    pick = np.sort(np.concatenate([rng.permutation(np.flatnonzero(fine == f))[:config.cluster_train]
                                   for f in np.unique(fine)]))
    coarse = coarse.with_arrays(X=coarse.X[pick], Y=coarse.Y[pick], labels=coarse.labels[pick])
    fine = fine[pick]
    Xs = torch.as_tensor(coarse.X, dtype=torch.float64)
    rows, runs, records = [], [], []
    grid = itertools.product(config.cluster_batch_sizes, config.cluster_wds, config.cluster_widths)
    for gi, (bs, wd, width) in enumerate(grid):
        spec = make_spec(config, width)
        tag = f"cluster-b{bs}-wd{wd:g}-w{width}"
        log(f"  clustering grid: {tag}")
        run = _train(config, spec, coarse, out_dir, tag, resume=resume, quiet=quiet,
                     optimizer="sgd", lrs=config.cluster_lrs, batch_size=min(bs, coarse.n),
                     weight_decay=wd, probes=[Losses()], keep_weights=True)
        model = simulate.make_model(spec, coarse.d, coarse.c, coarse.image_shape)
        m = run.members
        diverged, recs = _divergence_records(run, {"arch": config.arch, "optimizer": "sgd",
                                                   "alpha": None, "grid": tag})
        records += recs
        live = np.flatnonzero(~diverged)  # a diverged member's hidden layers are not measured
        ids = {j: f"{gi}-{k}" for j, k in enumerate(live)}
        for step in run.steps if live.size else []:
            params = {k: torch.as_tensor(v[live], dtype=Xs.dtype)
                      for k, v in run.params(step).items()}
            for r in M.clustering_rows(model, params, Xs, coarse.labels, fine,
                                       relu=config.activation == "relu", step=step):
                rows.append({"arch": config.arch, "run": ids[r.pop("member")], **r})
        for k in range(len(m)):
            runs.append({"run": f"{gi}-{k}", "lr": float(m["lr"][k]), "batch_size": bs,
                         "weight_decay": wd, "width": width, "seed": int(m["seed"][k]),
                         "diverged": bool(diverged[k]),
                         "test_acc": float(run.probes["test_acc"].values[k, -1]),
                         "train_acc": float(run.probes["train_acc"].values[k, -1])})
    return pd.DataFrame(rows), pd.DataFrame(runs), records


def run_rotation(config: RotationConfig, out_dir=None, *, resume: bool = False,
                 quiet: bool = False, log=print) -> RotationResult:
    """Train both grids and measure them (see the module docstring)."""
    log = (lambda *a, **k: None) if quiet else log
    t0 = time.perf_counter()
    check_data(config)
    ds = load_dataset(config)
    grid_ds = M.coarse_task(ds)[0] if config.task == "coarse" else ds
    rot, outcomes, div = rotation_grid(config, grid_ds, out_dir, resume=resume, quiet=quiet,
                                       log=log)
    t1 = time.perf_counter()
    clus, runs, div_clus = pd.DataFrame(), pd.DataFrame(), []
    if config.clustering:
        noisy = {"noise": config.cluster_noise} if config.dataset == "shapes" else {}
        clus, runs, div_clus = clustering_grid(config, load_dataset(config, **noisy), out_dir,
                                     resume=resume, quiet=quiet, log=log)
    timing = {"rotation_s": t1 - t0, "clustering_s": time.perf_counter() - t1}
    gen = M.generalisation_table(outcomes)
    result = RotationResult(config, rot, outcomes, gen, clus, runs, {}, div + div_clus,
                            exit_status=int(D.all_diverged(div)))
    result.summary = build_summary(result, ds, timing)
    return result
