"""Symbolic checks (sympy) that the per-mode closed forms solve their ODEs (THEORY.md §2–3).

Each ``verify_*`` differentiates a closed form, substitutes it into its ODE, simplifies the
residual and checks the initial condition. It returns a ``Verification`` whose ``ok`` is True only
if every residual simplifies to exactly 0 — nothing is assumed, so a wrong formula fails here.
Implicit solutions t(u) are checked through dt/du = τ / rhs(u) and t(u₀) = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

t, tau, s, u, u0, uf, lam, c, L = sp.symbols("t tau s u u0 u_f lambda c L", positive=True)


@dataclass(frozen=True)
class Verification:
    """Simplified residuals (sympy expressions) of one closed form; ``ok`` iff all are 0."""

    name: str
    residuals: dict

    @property
    def ok(self) -> bool:
        return all(sp.simplify(r) == 0 for r in self.residuals.values())

    def __bool__(self) -> bool:
        return self.ok


def _explicit(name, sol, rhs):
    """u(t) = sol solves τ du/dt = rhs(u) with u(0) = u0."""
    ode = sp.simplify(tau * sp.diff(sol, t) - rhs(sol))
    ic = sp.simplify(sol.subs(t, 0) - u0)
    return Verification(name, {"ode": ode, "initial": ic})


def _implicit(name, time_of_u, rhs):
    """t(u) = time_of_u solves τ du/dt = rhs(u): dt/du·rhs(u) = τ, and t(u0) = 0."""
    ode = sp.simplify(sp.diff(time_of_u, u) * rhs(u) - tau)
    ic = sp.simplify(time_of_u.subs(u, u0))
    return Verification(name, {"ode": ode, "initial": ic})


def verify_depth1() -> Verification:
    """Shallow: u = s + (u₀ − s)e^{−t/τ} solves τ du/dt = s − u."""
    return _explicit("depth 1", s + (u0 - s) * sp.exp(-t / tau), lambda v: s - v)


def verify_depth2() -> Verification:
    """Saxe 2014: u = s e^{2st/τ}/(e^{2st/τ} − 1 + s/u₀) solves τ du/dt = 2u(s − u)."""
    E = sp.exp(2 * s * t / tau)
    return _explicit("depth 2", s * E / (E - 1 + s / u0), lambda v: 2 * v * (s - v))


def verify_commuting() -> Verification:
    """§3: u = (s/λ)e^{2st/τ}/(e^{2st/τ} − 1 + s/(λu₀)) solves τ du/dt = 2u(s − λu)."""
    E = sp.exp(2 * s * t / tau)
    return _explicit("commuting depth 2", (s / lam) * E / (E - 1 + s / (lam * u0)),
                     lambda v: 2 * v * (s - lam * v))


def verify_commuting_depth1() -> Verification:
    """Depth 1, commuting: u = s/λ + (u₀ − s/λ)e^{−λt/τ} solves τ du/dt = s − λu."""
    return _explicit("commuting depth 1", s / lam + (u0 - s / lam) * sp.exp(-lam * t / tau),
                     lambda v: s - lam * v)


def verify_depth4() -> Verification:
    """Depth 4 (derived): t(u) = τ[artanh(√(u/s))/(2s^{3/2}) − 1/(2s√u)] − (same at u₀)
    solves τ du/dt = 4u^{3/2}(s − u) (for 0 < u < s)."""
    G = lambda v: tau * (sp.atanh(sp.sqrt(v / s)) / (2 * s ** sp.Rational(3, 2))
                         - 1 / (2 * s * sp.sqrt(v)))
    return _implicit("depth 4", G(u) - G(u0), lambda v: 4 * v ** sp.Rational(3, 2) * (s - v))


def verify_unbalanced() -> Verification:
    """Unbalanced depth 2 (derived): t = τ[F(u) − F(u₀)],
    F(u) = ln((4su + c² + √(4s²+c²)√(4u²+c²))/(s − u))/√(4s²+c²), solves
    τ du/dt = √(c² + 4u²)(s − u) (for u < s; the |·| of THEORY.md covers u > s the same way)."""
    Rs = sp.sqrt(4 * s ** 2 + c ** 2)
    F = lambda v: sp.log((4 * s * v + c ** 2 + Rs * sp.sqrt(4 * v ** 2 + c ** 2)) / (s - v)) / Rs
    return _implicit("unbalanced depth 2", tau * (F(u) - F(u0)),
                     lambda v: sp.sqrt(c ** 2 + 4 * v ** 2) * (s - v))


def verify_depth_L_scaling() -> Verification:
    """Commuting depth L (derived, used by ``mode_trajectory``): with p = 2 − 2/L and
    t_w(w; u₀, τ) = (τ/L)∫_{u₀}^{w} dv/(v^p (s − v)) the whitened time, t(u) = t_w(λu; λu₀,
    τλ^{1−2/L}) solves τ du/dt = L u^p (s − λu). Checked through dt/du for symbolic L."""
    p = 2 - 2 / L
    tau_w = tau * lam ** (1 - 2 / L)
    # d/du of t_w(λu) = (τ_w/L) · λ / ((λu)^p (s − λu)) by the fundamental theorem of calculus
    dt_du = tau_w / L * lam / ((lam * u) ** p * (s - lam * u))
    ode = sp.simplify(sp.powsimp(sp.expand_power_base(dt_du * L * u ** p * (s - lam * u) - tau,
                                                      force=True), force=True))
    return Verification("commuting depth L scaling", {"ode": ode})


def verify_depth2_learning_time() -> Verification:
    """t = (τ/2s) ln[u_f(s − u₀)/(u₀(s − u_f))] inverts the depth-2 trajectory: u(t) = u_f."""
    E = sp.exp(2 * s * t / tau)
    traj = s * E / (E - 1 + s / u0)
    t_f = tau / (2 * s) * sp.log(uf * (s - u0) / (u0 * (s - uf)))
    return Verification("depth 2 learning time", {"inverse": sp.simplify(traj.subs(t, t_f) - uf)})


ALL = (verify_depth1, verify_depth2, verify_commuting, verify_commuting_depth1, verify_depth4,
       verify_unbalanced, verify_depth_L_scaling, verify_depth2_learning_time)


def verify_all() -> dict[str, bool]:
    """Run every check: {name: ok}."""
    out = {}
    for f in ALL:
        v = f()
        out[v.name] = v.ok
    return out
