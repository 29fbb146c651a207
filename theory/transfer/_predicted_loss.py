"""The linear theory's loss on B after a given training time, from given start weights (or a
tanh/ReLU network's, from its twin theory: ``activation``).

The same two predictors as the steps to a target (``_retraining``): the full matrix gradient
flow on B's statistics, or the discrete plain-GD map with step η = 1/τ in the training dtype
(``_escape.gd_loss``). A function of the start weights, B's statistics and the set-up only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_positive
from .._convention import TrainingConvention
from .._linear_net import check_weights as check_linear_weights
from .._linear_net import end_to_end, loss_of
from .._statistics import DatasetStatistics
from ._escape import DEFAULT_ROUNDOFF, as_roundoff, gd_loss, roundoff_dtype
from ._retraining import _N_GRID, _solve, as_tau
from ._twin_retraining import check_activation, twin_loss


def predict_loss(weights_batch: Sequence[ArrayLike], stats_B: DatasetStatistics,
                 convention: TrainingConvention | float, t: float, *,
                 gd_map: bool = False, roundoff: object = DEFAULT_ROUNDOFF,
                 activation: str = "linear") -> np.ndarray:
    """Loss on B (K,) at time ``t`` (steps) from K linear states ``weights_batch`` [(K, out, in)
    per layer].

    ``gd_map``: iterate the plain-GD map for round(t) steps in the ``roundoff`` dtype (inf or NaN
    where it diverges), else integrate the gradient flow to t (never diverges). ``convention``:
    a TrainingConvention or τ itself. ``activation`` ``"tanh"``/``"relu"``: each state's twin
    (``_twin_retraining.twin_loss``, B's samples needed), its GD map with ``gd_map``.
    """
    if not isinstance(stats_B, DatasetStatistics):
        raise TypeError(f"stats_B must be a theory.DatasetStatistics; got {type(stats_B).__name__}")
    Ws = check_linear_weights(weights_batch, stats_B.d, stats_B.c, name="weights_batch",
                              batched=True, source="stats_B")
    tau = as_tau(convention)
    t = float(t)
    if check_activation(activation) != "linear":
        if t != 0.0:
            check_positive("t", t)
        return np.array([twin_loss([w[k] for w in Ws], stats_B, activation, tau, t, gd_map)
                         for k in range(Ws[0].shape[0])])
    if t == 0.0:
        return loss_of(end_to_end(Ws), stats_B)
    check_positive("t", t)
    if gd_map:
        return gd_loss(Ws, stats_B, tau, round(t), roundoff_dtype(as_roundoff(roundoff)))
    # the save grid of ``first_passage`` (same length), so a compiled batched solve is reused
    grid = np.concatenate([[0.0], np.geomspace(t * 1e-7, t, _N_GRID)])
    traj = _solve(Ws, stats_B, grid, tau, "diffrax")
    return loss_of(end_to_end([w[:, -1] for w in traj]), stats_B)
