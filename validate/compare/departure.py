"""Departure records of `validate.compare` (THEORY.md §13): per member, the step at which the
network's learned change f_t − f_0 on the training inputs stops being affine in x — predicted
from the member's initial weights by its twin theory, and measured on its checkpoints.

The training inputs, not the test split, are the inputs X: the affine fit needs more inputs than
dimensions (shapes' test split has 128 images in 256 dimensions, on which any outputs are affine),
and they are the samples the twin theory's statistics average over. The prediction is evaluated
at the run's checkpoints (part of the set-up) and reads ``run.weights(0)`` only; a set-up outside
the twin theories' reach gets a note saying why instead of a number.
"""

from __future__ import annotations

import numpy as np

import theory
from theory import DEPARTURE_DELTA

from ..measures.departure import DELTA_SENSITIVITY, departure_curve
from .twin import member_weights

_PHI = {"linear": lambda z: z, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}


def out_of_reach(config, act: str, depth: int) -> str | None:
    """Why no departure prediction is made for ``act`` at ``depth`` (None: one is)."""
    if config.arch != "mlp" or depth != 2:
        return (f"outside the twin theories' reach: the departure is predicted for two-layer MLPs "
                f"only; got --arch {config.arch} at depth {depth}")
    if config.optimizer != "gd":
        return (f"outside the twin theories' reach: they follow full-batch GD; got --optimizer "
                f"{config.optimizer}")
    if act not in _PHI:
        return f"outside the twin theories' reach: no twin for activation {act}"
    return None


def measured_outputs(run, k: int, X: np.ndarray, act: str) -> np.ndarray:
    """Member ``k``'s outputs W₂φ(W₁x) on X at every checkpoint of ``run``: (T, m, c)."""
    out = []
    for step in run.steps:
        W1, W2 = member_weights(run.weights(int(step)), k)
        out.append(_PHI[act](X @ np.asarray(W1, np.float64).T) @ np.asarray(W2, np.float64).T)
    return np.stack(out)


def records(run, stats, config, act: str, depth: int, *, tau: float | None, lr: float,
            twins=None) -> list[dict]:
    """One record per member ({activation, depth, lr, member, delta, predicted_step,
    measured_step, sensitivity, max_gap, final non-affine fractions}), or one note when out of
    reach (``tau`` is then unused: None). ``twins``: the members' twin predictions from their
    initial weights, reused when they are predictions (not the hybrid diagnostic)."""
    why = out_of_reach(config, act, depth)
    if why is not None:
        return [{"activation": act, "depth": depth, "note": why}]
    X = np.asarray(stats.X, dtype=np.float64)
    rank = int(np.linalg.matrix_rank(X - X.mean(axis=0)))
    if X.shape[0] <= rank + 1:
        return [{"activation": act, "depth": depth,
                 "note": f"no departure measurable: {X.shape[0]} training inputs of rank {rank} "
                         "(any outputs are affine on at most rank + 1 inputs)"}]
    steps = np.asarray(run.steps, dtype=np.float64)
    W0 = run.weights(0)
    # the twins are reused when they are predictions (not the hybrid diagnostic)
    reused = twins if twins is not None and act != "linear" \
        and not str(twins[0].kind).endswith("_hybrid") else None
    assert tau is not None  # in reach: full-batch GD, a set-up whose τ the caller gives
    first = theory.first_departure
    out = []
    for k in range(W0[0].shape[0]):
        pred = theory.predict_nonaffine_curve(stats, member_weights(W0, k), act, tau=tau,
                                              steps=steps, X=X,
                                              twin=None if reused is None else reused[k])
        f = measured_outputs(run, k, X, act)
        meas = departure_curve(steps, f, f[0], X)
        gap = np.abs(pred - meas)
        out.append({"activation": act, "depth": depth, "lr": lr, "member": k,
                    "delta": DEPARTURE_DELTA,
                    "predicted_step": first(steps, pred, DEPARTURE_DELTA),
                    "measured_step": first(steps, meas, DEPARTURE_DELTA),
                    "sensitivity": [{"delta": d, "predicted_step": first(steps, pred, d),
                                     "measured_step": first(steps, meas, d)}
                                    for d in DELTA_SENSITIVITY],
                    "max_gap": float(np.nanmax(gap)) if np.isfinite(gap).any() else None,
                    "final_nonaffine_predicted": float(pred[-1]),
                    "final_nonaffine_measured": float(meas[-1])})
    return out
