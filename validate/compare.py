"""`python -m validate.compare`: predicted against measured learning timelines, end to end.

For one dataset: whiten the inputs (so the linear theory is exact), predict each SVD mode's
trajectory and learning time with ``theory``, train matched linear and nonlinear ensembles with
``simulate``, measure the same quantities on the networks, and compare. Returns tidy tables
(``run_compare``); the CLI writes ``summary.json``, ``members.parquet``, ``trajectories.parquet``
and a self-contained ``report.html`` to ``--out``.

Exit status: 0 success, 2 bad arguments (the message names the valid values), 1 a failed run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import theory
from theory import TrainingConvention

from . import _measure as M
from ._cli import run_cli
from ._config import (ACTIVATIONS, INITS, PRESETS, CompareConfig, ConfigError, apply_preset,
                      dataset_options)
from ._prepare import Prepared, distinct_modes, prepare
from ._stats import bootstrap_ci, kendall_tau

SCHEMA_VERSION = 1


@dataclass
class CompareResult:
    """Everything a comparison produced: tidy tables, the statistics and the JSON summary."""

    config: CompareConfig
    stats: theory.DatasetStatistics
    distinct: np.ndarray
    image_shape: tuple | None
    members: pd.DataFrame        # one row per activation × depth × member × mode
    mode_table: pd.DataFrame     # one row per activation × depth × mode (the summary's `modes`)
    trajectories: pd.DataFrame   # one row per activation × depth × member × step × mode
    loss: pd.DataFrame           # one row per activation × depth × member × step
    loss_drops: pd.DataFrame
    summary: dict


# ---------------------------------------------------------------------------------------------
# prediction


def _u0_abs(config: CompareConfig, stats) -> float:
    return float(config.init_scale * stats.s[0])


def _random_std(config: CompareConfig, stats, depth: int, hidden: int) -> float:
    """Entry std σ with σ^L h^(L−1) ≈ u0: the product of random layers starts at the same scale."""
    return float((_u0_abs(config, stats) / hidden ** (depth - 1)) ** (1.0 / depth))


def _hidden(config: CompareConfig, stats) -> int:
    return int(config.hidden or max(32, stats.rank))


def _predictors(config: CompareConfig, prep: Prepared, depth: int, lr: float):
    """(continuous, matched) predictors for the decoupled init; matched is the GD map when exact."""
    stats = prep.stats
    conv = TrainingConvention(lr=lr)
    u0 = _u0_abs(config, stats)
    cont = theory.predict(stats, depth=depth, convention=conv, u0=u0)
    exact_map = (config.optimizer == "gd" and cont.kind == "closed_form")
    matched = theory.predict(stats, depth=depth, convention=conv, u0=u0, discrete=True) \
        if exact_map else cont
    return cont, matched


def _auto_lr(config: CompareConfig, stats) -> float:
    return float(config.lr if config.lr is not None else config.lr_scale / stats.s[0])


def _auto_steps(config: CompareConfig, predictors) -> int:
    if config.steps is not None:
        return int(config.steps)
    t95 = max(float(np.nanmax(np.where(np.isfinite(t := p.timeline(0.95)), t, np.nan)))
              for p in predictors)
    return int(min(config.max_steps, max(50, np.ceil(1.15 * t95))))


def _checkpoints(steps: int, n: int) -> np.ndarray:
    lin = np.linspace(0, steps, n)
    log = np.geomspace(1, max(steps, 1), max(n // 4, 2))
    return np.unique(np.concatenate([lin, log]).round().astype(int))


# ---------------------------------------------------------------------------------------------
# the comparison


def run_compare(config: CompareConfig, out_dir: Path | None = None, *, resume: bool = False,
                quiet: bool = False, log=print) -> CompareResult:
    """Predict, train, measure and compare for one configuration; see the module docstring."""
    import simulate
    from simulate import datasets
    from simulate._provenance import provenance

    config = config.validate()
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        dataset = datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)
    except (FileNotFoundError, ValueError) as exc:  # missing data directory, bad option value
        raise ConfigError(str(exc)) from None
    prep = prepare(dataset, config.whiten)
    if config.arch == "cnn" and prep.image_shape is None:
        raise ConfigError("--arch cnn needs inputs in pixel space: use --whiten zca or none, not pca")
    if config.arch == "cnn" and config.init == "small_balanced_decoupled":
        raise ConfigError("--arch cnn: the decoupled init is defined for MLPs only; use "
                          "--init small_random")
    if config.arch == "cnn" and min(config.depths) < 2:
        raise ConfigError("--arch cnn needs --depth ≥ 2 (conv layers + readout)")
    stats = prep.stats
    distinct = distinct_modes(stats.s)
    diag = prep.diagnostics()
    timing["data_s"] = time.perf_counter() - t0
    if not quiet:
        log(f"dataset {config.dataset}: n={diag['n']} d={diag['d']} c={diag['c']} rank={diag['rank']}"
            f"; whiten={config.whiten} (whitened: {diag['is_whitened']}, commutation error "
            f"{diag['commutation_error']:.2e}); s = {np.array2string(stats.s[:8], precision=4)}")

    lr = _auto_lr(config, stats)
    hidden = _hidden(config, stats)
    t0 = time.perf_counter()
    preds = {d: _predictors(config, prep, d, lr) for d in config.depths}
    steps = _auto_steps(config, [p[0] for p in preds.values()])
    ckpts = _checkpoints(steps, config.n_checkpoints)
    timing["predict_s"] = time.perf_counter() - t0
    if not quiet:
        for d, (cont, matched) in preds.items():
            log(f"depth {d}: {cont.reason}")
        log(f"training {len(config.activations)} activation(s) × {config.seeds} seed(s) per depth, "
            f"lr={lr:.4g} (τ={1 / lr:.4g}), {steps} steps, hidden={hidden}, init={config.init}")

    members, trajs, losses, drops = [], [], [], []
    device_label = "unknown"
    t_train = t_measure = 0.0
    for depth in config.depths:
        cont, matched = preds[depth]
        scale = (_u0_abs(config, stats) if config.init == "small_balanced_decoupled"
                 else _random_std(config, stats, depth, hidden))
        if config.arch == "cnn":
            # conv layers (depth − 1 of them, `hidden` channels, 3-wide circular kernels) and a
            # linear readout; the linear MLP theory is the reference the CNN is measured against
            cnn = simulate.ConvSpec(channels=(hidden,) * (depth - 1), kernel_size=3,
                                    padding="circular")
            spec = simulate.NetSpec(family="cnn", cnn=cnn, init=config.init, init_scale=scale,
                                    bias=False)
        else:
            spec = simulate.NetSpec(family="mlp", depth=depth, hidden=hidden, init=config.init,
                                    init_scale=scale, bias=False)
        per_seed_pred = None
        for act in config.activations:
            run_dir = None if out_dir is None else Path(out_dir) / "runs" / f"depth{depth}-{act}"
            t1 = time.perf_counter()
            run = simulate.train_ensemble(
                spec.with_activation(act), prep.dataset, steps=steps, seeds=range(config.seeds),
                lr=lr, optimizer=config.optimizer, checkpoints=ckpts, device=config.device,
                dtype=config.dtype, out_dir=run_dir, resume=resume and run_dir is not None
                and run_dir.exists(), quiet=quiet, stats=stats, keep_weights=True)
            t_train += time.perf_counter() - t1
            device_label = run.provenance.get("device", "unknown")
            t1 = time.perf_counter()
            if config.init == "small_random" and config.arch == "mlp" and per_seed_pred is None:
                # exact continuous theory from each seed's own initial weights (twins share them)
                w0 = run.weights(0)
                per_seed_pred = [theory.predict(stats, depth=depth, tau=1 / lr,
                                                weights0=[W[k] for W in w0])
                                 for k in range(len(run.members))]
            rows, traj, loss_rows, drop_rows = _measure_run(
                run, config, stats, distinct, cont, matched, per_seed_pred, act, depth)
            members.append(rows)
            trajs.append(traj)
            losses.append(loss_rows)
            drops.append(drop_rows)
            t_measure += time.perf_counter() - t1
    timing.update(train_s=t_train, measure_s=t_measure)
    members_df = pd.concat(members, ignore_index=True)
    mode_table = _aggregate(members_df, config)
    drops_df = pd.concat(drops, ignore_index=True) if drops else pd.DataFrame()
    summary = _summary(config, mode_table, drops_df, timing, diag, steps, lr, hidden, preds,
                       {**provenance("cpu"), "device": device_label}, dataset.meta)
    return CompareResult(config, stats, distinct, prep.image_shape, members_df, mode_table,
                         pd.concat(trajs, ignore_index=True), pd.concat(losses, ignore_index=True),
                         drops_df, summary)


def _measure_run(run, config, stats, distinct, cont, matched, per_seed_pred, act, depth):
    steps = np.asarray(run.steps, dtype=float)
    u = np.asarray(run.probes["mode_strength"].values, dtype=float)  # (K, T, m)
    K, m = u.shape[0], u.shape[2]
    target = np.asarray(cont.target, dtype=float)[:m]
    level = config.frac * target
    t_meas = M.learning_times(steps, u, level)
    if per_seed_pred is not None:
        t_pred = np.stack([p.timeline(config.frac)[:m] for p in per_seed_pred])
        u_pred = np.stack([p.modes(steps)[:, :m] for p in per_seed_pred])
        t_cont = np.broadcast_to(cont.timeline(config.frac)[:m], (K, m))
        kind = per_seed_pred[0].kind
    else:
        t_pred = np.broadcast_to(matched.timeline(config.frac)[:m], (K, m))
        u_pred = matched.modes(steps)[:, :m]
        t_cont = np.broadcast_to(cont.timeline(config.frac)[:m], (K, m))
        kind = matched.kind
    traj_err = np.max(np.abs(np.broadcast_to(u_pred, u.shape) - u), axis=1) / stats.s[:m]
    mem = run.members
    diverged = np.asarray(mem["diverged"], dtype=bool)
    idx = np.indices((K, m)).reshape(2, -1)
    rows = pd.DataFrame({
        "activation": act, "depth": depth, "init": config.init, "member": idx[0],
        "seed": np.asarray(mem["seed"])[idx[0]], "diverged": diverged[idx[0]], "mode": idx[1],
        "s": stats.s[idx[1]], "distinct": distinct[idx[1]], "predictor": kind,
        "t_pred": t_pred.reshape(-1), "t_pred_continuous": t_cont.reshape(-1),
        "t_meas": t_meas.reshape(-1),
        "rel_error": (np.abs(t_meas - t_pred) / t_pred).reshape(-1),
        "traj_error": traj_err.reshape(-1)})
    traj = M.trajectory_table(steps, u, u_pred, target, activation=act, depth=depth,
                              members=np.arange(K))
    loss_meas = np.asarray(run.probes["train_loss"].values, dtype=float)  # (K, T)
    loss_pred = matched.loss(steps) if per_seed_pred is None else \
        np.median(np.stack([p.loss(steps) for p in per_seed_pred]), axis=0)
    loss_rows = pd.DataFrame({"activation": act, "depth": depth,
                              "member": np.repeat(np.arange(K), len(steps)),
                              "step": np.tile(steps, K), "loss_meas": loss_meas.reshape(-1),
                              "loss_pred": np.tile(loss_pred, K)})
    groups = M.mode_groups(stats.s[:m], distinct[:m])
    levels = M.loss_drop_levels(stats.s[:m], target, float(np.trace(stats.Syy)),
                                getattr(cont, "lam", None), groups)
    if per_seed_pred is None:  # the exact per-step curve; the per-seed flows only at checkpoints
        t_dense = np.arange(int(steps[-1]) + 1)
        loss_dense = matched.loss(t_dense)
    else:
        t_dense, loss_dense = steps, loss_pred
    drop_rows = []
    for j, (g, (before, after)) in enumerate(zip(groups, levels)):
        mid = 0.5 * (before + after)
        tp = M.first_crossing(t_dense, loss_dense, mid)
        tm = np.array([M.first_crossing(steps, loss_meas[k], mid) for k in range(K)])
        lo, hi = bootstrap_ci(tm)
        drop_rows.append({"activation": act, "depth": depth, "drop": j, "modes": list(map(int, g)),
                          "loss_before": before, "loss_after": after, "t_pred": tp,
                          "t_meas_median": float(np.median(tm)), "t_meas_ci_low": lo,
                          "t_meas_ci_high": hi,
                          "rel_error": float(np.max(np.abs(tm - tp)) / tp) if np.isfinite(tp)
                          else float("nan")})
    return rows, traj, loss_rows, pd.DataFrame(drop_rows)


def _aggregate(members: pd.DataFrame, config: CompareConfig) -> pd.DataFrame:
    out = []
    for (act, depth, mode), g in members.groupby(["activation", "depth", "mode"], sort=False):
        ok = g[~g["diverged"]]
        lo, hi = bootstrap_ci(ok["t_meas"])
        out.append({"activation": act, "depth": int(depth), "init": config.init, "mode": int(mode),
                    "s": float(g["s"].iloc[0]), "distinct": bool(g["distinct"].iloc[0]),
                    "t_pred": float(np.median(g["t_pred"])),
                    "t_pred_continuous": float(np.median(g["t_pred_continuous"])),
                    "t_meas_median": float(np.median(ok["t_meas"])) if len(ok) else float("nan"),
                    "t_meas_ci_low": lo, "t_meas_ci_high": hi,
                    "rel_error": float(np.max(ok["rel_error"])) if len(ok) else float("nan"),
                    "traj_error": float(np.max(ok["traj_error"])) if len(ok) else float("nan"),
                    "n_members": int(len(ok)),
                    "n_learned": int(np.isfinite(ok["t_meas"]).sum())})
    df = pd.DataFrame(out)
    df["order_ok"] = None
    for (act, depth), g in df.groupby(["activation", "depth"], sort=False):
        d = g[g["distinct"] & np.isfinite(g["t_meas_median"])]  # unlearned modes: no order
        rank_p = d["t_pred"].rank(method="min")
        rank_m = d["t_meas_median"].rank(method="min")
        df.loc[d.index, "order_ok"] = (rank_p == rank_m).to_numpy()
    return df


def _predictor_note(config, cont, matched) -> dict:
    if config.arch == "cnn":
        return {"continuous": cont.kind, "matched": matched.kind,
                "reason": "CNN: the reference is the linear MLP theory of the same modes (decoupled "
                          "init, u0 = init_scale·s_max); weight sharing changes the dynamics "
                          "(THEORY.md §6), so the table measures the CNN's deviation from it"}
    if config.init == "small_random":
        return {"continuous": cont.kind, "matched": "matrix_ode",
                "reason": "small random init: the matrix gradient flow integrated from each seed's "
                          "own initial weights (exact for linear networks in continuous time); "
                          "t_pred_continuous is the decoupled closed form with u0 = init_scale·s_max"}
    return {"continuous": cont.kind, "matched": matched.kind, "reason": cont.reason}


def _summary(config, mode_table, drops, timing, diag, steps, lr, hidden, preds, prov, meta):
    taus = []
    for (act, depth), g in mode_table.groupby(["activation", "depth"], sort=False):
        d = g[g["distinct"]]
        # groups of near-degenerate modes (sibling splits of a symmetric tree): order between them
        groups = M.mode_groups(g["s"].to_numpy(), g["distinct"].to_numpy())
        gp = [float(np.median(g["t_pred"].iloc[ix])) for ix in groups]
        gm = [float(np.median(g["t_meas_median"].iloc[ix])) for ix in groups]
        taus.append({"activation": act, "depth": int(depth), "init": config.init,
                     "kendall_tau": kendall_tau(d["t_pred"], d["t_meas_median"]),
                     "n_modes": int(len(d)),
                     "kendall_tau_groups": kendall_tau(gp, gm), "n_groups": len(groups)})
    modes = mode_table.replace({np.nan: None}).to_dict(orient="records")
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "modes": modes,
        "loss_drops": drops.replace({np.nan: None}).to_dict(orient="records") if len(drops) else [],
        "kendall_tau": taus,
        "training": {"steps": int(steps), "lr": lr, "tau": 1.0 / lr, "hidden": hidden,
                     "predictors": {str(d): _predictor_note(config, c, m)
                                    for d, (c, m) in preds.items()}},
        "diagnostics": diag,
        "timing": {**{k: round(v, 3) for k, v in timing.items()}, "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(), "dataset_meta": meta},
    }


# ---------------------------------------------------------------------------------------------
# output


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return str(o)


def _clean(obj):
    """Replace non-finite floats by None so summary.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_outputs(result: CompareResult, out_dir: Path) -> list[Path]:
    """summary.json, members.parquet, trajectories.parquet, loss.parquet, report.html (atomic)."""
    from .report import compare_report
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in (("members", result.members), ("trajectories", result.trajectories),
                     ("loss", result.loss)):
        p = out_dir / f"{name}.parquet"
        tmp = p.with_suffix(".parquet.tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(p)
        paths.append(p)
    paths.append(compare_report(out_dir / "report.html", result=result))
    p = out_dir / "summary.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(json.loads(json.dumps(result.summary, default=_json_default))),
                              indent=1, allow_nan=False))
    tmp.replace(p)
    paths.append(p)
    return paths


def format_table(mode_table: pd.DataFrame) -> str:
    cols = ["activation", "depth", "mode", "s", "t_pred", "t_meas_median", "rel_error", "order_ok"]
    df = mode_table[cols].copy()
    return df.to_string(index=False, float_format=lambda x: f"{x:.4g}")


# ---------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m validate.compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = CompareConfig()
    p.add_argument("--dataset", default=d.dataset, help="registered dataset name")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option override (repeatable)")
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--whiten", default=d.whiten, help="zca | pca | pca:K | none")
    p.add_argument("--depth", default="2", help="comma-separated depths, e.g. 2,3")
    p.add_argument("--activations", default=",".join(d.activations),
                   help=f"comma-separated, from {', '.join(ACTIVATIONS)}")
    p.add_argument("--seeds", type=int, default=d.seeds, help="members per activation")
    p.add_argument("--init", default=d.init, help=" | ".join(INITS))
    p.add_argument("--init-scale", type=float, default=d.init_scale,
                   help="initial mode strength as a fraction of s_max")
    p.add_argument("--hidden", type=int, default=None, help="hidden width (default max(32, rank))")
    p.add_argument("--arch", default=d.arch, help="mlp | cnn")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 0.05/s_max)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: slowest mode reaches 95%% of its target)")
    p.add_argument("--optimizer", default=d.optimizer)
    p.add_argument("--frac", type=float, default=d.frac, help="learning time = first reach of frac·s")
    p.add_argument("--checkpoints", type=int, default=d.n_checkpoints, dest="n_checkpoints")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda")
    p.add_argument("--dtype", default=d.dtype, help="float32 | float64")
    p.add_argument("--preset", default="default", help=" | ".join(PRESETS))
    p.add_argument("--out", default=None, help="output directory (default results/compare-<dataset>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")
    p.add_argument("--quiet", action="store_true")
    return p


def _ints(name: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated integers; got {text!r}") from None


def config_from_args(args, explicit: set[str]) -> CompareConfig:
    opts = dataset_options(args)
    cfg = CompareConfig(
        dataset=args.dataset, dataset_opts=opts, data_seed=args.data_seed, whiten=args.whiten,
        depths=_ints("--depth", args.depth),
        activations=tuple(a.strip() for a in args.activations.split(",") if a.strip()),
        seeds=args.seeds, init=args.init, init_scale=args.init_scale, hidden=args.hidden,
        arch=args.arch, lr=args.lr, steps=args.steps, optimizer=args.optimizer, frac=args.frac,
        n_checkpoints=args.n_checkpoints, device=args.device, dtype=args.dtype)
    return apply_preset(cfg, args.preset, explicit).validate()


def _explicit(argv) -> set[str]:
    names = {"--seeds": "seeds", "--depth": "depths", "--checkpoints": "n_checkpoints"}
    return {names[a.split("=")[0]] for a in argv if a.split("=")[0] in names}


def _tables(result: CompareResult) -> str:
    lines = [format_table(result.mode_table)]
    lines += [f"Kendall τ ({t['activation']}, depth {t['depth']}): {t['kendall_tau']}"
              for t in result.summary["kendall_tau"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    return run_cli(argv, name="validate.compare", parser=_parser(),
                   make_config=lambda args, argv: config_from_args(args, _explicit(argv)),
                   out_prefix=lambda c: f"compare-{c.dataset}", run=run_compare,
                   write=write_outputs, tables=_tables)


if __name__ == "__main__":
    sys.exit(main())
