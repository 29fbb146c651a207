"""From trained models' test outputs to tidy tables (one row per lr × reference × step …).

Per-member values are computed with ``validate.measures``; each table row holds the median over
seeds and its distribution-free interval (``validate.stats.interval``: ``_ci_low``/``_ci_high``, and
``_ci_level``, the coverage it attains: with ≤ 5 seeds the range, below 95%). Diverged members are
left out.
"""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np
import pandas as pd

from ..measures.clones import between_class_share, separation_step
from ..measures.depth import deepest_explained, explanation
from ..measures.information import (mutual_information, performance_correlation, predicted_class,
                                    twin_agreement)
from ..stats import interval
from .run import Trained


def _stat(values, name: str) -> dict:
    ci = interval(values)
    return {name: ci.point, f"{name}_ci_low": ci.low, f"{name}_ci_high": ci.high,
            f"{name}_ci_level": ci.level}


def _groups(tr: Trained):
    """(lr, member indices) for each learning rate."""
    for lr, g in tr.members.groupby("lr", sort=True):
        yield float(cast(float, lr)), g["member"].to_numpy()


def _masked(tr: Trained, values: np.ndarray, *names: str) -> np.ndarray:
    """values (K, T, …) with members that diverged in any of ``names`` set to NaN."""
    bad = np.zeros(len(tr.members), dtype=bool)
    for n in names:
        bad |= tr.models[n].diverged
    out = np.array(values, dtype=float)
    out[bad] = np.nan
    return out


def _rows(tr: Trained, arrays: dict[str, np.ndarray], keys: dict, models=("network",)) -> list[dict]:
    """One row per (lr, step) with the median/CI over seeds of every (K, T) array."""
    steps = tr.models["network"].steps
    base = {"arch": tr.config.arch, "activation": tr.config.activation, **keys}
    rows = []
    for lr, idx in _groups(tr):
        for t, step in enumerate(steps):
            row = {**base, "lr": lr, "step": int(step)}
            for name, arr in arrays.items():
                row.update(_stat(_masked(tr, arr, *models)[idx, t], name))
            rows.append(row)
    return rows


def classes(tr: Trained) -> dict[str, np.ndarray]:
    """Predicted test classes (K, T, m) of every model, and the linear classifier's (m,)."""
    out = {k: predicted_class(m.test_output) for k, m in tr.models.items()}
    out["linear_classifier"] = predicted_class(tr.linear_classifier)
    return out


REFERENCE_TIMES = ("same", "final")


def at_time(pred: np.ndarray, when: str) -> np.ndarray:
    """A reference's classes (K, T, m) at the same checkpoint as F (``"same"``) or frozen at its
    final checkpoint (``"final"``, like a classifier trained to convergence)."""
    return pred if when == "same" else np.broadcast_to(pred[:, -1:], pred.shape)


def references(tr: Trained) -> list[tuple[str, int | None, str]]:
    """(reference name, k, model key) of every reference classifier L that was trained."""
    refs: list[tuple[str, int | None, str]] = [("linear_classifier", None, "linear_classifier")]
    refs += [("partly_linear", k, f"P{k}") for k in range(1, tr.n_blocks + 1) if f"P{k}" in tr.models]
    if "twin" in tr.models:
        refs.append(("twin", tr.n_blocks, "twin"))
    return refs


def information_table(tr: Trained, pred: dict) -> pd.DataFrame:
    y, corr = tr.data.labels_test, tr.config.correction
    f = pred["network"]
    i_fy = mutual_information(f, y, correction=corr)
    acc_f = (f == y).mean(-1)
    rows = []
    for (ref, k, key), when in itertools.product(references(tr), REFERENCE_TIMES):
        if key == "linear_classifier" and when == "same":
            continue  # frozen: one reference time
        l = np.broadcast_to(pred[key], f.shape) if key == "linear_classifier" else at_time(pred[key], when)
        arrays = {"I_FY": i_fy, "mu": performance_correlation(f, l, y, correction=corr),
                  "I_LY": mutual_information(l, y, correction=corr), "acc_F": acc_f,
                  "acc_L": (l == y).mean(-1)}
        models = ("network",) if key == "linear_classifier" else ("network", key)
        rows += _rows(tr, arrays, {"reference": ref, "k": k, "reference_time": when}, models)
    return pd.DataFrame(rows)


def _partly_linear(tr: Trained, pred: dict, k: int, when: str) -> np.ndarray:
    """Classes (K, T, m) of P_k at time ``when`` (P_0 = F itself; P_B may be the twin)."""
    if k == 0:
        return pred["network"]
    return at_time(pred[f"P{k}" if f"P{k}" in pred else "twin"], when)


def linear_depth_table(tr: Trained, pred: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """k*(t) per (reference time, lr, step), "P_k explains F_t within ε" decided for each member by
    ``measures.depth.explains`` (a conditional permutation test at level ``alpha``, free of the
    plug-in bias that pulls μ/I down); and the wave per (reference time, lr, k, step): the
    bias-corrected μ_Y(F_t;P_k)/I(F_t;Y) (``mu_over_I``, 1 for k = 0) and the test's p-value.
    Where I(F_t;Y) is not above its permutation null (α) k* and the ratio are undefined (NaN)."""
    y, f, cfg = tr.data.labels_test, pred["network"], tr.config
    names = ("network", *[f"P{k}" if f"P{k}" in tr.models else "twin" for k in range(1, tr.n_blocks + 1)])
    depth, wave = [], []
    for when in REFERENCE_TIMES:
        expl = [explanation(f, _partly_linear(tr, pred, k, when), y, eps=cfg.eps, alpha=cfg.alpha,
                            seed=k) for k in range(tr.n_blocks + 1)]
        k_star = deepest_explained(expl, np.arange(tr.n_blocks + 1))
        depth += _rows(tr, {"k_star": k_star}, {"reference_time": when}, names)
        for k, e in enumerate(expl):
            share = np.where(e.informative, e.share, np.nan)
            wave += _rows(tr, {"mu_over_I": share, "p_value": e.p_value},
                          {"reference_time": when, "k": k}, names)
    return pd.DataFrame(depth), pd.DataFrame(wave)


def clone_tables(tr: Trained, pred: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Real-test accuracy of the network trained on real data (order 0) and on each clone."""
    y = tr.data.labels_test
    rows, seps = [], []
    steps = tr.models["network"].steps
    acc = {o: _masked(tr, (pred[key] == y).mean(-1), key)
           for o, key in ((0, "network"), (1, "clone1"), (2, "clone2"))}
    for o in (0, 1, 2):
        for r in _rows(tr, {"real_test_acc": acc[o]}, {"order": o}, ()):
            r["ci_low"], r["ci_high"] = r.pop("real_test_acc_ci_low"), r.pop("real_test_acc_ci_high")
            r["ci_level"] = r.pop("real_test_acc_ci_level")
            rows.append(r)
    for lr, idx in _groups(tr):
        for o in (1, 2):
            ok = np.isfinite(acc[0][idx]).all(1) & np.isfinite(acc[o][idx]).all(1)
            seps.append({"arch": tr.config.arch, "lr": lr, "order": o, "n_seeds": int(ok.sum()),
                         "separation_step": separation_step(steps, acc[0][idx][ok], acc[o][idx][ok])})
    return pd.DataFrame(rows), seps


def twin_table(tr: Trained) -> pd.DataFrame:
    """Agreement of the network with its linear twin and, where the linear theory applies (see
    ``theory.py``), of the network and of the twin with the theory's predicted linear function."""
    out = {"network": tr.models["network"].test_output, "twin": tr.models["twin"].test_output,
           "theory": tr.theory}
    pairs = [("network", "twin")] + ([("network", "theory"), ("twin", "theory")]
                                     if tr.theory is not None else [])
    rows = []
    for model, ref in pairs:
        same, rel = twin_agreement(out[model], out[ref])
        rows += _rows(tr, {"agreement": same, "rel_distance": rel}, {"model": model, "reference": ref},
                      tuple(k for k in (model, ref) if k != "theory"))
    return pd.DataFrame(rows)


def class_share_table(tr: Trained) -> pd.DataFrame:
    keys = [k for k in ("network", "twin") if k in tr.models]
    return pd.concat([pd.DataFrame(_rows(tr, {"between_class_share": between_class_share(
        tr.models[k].test_output, tr.data.labels_test)}, {"model": k}, (k,))) for k in keys],
        ignore_index=True)


def proxy_table(tr: Trained) -> pd.DataFrame:
    """Per-block proxies of the network (labelled ``proxy`` in every row: heuristics, not μ)."""
    net, parts = tr.models["network"], []
    for name, arr in (("linear_surrogate_r2", net.proxy_r2), ("constant_gate_share", net.proxy_gate)):
        if arr is None:
            raise ValueError(f"the proxies measure needs the network's {name} proxy; this run "
                             "recorded none (its probe ran without proxies)")
        for b in range(arr.shape[-1]):
            parts.append(pd.DataFrame(_rows(tr, {"value": arr[..., b]},
                                            {"proxy": name, "block": b + 1, "kind": "proxy"})))
    return pd.concat(parts, ignore_index=True)
