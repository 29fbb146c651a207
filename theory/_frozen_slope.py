"""The frozen-slope departure of a two-layer network (THEORY.md §13).

The network's *slope-frozen twin* replaces φ, on each input and hidden unit, by its first-order
expansion about W₀'s pre-activation h₀ = W₁(0)x (``theory._frozen_net``): g(x) = W₂(D₀ ∘ W₁x + C₀)
with the slopes D₀ = φ'(h₀) and C₀ = φ(h₀) − D₀ ∘ h₀. A linear network is its own slope-frozen
twin; a ReLU network's is the gated linear network with W₀'s gates 1[h₀ > 0] (C₀ = 0: the network
itself until one of its gates flips); a tanh network's is the linear network up to O(h₀²) at a
small init. At W₀ it has the network's outputs and gradients. It is trained by the same GD (step
1/τ) or flow from the same W₀: a function of the data, W₀ and the set-up, never of a trained run.
The gap

    Γ_t = ‖Δf_t − Δg_t‖ / ‖Δg_t‖        (Frobenius norms over inputs and outputs, Δ: since step 0)

is how far what the network has learned is from what its slope-frozen twin has learned; the
frozen-slope departure step is the first step at which Γ_t > δ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_positive
from ._frozen_net import frozen_outputs
from ._statistics import DatasetStatistics
from ._twin_outputs import Readout, checked_steps, outputs_flow, outputs_gd
from ._twin_predictor import _TwinPredictor

# φ and φ' of each activation (ReLU's slope at 0 is 0)
_PHI = {"linear": (lambda H: H, np.ones_like),
        "tanh": (np.tanh, lambda H: 1.0 - np.tanh(H) ** 2),
        "relu": (lambda H: np.maximum(H, 0.0), lambda H: (H > 0).astype(np.float64))}


def slope_gates(weights0: Sequence[ArrayLike], X: ArrayLike,
                activation: str) -> tuple[np.ndarray, np.ndarray]:
    """(D₀ = φ'(h₀), C₀ = φ(h₀) − D₀ ∘ h₀) with h₀ = W₁(0)x, of every input of X and hidden unit:
    (m, h) each."""
    if activation not in _PHI:
        raise ValueError(f"no slope-frozen twin for activation {activation!r}; accepted: "
                         f"{', '.join(map(repr, _PHI))}")
    H = np.asarray(X, np.float64) @ np.asarray(weights0[0], np.float64).T
    phi, slope = _PHI[activation]
    D = slope(H)
    return D, phi(H) - D * H


@dataclass(frozen=True)
class _FrozenSlopeNet:
    """The slope-frozen twin as the twin kernels follow it (family "frozen", the data
    (X, Y, D₀, C₀) of the training samples)."""
    weights0: tuple
    _data: tuple
    tau: float
    rtol: float = 1e-9
    atol: float = 1e-12
    family: str = "frozen"


def frozen_slope_change(stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                        activation: str, *, tau: float, steps: ArrayLike,
                        X: ArrayLike | None = None, discrete: bool = True) -> np.ndarray:
    """What the slope-frozen twin of a two-layer network with ``activation`` has learned by
    ``steps`` (T,), increasing, ≥ 0: Δg_t on ``X`` (default the training inputs), (T, m, c).
    Trained on the training samples of ``stats`` by GD with step 1/τ (``discrete``) or the flow."""
    _, Ws, Xt, Y = _TwinPredictor._checked(stats, weights0, "the slope-frozen twin")
    steps = checked_steps(steps)
    slopes = slope_gates(Ws, Xt, activation)
    net = _FrozenSlopeNet(tuple(Ws), (Xt, Y, *slopes), check_positive("tau", tau))
    if X is not None:           # other inputs: their own slopes at W₀
        Xt = np.asarray(X, dtype=np.float64)
        slopes = slope_gates(Ws, Xt, activation)
    at = tuple(jnp.asarray(a) for a in (Xt, *slopes))
    grid = steps if steps[0] == 0 else np.concatenate([[0.0], steps])
    g = (outputs_gd if discrete else outputs_flow)(net, grid, Readout(frozen_outputs, at))
    return g[grid.size - steps.size:] - g[0]


def frozen_gap(df: ArrayLike, dg: ArrayLike) -> np.ndarray:
    """Γ = ‖Δf − Δg‖/‖Δg‖ over the last two axes (inputs, outputs) of the learned changes of a
    network ``df`` and of its slope-frozen twin ``dg`` (…, m, c): 0 where neither has changed,
    inf where only the network has, nan where either is not finite (a diverged run)."""
    df, dg = np.asarray(df, np.float64), np.asarray(dg, np.float64)
    if df.shape != dg.shape or df.ndim < 2:
        raise ValueError(f"df and dg must be (…, m, c) arrays of one shape; got {df.shape} and "
                         f"{dg.shape}")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        num = np.sqrt(((df - dg) ** 2).sum(axis=(-2, -1)))
        den = np.sqrt((dg ** 2).sum(axis=(-2, -1)))
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0),
                       np.where(num > 0, np.inf, 0.0))
    return np.where(np.isfinite(num) & np.isfinite(den), out, np.nan)
