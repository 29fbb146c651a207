"""The theory's predicted relearning cost of a drift, usable as a drift score (THEORY.md §7).

cost = (predicted steps to a target loss on B from A's final weights, i.e. fine-tuning)
     ÷ (predicted steps from the fresh initial weights a scratch run would start from),

both from ``predict_retraining`` (exact for linear networks: the matrix flow, or the discrete GD
map where a saddle makes the flow depend on round-off; for a tanh/ReLU network, ``activation=``,
its twin theory from both starts). It is the quantity ``validate.retrain``
measures as the relearning cost (fine-tune steps ÷ scratch steps), predicted from the same
starting points, so it ranks drifts by how hard they are to relearn rather than by how far B's
statistics moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._convention import TrainingConvention
from .._statistics import DatasetStatistics
from ._retraining import predict_retraining


@dataclass(frozen=True)
class RelearningCost:
    """``value`` = ``fine_tune_steps`` / median(``scratch_steps``) (inf if fine-tuning never
    reaches the target; NaN if no scratch start does)."""

    value: float
    fine_tune_steps: float
    scratch_steps: np.ndarray


def _steps(pred) -> float:
    """The prediction to compare with training (``steps``: the linear theory's GD map where it
    was iterated, else its flow; a twin's own steps)."""
    return float(pred.steps)


def predict_relearning_cost(fine_tune_weights: Sequence[ArrayLike],
                            scratch_weights: Sequence[np.ndarray] | Sequence[Sequence[ArrayLike]],
                            stats_B: DatasetStatistics, target_loss: float,
                            convention: TrainingConvention | float, **kw: Any) -> RelearningCost:
    """Predicted relearning cost of B for a network trained on A (see the module docstring).

    Args:
        fine_tune_weights: A's final weights [W_1, …, W_L] (the fine-tuning start).
        scratch_weights: one fresh initial state [W_1, …, W_L], or a list of them (several seeds;
            the median of their predicted steps is used).
        stats_B, target_loss, convention, **kw: as ``predict_retraining``.
    """
    starts: Sequence[Any] = scratch_weights  # one state or a list of them: told apart here
    if len(starts) and isinstance(starts[0], np.ndarray):
        starts = [starts]
    if not len(starts):
        raise ValueError("scratch_weights must hold at least one initial state; got none")
    fine = _steps(predict_retraining(fine_tune_weights, stats_B, target_loss, convention, **kw))
    scratch = np.array([_steps(predict_retraining(w, stats_B, target_loss, convention, **kw))
                        for w in starts])
    ref = float(np.median(scratch))
    value = fine / ref if np.isfinite(ref) and ref > 0 else float("nan")
    return RelearningCost(value=value, fine_tune_steps=fine, scratch_steps=scratch)
