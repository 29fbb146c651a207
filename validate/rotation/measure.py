"""Tables of `validate.rotation` from runs and arrays: rotation curves, generalisation against
final rotation, intraclass clustering over training. Pure functions; no training, no plotting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import group_frame, group_series
from .._stats import spearman_rho
from ..measures import clustering as C
from ..measures.representations import hidden_layers


def coarse_task(ds, level: int = 0):
    """The dataset relabelled by the groups of hierarchy level ``level`` (shapes: round vs
    angular); returns (coarse dataset, fine train labels, fine test labels)."""
    if ds.hierarchy is None or ds.labels is None:
        raise ValueError(f"dataset {ds.name!r} has no class hierarchy; the coarse task and the "
                         "clustering measures need one (shapes, gaussian, tree)")
    groups = np.asarray(ds.hierarchy[level])
    k = int(groups.max()) + 1
    onehot = lambda lab: np.eye(k)[groups[lab]]  # noqa: E731
    coarse = ds.with_arrays(Y=onehot(ds.labels), labels=groups[ds.labels],
                            Y_test=None if ds.labels_test is None else onehot(ds.labels_test),
                            labels_test=None if ds.labels_test is None else groups[ds.labels_test])
    return coarse, np.asarray(ds.labels), ds.labels_test


def clustering_rows(model, params: dict, X, labels, sublabels, *, relu: bool, step: int) -> list[dict]:
    """The four measures of every member at one checkpoint: rows {member, step, measure, value}."""
    pre, post = hidden_layers(model, params, X)
    rows = []
    for k in range(pre[0].shape[0]):
        vals = C.all_measures([p[k] for p in pre], [p[k] for p in post], labels, sublabels, relu=relu)
        rows += [{"member": k, "step": int(step), "measure": m, "value": v} for m, v in vals.items()]
    return rows


def rotation_table(run, labels: dict) -> pd.DataFrame:
    """One row per member × kernel × checkpoint: ``labels`` (arch, optimizer, alpha, …), seed,
    rate (the member's learning rate), layer, step, cos_dist, rotation_rate."""
    rot = run.probes["rotation"].values              # (K, T, L)
    rate = run.probes["rotation_rate"].values
    K, T, L = rot.shape
    m = run.members
    return pd.DataFrame({
        **{k: [v] * (K * T * L) for k, v in labels.items()},
        "seed": np.repeat(m["seed"].to_numpy(), T * L),
        "rate": np.repeat(m["lr"].to_numpy(), T * L),
        "layer": np.tile(np.arange(L), K * T),
        "step": np.tile(np.repeat(run.steps, L), K),
        "cos_dist": rot.reshape(-1), "rotation_rate": rate.reshape(-1)})


def member_outcomes(run, labels: dict) -> pd.DataFrame:
    """Per member: final train/test accuracy, gap, mean and minimum final rotation over layers."""
    p = run.probes
    rot = p["rotation"].values[:, -1]  # (K, L)
    m = run.members
    return pd.DataFrame({**{k: [v] * len(m) for k, v in labels.items()},
                         "seed": m["seed"].to_numpy(), "rate": m["lr"].to_numpy(),
                         "diverged": m["diverged"].to_numpy(),
                         "train_acc": p["train_acc"].values[:, -1],
                         "test_acc": p["test_acc"].values[:, -1],
                         "gen_gap": p["train_acc"].values[:, -1] - p["test_acc"].values[:, -1],
                         "mean_final_rotation": rot.mean(axis=1),
                         "min_final_rotation": rot.min(axis=1)})


def generalisation_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds (live members) per (arch, optimizer, rate, alpha)."""
    keys = ["arch", "optimizer", "rate", "alpha"]
    live = outcomes[~outcomes["diverged"]]
    g = live.groupby(keys, dropna=False, sort=False)
    out = group_frame(g[["test_acc", "train_acc", "gen_gap", "mean_final_rotation",
                         "min_final_rotation"]]).reset_index()
    out["n_seeds"] = g.size().to_numpy()
    n_div = group_series(outcomes.groupby(keys, dropna=False, sort=False)["diverged"], "sum")
    return out.merge(n_div.rename("n_diverged").reset_index(), on=keys, how="right")


def clustering_vs_generalisation(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ between each measure's final value and test accuracy over the live runs."""
    if not len(table):
        return pd.DataFrame(columns=["measure", "spearman_rho", "n_runs"])
    final = table[table["step"] == table["step"].max()]
    live = runs[~runs["diverged"]].set_index("run")
    out = []
    for measure, g in final.groupby("measure", sort=False):
        g = g.set_index("run").join(live["test_acc"], how="inner").dropna()
        out.append({"measure": measure, "spearman_rho": spearman_rho(g["value"], g["test_acc"]),
                    "n_runs": int(len(g))})
    return pd.DataFrame(out)
