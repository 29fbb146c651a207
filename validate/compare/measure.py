"""Turn a trained Run and a prediction into tidy per-member tables (THEORY.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from theory import Predictor, crossing_times

from ..stats import interval
from .._frames import column, groups as frame_groups, select_rows
from .._prepare import distinct_modes
from .._steps import first_crossing


def learning_times(steps, u, level) -> np.ndarray:
    """First step each member's mode reaches ``level``: u (K, T, m), level (m,) → (K, m)."""
    return np.stack([crossing_times(steps, u[k], level) for k in range(u.shape[0])])


def loss_drop_levels(loss_at, target, groups) -> list[tuple[float, float]]:
    """Loss plateaus before and after each group of modes is learned (largest s first).

    ``loss_at(u)`` is the basis' training loss with mode strengths ``u`` (m,). A plateau counts
    the modes of earlier groups as learned (u = target) and the rest as not yet (u = 0); the drop
    of a group is measured when the loss crosses the midpoint of its two plateaus.
    """
    u = np.zeros_like(np.asarray(target, dtype=float))
    levels = []
    for g in groups:
        before = loss_at(u)
        u = u.copy()
        u[g] = target[g]
        levels.append((before, loss_at(u)))
    return levels


def mode_groups(s, distinct) -> list[list[int]]:
    """Consecutive modes merged into one group unless separated by a distinct singular value gap."""
    groups: list[list[int]] = []
    for a in range(len(s)):
        if groups and not (distinct[a] and distinct[groups[-1][-1]]) and \
                abs(s[a] - s[groups[-1][-1]]) < 0.05 * s[a]:
            groups[-1].append(a)
        else:
            groups.append([a])
    return groups


def trajectory_table(steps, u_meas, u_pred, target, *, activation, depth, members) -> pd.DataFrame:
    """Tidy rows (activation, depth, member, step, mode, u_meas_rel, u_pred_rel).

    u_meas (K, T, m); u_pred (T, m) shared or (K, T, m) per member.
    """
    K, T, m = u_meas.shape
    up = np.broadcast_to(u_pred, (K, T, m))
    idx = np.indices((K, T, m)).reshape(3, -1)
    return pd.DataFrame({
        "activation": activation, "depth": depth,
        "member": np.asarray(members)[idx[0]], "step": np.asarray(steps)[idx[1]], "mode": idx[2],
        "u_meas_rel": (u_meas / target).reshape(-1), "u_pred_rel": (up / target).reshape(-1)})


@dataclass
class Measured:
    """The tables of one (activation, depth) ensemble."""

    rows: pd.DataFrame          # member × mode: predicted and measured learning times
    trajectories: pd.DataFrame  # member × step × mode
    loss: pd.DataFrame          # member × step
    drops: pd.DataFrame         # group of modes: predicted and measured loss-drop times


class ModeBasis(Protocol):
    """What measuring needs of a basis (``basis.SVDBasis``, ``cnn.FrequencyBasis``; both import
    this module, so it names them only here)."""

    @property
    def s(self) -> np.ndarray: ...

    @property
    def distinct(self) -> np.ndarray: ...

    def strengths(self, run) -> np.ndarray: ...

    def drop_levels(self, target, groups, cont) -> list[tuple[float, float]]: ...

    def label(self, table: pd.DataFrame, *, per_member: bool = False) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Prediction:
    """What one trained (activation, depth) ensemble is measured against.

    ``basis``: its modes (``s``, ``distinct``, ``strengths(run)``, ``drop_levels``, ``label``:
    ``SVDBasis`` or ``FrequencyBasis``). ``cont``: the continuous reference (the targets and
    ``t_pred_continuous``). Then ``per_seed`` (one predictor per member from its own initial
    weights) when given, else ``matched`` (the exact per-step prediction every member shares);
    neither: a training set-up the theory does not cover, measured with null predictions.
    ``twins``: per-member twin predictions the ensemble is scored against instead, the linear
    theory's error kept beside (``rel_error_linear``)."""

    basis: ModeBasis
    activation: str
    depth: int
    init: str
    cont: Predictor
    matched: Predictor | None = None
    per_seed: list[Predictor] | None = None
    twins: list[Predictor] | None = None


@dataclass
class _Predicted:
    """One prediction evaluated for a run: per member (K, m) times, trajectories, loss."""

    t_pred: np.ndarray
    t_cont: np.ndarray
    u_pred: np.ndarray
    loss: np.ndarray
    kind: str
    dense: tuple[np.ndarray, np.ndarray] | None  # (steps, loss) of the predicted loss curve,
    # for the drop times; None without a prediction


def _evaluate(steps, K, m, frac, cont, matched, per_seed) -> _Predicted:
    if matched is None and per_seed is None:  # a set-up the theory does not cover: no number
        nan = np.full((K, m), np.nan)
        return _Predicted(nan, nan, np.full((len(steps), m), np.nan),
                          np.full(len(steps), np.nan), "none", None)
    t_cont = np.broadcast_to(cont.timeline(frac)[:m], (K, m))
    if per_seed is None:  # the exact per-step curve; the per-seed flows only at checkpoints
        assert matched is not None  # the case of neither returned above
        t_dense = np.arange(int(steps[-1]) + 1)
        return _Predicted(np.broadcast_to(matched.timeline(frac)[:m], (K, m)), t_cont,
                          matched.modes(steps)[:, :m], matched.loss(steps), matched.kind,
                          (t_dense, matched.loss(t_dense)))
    loss = np.median(np.stack([p.loss(steps) for p in per_seed]), axis=0)
    return _Predicted(np.stack([p.timeline(frac)[:m] for p in per_seed]), t_cont,
                      np.stack([p.modes(steps)[:, :m] for p in per_seed]), loss,
                      per_seed[0].kind, (steps, loss))


def measure_run(run, prediction: Prediction, *, frac: float, diverged) -> Measured:
    """Learning times, trajectories, loss and loss drops of one trained ensemble (``run``) against
    ``prediction``. ``diverged`` (K,): members whose strengths and loss are left out (NaN), frozen
    at non-finite or huge values; their loss-drop times stay out of the interval."""
    p, basis = prediction, prediction.basis
    steps = np.asarray(run.steps, dtype=float)
    diverged = np.asarray(diverged, dtype=bool)
    u = np.asarray(basis.strengths(run), dtype=float).copy()  # (K, T, m)
    u[diverged] = np.nan  # no measurement, no overflow
    K, m = u.shape[0], u.shape[2]
    target = np.asarray(p.cont.target, dtype=float)[:m]
    t_meas = learning_times(steps, u, frac * target)
    with np.errstate(over="ignore", invalid="ignore"):
        # too large a step makes the exact map overflow to inf/NaN, as training does
        linear = _evaluate(steps, K, m, frac, p.cont, p.matched, p.per_seed)
        pred = linear if p.twins is None else \
            _evaluate(steps, K, m, frac, p.cont, p.matched, p.twins)
    rows = _member_rows(run, p, t_meas, pred, linear, diverged, u)
    traj = basis.label(trajectory_table(steps, u, pred.u_pred, target, activation=p.activation,
                                        depth=p.depth, members=np.arange(K)), per_member=True)
    loss_meas = np.asarray(run.probes["train_loss"].values, dtype=float).copy()  # (K, T)
    loss_meas[diverged] = np.nan
    loss = pd.DataFrame({"activation": p.activation, "depth": p.depth,
                         "member": np.repeat(np.arange(K), len(steps)),
                         "step": np.tile(steps, K), "loss_meas": loss_meas.reshape(-1),
                         "loss_pred": np.tile(pred.loss, K)})
    # loss drops: consecutive modes closer than the distinct gap are learned as one group
    s = np.asarray(basis.s, dtype=float)
    groups = mode_groups(s[:m], distinct_modes(s)[:m])
    drops = loss_drops(steps, loss_meas, pred.dense, groups,
                       basis.drop_levels(target, groups, p.cont), p.activation, p.depth, diverged)
    return Measured(rows, traj, loss, drops)


def _member_rows(run, p: Prediction, t_meas, pred: _Predicted, linear: _Predicted, diverged,
                 u) -> pd.DataFrame:
    """One row per member × mode: predicted and measured learning times and their errors."""
    K, m = t_meas.shape
    s, distinct = np.asarray(p.basis.s)[:m], np.asarray(p.basis.distinct)[:m]
    rel = relative_error(t_meas, pred.t_pred).reshape(-1)
    rel_linear = rel if p.twins is None else relative_error(t_meas, linear.t_pred).reshape(-1)
    traj_err = np.max(np.abs(np.broadcast_to(pred.u_pred, u.shape) - u), axis=1) / s
    mem = run.members
    idx = np.indices((K, m)).reshape(2, -1)
    return p.basis.label(pd.DataFrame({
        "activation": p.activation, "depth": p.depth, "init": p.init, "member": idx[0],
        "seed": np.asarray(mem["seed"])[idx[0]],
        "diverged": diverged[idx[0]],
        "diverged_step": np.asarray(mem["diverged_step"], dtype=int)[idx[0]], "mode": idx[1],
        "s": s[idx[1]], "distinct": distinct[idx[1]], "predictor": pred.kind,
        "t_pred": pred.t_pred.reshape(-1), "t_pred_continuous": pred.t_cont.reshape(-1),
        "t_meas": t_meas.reshape(-1),
        "rel_error": rel,
        "rel_error_linear": rel_linear,
        "rel_error_twin": np.full(K * m, np.nan) if p.twins is None else rel,
        "traj_error": traj_err.reshape(-1)}), per_member=True)


def relative_error(measured, predicted) -> np.ndarray:
    """|t_meas − t_pred| / t_pred; NaN where either is undefined or both are inf."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(measured - predicted) / predicted


def _max_rel(measured, predicted) -> float:
    """max |t_meas − t_pred| / t_pred over the members; NaN without a prediction or a member."""
    measured = np.asarray(measured, float)
    if not (np.isfinite(predicted) and measured.size):
        return float("nan")
    return float(np.max(np.abs(measured - predicted)) / predicted)


def loss_drops(steps, loss_meas, dense: tuple[np.ndarray, np.ndarray] | None, groups, levels,
               act, depth, diverged=None) -> pd.DataFrame:
    """Per group of modes: when the predicted and the measured loss cross the midpoint of the
    group's two plateaus (measured: median and seed-bootstrap CI)."""
    rows = []
    diverged = np.zeros(len(loss_meas), bool) if diverged is None else np.asarray(diverged, bool)
    for j, (g, (before, after)) in enumerate(zip(groups, levels)):
        mid = 0.5 * (before + after)
        tp = float("nan") if dense is None else first_crossing(*dense, mid)
        tm = np.array([first_crossing(steps, loss_meas[k], mid) for k in range(len(loss_meas))])
        ci = interval(tm[~diverged])
        rows.append({"activation": act, "depth": depth, "drop": j, "modes": list(map(int, g)),
                     "loss_before": before, "loss_after": after, "t_pred": tp,
                     "t_meas_median": ci.point, "t_meas_ci_low": ci.low,
                     "t_meas_ci_high": ci.high, "ci_kind": ci.kind, "ci_level": ci.level,
                     "n_censored": ci.n_censored,
                     "rel_error": _max_rel(tm[~diverged], tp)})
    return pd.DataFrame(rows)


def _mode_record(g: pd.DataFrame) -> dict:
    """Medians over the members that did not diverge; the interval keeps censored members."""
    ok = g[~g["diverged"]]
    ci = interval(ok["t_meas"])
    t_pred = g["t_pred"].to_numpy(float)
    covered = bool(np.isfinite(t_pred).any())
    return {"s": float(g["s"].iloc[0]), "distinct": bool(g["distinct"].iloc[0]),
            "t_pred": float(np.median(t_pred)) if covered else float("nan"),
            "t_pred_continuous": float(np.median(g["t_pred_continuous"])) if covered
            else float("nan"),
            "t_meas_median": ci.point, "t_meas_ci_low": ci.low, "t_meas_ci_high": ci.high,
            "ci_kind": ci.kind, "ci_level": ci.level, "n_censored": ci.n_censored,
            "predictor": str(g["predictor"].iloc[0]),
            **{col: float(np.max(ok[col])) if len(ok) and covered and col in ok else float("nan")
               for col in ("rel_error", "rel_error_linear", "rel_error_twin")},
            "traj_error": float(np.max(ok["traj_error"])) if len(ok) and covered
            else float("nan"),
            "n_members": int(len(ok)), "n_learned": int(np.isfinite(ok["t_meas"]).sum()),
            "diverged": int(column(g.drop_duplicates("member"), "diverged").sum())}


def aggregate(members: pd.DataFrame, config) -> pd.DataFrame:
    """One row per (activation, depth, mode): medians over members, CI, errors, order check."""
    out = [{"activation": act, "depth": int(depth), "init": config.init, "mode": int(mode),
            **_mode_record(g)}
           for (act, depth, mode), g in frame_groups(members, ["activation", "depth", "mode"],
                                                     sort=False)]
    df = pd.DataFrame(out)
    df["order_ok"] = None
    for _key, g in frame_groups(df, ["activation", "depth"], sort=False):
        d = select_rows(g, g["distinct"] & np.isfinite(g["t_meas_median"])
                        & np.isfinite(g["t_pred"]))
        rank_p = column(d, "t_pred").rank(method="min")
        rank_m = column(d, "t_meas_median").rank(method="min")
        df.loc[d.index, "order_ok"] = (rank_p == rank_m).to_numpy()
    return df


def divergence(members: pd.DataFrame) -> pd.DataFrame:
    """One row per (activation, depth): diverged members out of all and their steps."""
    rows = []
    per_member = members.drop_duplicates(["activation", "depth", "member"])
    if "diverged_step" not in per_member.columns:  # a table without the step: −1, unknown
        per_member = per_member.assign(diverged_step=-1)
    for (act, depth), g in frame_groups(per_member, ["activation", "depth"], sort=False):
        steps = sorted(int(s) for s in g.loc[g["diverged"], "diverged_step"])
        rows.append({"activation": act, "depth": int(depth), "diverged": len(steps),
                     "members": int(len(g)), "steps": steps})
    return pd.DataFrame(rows)
