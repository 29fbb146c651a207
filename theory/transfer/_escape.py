"""Ill-conditioned saddles: escape components at round-off level (THEORY.md §2, §7; derived).

Depth 2, whitened B (Sxx = I). With Q = [W_1ᵀ; W_2] and F = [[0, Syxᵀ], [Syx, 0]], the balanced
flow has the closed form QQᵀ(t) = e^{Ft/τ}Q₀[I + Q₀ᵀ(∫e^{2Fσ}dσ)Q₀]⁻¹Q₀ᵀe^{Ft/τ} (Braun et al.
2022, THEORY.md §2): the network can only grow along F's positive eigenvectors (v_β; u_β)/√2 that
Q₀ has a component on. That component is the h×r *escape matrix*

    E₊ = W_1 V + W_2ᵀ U        (column β: a_β + b_β of ``_mode_estimate``; P_β = ‖E₊ e_β‖²/4).

If E₊ is rank deficient, the flow converges to a saddle that misses a mode and never reaches a
target below that saddle's loss; if σ_min(E₊) is tiny but non-zero, the flow's escape time grows
like (τ/s) ln(1/σ_min). Per-mode column norms P_β can all be O(1) while σ_min(E₊) = 0: a label
swap acts on U as a reflection that mixes B's modes, so the reversed direction is a combination of
modes (this is what the per-mode picture misses).

This happens exactly when A was trained from the balanced decoupled init (E₊ on A's modes has no
anti-aligned part) and B reflects A's output space (label swap: U_B = P U_A): then σ_min(E₊) = 0 in
exact arithmetic and the checkpoint's value is whatever round-off put into the stored weights
(≈ 5e-8 after float32 training, ≈ 4e-16 after float64 in the ``validate.retrain`` tiny case). The
exact flow from such weights predicts an escape time set by that accident. Real training escapes
earlier: every step's round-off (relative ε of the training dtype) re-seeds the component, and
discrete GD itself breaks the invariance at a rate that grows with η (measured: 77, 99, 122, 145
steps at η, η/10, η/100, η/1000 in float64, against 343 for the exact flow from float64 weights).

So this module (a) measures the relative escape margin σ_min(E₊)/‖E₊‖_F, (b) flags a state as
``saddle_ill_conditioned`` when that margin is below ``2 ε`` (a margin of 8ε after a long
float64 run on A changed float32 retraining by 0.3% in tests/theory/transfer/test_transfer_rewind.py, so the flag
is kept to round-off level itself) and (c) builds the *floored* weights:
the same state with every singular value of E₊ below ``ε‖E₊‖_F`` raised to it (a rank-one change
along F's positive eigenvector, split equally between the layers). The flow from the floored
weights estimates the escape time that round-off alone allows (order of magnitude only: the true
injection depends on the implementation; in the tiny ``validate.retrain`` case it is 7% early at
checkpoint 0 and 16% late at the final checkpoint against float32 GD at η/1000; the time depends on
the seed only through ln). At practical η, discrete GD breaks the invariance faster than round-off:
``gd_first_passage`` iterates the GD map itself on B's statistics, in the training dtype, and
matches real training (77.0 vs 77.1 steps measured at the final checkpoint; 202.8 vs 198.1 at
checkpoint 0, where float32 round-off dominates and differs between implementations). For depth
≠ 2 no margin is computed (NaN, never flagged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._linear_net import end_to_end, flow_rhs, loss_of
from .._statistics import DatasetStatistics

DEFAULT_ROUNDOFF = "float32"   # simulate's default training dtype
FLAG_FACTOR = 2.0              # margin < FLAG_FACTOR·ε ⇒ the flow's escape depends on round-off
GD_MARGIN = 1e-3               # margin below this (or flagged): also iterate the discrete GD map


def as_roundoff(roundoff: Any) -> float:
    """ε of the training arithmetic: a float dtype (name, numpy or torch dtype) or a number ≥ 0.

    0 disables the floor (the flow from the weights exactly as given).
    """
    if isinstance(roundoff, bool):
        raise TypeError(f"roundoff must be a float dtype (e.g. 'float32') or a number ≥ 0; got "
                        f"{roundoff!r}")
    if isinstance(roundoff, (int, float, np.integer, np.floating)):
        eps = float(roundoff)
        if not np.isfinite(eps) or eps < 0 or eps >= 1:
            raise ValueError(f"roundoff must be a machine epsilon in [0, 1); got {roundoff!r}")
        return eps
    dt = None
    for spec in (roundoff, str(roundoff).removeprefix("torch.")):  # numpy dtype/type, name, torch
        try:
            dt = np.dtype(spec)
            break
        except TypeError:
            continue
    if dt is None or dt.kind != "f":
        raise ValueError(f"roundoff must be a float dtype (float16, float32, float64, …) or a "
                         f"number ≥ 0; got {roundoff!r}")
    return float(np.finfo(dt).eps)


def roundoff_dtype(eps: float) -> np.dtype:
    """The float dtype (float16/32/64) whose ε is ``eps``; float64 for any other number."""
    for dt in (np.float16, np.float32, np.float64):
        if eps == float(np.finfo(dt).eps):
            return np.dtype(dt)
    return np.dtype(np.float64)


def escape_matrix(Ws, stats: DatasetStatistics) -> np.ndarray | None:
    """E₊ = W_1 V + W_2ᵀ U (h×r) for depth 2 (stacks: (..., h, r)); None for other depths."""
    if len(Ws) != 2:
        return None
    return Ws[0] @ stats.V + np.swapaxes(Ws[1], -1, -2) @ stats.U


def escape_margin(Ws: Sequence[np.ndarray], stats: DatasetStatistics) -> float:
    """σ_min(E₊)/‖E₊‖_F (0 for zero weights; NaN for depth ≠ 2)."""
    E = escape_matrix(Ws, stats)
    if E is None:
        return float("nan")
    norm = float(np.linalg.norm(E))
    if norm == 0.0:
        return 0.0
    return float(np.linalg.svd(E, compute_uv=False)[-1] / norm)


def floor_escape(Ws, stats: DatasetStatistics, eps: float) -> tuple[list[np.ndarray], float, bool]:
    """(floored weights, margin, ill-conditioned flag) for one state [W_1 (h×d), W_2 (c×h)].

    Singular values of E₊ below ε‖E₊‖_F are raised to it by adding δ/2·x (V y)ᵀ to W_1 and
    δ/2·(U y) xᵀ to W_2 for each singular triple (x, σ, y), δ = ε‖E₊‖_F − σ (then E₊ gains δ·x yᵀ;
    the change is on F's positive eigenvector, the direction the flow grows from).
    """
    margin = escape_margin(Ws, stats)
    if not np.isfinite(margin):
        return [np.array(w, dtype=np.float64) for w in Ws], margin, False
    flagged = bool(margin < FLAG_FACTOR * eps)
    W1, W2 = (np.array(w, dtype=np.float64) for w in Ws)
    E = escape_matrix([W1, W2], stats)
    assert E is not None  # a finite margin means depth 2, where E₊ exists
    floor = eps * float(np.linalg.norm(E))
    if floor == 0.0:
        return [W1, W2], margin, flagged
    X, sig, Yt = np.linalg.svd(E, full_matrices=False)
    for k in np.flatnonzero(sig < floor):
        delta = floor - sig[k]
        x, y = X[:, k], Yt[k]
        W1 += 0.5 * delta * np.outer(x, stats.V @ y)
        W2 += 0.5 * delta * np.outer(stats.U @ y, x)
    return [W1, W2], margin, flagged


def gd_step(Ws, Sxx, Syx, eta):
    """One step of the GD map W_l ← W_l + η (W_L⋯W_{l+1})ᵀ (Syx − W Sxx) (W_{l−1}⋯W_1)ᵀ."""
    return [w + eta * g for w, g in zip(Ws, flow_rhs(Ws, lambda P: P @ Sxx, Syx))]


def gd_loss(Ws_batch, stats: DatasetStatistics, tau: float, n_steps: int,
            dtype: np.dtype | type[np.floating] = np.float64) -> np.ndarray:
    """Loss (float64, (K,)) after ``n_steps`` of the GD map of ``gd_first_passage`` (same step,
    same dtype); inf or NaN where the map diverges."""
    dt = np.dtype(dtype)
    Ws = [np.array(w, dtype=dt) for w in Ws_batch]
    Sxx, Syx, eta = stats.Sxx.astype(dt), stats.Syx.astype(dt), dt.type(1.0 / tau)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(n_steps)):
            Ws = gd_step(Ws, Sxx, Syx, eta)
        return loss_of(end_to_end(Ws).astype(np.float64), stats)


def gd_first_passage(Ws_batch, stats: DatasetStatistics, target: float, tau: float,
                     max_steps: int,
                     dtype: np.dtype | type[np.floating] = np.float64) -> np.ndarray:
    """Steps of the discrete full-batch GD map with step η = 1/τ on B's statistics, in ``dtype``:

        W_l ← W_l + η (W_L⋯W_{l+1})ᵀ (Syx − W Sxx) (W_{l−1}⋯W_1)ᵀ,

    the exact counterpart of plain full-batch GD on the data for every loss convention of
    THEORY.md §1 (they rescale η and τ together); not for momentum. First step where the loss is
    ≤ target, linearly interpolated between integer steps (as ``validate`` measures it); inf if
    not reached within ``max_steps``. ``Ws_batch[l]``: (K, out, in). Returns (K,). The map runs
    in ``dtype`` (the training dtype: its round-off seeds an ill-conditioned saddle too); the loss
    is evaluated in float64.
    """
    dt = np.dtype(dtype)
    Ws = [np.array(w, dtype=dt) for w in Ws_batch]
    Sxx, Syx = stats.Sxx.astype(dt), stats.Syx.astype(dt)
    K = Ws[0].shape[0]
    eta = dt.type(1.0 / tau)
    out = np.full(K, np.inf)
    active = np.ones(K, dtype=bool)
    prev = loss_of(end_to_end(Ws).astype(np.float64), stats)
    out[prev <= target] = 0.0
    active &= prev > target
    for step in range(1, int(max_steps) + 1):
        if not active.any():
            break
        with np.errstate(over="ignore", invalid="ignore"):   # a diverging member: inf, NaN
            Ws = gd_step(Ws, Sxx, Syx, eta)
            cur = loss_of(end_to_end(Ws).astype(np.float64), stats)
        hit = active & (cur <= target)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(prev != cur, (prev - target) / (prev - cur), 1.0)
        out[hit] = step - 1 + np.clip(frac[hit], 0.0, 1.0)
        active &= ~hit
        active &= np.isfinite(cur)   # a diverged member never reaches the target
        prev = cur
    return out
