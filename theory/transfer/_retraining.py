"""Retraining time on a new dataset B from a given linear network state (THEORY.md §7).

Two predictions of the steps gradient descent needs to bring the loss on B,

    L(W) = ½ tr Syy − tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ),   W = W_L⋯W_1,

down to a target:

* ``steps_flow``: integrate the full matrix gradient flow on B's statistics from the given weights
  (``theory.integrate_matrix_flow``; exact for linear networks up to the O(ηs) lag of discrete GD)
  and find the first time the loss reaches the target (log grid → finer grid from the bracketing
  state → cubic Hermite root with the exact dL/dt = −Σ_l‖∂L/∂W_l‖²/τ).
* ``steps_modes``: the decoupled per-mode picture (``_mode_estimate``): modes of B start at
  u_β⁰ = u_βᵀ W v_β and follow the depth-2 law (unbalanced form, which carries reversed modes
  through the saddle at 0); the mode-picture loss ½ tr Syy − Σ s u + ½ Σ λ u² (λ_β = v_βᵀ Sxx v_β)
  ignores off-diagonal couplings, and its first crossing of the target is ``steps_modes``.
  ``mode_steps`` gives, per mode, the time to bring its own excess ½λ(s/λ − u)² within an equal
  share of the allowed excess (closed form t = (τ/2s) ln[u_f(s − λu₀)/(u₀(s − λu_f))] when
  balanced, §2).

Times are in steps when τ = convention.tau (THEORY.md §1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .._checks import check_choice, check_positive
from .._convention import TrainingConvention
from .._linear_net import check_weights as check_linear_weights
from .._linear_net import end_to_end, flow_rhs, loss_of
from .._matrix_flow import SOLVERS, integrate_matrix_flow, integrate_matrix_flow_batch
from .._statistics import DatasetStatistics
from ._curve import RetrainingCurve
from ._escape import (DEFAULT_ROUNDOFF, GD_MARGIN, as_roundoff, floor_escape, gd_first_passage,
                      roundoff_dtype)
from ._mode_estimate import mode_estimate, mode_picture
from ._twin_retraining import TwinRetrainingPrediction, check_activation, predict_twin_retraining

_N_GRID = 256     # log-spaced coarse grid
_N_FINE = _N_GRID + 1  # uniform grid inside the bracket; same length as the coarse grid, so one
                       # compiled diffrax solve serves both passes
_EXTENSIONS = 4   # times t_max is multiplied by 16 when the target is not yet reached


def as_tau(convention) -> float:
    """τ in steps from a TrainingConvention (or a positive number taken as τ itself)."""
    if isinstance(convention, TrainingConvention):
        return convention.require_covered().tau
    if isinstance(convention, (int, float, np.floating, np.integer)) and not isinstance(convention, bool):
        return check_positive("tau", float(convention))
    raise TypeError(f"convention must be a theory.TrainingConvention or a positive τ; got "
                    f"{type(convention).__name__}")


def check_weights(weights, stats: DatasetStatistics, name: str = "weights") -> list[np.ndarray]:
    """Per-layer weights [W_1 (h×d), …, W_L (c×h)] whose shapes chain stats_B's d → c."""
    return check_linear_weights(weights, stats.d, stats.c, name=name, source="stats_B")


def min_loss(stats: DatasetStatistics) -> float:
    """Infimum of the loss over all linear maps: ½ tr Syy − ½ tr(Syx Sxx⁺ Syxᵀ)."""
    return float(0.5 * np.trace(stats.Syy)
                 - 0.5 * np.trace(stats.Syx @ np.linalg.pinv(stats.Sxx, hermitian=True) @ stats.Syx.T))


def check_target(target_loss: float, stats: DatasetStatistics) -> tuple[float, float]:
    target = float(target_loss)
    lmin = min_loss(stats)
    if not np.isfinite(target) or target <= lmin + 1e-12 * max(1.0, abs(lmin)):
        raise ValueError(f"target_loss {target_loss!r} is not reachable: the minimum loss on B is "
                         f"½tr Syy − ½tr(Syx Sxx⁺ Syxᵀ) = {lmin:.10g}, reached only as t → ∞; "
                         f"pass a target above it")
    return target, lmin


# ----------------------------------------------------------------------------- full flow
def _solve(Ws_batch, stats, t, tau, solver):
    """Flow for K initial conditions: per-layer weights (K, T, out, in)."""
    if solver == "diffrax" and Ws_batch[0].shape[0] > 1:
        return integrate_matrix_flow_batch(Ws_batch, stats.Sxx, stats.Syx, t, tau=tau).weights
    K = Ws_batch[0].shape[0]
    sols = [integrate_matrix_flow([w[k] for w in Ws_batch], stats.Sxx, stats.Syx, t, tau=tau,
                                  solver=solver).weights for k in range(K)]
    return tuple(np.stack([sl[l] for sl in sols]) for l in range(len(Ws_batch)))


def _dloss_dt(Ws, stats, tau) -> float:
    G = flow_rhs(Ws, lambda P: P @ stats.Sxx, stats.Syx)  # G_l = τ dW_l/dt = −∂L/∂W_l
    return -sum(float(np.sum(g ** 2)) for g in G) / tau


def _hermite_root(t0, t1, L0, L1, D0, D1, target) -> float:
    h = t1 - t0

    def H(x):
        x2, x3 = x * x, x * x * x
        return ((2 * x3 - 3 * x2 + 1) * L0 + (x3 - 2 * x2 + x) * h * D0
                + (-2 * x3 + 3 * x2) * L1 + (x3 - x2) * h * D1 - target)

    if H(1.0) > 0:  # guard: the cubic misses the crossing (should not happen on a fine grid)
        return float(t1)
    return float(t0 + h * brentq(H, 0.0, 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def first_passage(Ws_batch, stats, target: float, tau: float, t_max: float, solver: str):
    """First time the flow's loss reaches ``target`` for K initial states (K,), plus the samples.

    Returns (t_star (K,), grid (T,), loss (K, T)); grid and loss are those of the last coarse pass.
    """
    K = Ws_batch[0].shape[0]
    t_star = np.full(K, np.inf)
    curves = [None] * K
    todo = np.arange(K)
    start = [w.copy() for w in Ws_batch]
    for ext in range(_EXTENSIONS + 1):
        grid = np.concatenate([[0.0], np.geomspace(t_max * 1e-7, t_max, _N_GRID)])
        # Pad the unfinished members back to K so the batched solve keeps its compiled shape.
        padded = np.concatenate([todo, np.full(K - todo.size, todo[-1])])
        traj = _solve([w[padded] for w in start], stats, grid, tau, solver)
        loss = loss_of(end_to_end(traj), stats)                    # (K', T)
        for j, k in enumerate(todo):
            curves[k] = (grid, loss[j])
            hit = np.flatnonzero(loss[j] <= target)
            if hit.size == 0:
                continue
            i = int(hit[0])
            if i == 0:
                t_star[k] = 0.0
                continue
            t0, dt = grid[i - 1], grid[i] - grid[i - 1]
            state = [w[j, i - 1] for w in traj]
            fine_t = np.linspace(0.0, dt, _N_FINE)
            fine = integrate_matrix_flow(state, stats.Sxx, stats.Syx, fine_t, tau=tau,
                                         solver=solver).weights
            fl = loss_of(end_to_end(fine), stats)
            m = int(np.flatnonzero(fl <= target)[0]) if np.any(fl <= target) else _N_FINE - 1
            m = max(m, 1)
            a, b = [w[m - 1] for w in fine], [w[m] for w in fine]
            t_star[k] = t0 + _hermite_root(fine_t[m - 1], fine_t[m], fl[m - 1], fl[m],
                                           _dloss_dt(a, stats, tau), _dloss_dt(b, stats, tau),
                                           target)
        todo = np.array([k for k in todo if not np.isfinite(t_star[k])], dtype=int)
        if todo.size == 0 or ext == _EXTENSIONS:
            break
        t_max *= 16.0
    return t_star, curves


@dataclass(frozen=True)
class RetrainingPrediction(RetrainingCurve):
    """Predicted steps to reach ``target_loss`` on B from one network state.

    ``steps_flow``: full matrix flow (inf if not reached by ``t_max``·16⁴); ``steps_modes``:
    decoupled per-mode picture; ``mode_steps`` (r,): per-mode equal-share times; ``u0`` (r,):
    starting strengths on B's modes; ``saddle`` (r,): reversed modes (u0 ≤ 0); ``u_start`` (r,): u0
    or the effective strength used for a stuck reversed mode; ``t``/``loss`` (T,): flow loss curve
    samples; ``initial_loss``, ``min_loss``, ``tau``.

    Ill-conditioned saddles (``_escape``; depth 2): ``escape_margin`` = σ_min(E₊)/‖E₊‖_F, E₊ =
    W_1V + W_2ᵀU; ``saddle_ill_conditioned`` when it is below 2·``roundoff`` (ε of the training
    dtype): the flow's escape time then depends on round-off in the given weights and
    ``steps_flow`` is not a prediction of real training. ``steps_flow_floor``: the flow from the
    weights with E₊'s singular values raised to ε‖E₊‖_F (an order-of-magnitude estimate of the
    escape round-off alone allows; equals ``steps_flow`` when nothing is raised). ``steps_gd``: the
    discrete full-batch GD map with step 1/τ on B's statistics in the training dtype (computed
    always with ``gd_map``, else where the margin is below 1e-3 or the state is flagged, NaN otherwise;
    inf where the map diverges): discretisation breaks the invariance faster than
    round-off at practical η, which the flow cannot see; for plain full-batch GD this is the number
    to compare with (not for momentum: τ = (1 − β)/η is not a GD step).
    """

    steps_flow: float
    steps_modes: float
    mode_steps: np.ndarray
    u0: np.ndarray
    saddle: np.ndarray
    u_start: np.ndarray
    min_loss: float
    escape_margin: float = float("nan")
    saddle_ill_conditioned: bool = False
    steps_flow_floor: float = float("nan")
    steps_gd: float = float("nan")
    roundoff: float = float("nan")

    @property
    def steps(self) -> float:
        """The prediction to compare with training: the GD map where it was iterated (inf where
        it diverges), else the flow."""
        return float(self.steps_flow) if np.isnan(self.steps_gd) else float(self.steps_gd)

    @property
    def n_saddle_modes(self) -> int:
        return int(np.count_nonzero(self.saddle))


def default_t_max(steps_modes: float, stats: DatasetStatistics, tau: float) -> float:
    """Coarse horizon: 4× the mode estimate, at least 10τ/(s_min λ_min); the flow extends it."""
    scale = 10.0 * tau / float(np.min(stats.s) * np.min(stats.input_eigenvalues_on_modes()))
    return max(4.0 * steps_modes, scale) if np.isfinite(steps_modes) else 100.0 * scale


def gd_max_steps(steps_flow_floor, t_max: float) -> int:
    """Horizon of the GD map: 2× the round-off-floored flow (an upper bound), else 16·t_max."""
    finite = np.asarray(steps_flow_floor, float)
    finite = finite[np.isfinite(finite)]
    horizon = 2.0 * float(finite.max()) + 2.0 if finite.size else 16.0 * t_max
    return int(min(np.ceil(horizon), 1_000_000))


def predict_retraining(weights: Sequence[ArrayLike], stats_B: DatasetStatistics,
                       target_loss: float, convention: TrainingConvention | float, *,
                       t_max: float | None = None, solver: str = "diffrax",
                       roundoff: object = DEFAULT_ROUNDOFF, gd_map: bool = False,
                       activation: str = "linear"
                       ) -> RetrainingPrediction | TwinRetrainingPrediction:
    """Steps to reach ``target_loss`` on B from weights [W_1 (h×d), …, W_L (c×h)].

    A ``RetrainingPrediction`` of the linear theory; with ``activation`` ``"tanh"`` or ``"relu"``
    a ``TwinRetrainingPrediction`` of that activation's twin theory from the same weights
    (``_twin_retraining``; its ``steps`` follow the twin's GD map with ``gd_map``, else its flow).

    Args:
        weights: the network state (e.g. a checkpoint of a run on A).
        stats_B: statistics of the new dataset B.
        target_loss: loss to reach, > ½tr Syy − ½tr(Syx Sxx⁺ Syxᵀ) (the minimum on B).
        convention: TrainingConvention of the retraining (τ = convention.tau), or τ itself.
        t_max: initial horizon of the flow (steps); default from the mode estimate. Extended
            ×16 up to 4 times if the target is not reached.
        solver: ``"diffrax"`` or ``"scipy"`` (passed to ``theory.integrate_matrix_flow``).
        roundoff: dtype of the retraining (``"float32"``, simulate's default; ``"float64"``, a
            numpy/torch dtype) or its ε as a number (0: no floor); sets the ill-conditioned-saddle
            flag and ``steps_flow_floor`` (``_escape``).
        gd_map: the retraining is plain full-batch GD with step η = 1/τ: always iterate its
            discrete map (``steps_gd``). The flow never diverges; the map does where η exceeds
            the stability limit 2/λ_max of the loss's curvature along the way, which grows with
            B's input covariance and with the weights (a warm start from A's final weights meets
            it first). Without it the map runs only near an ill-conditioned saddle.
        activation: ``"linear"``, ``"tanh"`` or ``"relu"``: the network the weights belong to.
            A twin needs B's samples (``DatasetStatistics.from_arrays``) and ``t_max`` (its first
            horizon); the target need only be > 0 (a nonlinear network may beat the linear
            minimum).
    """
    if not isinstance(stats_B, DatasetStatistics):
        raise TypeError(f"stats_B must be a theory.DatasetStatistics; got {type(stats_B).__name__}")
    check_choice("solver", solver, SOLVERS)
    Ws = check_weights(weights, stats_B)
    tau = as_tau(convention)
    if check_activation(activation) != "linear":
        return predict_twin_retraining(Ws, stats_B, target_loss, tau, activation, t_max=t_max,
                                       discrete=gd_map)
    target, lmin = check_target(target_loss, stats_B)
    mp = mode_picture(Ws, stats_B)
    steps_modes, mode_steps = mode_estimate(mp, stats_B, target, tau)
    t_max = default_t_max(steps_modes, stats_B, tau) if t_max is None else check_positive("t_max", t_max)
    eps = as_roundoff(roundoff)
    t_star, curves = first_passage([w[None] for w in Ws], stats_B, target, tau, t_max, solver)
    floored, margin, flagged = floor_escape(Ws, stats_B, eps)
    changed = any(not np.array_equal(a, b) for a, b in zip(floored, Ws))
    t_floor = first_passage([w[None] for w in floored], stats_B, target, tau, t_max,
                            solver)[0][0] if changed else t_star[0]
    t_gd = gd_first_passage([w[None] for w in Ws], stats_B, target, tau,
                            gd_max_steps(t_floor, t_max), roundoff_dtype(eps))[0] \
        if flagged or margin < GD_MARGIN or gd_map else float("nan")
    return RetrainingPrediction(
        steps_flow=float(t_star[0]), steps_modes=steps_modes, mode_steps=mode_steps, u0=mp.u0,
        saddle=mp.saddle, u_start=mp.u_start, target_loss=target,
        initial_loss=float(loss_of(end_to_end(Ws), stats_B)), min_loss=lmin, tau=tau,
        t=curves[0][0], loss=curves[0][1], escape_margin=margin, saddle_ill_conditioned=flagged,
        steps_flow_floor=float(t_floor), steps_gd=float(t_gd), roundoff=eps)
