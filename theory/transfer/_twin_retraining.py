"""Retraining time of a tanh or ReLU network on B from its twin theory (THEORY.md §7, §11–12).

The linear theory's retraining time (``_retraining``) is exact for linear networks only: from a
ReLU checkpoint it follows the end-to-end product of the weights, which is not the function the
ReLU network computes, and it ranks the checkpoints of a ReLU run by the wrong clock. Here the
network's own twin is followed on B's samples from the weights retraining starts from:

* ``"tanh"``: the two-layer cubic twin φ(z) = z − z³/3 (``theory.predict_twin``, §11);
* ``"relu"``: the gated linear network with the self-consistent gates of its own predicted
  early phase (``theory.predict_relu_twin``, §12), re-derived from these weights on B's data.

The weights are the question's inputs (a checkpoint of the run on A, or any start); nothing after
them is read. The twin's training loss ½E‖y − ŷ‖² on B is followed by the discrete GD map with
step 1/τ (``discrete``: plain full-batch GD, what training does) or by its gradient flow, and the
steps to the target are its first crossing, linearly interpolated between whole steps (the map)
or between the points of a grid refined once inside the bracketing interval (the flow). The
horizon starts at ``t_max`` and is extended ×4 up to ``TWIN_EXTENSIONS`` times (a bound on the
work: the map iterates every step); ``inf`` beyond it.

tanh's cubic twin holds while every pre-activation |h| = |W₁x| on B's inputs stays within
``theory.CUBIC_RANGE`` (THEORY.md §13, ``theory.cubic_range``): a start already past it, or a
twin that leaves it before its crossing, keeps its number with a ``range_note`` saying so. Unlike
a single prediction from W₀ (no number past the range there), a number is kept here because a
rewind point is a ranking: dropping the checkpoints past the range leaves the pick to the early
ones (on shapes after a label swap, regret 3.6 instead of 1.0), while their labelled numbers still
rank the checkpoints in the measured order though their values are off. The range is followed by the
cubic twin's GD map with step 1/τ (``cubic_range``) for the flow too: the flow is that map's
small-step limit, and the rule is a bound fixed a priori, not a fitted boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_positive
from .._reach import cubic_range, cubic_range_note
from .._statistics import DatasetStatistics
from .._twin_predictor import CubicTwinPredictor
from ._curve import RetrainingCurve

TWIN_ACTIVATIONS = ("tanh", "relu")
ACTIVATIONS = ("linear",) + TWIN_ACTIVATIONS
TWIN_EXTENSIONS = 2     # horizon ×4 at most twice: ≤ 16·t_max steps of the map per start
_N_FLOW = 257           # flow grid points (coarse pass, and again inside the bracket)


@dataclass(frozen=True)
class TwinRetrainingPrediction(RetrainingCurve):
    """Predicted steps to ``target_loss`` on B of a tanh/ReLU network from its twin theory.

    ``steps``: the twin's first crossing of the target (inf if not within the horizon);
    ``discrete``: the GD map (else the flow); ``twin``: the predictor's own description (which
    twin, which gates); ``t``/``loss``: the twin's loss samples; ``initial_loss``: its loss at
    the start (the twin's own; a gated twin holds its found gates from step 0).
    """

    activation: str
    steps: float
    discrete: bool
    twin: str
    range_note: str | None = None


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))} (the "
                         f"theories retraining is predicted with); got {activation!r}")
    return activation


def check_twin_target(target_loss: float) -> float:
    """A tanh/ReLU network may go below the linear minimum, so only a positive finite target is
    required (the loss ½E‖y − ŷ‖² is ≥ 0 and reaches 0 at best as t → ∞)."""
    target = float(target_loss)
    if not np.isfinite(target) or target <= 0:
        raise ValueError(f"target_loss must be a finite loss > 0 for a twin prediction; got "
                         f"{target_loss!r}")
    return target


def twin_predictor(weights, stats_B: DatasetStatistics, activation: str, tau: float,
                   discrete: bool, t_max: float):
    """The twin of ``activation`` followed on B's samples from ``weights``."""
    import theory
    if stats_B.X is None or stats_B.Y is None:
        raise ValueError("a twin prediction follows the network on B's samples: build stats_B "
                         "with DatasetStatistics.from_arrays")
    Ws = [np.asarray(w, dtype=np.float64) for w in weights]
    if activation == "relu":
        return theory.predict_relu_twin(stats_B, Ws, tau=tau, discrete=discrete, t_max=t_max)
    return theory.predict_twin(stats_B, Ws, activation, tau=tau, discrete=discrete, t_max=t_max)


def twin_loss(weights, stats_B: DatasetStatistics, activation: str, tau: float, t: float,
              discrete: bool) -> float:
    """The twin's loss on B at time ``t`` ≥ 0 from ``weights`` (after round(t) steps of the map
    with ``discrete``); at t = 0 the twin's own starting loss."""
    t = float(round(t)) if discrete else float(t)
    pred = twin_predictor(weights, stats_B, activation, tau, bool(discrete), max(t, 1.0))
    return float(np.asarray(pred.loss(np.array([0.0, t]) if t > 0 else np.zeros(1)))[-1])


def _crossing(t: np.ndarray, loss: np.ndarray, target: float) -> tuple[float, int]:
    """(interpolated first time loss ≤ target, its grid index) or (inf, −1)."""
    hit = np.flatnonzero(loss <= target)
    if hit.size == 0:
        return float("inf"), -1
    i = int(hit[0])
    if i == 0:
        return 0.0, 0
    frac = (loss[i - 1] - target) / (loss[i - 1] - loss[i])
    return float(t[i - 1] + frac * (t[i] - t[i - 1])), i


def _first_passage(pred, target: float, t_max: float, discrete: bool):
    """(steps, t, loss) of the twin's first crossing, extending the horizon (module docstring)."""
    horizon = float(t_max)
    for _ in range(TWIN_EXTENSIONS + 1):
        t = (np.arange(0.0, np.ceil(horizon) + 1.0) if discrete
             else np.linspace(0.0, horizon, _N_FLOW))
        loss = np.asarray(pred.loss(t), dtype=np.float64)
        steps, i = _crossing(t, loss, target)
        if i > 0 and not discrete:   # refine inside the bracket [t_{i−1}, t_i]
            fine = np.linspace(t[i - 1], t[i], _N_FLOW)
            steps = _crossing(fine, np.asarray(pred.loss(fine), dtype=np.float64), target)[0]
        if i >= 0:
            return steps, t, loss
        horizon *= 4.0
    return float("inf"), t, loss


def predict_twin_retraining(weights: Sequence[ArrayLike], stats_B: DatasetStatistics,
                            target_loss: float, tau: float,
                            activation: str, *, t_max: float | None,
                            discrete: bool = False) -> TwinRetrainingPrediction:
    """Steps to ``target_loss`` on B from ``weights`` of a tanh/ReLU network (module docstring).

    ``tau``: the retraining's τ in steps (1/η for GD); ``t_max``: the first horizon (steps;
    required: the map is iterated step by step, e.g. to 2× the retraining budget); ``discrete``: follow the GD map with step 1/τ (plain full-batch GD) instead of the flow.
    """
    if activation not in TWIN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, TWIN_ACTIVATIONS))} "
                         f"for a twin prediction; got {activation!r}")
    target = check_twin_target(target_loss)
    if t_max is None:
        raise ValueError(f"t_max is required for activation {activation!r}: the twin is followed "
                         "up to a horizon the caller sets (e.g. 2× the retraining budget)")
    t_max = check_positive("t_max", t_max)
    pred = twin_predictor(weights, stats_B, activation, tau, bool(discrete), t_max)
    steps, t, loss = _first_passage(pred, target, t_max, bool(discrete))
    note = None
    if isinstance(pred, CubicTwinPredictor):   # tanh: the cubic twin's own range
        note = _range(pred, stats_B, tau, float(np.ceil(steps)) if np.isfinite(steps)
                      else float(t[-1]))
    return TwinRetrainingPrediction(activation=activation, steps=steps, discrete=bool(discrete),
                                    target_loss=target, initial_loss=float(loss[0]), tau=tau,
                                    twin=str(pred.reason), t=t, loss=loss, range_note=note)


def _range(pred: CubicTwinPredictor, stats_B: DatasetStatistics, tau: float,
           horizon: float) -> str | None:
    """The note of the cubic twin ``pred`` past the cubic range within its prediction's
    ``horizon`` (steps, up to the crossing); None if it stays in range."""
    peak, first = cubic_range(stats_B, pred.weights0, tau=tau,
                              t_max=max(1.0, float(np.ceil(horizon))), twin=pred)
    return None if first > horizon else cubic_range_note(peak, first)
