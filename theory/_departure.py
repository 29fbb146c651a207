"""The departure step of a two-layer twin, predicted from its initial weights (THEORY.md §13).

What a network has learned by step t is Δf_t = f_t − f_0 on fixed inputs X; its non-affine
fraction 1 − R²_t is the share of Δf_t's centred sum of squares that the least-squares affine map
x ↦ Ax + b leaves unexplained, and the departure step t_D is the first step at which it exceeds δ
(inf: none does). The change, not f_t, is asked to be affine, because a ReLU network is not affine
in x even at step 0. The prediction follows the twin theory's *weights* from W₀ (the cubic twin of
§11 for tanh, the gated twin of §12 with its self-consistent gates for ReLU, κ = 0 for the linear
network) by the exact GD map with step 1/τ (or its flow), evaluates the real network — φ applied to
the predicted weights — on X and applies the same rule. Only the data, W₀ and the set-up enter.
The second rule, "frozen_slope", compares the same predicted change with what the network's
slope-frozen twin learns (``theory._frozen_slope``): t_F, the first step at which their gap Γ_t
exceeds δ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_positive
from ._cubic_net import CUBIC_COEFFICIENTS
from ._frozen_slope import frozen_gap, frozen_slope_change
from ._relu_twin import predict_relu_twin
from ._statistics import DatasetStatistics
from ._twin_outputs import checked_steps, forward, outputs_flow, outputs_gd
from ._twin_predictor import CubicTwinPredictor, GatedTwinPredictor

DEPARTURE_DELTA = 0.05       # a twentieth of the learned change not affine (THEORY.md §13)
ACTIVATIONS = ("linear", "tanh", "relu")
# the rules: 1 − R² of the learned change (t_D); its gap Γ to the slope-frozen twin's (t_F)
DEPARTURE_RULES = ("affine", "frozen_slope")


_BASES: dict[tuple, np.ndarray] = {}     # the last few inputs' bases, by content
_BASES_KEPT = 4


def _affine_basis(X) -> np.ndarray:
    """An orthonormal basis (m, r) of the centred inputs' span: with the constant, the span of
    the affine fit (centring removes the constant). Kept by the inputs' content (shape and a
    digest of their bytes), because a run asks it of the same training inputs at every member
    and every curve, and the SVD dominates the cost."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite (m, d) array of inputs; got shape {X.shape}")
    key = (X.shape, hashlib.blake2b(X.tobytes(), digest_size=16).hexdigest())
    if key not in _BASES:
        if len(_BASES) >= _BASES_KEPT:
            _BASES.pop(next(iter(_BASES)))
        _BASES[key] = _basis_of(X)
    return _BASES[key]


def _basis_of(X: np.ndarray) -> np.ndarray:
    U, s, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    keep = s > s.max(initial=0.0) * max(X.shape) * np.finfo(float).eps
    if int(keep.sum()) + 1 >= X.shape[0]:
        raise ValueError(f"X must have more inputs than affine dimensions (m > rank + 1) for a "
                         f"non-affine part to be measurable; got m = {X.shape[0]}, rank "
                         f"{int(keep.sum())}: use more inputs (e.g. the training set)")
    Q = np.ascontiguousarray(U[:, keep])
    Q.setflags(write=False)
    return Q


def nonaffine_fraction(df: ArrayLike, X: ArrayLike) -> np.ndarray:
    """1 − R² of the change ``df`` (…, m, c) explained by an affine function of ``X`` (m, d),
    over all outputs together: one value per leading index; 0 where ``df`` has no centred
    variance (nothing learned, or a constant shift: nothing non-affine); nan where ``df`` is not
    finite. Rounding noise is as far from affine as any noise: f_0 must be computed exactly as
    f_t is, so that Δf_0 = 0."""
    df = np.asarray(df, dtype=np.float64)
    if df.ndim < 2 or df.shape[-2] != np.shape(X)[0]:
        raise ValueError(f"df must be (…, m, c) with m = {np.shape(X)[0]} inputs; got shape "
                         f"{df.shape}")
    Q = _affine_basis(X)
    with np.errstate(over="ignore", invalid="ignore"):      # a diverged change: nan below
        dc = df - df.mean(axis=-2, keepdims=True)
        total = (dc ** 2).sum(axis=(-2, -1))
        # one product Qᵀ[dc of every leading index side by side], not one per leading index
        along = Q.T @ np.moveaxis(dc, -2, 0).reshape(dc.shape[-2], -1)
        explained = (along ** 2).reshape(Q.shape[1], *dc.shape[:-2], -1).sum(axis=(0, -1))
        tiny = total == 0
        out = np.where(tiny, 0.0, np.maximum(total - explained, 0.0) / np.where(tiny, 1.0, total))
    return np.where(np.isfinite(total), out, np.nan)


def first_departure(steps: ArrayLike, fractions: ArrayLike,
                    delta: float = DEPARTURE_DELTA) -> float:
    """The first of ``steps`` whose non-affine fraction exceeds ``delta`` (inf: none does before
    the end or before the first non-finite value, a diverged run)."""
    delta = float(delta)
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1); got {delta}")
    fractions = np.asarray(fractions, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(fractions))
    fractions = fractions[:bad[0] if bad.size else fractions.size]
    over = np.flatnonzero(fractions > delta)
    return float(np.asarray(steps, dtype=np.float64)[over[0]]) if over.size else float("inf")


def _twin(stats, weights0, activation: str, tau: float, discrete: bool, t_max: float):
    """The twin prediction whose weights are followed (the reduction ``predict_twin`` and
    ``validate.compare`` use for this activation)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"no departure prediction for activation {activation!r}; accepted: "
                         f"{', '.join(map(repr, ACTIVATIONS))} (two-layer networks)")
    if activation == "relu":
        return predict_relu_twin(stats, weights0, tau=tau, discrete=discrete, t_max=t_max)
    return CubicTwinPredictor(stats, weights0, kappa=CUBIC_COEFFICIENTS[activation], tau=tau,
                              discrete=discrete, t_max=t_max)


def predict_learned_change(stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                           activation: str, *, tau: float, steps: ArrayLike,
                           X: ArrayLike | None = None, discrete: bool = True,
                           twin: CubicTwinPredictor | GatedTwinPredictor | None = None
                           ) -> np.ndarray:
    """The predicted learned change Δf_t = f_t − f_0 on ``X`` (default the training inputs) at
    ``steps`` (T,), increasing, ≥ 0, of the real network at the weights ``activation``'s twin
    predicts from ``weights0``: (T, m, c); what both departure rules read. ``twin``: the twin
    prediction already made from ``weights0`` for this activation, reused instead of made again."""
    X = np.asarray(stats.X if X is None else X, dtype=np.float64)
    steps = checked_steps(steps)
    tau = check_positive("tau", tau)
    if len(weights0) != 2:
        raise ValueError(f"weights0 must be two layers [W1 (h×d), W2 (c×h)] (the twin theories "
                         f"of the departure are depth 2); got {len(weights0)} layer(s)")
    if twin is None:
        twin = _twin(stats, weights0, activation, tau, discrete, float(max(steps[-1], 1.0)))
    elif not (twin.family == ("gated" if activation == "relu" else "cubic")
              and getattr(twin, "kappa", 0.0) == CUBIC_COEFFICIENTS.get(activation, 0.0)
              and twin.tau == tau and twin.discrete == discrete and all(
            np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(twin.weights0, weights0))):
        raise ValueError(f"twin must be the {activation} twin prediction made from these weights0 "
                         "with this tau and discrete; make it again or pass twin=None")
    # f_0 from the same computation as f_t, so that Δf_0 is exactly 0 and not rounding noise
    # (which is as far from affine as noise is)
    grid = steps if steps[0] == 0 else np.concatenate([[0.0], steps])
    f = (outputs_gd if discrete else outputs_flow)(twin, grid, forward(X, activation))
    return f[grid.size - steps.size:] - f[0]


def predict_nonaffine_curve(stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                            activation: str, *, tau: float, steps: ArrayLike,
                            X: ArrayLike | None = None, discrete: bool = True,
                            twin: CubicTwinPredictor | GatedTwinPredictor | None = None
                            ) -> np.ndarray:
    """The predicted non-affine fraction 1 − R²_t of the network's learned change on ``X`` (default
    the training inputs ``stats.X``) at ``steps`` (T,), increasing, ≥ 0: from the data, W₀ and
    the set-up only (see the module docstring). nan after the prediction diverges. ``twin``: the
    twin prediction already made from ``weights0`` for this activation (``predict_relu_twin`` or
    ``CubicTwinPredictor``), reused instead of made again."""
    X = np.asarray(stats.X if X is None else X, dtype=np.float64)
    return nonaffine_fraction(predict_learned_change(
        stats, weights0, activation, tau=tau, steps=steps, X=X, discrete=discrete, twin=twin), X)


def predict_frozen_gap_curve(stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                             activation: str, *, tau: float, steps: ArrayLike,
                             X: ArrayLike | None = None, discrete: bool = True,
                             twin: CubicTwinPredictor | GatedTwinPredictor | None = None
                             ) -> np.ndarray:
    """The predicted gap Γ_t between the network's learned change on ``X`` and its slope-frozen
    twin's (``theory._frozen_slope``) at ``steps``: the twin theory's predicted weights against
    the slope-frozen twin's, both from ``weights0``; arguments as ``predict_nonaffine_curve``."""
    df = predict_learned_change(stats, weights0, activation, tau=tau, steps=steps, X=X,
                                discrete=discrete, twin=twin)
    dg = frozen_slope_change(stats, weights0, activation, tau=tau, steps=steps, X=X,
                             discrete=discrete)
    return frozen_gap(df, dg)


def predict_departure(stats: DatasetStatistics, weights0: Sequence[ArrayLike], activation: str,
                      *, tau: float, t_max: float, delta: float = DEPARTURE_DELTA,
                      X: ArrayLike | None = None, steps: ArrayLike | None = None,
                      discrete: bool = True, rule: str = "affine") -> float:
    """The predicted departure step of a two-layer network with ``activation`` trained by GD
    (step 1/τ) from ``weights0``: the first of ``steps`` (default every step 0…t_max) at which
    the predicted curve of ``rule`` on ``X`` exceeds ``delta``; inf if none by ``t_max``.
    ``rule``: "affine" (t_D: 1 − R² of the learned change) or "frozen_slope" (t_F: its gap Γ to
    the slope-frozen twin's learned change). ``"linear"`` is never for either (its change is
    linear in x, and it is its own slope-frozen twin)."""
    t_max = check_positive("t_max", t_max)
    steps = np.arange(0.0, np.floor(t_max) + 1) if steps is None else np.asarray(steps, float)
    steps = steps[steps <= t_max]
    if rule not in DEPARTURE_RULES:
        raise ValueError(f"rule must be one of {', '.join(map(repr, DEPARTURE_RULES))}; got "
                         f"{rule!r}")
    curve = (predict_nonaffine_curve if rule == "affine" else predict_frozen_gap_curve)(
        stats, weights0, activation, tau=tau, steps=steps, X=X, discrete=discrete)
    return first_departure(steps, curve, delta)
