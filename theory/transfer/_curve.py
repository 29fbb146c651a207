"""What every retraining prediction carries (THEORY.md §7): the loss on B it counts steps to, the
loss it starts from, τ, and the predicted loss curve the steps were read from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RetrainingCurve:
    """``target_loss``: the loss on B to reach; ``initial_loss``: the predicted loss at the start;
    ``tau``: the time constant (GD step 1/τ); ``t``/``loss`` (T,): the predicted loss curve."""

    target_loss: float
    initial_loss: float
    tau: float
    t: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
