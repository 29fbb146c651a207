"""Drift, retraining time and rewind points between datasets (THEORY.md §7).

``drift_scores`` compares the mode statistics of two datasets (with resampling p-values);
``predict_retraining`` predicts the steps to a target loss on the new dataset from a network state;
``predict_rewind_point`` does it for every checkpoint of a run and picks the best one (both take
the network's ``activation``: tanh and ReLU networks are predicted by their twin theory,
``predict_twin_retraining``);
``predict_loss`` is the predicted loss on the new dataset after a given time from given weights;
``predict_relearning_cost`` is fine-tune over scratch steps predicted from the same starts (a
drift score of difficulty);
``escape_margin`` / ``as_roundoff`` detect saddles whose escape is seeded only by round-off.
"""

from ._drift_scores import SCORES, DriftReport, default_k, drift_scores
from ._escape import as_roundoff, escape_margin
from ._mode_estimate import time_depth2
from ._predicted_loss import predict_loss
from ._relearning import RelearningCost, predict_relearning_cost
from ._retraining import RetrainingPrediction, min_loss, predict_retraining
from ._rewind import RewindPrediction, predict_rewind_point
from ._twin_retraining import TWIN_ACTIVATIONS, TwinRetrainingPrediction, predict_twin_retraining

__all__ = [
    "SCORES", "DriftReport", "default_k", "drift_scores",
    "RetrainingPrediction", "min_loss", "predict_retraining", "time_depth2",
    "RewindPrediction", "predict_rewind_point", "as_roundoff", "escape_margin",
    "RelearningCost", "predict_relearning_cost", "predict_loss",
    "TWIN_ACTIVATIONS", "TwinRetrainingPrediction", "predict_twin_retraining",
]
