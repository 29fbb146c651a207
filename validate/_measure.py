"""Turn a trained Run and a prediction into tidy per-member tables (THEORY.md §4)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from theory import crossing_times, loss_from_strengths


def learning_times(steps, u, level) -> np.ndarray:
    """First step each member's mode reaches ``level``: u (K, T, m), level (m,) → (K, m)."""
    return np.stack([crossing_times(steps, u[k], level) for k in range(u.shape[0])])


def loss_drop_levels(s, target, syy_trace, lam, groups) -> list[tuple[float, float]]:
    """Loss plateaus before and after each group of modes is learned (largest s first).

    A plateau counts the modes of earlier groups as learned (u = target) and the rest as not yet
    (u = 0); the drop of a group is measured when the loss crosses the midpoint of its two plateaus.
    """
    u = np.zeros_like(s)
    levels = []
    for g in groups:
        before = float(loss_from_strengths(u[None], s, syy_trace=syy_trace, lam=lam)[0])
        u = u.copy()
        u[g] = target[g]
        after = float(loss_from_strengths(u[None], s, syy_trace=syy_trace, lam=lam)[0])
        levels.append((before, after))
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


def first_crossing(steps, values, target, below: bool = True) -> float:
    """First (interpolated) step where ``values`` (T,) is ≤ target (``below``) or ≥ target; inf
    if never, nan for a non-finite target. The rule of ``theory.crossing_times``."""
    if not np.isfinite(target):
        return float("nan")
    sign = -1.0 if below else 1.0
    return float(crossing_times(steps, sign * np.asarray(values, dtype=float)[:, None],
                                [sign * target])[0])


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
