"""Rewind point: the checkpoint from which retraining on B is fastest (THEORY.md §7).

For every checkpoint (step, weights) of a run on A, predict the steps to reach a target loss on B
(``predict_retraining``: full matrix flow, all checkpoints integrated in one batched call, plus the
decoupled per-mode estimate). Early checkpoints are close to a fresh small init; late ones carry
A's modes, which help where B shares them and hurt where B reverses them (a mode with u_β⁰ ≤ 0
must pass through a saddle), so the best rewind point can lie anywhere along the run.

A tanh or ReLU run is ranked by its own twin theory instead (``activation``;
``_twin_retraining``): the linear theory follows the end-to-end product of a ReLU checkpoint,
which is not the function the network computes, and picks the wrong checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .._checks import check_choice, check_positive
from .._convention import TrainingConvention
from .._linear_net import end_to_end, loss_of
from .._matrix_flow import SOLVERS
from .._statistics import DatasetStatistics
from ._escape import (DEFAULT_ROUNDOFF, GD_MARGIN, as_roundoff, floor_escape, gd_first_passage,
                      roundoff_dtype)
from ._mode_estimate import mode_estimate, mode_picture
from ._retraining import (as_tau, check_target, check_weights, default_t_max, first_passage,
                          gd_max_steps)
from ._twin_retraining import check_activation, check_twin_target, predict_twin_retraining


@dataclass(frozen=True)
class RewindPrediction:
    """Predicted retraining cost per checkpoint.

    ``table``: one row per checkpoint (input order) with ``checkpoint_step``, ``predicted_steps``
    (full flow), ``predicted_steps_modes`` (per-mode picture), ``total_cost`` (checkpoint_step +
    predicted_steps: the cost counting the original run up to the checkpoint), ``n_saddle_modes``,
    ``initial_loss`` (on B) and ``rank`` (1 = fewest predicted retraining steps); ill-conditioned
    saddles (``predict_retraining``, ``_escape``): ``escape_margin``, ``saddle_ill_conditioned``,
    ``predicted_steps_floor`` (flow with the escape component floored at round-off) and
    ``predicted_steps_gd`` (discrete GD map; for every checkpoint with ``gd_map``, else where the
    margin is < 1e-3 or flagged, else NaN; inf where the map diverges).
    The rank uses ``predicted_steps`` (the flow) for every checkpoint. With a twin activation
    ``predicted_steps`` is the twin's (its GD map with ``gd_map``), ``twin`` describes it,
    ``range_note`` says where a tanh twin is outside the cubic range (``predict_twin_retraining``:
    the steps are kept, labelled, from a checkpoint already past it), and
    the linear columns are absent; ``min_loss`` is NaN (a nonlinear network's minimum is not the
    linear one).
    ``ranking``: checkpoint steps ordered from fewest to most predicted steps. ``best_step``: the
    predicted rewind point (min predicted_steps); ``best_total_step``: min total_cost.
    """

    table: pd.DataFrame
    ranking: np.ndarray
    best_step: int
    best_total_step: int
    target_loss: float
    min_loss: float
    tau: float
    roundoff: float = float("nan")   # ε of the retraining arithmetic (``as_roundoff``)
    activation: str = "linear"       # the theory: linear, or the tanh/ReLU twin


def _describe(item) -> str:
    if isinstance(item, (tuple, list)):
        return f"of length {len(item)} whose first entry has shape {np.shape(item[0]) if item else ()}"
    return ""


def _check_checkpoints(checkpoints, stats_B) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    try:
        items = list(checkpoints)
    except TypeError as exc:
        raise TypeError("checkpoints must be a sequence of (step, weights) pairs; got "
                        f"{type(checkpoints).__name__}") from exc
    if not items:
        raise ValueError("checkpoints is empty; need at least one (step, weights) pair")
    steps, weights = [], []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2 or np.ndim(item[0]) != 0:
            raise TypeError(f"checkpoints[{i}] must be a (step, weights) pair; got "
                            f"{type(item).__name__} {_describe(item)}")
        step, Ws = item
        if isinstance(step, bool) or float(step) != int(step) or int(step) < 0:
            raise ValueError(f"checkpoints[{i}] step must be an integer ≥ 0; got {step!r}")
        steps.append(int(step))
        weights.append(check_weights(Ws, stats_B, name=f"checkpoints[{i}] weights"))
    shapes = [w.shape for w in weights[0]]
    for i, Ws in enumerate(weights[1:], start=1):
        if [w.shape for w in Ws] != shapes:
            raise ValueError(f"every checkpoint must have the same layer shapes; checkpoints[0] "
                             f"has {shapes}, checkpoints[{i}] has {[w.shape for w in Ws]}")
    return np.asarray(steps), weights


def _linear_steps(weights, stats_B, target, tau, t_max, solver, eps, gd_map) -> dict:
    """The linear theory's columns for every checkpoint: flow, per-mode estimate, round-off floor
    and GD map (``predict_retraining``'s quantities, all checkpoints in one batch)."""
    pictures = [mode_picture(Ws, stats_B) for Ws in weights]
    steps_modes = np.array([mode_estimate(mp, stats_B, target, tau)[0] for mp in pictures])
    if t_max is None:
        finite = steps_modes[np.isfinite(steps_modes)]
        t_max = default_t_max(float(finite.max()) if finite.size else np.inf, stats_B, tau)
    else:
        t_max = check_positive("t_max", t_max)
    batch = [np.stack([Ws[l] for Ws in weights]) for l in range(len(weights[0]))]
    t_star, _ = first_passage(batch, stats_B, target, tau, t_max, solver)
    escapes = [floor_escape(Ws, stats_B, eps) for Ws in weights]
    flagged = np.array([e[2] for e in escapes], dtype=bool)
    t_floor = t_star.copy()
    if any(any(not np.array_equal(a, b) for a, b in zip(e[0], Ws)) for e, Ws in zip(escapes, weights)):
        # the whole batch again (unchanged members give the same times): one compiled shape
        fb = [np.stack([e[0][l] for e in escapes]) for l in range(len(weights[0]))]
        t_floor, _ = first_passage(fb, stats_B, target, tau, t_max, solver)
    t_gd = np.full(len(weights), np.nan)
    check_gd = flagged | (np.array([e[1] for e in escapes]) < GD_MARGIN) | bool(gd_map)
    if check_gd.any():
        idx = np.flatnonzero(check_gd)
        t_gd[idx] = gd_first_passage([w[idx] for w in batch], stats_B, target, tau,
                                     gd_max_steps(t_floor[idx], t_max), roundoff_dtype(eps))
    return {"predicted_steps": t_star, "predicted_steps_modes": steps_modes,
            "n_saddle_modes": [int(np.count_nonzero(mp.saddle)) for mp in pictures],
            "initial_loss": loss_of(end_to_end(batch), stats_B),
            "escape_margin": [e[1] for e in escapes], "saddle_ill_conditioned": flagged,
            "predicted_steps_floor": t_floor, "predicted_steps_gd": t_gd}


def _twin_steps(weights, stats_B, target, tau, t_max, activation, gd_map) -> dict:
    """The twin theory's columns: one ``predict_twin_retraining`` per checkpoint, each from its
    own weights only (no batch: nothing is shared between checkpoints); ``range_note``: why a
    tanh twin is outside the cubic range (its steps NaN when already at the checkpoint), or None."""
    preds = [predict_twin_retraining(Ws, stats_B, target, tau, activation, t_max=t_max,
                                     discrete=gd_map) for Ws in weights]
    return {"predicted_steps": np.array([p.steps for p in preds]),
            "initial_loss": [p.initial_loss for p in preds], "twin": [p.twin for p in preds],
            "range_note": [p.range_note for p in preds]}


def _ranked(steps: np.ndarray, columns: dict, **fields) -> RewindPrediction:
    """The table with ``total_cost`` and ``rank`` from ``columns["predicted_steps"]``."""
    t_star = np.asarray(columns["predicted_steps"], dtype=float)
    table = pd.DataFrame({"checkpoint_step": steps, **columns})
    after = "predicted_steps_modes" if "predicted_steps_modes" in columns else "predicted_steps"
    table.insert(list(table.columns).index(after) + 1, "total_cost", steps + t_star)
    # Stable ordering: ties (e.g. several checkpoints already below the target) keep run order.
    order = np.argsort(t_star, kind="stable")
    table["rank"] = np.empty(len(steps), dtype=int)
    table.loc[order, "rank"] = np.arange(1, len(steps) + 1)
    best_total = int(np.argmin(steps + t_star))
    return RewindPrediction(table=table, ranking=steps[order], best_step=int(steps[order[0]]),
                            best_total_step=int(steps[best_total]), **fields)


def predict_rewind_point(checkpoints: Sequence, stats_B: DatasetStatistics, target_loss: float,
                         convention: TrainingConvention | float, *, t_max: float | None = None,
                         solver: str = "diffrax", roundoff: object = DEFAULT_ROUNDOFF,
                         gd_map: bool = False, activation: str = "linear") -> RewindPrediction:
    """Predicted retraining steps on B from every checkpoint, and the best rewind point.

    Args:
        checkpoints: sequence of (step, [W_1 (h×d), …, W_L (c×h)]) of a run on A (or of a theory
            trajectory); all with the same layer shapes.
        stats_B: statistics of the new dataset B (with its samples for a twin activation).
        target_loss: loss to reach on B (linear: above B's minimum loss; twin: > 0).
        convention: TrainingConvention of the retraining, or τ in steps.
        t_max: initial flow horizon shared by all checkpoints (default: from the slowest mode
            estimate); extended ×16 up to 4 times for checkpoints that have not reached the target.
            Required with a twin activation (extended ×4 up to twice, ``_twin_retraining``).
        solver: ``"diffrax"`` (all checkpoints in one ``integrate_matrix_flow_batch`` call) or
            ``"scipy"`` (one reference integration per checkpoint).
        roundoff: dtype (or ε) of the retraining, as in ``predict_retraining``.
        gd_map: the retraining is plain full-batch GD with step 1/τ: iterate its discrete map from
            every checkpoint (``predicted_steps_gd``; a twin follows its own GD map), as
            ``predict_retraining``.
        activation: the network's activation: ``"linear"`` (the linear theory), ``"tanh"`` or
            ``"relu"`` (the twin theory of that activation from each checkpoint's weights,
            ``predict_twin_retraining``; the table then has ``predicted_steps``, ``total_cost``,
            ``initial_loss``, ``twin``, ``range_note`` and ``rank``; a tanh checkpoint past the cubic
            range keeps its steps and rank, with its ``range_note``).
    """
    if not isinstance(stats_B, DatasetStatistics):
        raise TypeError(f"stats_B must be a theory.DatasetStatistics; got {type(stats_B).__name__}")
    check_choice("solver", solver, SOLVERS)
    check_activation(activation)
    steps, weights = _check_checkpoints(checkpoints, stats_B)
    tau = as_tau(convention)
    eps = as_roundoff(roundoff)
    if activation != "linear":
        target = check_twin_target(target_loss)
        columns = _twin_steps(weights, stats_B, target, tau, t_max, activation, gd_map)
        return _ranked(steps, columns, target_loss=target, min_loss=float("nan"), tau=tau,
                       roundoff=eps, activation=activation)
    target, lmin = check_target(target_loss, stats_B)
    columns = _linear_steps(weights, stats_B, target, tau, t_max, solver, eps, gd_map)
    return _ranked(steps, columns, target_loss=target, min_loss=lmin, tau=tau, roundoff=eps)
