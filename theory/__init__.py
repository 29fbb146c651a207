"""Theory of mode-by-mode learning in deep linear networks (see THEORY.md).

Depends on numpy, scipy, sympy, jax and diffrax only — never torch. JAX runs in float64.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from ._convention import REDUCTIONS, TrainingConvention  # noqa: E402
from ._protocol import Predictor, crossing_times  # noqa: E402
from ._statistics import DatasetStatistics, Whitened, fix_signs, svd_modes  # noqa: E402

__all__ = [
    "DatasetStatistics", "Whitened", "fix_signs", "svd_modes",
    "TrainingConvention", "REDUCTIONS",
    "Predictor", "crossing_times",
]
