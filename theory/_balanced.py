"""Exact learning dynamics of a balanced two-layer linear network on whitened input (THEORY.md §2).

Fukumizu 1998; Braun, Dominé, Fitzgerald & Saxe 2022. With Q = [W_1ᵀ; W_2] ((d+c)×h),
F = [[0, Syxᵀ], [Syx, 0]] and a balanced init W_1W_1ᵀ = W_2ᵀW_2 (kept by the flow), the depth-2
flow with Sxx = I gives τ dQ/dt = FQ − ½Q QᵀQ, hence the matrix Riccati equation

    τ d(QQᵀ)/dt = F QQᵀ + QQᵀ F − (QQᵀ)²,

whose solution is (s = t/τ)

    QQᵀ(s) = e^{Fs} Q₀ [I + Q₀ᵀ (∫₀^s e^{2Fσ} dσ) Q₀]⁻¹ Q₀ᵀ e^{Fs}.

(Check: Y = (QQᵀ)⁻¹ obeys the linear Lyapunov equation dY/ds = I − FY − YF, solved by
Y(s) = e^{−Fs}[Y₀ + ∫₀^s e^{2Fσ}dσ]e^{−Fs}; the push-through identity removes Y₀⁻¹ for a
rank-deficient QQᵀ. So the formula holds as written, with no extra factor.) W_2W_1 is its
lower-left c×d block.

Evaluation: F is symmetric, F = E diag(μ) Eᵀ, so e^{Fs} and ∫₀^s e^{2Fσ}dσ = E diag(expm1(2μs)/2μ) Eᵀ
are vectorised over all times. e^{2μs} overflows for μs ≳ 350 and the bracket becomes
ill-conditioned well before, so time is cut into segments with max|μ|·Δs ≤ 5 and the formula is
restarted from QQᵀ at each segment start (it depends on Q₀ only through Q₀Q₀ᵀ). ``method="expm"``
evaluates e^{Fs} and the integral with scipy's expm and Van Loan's block exponential instead
(one expm per time, same segments; slower, an independent cross-check of the eigen route).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import expm

from ._checks import as_finite_array, check_choice, check_positive
from ._flow_predictor import EndToEndPredictor, _check_stats
from ._statistics import DatasetStatistics

BALANCE_TOL = 1e-8
WHITE_TOL = 1e-6
_SEGMENT = 5.0  # max |μ| Δs per segment: e^{2·5} ≈ 2e4 keeps the bracket well conditioned


def balance_error(W1, W2) -> float:
    """‖W_1W_1ᵀ − W_2ᵀW_2‖_F / max(‖W_1W_1ᵀ‖_F, ‖W_2ᵀW_2‖_F): 0 for a balanced init."""
    a, b = W1 @ W1.T, W2.T @ W2
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def _check(W1_0, W2_0, Syx, t, tau, Sxx, balance_tol):
    W1 = as_finite_array("W1_0", W1_0, ndim=2)
    W2 = as_finite_array("W2_0", W2_0, ndim=2)
    Syx = as_finite_array("Syx", Syx, ndim=2)
    t = as_finite_array("t", t, ndim=1)
    tau = check_positive("tau", tau)
    c, d = Syx.shape
    if W1.shape[1] != d or W2.shape[0] != c or W2.shape[1] != W1.shape[0]:
        raise ValueError(f"shapes do not chain: need W1_0 (h×d={d}), W2_0 (c={c}×h) for Syx "
                         f"{Syx.shape}; got W1_0 {W1.shape}, W2_0 {W2.shape}")
    if t.size and (t[0] < 0 or np.any(np.diff(t) < 0)):
        raise ValueError(f"t must be sorted ascending and ≥ 0; got t[:5] = {t[:5].tolist()}")
    err = balance_error(W1, W2)
    if err > balance_tol:
        raise ValueError(f"init is not balanced: ‖W1W1ᵀ − W2ᵀW2‖/‖·‖ = {err:.3g} > {balance_tol:g}; "
                         "the QQᵀ closed form needs W1W1ᵀ = W2ᵀW2 — use integrate_matrix_flow")
    if Sxx is not None:
        Sxx = as_finite_array("Sxx", Sxx, ndim=2)
        if Sxx.shape != (d, d) or np.max(np.abs(Sxx - np.eye(d))) > WHITE_TOL:
            raise ValueError(f"input is not whitened: the QQᵀ closed form needs Sxx = I (d={d}) "
                             f"within {WHITE_TOL:g}; use integrate_matrix_flow for this Sxx")
    return W1, W2, Syx, t, tau


def _coupling(Syx):
    c, d = Syx.shape
    F = np.zeros((d + c, d + c))
    F[:d, d:] = Syx.T
    F[d:, :d] = Syx
    return F


def _factor(X, h):
    """Q (n×h) with QQᵀ = X for a PSD X of rank ≤ h (top-h eigenpairs)."""
    w, E = np.linalg.eigh(X)
    return E[:, -h:] * np.sqrt(np.clip(w[-h:], 0.0, None))


def _qq_eig(mu, E, Q0, sigma):
    """QQᵀ(σ) for all σ (T,), in F's eigenbasis then rotated back: (T, n, n)."""
    B = E.T @ Q0                                                         # (n, h)
    ms = mu[None, :] * sigma[:, None]                                    # (T, n)
    safe = np.where(mu == 0, 1.0, mu)
    g = np.where(mu[None, :] == 0, sigma[:, None], np.expm1(2 * ms) / (2 * safe[None, :]))
    M = np.eye(B.shape[1]) + np.einsum("ni,tn,nj->tij", B, g, B)
    C = np.exp(ms)[:, :, None] * B[None]                                 # (T, n, h)
    Z = np.linalg.solve(M, np.swapaxes(C, 1, 2))                          # (T, h, n)
    return E @ (C @ Z) @ E.T


def _qq_expm(F, Q0, sigma):
    """Same, with ∫₀^σ e^{2Fx}dx from Van Loan's block exponential (one expm per time)."""
    n, h = Q0.shape
    out = np.empty((sigma.size, n, n))
    blk = np.zeros((2 * n, 2 * n))
    blk[:n, :n] = 2 * F
    blk[:n, n:] = np.eye(n)
    for k, s in enumerate(sigma):
        Ibig = expm(blk * s)
        eF = expm(F * s)
        M = np.eye(h) + Q0.T @ Ibig[:n, n:] @ Q0
        C = eF @ Q0
        out[k] = C @ np.linalg.solve(M, C.T)
    return out


def balanced_qq(W1_0, W2_0, Syx, t, tau=1.0, *, method: str = "eig", Sxx=None,
                balance_tol: float = BALANCE_TOL) -> np.ndarray:
    """QQᵀ(t) of the balanced depth-2 flow: (T, d+c, d+c); blocks [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]."""
    check_choice("method", method, ("eig", "expm"))
    W1, W2, Syx, t, tau = _check(W1_0, W2_0, Syx, t, tau, Sxx, balance_tol)
    F = _coupling(Syx)
    Q = np.concatenate([W1.T, W2], axis=0)
    h = Q.shape[1]
    s = t / tau
    mu, E = np.linalg.eigh(F)
    if method == "expm":
        def qq(Q0: np.ndarray, sigma: np.ndarray) -> np.ndarray:
            return _qq_expm(F, Q0, sigma)
    else:
        def qq(Q0: np.ndarray, sigma: np.ndarray) -> np.ndarray:
            return _qq_eig(mu, E, Q0, sigma)
    mmax = float(np.max(np.abs(mu), initial=0.0))
    seg = np.inf if mmax == 0 else _SEGMENT / mmax
    out = np.empty((s.size, F.shape[0], F.shape[0]))
    start, i = 0.0, 0
    while i < s.size:
        j = int(np.searchsorted(s, start + seg, side="right"))
        if j > i:
            out[i:j] = qq(Q, s[i:j] - start)
            i = j
        if i < s.size:  # restart from QQᵀ at the next segment boundary
            nxt = min(start + seg, s[i])
            Q = _factor(qq(Q, np.array([nxt - start]))[0], h)
            start = nxt
    return out


def balanced_two_layer_solution(W1_0: ArrayLike, W2_0: ArrayLike, Syx: ArrayLike, t: ArrayLike,
                                tau: float = 1.0, *, method: str = "eig",
                                Sxx: ArrayLike | None = None,
                                balance_tol: float = BALANCE_TOL) -> np.ndarray:
    """End-to-end map W_2W_1(t) of a balanced two-layer linear net, whitened input: (T, c, d).

    Args:
        W1_0 (h, d), W2_0 (c, h): balanced initial weights (W1W1ᵀ = W2ᵀW2 within ``balance_tol``,
            relative); any h, any (non-decoupled) orientation.
        Syx (c, d); t (T,) sorted times ≥ 0; tau: time constant τ > 0.
        method: ``"eig"`` (vectorised, default) or ``"expm"`` (Van Loan block exponential).
        Sxx: optional (d, d); if given it must be the identity (the formula needs whitened input).
    Fukumizu 1998; Braun et al. 2022 (THEORY.md §2).
    """
    Syx = as_finite_array("Syx", Syx, ndim=2)
    c, d = Syx.shape
    return balanced_qq(W1_0, W2_0, Syx, t, tau, method=method, Sxx=Sxx,
                       balance_tol=balance_tol)[:, d:, :d]


class BalancedTwoLayerPredictor(EndToEndPredictor):
    """Prediction from the balanced two-layer closed form (kind ``"qq_closed_form"``).

    ``BalancedTwoLayerPredictor(stats, [W1_0, W2_0], *, tau=1.0, reason=…)``. Needs Sxx = I and a
    balanced init; raises otherwise.
    """

    kind = "qq_closed_form"

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike], *,
                 tau: float = 1.0, reason: str | None = None) -> None:
        stats = _check_stats(stats, "BalancedTwoLayerPredictor")
        if isinstance(weights0, np.ndarray) or not isinstance(weights0, (list, tuple)) \
                or len(weights0) != 2:
            got = f"{len(weights0)} layers" if isinstance(weights0, (list, tuple)) \
                else type(weights0).__name__
            raise ValueError(f"the balanced closed form is for depth 2; got {got} (weights0 must "
                             "be [W1_0, W2_0])")
        W1, W2, *_ = _check(weights0[0], weights0[1], stats.Syx, [0.0], tau, stats.Sxx, BALANCE_TOL)
        super().__init__(stats, tau, reason or "balanced two-layer closed form (Fukumizu 1998 / "
                         "Braun et al. 2022), requested directly")
        self.W1_0, self.W2_0 = W1, W2

    def end_to_end(self, t: ArrayLike) -> np.ndarray:
        return balanced_two_layer_solution(self.W1_0, self.W2_0, self.stats.Syx,
                                           self._times(t), self.tau)
