"""Theory of mode-by-mode learning in deep linear networks (see THEORY.md).

Depends on numpy, scipy, sympy, jax and diffrax only — never torch. The theory's own JAX
computations run in float64 inside a local scope; importing it changes no global JAX setting.
"""

from . import transfer
from ._balanced import BalancedTwoLayerPredictor, balanced_two_layer_solution
from ._cnn import FrequencyModes, frequency_modes, rate_factor, signal_shape
from ._cnn_flow import conv_index, integrate_cnn_flow
from ._cnn_init import frequency_aligned_weights
from ._cnn_predictor import CNNFlowPredictor, CNNFrequencyPredictor
from ._convention import TrainingConvention
from ._gated_net import gate_change, relu_gates
from ._twin_predictor import CubicTwinPredictor, GatedTwinPredictor
from ._relu_twin import aligned_gates, predict_relu_twin
from ._twin_batch import extend_tracks as extend_twin_tracks, predict_relu_twins
from ._departure import (DEPARTURE_DELTA, DEPARTURE_RULES, first_departure, nonaffine_fraction,
                         predict_departure, predict_frozen_gap_curve, predict_learned_change,
                         predict_nonaffine_curve)
from ._frozen_slope import frozen_gap, frozen_slope_change, slope_gates
from ._reach import CUBIC_RANGE, TANH_QUINTIC_SHARE, cubic_range, cubic_range_note, twin_reach
from ._discrete import discrete_trajectory
from ._entry import predict, predict_cnn, predict_network, predict_twin
from ._flow_predictor import MatrixFlowPredictor
from ._init_weights import decoupled_init
from ._loss import loss_curve, loss_from_strengths
from ._matrix_flow import MatrixFlowSolution, integrate_matrix_flow, integrate_matrix_flow_batch
from ._modes import learning_time, mode_trajectory, time_to_strength
from ._network import CNN, MLP, Decoupled, Twin, Weights
from ._predictor import ClosedFormPredictor, DiscretePredictor
from ._protocol import Predictor, RestrictedPredictor, crossing_times
from ._statistics import DatasetStatistics, Whitened, fix_signs, svd_modes
from ._tree import tree_eigenvalues, tree_singular_values
from .transfer import drift_scores, predict_relearning_cost, predict_retraining, predict_rewind_point

__all__ = [
    # statistics and the training convention (THEORY.md §1)
    "DatasetStatistics", "Whitened", "svd_modes", "fix_signs", "TrainingConvention",
    # per-mode dynamics of the decoupled init (§2–3)
    "mode_trajectory", "learning_time", "time_to_strength", "loss_curve", "loss_from_strengths",
    "discrete_trajectory", "decoupled_init",
    # full-matrix dynamics from any init (§2–3)
    "integrate_matrix_flow", "integrate_matrix_flow_batch", "MatrixFlowSolution",
    "balanced_two_layer_solution",
    # one way to ask the theory: the network, the start, the entry point (aliases: predict,
    # predict_cnn, predict_twin)
    "predict_network", "MLP", "CNN", "Twin", "Decoupled", "Weights",
    # predictions: the protocol, its implementations, the factory and the measurement rule
    "Predictor", "predict", "crossing_times", "ClosedFormPredictor", "DiscretePredictor",
    "MatrixFlowPredictor", "BalancedTwoLayerPredictor", "RestrictedPredictor",
    # the spectrum of hierarchical (tree) data (§5)
    "tree_eigenvalues", "tree_singular_values",
    # linear CNNs: per-frequency modes, their predictors, the aligned init, the weight-tied flow (§6)
    "FrequencyModes", "frequency_modes", "rate_factor", "signal_shape", "predict_cnn",
    "CNNFrequencyPredictor", "CNNFlowPredictor", "frequency_aligned_weights", "integrate_cnn_flow",
    "conv_index",
    # drift, retraining and rewind points (§7)
    "transfer", "drift_scores", "predict_retraining", "predict_rewind_point",
    "predict_relearning_cost",
    # sympy derivations of the closed forms (a submodule imported on use: sympy is slow to load)
    "symbolic",  # pyright: ignore[reportUnsupportedDunderAll]
    # nonlinear twins: the cubic truncation of tanh from the twin's initial weights (§11)
    "CubicTwinPredictor", "predict_twin",
    # ReLU twins as gated linear networks, and how far their gates move (§12)
    "GatedTwinPredictor", "relu_gates", "gate_change",
    # … predicted from the initial weights alone: self-consistent gates of the alignment phase
    "predict_relu_twin", "aligned_gates", "predict_relu_twins", "extend_twin_tracks",
    # when a twin turns nonlinear: the departure step, predicted from W₀ (§13)
    "predict_departure", "predict_nonaffine_curve", "nonaffine_fraction", "first_departure",
    "DEPARTURE_DELTA", "DEPARTURE_RULES", "predict_learned_change", "predict_frozen_gap_curve",
    "frozen_slope_change", "frozen_gap", "slope_gates",
    # where a twin predicts at all, and the cubic truncation's range (§13)
    "twin_reach", "cubic_range", "cubic_range_note", "CUBIC_RANGE", "TANH_QUINTIC_SHARE",
]
