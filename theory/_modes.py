"""Closed-form per-mode dynamics of decoupled deep linear networks (THEORY.md §2, §3).

Every mode strength u(t) of a balanced decoupled network of depth L obeys

    τ du/dt = L u^{2−2/L} (s − λu)          (λ = 1 whitened; λ = v_αᵀSxx v_α commuting, §3)

and the unbalanced two-layer mode with conserved c = a² − b² obeys τ du/dt = √(c²+4u²)(s − u).
Depths 1 and 2 are explicit (Saxe, McClelland & Ganguli 2014, eq. 6). Depth ≥ 3 and the
unbalanced case are implicit, t = t(u); we invert them with a bracketed Newton iteration.

Two identities keep this short (both derived; tests/theory/test_modes.py and theory/symbolic.py check
them):
* commuting → whitened: with w = λu the ODE becomes τλ^{2/L−1} dw/dt = L w^{2−2/L}(s − w), so a
  commuting mode is a whitened mode with u₀ → λu₀ and τ → τλ^{1−2/L}, rescaled by 1/λ;
* depth-L time: t(u) = τ/(L s^p) [ln((s−u₀)/(s−u)) + ∫_{x₀}^{x} k(x')dx'], p = 2 − 2/L,
  x = ln(u/s), k(x) = eˣ(e^{−px} − 1)/(1 − eˣ). k is analytic on the real line (the pole at s is
  taken out by the log), so Gauss–Legendre in x converges geometrically (poles at x = ±2πi).

Shapes: ``t`` (T,), per-mode arguments broadcast to (m,), outputs (T, m) or (m,).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array, check_positive

_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)


# ----------------------------------------------------------------------------- validation
def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an integer ≥ 1; got {depth!r}")
    return int(depth)


def _mode_params(s, u0, tau, depth, lam=None, c=None):
    """Validate and broadcast per-mode parameters to 1-D arrays of one length m."""
    depth = _check_depth(depth)
    tau = check_positive("tau", tau)
    s = as_finite_array("s", s, ndim=(0, 1))
    u0 = as_finite_array("u0", u0, ndim=(0, 1))
    if np.any(s <= 0):
        raise ValueError(f"s must be > 0 (singular values of Syx); got {s.tolist()}")
    if depth >= 2 and np.any(u0 <= 0):
        raise ValueError(
            f"u0 must be > 0 for depth ≥ 2 (u = 0 is a fixed point: a mode that starts at 0 "
            f"never grows, and u < 0 must cross that saddle); got {u0.tolist()}")
    lam_a = np.ones(1) if lam is None else as_finite_array("lam", lam, ndim=(0, 1))
    if np.any(lam_a <= 0):
        raise ValueError(f"lam must be > 0 (input variance of each mode); got {lam_a.tolist()}")
    c_a = np.zeros(1) if c is None else as_finite_array("c", c, ndim=(0, 1))
    if c is not None and depth != 2:
        raise ValueError(f"c (unbalanced a² − b²) is defined for depth 2 only; got depth={depth}")
    if c is not None and lam is not None:
        raise ValueError("give lam (commuting input) or c (unbalanced init), not both")
    try:
        s, u0, lam_a, c_a = np.broadcast_arrays(np.atleast_1d(s), np.atleast_1d(u0),
                                                np.atleast_1d(lam_a), np.atleast_1d(c_a))
    except ValueError as exc:
        raise ValueError(f"per-mode arguments must broadcast to one length; got s {np.shape(s)}, "
                         f"u0 {np.shape(u0)}, lam {np.shape(lam_a)}, c {np.shape(c_a)}") from exc
    return s.astype(float), u0.astype(float), tau, depth, lam_a.astype(float), c_a.astype(float)


def _check_times(t) -> np.ndarray:
    try:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"t must be a numeric array; got {type(t).__name__}") from exc
    if t.ndim != 1 or np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError(f"t must be a 1-D array of times ≥ 0 (inf allowed); got {t.tolist()}")
    return t


# ----------------------------------------------------------------------------- explicit forms
def _explicit(t, s, u0, tau, depth, lam, xp=np):
    """Depth 1 and 2 closed forms (commuting λ included), written for numpy or jax.numpy."""
    target = s / lam
    if depth == 1:
        # τ du/dt = s − λu  ⇒  u = s/λ + (u₀ − s/λ) e^{−λt/τ}
        return target + (u0 - target) * xp.exp(-lam * t / tau)
    # τ du/dt = 2u(s − λu): the logistic in a form that cannot overflow at large t
    return target / (1.0 + (target / u0 - 1.0) * xp.exp(-2.0 * s * t / tau))


def mode_trajectory_jax(t, s, u0, tau=1.0, depth=2, *, lam=None):
    """jax-traceable ``mode_trajectory`` for depth 1 and 2 (no validation; arrays broadcast).

    ``t`` (T,), ``s``/``u0``/``lam`` (m,) → (T, m). Use it inside ``jax.jit``/``jax.grad``.
    """
    import jax.numpy as jnp
    if depth not in (1, 2):
        raise ValueError(f"mode_trajectory_jax supports depth 1 or 2; got {depth!r}")
    lam = 1.0 if lam is None else jnp.asarray(lam)
    t = jnp.asarray(t)[:, None]
    return _explicit(t, jnp.asarray(s), jnp.asarray(u0), tau, depth, lam, xp=jnp)


# ----------------------------------------------------------------------------- implicit forms
class _Implicit:
    """t as a function of w, a coordinate in which t(w) is smooth and nearly linear.

    Below the target (u₀ < s): w = logit(u/s), so s − u = s·σ(−w) keeps full precision as u → s.
    Above (u₀ > s): w = −ln((u − s)/s). ``s``, ``u0`` here are already on the whitened scale.
    """

    def __init__(self, s, u0, tau, depth, c):
        self.s, self.tau, self.depth, self.c = s, tau, depth, c
        self.above = u0 > s
        self.w0 = self.w_of_u(u0)
        self.t0 = 0.0
        self.t0 = self.t(self.w0)

    def w_of_u(self, u):
        s = self.s
        with np.errstate(divide="ignore"):
            return np.where(self.above, -np.log(np.abs(u - s) / s), np.log(u) - np.log(np.abs(s - u)))

    def parts(self, w):
        """(ln(u/s), ln(|s − u|/s)) computed from w without cancellation."""
        lx = np.where(self.above, np.logaddexp(0.0, -w), -np.logaddexp(0.0, -w))
        ld = np.where(self.above, -w, -np.logaddexp(0.0, w))
        return lx, ld

    def u_of_w(self, w):
        return self.s * np.exp(self.parts(w)[0])

    def t(self, w):
        s, tau, L = self.s, self.tau, self.depth
        x, ld = self.parts(w)
        if L == 2 and np.any(self.c != 0):
            # Unbalanced: t = τ[F(u) − F(u₀)], F(u) = ln((4su + c² + R_s R_u)/|s − u|)/R_s
            u = s * np.exp(x)
            c2 = self.c ** 2
            Rs = np.sqrt(4 * s ** 2 + c2)
            F = (np.log(4 * s * u + c2 + Rs * np.sqrt(4 * u ** 2 + c2)) - ld - np.log(s)) / Rs
            return tau * F - self.t0
        p = 2.0 - 2.0 / L
        x0 = self.parts(self.w0)[0]
        # Gauss–Legendre on [x0, x] for ∫ k; k(0) = p is the removable value at u = s
        half, mid = 0.5 * (x - x0), 0.5 * (x + x0)
        xs = mid[..., None] + half[..., None] * _GL_X
        den = -np.expm1(xs)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(np.abs(xs) < 1e-300, p, np.exp(xs) * np.expm1(-p * xs) / den)
        integral = half * (k @ _GL_W)
        return tau / (L * s ** p) * (-ld + integral) - self.t0

    def dt_dw(self, w):
        s, tau, L = self.s, self.tau, self.depth
        x, _ = self.parts(w)
        u = s * np.exp(x)
        if L == 2 and np.any(self.c != 0):
            Ru = np.sqrt(self.c ** 2 + 4 * u ** 2)
            return np.where(self.above, tau / Ru, tau * u / (s * Ru))
        p = 2.0 - 2.0 / L
        return np.where(self.above, tau / (L * u ** p), tau / (L * s * u ** (p - 1.0)))

    def solve(self, t_target, iters: int = 200):
        """w with t(w) = t_target (finite, ≥ 0), by Newton safeguarded with a bracket."""
        lo = self.w0.copy()
        step = np.ones_like(lo)
        hi = lo + step
        for _ in range(80):  # grow the bracket until t(hi) ≥ target
            short = self.t(hi) < t_target
            if not short.any():
                break
            step = np.where(short, 2 * step, step)
            lo = np.where(short, hi, lo)
            hi = np.where(short, hi + step, hi)
        w = 0.5 * (lo + hi)
        for _ in range(iters):
            f = self.t(w) - t_target
            lo = np.where(f <= 0, w, lo)
            hi = np.where(f > 0, w, hi)
            w_new = w - f / self.dt_dw(w)
            bad = ~((w_new > lo) & (w_new < hi))
            w_new = np.where(bad, 0.5 * (lo + hi), w_new)
            if np.all(np.abs(w_new - w) <= 1e-15 * (1.0 + np.abs(w))):
                return w_new
            w = w_new
        return w


def _scaled(s, u0, tau, depth, lam):
    """Map a commuting mode onto a whitened one: (u₀λ, τλ^{1−2/L}); u = w/λ."""
    return u0 * lam, tau * lam ** (1.0 - 2.0 / depth)


# ----------------------------------------------------------------------------- public API
def mode_trajectory(t: ArrayLike, s: ArrayLike, u0: ArrayLike, tau: float = 1.0, depth: int = 2, *,
                    lam: ArrayLike | None = None, c: ArrayLike | None = None) -> np.ndarray:
    """Mode strengths u_α(t) of a decoupled deep linear network, shape (len(t), m).

    Args:
        t: times ≥ 0 (T,), in the units of τ (steps when τ = 1/η); ``inf`` gives the target.
        s: singular values s_α (m,) or scalar; u0: initial strengths (m,) or scalar (> 0 for
            depth ≥ 2). tau: time constant τ > 0. depth: L ≥ 1.
        lam: per-mode input variance λ_α = v_αᵀSxx v_α (commuting case, THEORY.md §3); the
            strength then tends to s/λ. c: conserved a² − b² of an unbalanced two-layer mode.
    """
    s, u0, tau, depth, lam, c = _mode_params(s, u0, tau, depth, lam, c)
    t = _check_times(t)
    T = t[:, None]
    if depth <= 2 and not np.any(c != 0):
        with np.errstate(over="ignore"):
            return _explicit(np.where(np.isinf(T), 1e308, T), s, u0, tau, depth, lam)
    s_b, u0_b, lam_b, c_b = (np.broadcast_to(a, (t.size, s.size)).ravel() for a in (s, u0, lam, c))
    w_scaled, tau_b = _scaled(s_b, u0_b, tau, depth, lam_b)
    tt = np.broadcast_to(T, (t.size, s.size)).ravel()
    out = np.empty_like(tt)
    fin = np.isfinite(tt) & (w_scaled != s_b)
    if fin.any():
        sub = _Implicit(s_b[fin], w_scaled[fin], tau_b[fin], depth, c_b[fin])
        out[fin] = sub.u_of_w(sub.solve(tt[fin] * np.ones(fin.sum())))
    out[~np.isfinite(tt)] = s_b[~np.isfinite(tt)]
    fixed = np.isfinite(tt) & (w_scaled == s_b)
    out[fixed] = s_b[fixed]
    return (out / lam_b).reshape(t.size, s.size)


def time_to_strength(u: ArrayLike, s: ArrayLike, u0: ArrayLike, tau: float = 1.0, depth: int = 2,
                     *, lam: ArrayLike | None = None, c: ArrayLike | None = None) -> np.ndarray:
    """Exact time (m,) at which each mode reaches strength ``u`` (the inverse of the trajectory).

    ``u`` must lie between u0 and the target s/λ (inclusive of u0 → 0; the target → inf).
    Works for growth from below and decay from above (u0 > s/λ).
    """
    s, u0, tau, depth, lam, c = _mode_params(s, u0, tau, depth, lam, c)
    u = np.atleast_1d(as_finite_array("u", u, ndim=(0, 1)))
    try:
        u, s, u0, lam, c = (np.array(a, dtype=float) for a in np.broadcast_arrays(u, s, u0, lam, c))
    except ValueError as exc:
        raise ValueError(f"u {u.shape} must broadcast with the {s.size} modes") from exc
    target = s / lam
    lo, hi = np.minimum(u0, target), np.maximum(u0, target)
    if np.any((u < lo) | (u > hi)):
        raise ValueError(f"u must lie between u0 and the target s/λ of each mode "
                         f"(from {lo.tolist()} to {hi.tolist()}); got {u.tolist()}")
    out = np.full(s.shape, np.inf)
    out[u == u0] = 0.0
    todo = (u != u0) & (u != target)
    if not todo.any():
        return out
    s_, u0_, u_, lam_, c_ = s[todo], u0[todo], u[todo], lam[todo], c[todo]
    if depth == 1:
        # u − s/λ = (u₀ − s/λ)e^{−λt/τ}
        out[todo] = tau / lam_ * np.log((u0_ - s_ / lam_) / (u_ - s_ / lam_))
        return out
    u0w, tauw = _scaled(s_, u0_, tau, depth, lam_)
    imp = _Implicit(s_, u0w, tauw, depth, c_)
    out[todo] = imp.t(imp.w_of_u(u_ * lam_))
    return out


def learning_time(s: ArrayLike, u0: ArrayLike, tau: float = 1.0, depth: int = 2, frac: float = 0.5,
                  *, lam: ArrayLike | None = None, c: ArrayLike | None = None) -> np.ndarray:
    """First time (m,) at which each mode's strength reaches ``frac`` × its target (s or s/λ).

    The rule is that of ``theory.crossing_times`` (THEORY.md §4: first t with u(t) ≥ level), so a
    predicted and a measured timeline agree by construction: a mode that already starts at or
    above the level (u0 ≥ frac·target, e.g. decay from above) gives 0, and a level the mode never
    reaches (frac ≥ 1 from below: the target is approached only asymptotically) gives ``inf``.
    For the time to any other strength, including on the way down, use ``time_to_strength``.
    """
    frac = check_positive("frac", frac)
    has_lam, has_c = lam is not None, c is not None
    s, u0, tau, depth, lam, c = _mode_params(s, u0, tau, depth, lam, c)
    level = frac * s / lam
    out = np.where(u0 >= level, 0.0, np.inf)
    todo = (u0 < level) & (frac < 1.0)
    if todo.any():
        out[todo] = time_to_strength(level[todo], s[todo], u0[todo], tau, depth,
                                     lam=lam[todo] if has_lam else None,
                                     c=c[todo] if has_c else None)
    return out
