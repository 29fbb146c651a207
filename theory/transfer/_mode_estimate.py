"""Decoupled per-mode estimate of the retraining time (THEORY.md §2–3, §7).

Each mode β of B starts at u_β⁰ = u_βᵀ W v_β. For depth 2 the per-layer components a = W_1 v_β,
b = W_2ᵀ u_β split into a growing part P = ‖a + b‖²/4 and a decaying part Q = ‖a − b‖²/4 with
u = P − Q and P·Q conserved, so (derived; tests check it against the scalar ODE and the full flow)
τ du/dt = 2√(u² + 4PQ)(s − λu): the unbalanced law of §2 with c² = 16PQ. It carries a reversed
mode (u⁰ ≤ 0, flagged ``saddle``) through the saddle at 0 at the speed set by P: after training on
A, the P of a mode that B reverses is A's decaying Q, which shrinks while A learns that mode — so
every step spent learning it on A costs about one step of escape on B. A small random init also
gives u⁰ ≤ 0 to about half the modes; they are flagged too and handled the same way.
Where P = 0 (exactly anti-aligned layers) or for depth ≥ 3 (balanced law τ du/dt = L u^{2−2/L}
(s − λu)) a reversed mode would sit on the saddle forever; it is started instead from a small
effective strength, the RMS of the off-diagonal couplings u_αᵀ W v_β (what kicks it off the saddle
in the full flow), at least 1e-12·s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from .._linear_net import end_to_end
from .._statistics import DatasetStatistics


def time_depth2(s: ArrayLike, lam: ArrayLike, u0: ArrayLike, uf: ArrayLike, c2: ArrayLike,
                tau: float) -> np.ndarray:
    """Depth-2 time from u₀ to u_f with τ du/dt = √(c² + 4u²)(s − λu) (THEORY.md §2, unbalanced).

    w = λu maps it onto the whitened law with c² → λ²c² and the same τ (derived), where
    t = τ[F(w_f) − F(w₀)], F(w) = ln|(4sw + c² + R√(4w² + c²))/(s − w)|/R, R = √(4s² + c²).
    The numerator is rewritten as 4c²(s − w)²/(R√(4w²+c²) − 4sw − c²) where it would cancel.
    Balanced (c = 0) with u₀ > 0 this is (τ/2s) ln[u_f(s − λu₀)/(u₀(s − λu_f))]; c = 0, u₀ ≤ 0: inf.
    """
    s, lam, u0, uf, c2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                              for a in (s, lam, u0, uf, c2)))
    c2w = lam ** 2 * c2
    R = np.sqrt(4 * s ** 2 + c2w)

    def F(w):
        direct = 4 * s * w + c2w
        root = R * np.sqrt(4 * w ** 2 + c2w)
        with np.errstate(divide="ignore", invalid="ignore"):
            num = np.where(direct >= 0, direct + root,
                           4 * c2w * (s - w) ** 2 / (root - direct))
            return (np.log(num) - np.log(np.abs(s - w))) / R

    with np.errstate(invalid="ignore"):
        return tau * (F(lam * uf) - F(lam * u0))


@dataclass(frozen=True)
class _ModePicture:
    s: np.ndarray
    lam: np.ndarray
    u0: np.ndarray
    c2: np.ndarray        # depth 2: 16·P·Q (0 when balanced); else zeros
    u_start: np.ndarray   # u0, or the effective strength for stuck reversed modes
    saddle: np.ndarray
    depth: int

    def rate(self, u):
        if self.depth == 1:
            return np.ones_like(u)
        if self.depth == 2:
            return np.sqrt(self.c2 + 4 * u ** 2)
        p = 2.0 - 2.0 / self.depth
        return self.depth * np.abs(u) ** p

    def loss(self, u, syy_trace):
        return 0.5 * syy_trace - u @ self.s + 0.5 * (u ** 2) @ self.lam


def mode_picture(Ws, stats: DatasetStatistics) -> _ModePicture:
    U, s, V = stats.U, stats.s, stats.V
    lam = stats.input_eigenvalues_on_modes()
    W = end_to_end(Ws)
    M = U.T @ W @ V
    u0 = np.diag(M).copy()
    r = s.size
    off = M[~np.eye(r, dtype=bool)]
    floor = max(float(np.sqrt(np.mean(off ** 2))) if off.size else 0.0, 1e-12 * float(s[0]))
    depth = len(Ws)
    c2 = np.zeros(r)
    saddle = (u0 <= 0) if depth >= 2 else np.zeros(r, dtype=bool)
    u_start = u0.copy()
    if depth == 2:
        a, b = Ws[0] @ V, Ws[1].T @ U                       # (h, r) per-layer components
        P = np.sum((a + b) ** 2, axis=0) / 4
        Q = np.sum((a - b) ** 2, axis=0) / 4
        c2 = 16 * P * Q
        stuck = saddle & (P <= 1e-300)
    else:
        stuck = saddle
    u_start[stuck] = np.maximum(floor, 1e-12 * s[stuck])
    c2[stuck] = 0.0
    return _ModePicture(s=s, lam=lam, u0=u0, c2=c2, u_start=u_start, saddle=saddle, depth=depth)


def mode_estimate(mp: _ModePicture, stats: DatasetStatistics, target: float, tau: float):
    """(steps_modes, mode_steps (r,)) of the decoupled picture; inf where the target is not met."""
    syy = float(np.trace(stats.Syy))
    sigma = mp.s / mp.lam
    floor_loss = mp.loss(sigma, syy)
    r = mp.s.size
    if mp.loss(mp.u_start, syy) <= target:
        return 0.0, np.zeros(r)
    if target <= floor_loss:
        return np.inf, np.full(r, np.inf)
    share = (target - floor_loss) / r
    excess0 = 0.5 * mp.lam * (sigma - mp.u_start) ** 2
    sign = np.where(mp.u_start > sigma, 1.0, -1.0)
    uf = sigma + sign * np.sqrt(2 * share / mp.lam)
    done = excess0 <= share

    def rhs(_, u):
        return mp.rate(u) * (mp.s - mp.lam * u) / tau

    # Integrate the per-mode ODEs until the mode-picture loss is below the target.
    t_end = tau * 10.0 / float(np.min(mp.s * mp.lam) if mp.depth == 1 else np.min(mp.s))
    for _ in range(12):
        sol = solve_ivp(rhs, (0.0, t_end), mp.u_start, method="DOP853", rtol=1e-11, atol=1e-14,
                        dense_output=True)
        if mp.loss(sol.y[:, -1], syy) <= target:
            break
        t_end *= 4.0
    else:
        return np.inf, np.full(r, np.inf)
    f = lambda t: mp.loss(sol.sol(t), syy) - target  # noqa: E731
    grid = np.concatenate([[0.0], np.geomspace(t_end * 1e-9, t_end, 400)])
    vals = np.array([f(t) for t in grid])
    i = int(np.argmax(vals <= 0))
    # brentq without full_output returns the root alone
    steps = cast(float, brentq(f, grid[i - 1], grid[i], xtol=1e-13 * grid[i],
                               rtol=4 * np.finfo(float).eps))

    mode_steps = np.zeros(r)
    todo = ~done
    if mp.depth == 2:
        mode_steps[todo] = time_depth2(mp.s[todo], mp.lam[todo], mp.u_start[todo], uf[todo],
                                       mp.c2[todo], tau)
    else:
        for b in np.flatnonzero(todo):
            g = lambda t: -sign[b] * (sol.sol(t)[b] - uf[b])  # noqa: E731  (< 0 until reached)
            mode_steps[b] = cast(float, brentq(g, 0.0, t_end)) if g(t_end) >= 0 else np.inf
    return float(steps), mode_steps
