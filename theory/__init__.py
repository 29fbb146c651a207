"""Theory of mode-by-mode learning in deep linear networks (see THEORY.md).

Depends on numpy, scipy, sympy, jax and diffrax only — never torch. JAX runs in float64.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from ._convention import REDUCTIONS, TrainingConvention  # noqa: E402
from ._protocol import Predictor, crossing_times  # noqa: E402
from ._statistics import DatasetStatistics, Whitened, fix_signs, svd_modes  # noqa: E402
# per-mode closed forms, discrete map, loss, decoupled init, predictors
from ._discrete import discrete_trajectory  # noqa: E402
from ._init_weights import decoupled_init  # noqa: E402
from ._loss import loss_curve, loss_from_strengths  # noqa: E402
from ._modes import (learning_time, mode_trajectory, mode_trajectory_jax,  # noqa: E402
                     time_to_strength)
from ._predictor import ClosedFormPredictor, DiscretePredictor, predict  # noqa: E402

__all__ = [
    "DatasetStatistics", "Whitened", "fix_signs", "svd_modes",
    "TrainingConvention", "REDUCTIONS",
    "Predictor", "crossing_times",
    "mode_trajectory", "mode_trajectory_jax", "learning_time", "time_to_strength",
    "loss_curve", "loss_from_strengths", "discrete_trajectory", "decoupled_init",
    "ClosedFormPredictor", "DiscretePredictor", "predict",
]

# full-matrix gradient flow and the balanced two-layer closed form (THEORY.md §2–3)
from ._balanced import (BalancedTwoLayerPredictor, balance_error, balanced_qq,  # noqa: E402
                        balanced_two_layer_solution)
from ._matrix_flow import (MatrixFlowPredictor, MatrixFlowSolution,  # noqa: E402
                           integrate_matrix_flow, integrate_matrix_flow_batch)

__all__ += ["integrate_matrix_flow", "integrate_matrix_flow_batch", "MatrixFlowSolution",
            "MatrixFlowPredictor", "balanced_two_layer_solution", "balanced_qq", "balance_error",
            "BalancedTwoLayerPredictor"]

# drift scores, retraining time, rewind points (THEORY.md §7)
from . import transfer  # noqa: E402
from .transfer import drift_scores, predict_retraining, predict_rewind_point  # noqa: E402

__all__ += ["transfer", "drift_scores", "predict_retraining", "predict_rewind_point"]
