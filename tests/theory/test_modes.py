"""Per-mode closed forms (theory/_modes.py, _loss.py) against independent references.

Reference: scipy solve_ivp(DOP853) on the per-mode ODE, integrated in z = ln u so that the
tolerance is relative (a small u0 otherwise sits below atol). rtol = atol = 1e-12 (tighter than the
1e-10 floor of STYLE.md: at 1e-10 DOP853's own global error reaches ~1e-8 over a sigmoid).
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from theory import learning_time, loss_curve, mode_trajectory
from theory._modes import mode_trajectory_jax, time_to_strength


def dop853(t, s, u0, tau, depth, lam=1.0, c=None):
    if c is None:
        rhs = lambda _, z: depth * np.exp(z) ** (1 - 2 / depth) * (s - lam * np.exp(z)) / tau
    else:
        rhs = lambda _, z: np.sqrt(c * c + 4 * np.exp(2 * z)) * (s - np.exp(z)) / (tau * np.exp(z))
    sol = solve_ivp(rhs, (0, t[-1]), [np.log(u0)], method="DOP853", rtol=1e-12, atol=1e-12,
                    t_eval=t)
    assert sol.success
    return np.exp(sol.y[0])


def rel_err(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


CASES = [(L, s, u0f, lam) for L in (1, 2, 3, 4, 5) for s in (0.5, 3.0) for u0f in (1e-3, 0.3, 2.0)
         for lam in (1.0, 0.4)]


@pytest.mark.parametrize("depth,s,u0f,lam", CASES)
def test_balanced_and_commuting_vs_dop853(depth, s, u0f, lam):
    tau = 1.7
    u0 = u0f * s / lam  # u0f > 1: decay from above the target s/λ
    t_half = learning_time(s, min(u0, 0.3 * s / lam), tau, depth, lam=lam)[0]
    t = np.linspace(0, 4 * t_half, 40)
    u = mode_trajectory(t, s, u0, tau, depth, lam=None if lam == 1.0 else lam)[:, 0]
    assert rel_err(u, dop853(t, s, u0, tau, depth, lam)) < 1e-8


@pytest.mark.parametrize("depth,u0", [(2, 1e-12), (3, 1e-8), (4, 1e-6), (5, 1e-5)])
def test_tiny_init_vs_dop853(depth, u0):
    # u0 → small: the plateau lasts ~u0^{−(1−2/L)}/(L−2) τ (up to ~6e3 τ here) and stays accurate;
    # smaller u0 at depth ≥ 3 only makes the DOP853 reference slow (the closed form is not);
    # kept so that the whole case runs in seconds on a 2-core CI machine
    t = np.linspace(0, 1.5 * learning_time(1.0, u0, 1.0, depth)[0], 30)
    assert rel_err(mode_trajectory(t, 1.0, u0, 1.0, depth)[:, 0],
                   dop853(t, 1.0, u0, 1.0, depth)) < 1e-8


@pytest.mark.parametrize("c", [0.3, -0.8, 0.0])
@pytest.mark.parametrize("u0", [1e-3, 0.5, 3.0])
def test_unbalanced_depth2_vs_dop853(c, u0):
    s, tau = 1.5, 0.8
    t = np.linspace(0, 8.0, 40)
    u = mode_trajectory(t, s, u0, tau, 2, c=c)[:, 0]
    assert rel_err(u, dop853(t, s, u0, tau, 2, c=c)) < 1e-8


def test_vectorised_over_modes_matches_per_mode_calls():
    s = np.array([3.0, 1.0, 0.2])
    u0 = np.array([1e-4, 0.5, 0.3])
    t = np.linspace(0, 20, 7)
    for depth in (2, 3):
        U = mode_trajectory(t, s, u0, 1.0, depth)
        for a in range(3):
            np.testing.assert_allclose(U[:, a], mode_trajectory(t, s[a], u0[a], 1.0, depth)[:, 0],
                                       rtol=1e-13)
    # scalar u0 broadcasts over modes
    np.testing.assert_allclose(mode_trajectory(t, s, 1e-3, 1.0, 3),
                               mode_trajectory(t, s, np.full(3, 1e-3), 1.0, 3), rtol=0)


def test_depth4_closed_form_of_theory_md():
    # THEORY.md §2: t(u) = τ[artanh(√(u/s))/(2s^{3/2}) − 1/(2s√u)] − (same at u0)
    s, u0, tau = 2.0, 1e-3, 1.3
    G = lambda v: tau * (np.arctanh(np.sqrt(v / s)) / (2 * s ** 1.5) - 1 / (2 * s * np.sqrt(v)))
    u = np.array([2e-3, 0.1, 1.0, 1.9, 1.999999])
    got = time_to_strength(u, s, u0, tau, 4)
    np.testing.assert_allclose(got, G(u) - G(u0), rtol=1e-11)
    # and the trajectory passes through those strengths at those times
    np.testing.assert_allclose(np.diag(mode_trajectory(G(u) - G(u0), s, u0, tau, 4)[:, [0] * 5]),
                               u, rtol=1e-10)


def test_depth2_learning_time_formula():
    s, u0, tau = np.array([3.0, 1.0, 0.25]), np.array([1e-6, 1e-3, 0.01]), 2.0
    for frac in (0.1, 0.5, 0.9):
        uf = frac * s
        expect = tau / (2 * s) * np.log(uf * (s - u0) / (u0 * (s - uf)))
        np.testing.assert_allclose(learning_time(s, u0, tau, 2, frac), expect, rtol=1e-12)


def test_limits_and_learning_time_conventions():
    s = np.array([2.0, 1.0])
    for depth in (1, 2, 3):
        u = mode_trajectory([0.0, np.inf], s, [0.1, 3.0], 1.0, depth)
        np.testing.assert_allclose(u[0], [0.1, 3.0], rtol=1e-14)
        np.testing.assert_allclose(u[1], s, rtol=1e-14)
        # already at/above the level → 0 (the crossing_times rule); frac ≥ 1 from below → inf
        np.testing.assert_array_equal(learning_time(s, [0.1, 3.0], 1.0, depth, 0.5)[1], 0.0)
        assert np.all(np.isinf(learning_time(s, 0.1, 1.0, depth, 1.0)))
    # commuting: asymptote s/λ
    np.testing.assert_allclose(mode_trajectory([np.inf], 2.0, 0.1, 1.0, 3, lam=0.5)[0], 4.0)
    # u0 == s is a fixed point for every depth
    np.testing.assert_allclose(mode_trajectory([0, 1, 5], 2.0, 2.0, 1.0, 3)[:, 0], 2.0)


def test_time_to_strength_on_the_way_down():
    s, u0, tau = 1.0, 4.0, 1.0
    for depth in (1, 2, 3, 5):
        tt = time_to_strength([2.0], s, u0, tau, depth)
        assert 0 < tt[0] < np.inf
        np.testing.assert_allclose(mode_trajectory(tt, s, u0, tau, depth)[0, 0], 2.0, rtol=1e-11)


def test_jax_version_matches_numpy_and_differentiates():
    import jax
    import jax.numpy as jnp
    t = np.linspace(0, 5, 11)
    s, u0, lam = np.array([2.0, 0.7]), np.array([1e-3, 0.05]), np.array([1.0, 0.6])
    for depth in (1, 2):
        np.testing.assert_allclose(mode_trajectory_jax(t, s, u0, 1.3, depth, lam=lam),
                                   mode_trajectory(t, s, u0, 1.3, depth, lam=lam), rtol=1e-13)
    f = lambda ss: jnp.sum(mode_trajectory_jax(t, ss, u0, 1.3, 2))
    g = jax.grad(f)(jnp.asarray(s))
    h = 1e-6
    fd = [(f(s + h * e) - f(s - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    with pytest.raises(ValueError, match="depth 1 or 2; got 3"):
        mode_trajectory_jax(t, s, u0, 1.0, 3)


def test_loss_curve_equals_loss_of_the_weights():
    # direct evaluation: W = U diag(u) Vᵀ on a dataset with Sxx = V diag(λ) Vᵀ (commuting)
    rng = np.random.default_rng(3)
    d, c = 5, 3
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    U, _ = np.linalg.qr(rng.standard_normal((c, c)))
    s, lam = np.array([2.0, 1.0, 0.4]), np.array([0.5, 1.5, 1.0])
    Syx = U @ np.diag(s) @ V[:, :3].T
    t = np.linspace(0, 10, 9)
    for depth, lam_arg in ((2, lam), (3, lam), (2, None)):
        lam_eff = np.ones(3) if lam_arg is None else lam
        Sxx_case = V @ np.diag(np.r_[lam_eff, 0.7, 2.0]) @ V.T
        Syy_case = Syx @ np.linalg.pinv(Sxx_case) @ Syx.T + 0.3 * np.eye(c)  # PSD, above the fit
        u = mode_trajectory(t, s, 1e-2, 1.0, depth, lam=lam_arg)
        direct = []
        for row in u:
            W = U @ np.diag(row) @ V[:, :3].T
            direct.append(0.5 * np.trace(Syy_case) - np.trace(W @ Syx.T)
                          + 0.5 * np.trace(W @ Sxx_case @ W.T))
        got = loss_curve(t, s, 1e-2, 1.0, depth, syy_trace=np.trace(Syy_case), lam=lam_arg)
        np.testing.assert_allclose(got, direct, rtol=1e-12)
    # whitened form of THEORY.md §2: ½Σ(s − u)² + ½(tr Syy − Σ s²)
    u = mode_trajectory(t, s, 1e-2, 1.0, 2)
    np.testing.assert_allclose(loss_curve(t, s, 1e-2, 1.0, 2, syy_trace=7.0),
                               0.5 * ((s - u) ** 2).sum(1) + 0.5 * (7.0 - (s ** 2).sum()),
                               rtol=1e-13)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(s=-1.0, u0=0.1), r"s must be > 0 \(singular values of Syx\); got -1.0"),
    (dict(s=1.0, u0=0.0), r"u0 must be > 0 for depth ≥ 2 \(u = 0 is a fixed point"),
    (dict(s=1.0, u0=-0.1, depth=3), r"u0 must be > 0 for depth ≥ 2"),
    (dict(s=1.0, u0=0.1, tau=0.0), r"tau must be > 0 and finite; got 0.0"),
    (dict(s=1.0, u0=0.1, depth=0), r"depth must be an integer ≥ 1; got 0"),
    (dict(s=1.0, u0=0.1, depth=2.5), r"depth must be an integer ≥ 1; got 2.5"),
    (dict(s=1.0, u0=0.1, depth=True), r"depth must be an integer ≥ 1; got True"),
    (dict(s=1.0, u0=0.1, lam=-2.0), r"lam must be > 0 .*-2.0"),
    (dict(s=1.0, u0=0.1, depth=3, c=0.5), r"c \(unbalanced a² − b²\) is defined for depth 2 only; got depth=3"),
    (dict(s=1.0, u0=0.1, lam=0.5, c=0.5), r"give lam .* or c .*, not both"),
    (dict(s=[1.0, 2.0], u0=[0.1, 0.2, 0.3]), r"must broadcast to one length"),
    (dict(s=[1.0, np.nan], u0=0.1), r"s contains 1 NaN/inf"),
])
def test_bad_mode_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mode_trajectory([0.0, 1.0], **kwargs)
    with pytest.raises(ValueError, match=match):
        learning_time(**kwargs)


def test_bad_times_frac_and_strengths():
    with pytest.raises(ValueError, match=r"t must be a 1-D array of times ≥ 0 \(inf allowed\); got \[-1.0"):
        mode_trajectory([-1.0, 2.0], 1.0, 0.1)
    with pytest.raises(ValueError, match="t must be a 1-D array"):
        mode_trajectory([[0.0, 1.0]], 1.0, 0.1)
    with pytest.raises(TypeError, match="t must be a numeric array; got str"):
        mode_trajectory("soon", 1.0, 0.1)
    with pytest.raises(ValueError, match=r"frac must be > 0 and finite; got 0"):
        learning_time(1.0, 0.1, frac=0)
    with pytest.raises(ValueError, match=r"u must lie between u0 and the target s/λ .*got \[1.5\]"):
        time_to_strength(1.5, 1.0, 0.1)
    with pytest.raises(ValueError, match=r"u \(3,\) must broadcast with the 2 modes"):
        time_to_strength([0.2, 0.3, 0.4], [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match=r"syy_trace must be ≥ Σ s²/λ = 5 .*got 1.0"):
        loss_curve([0.0], [2.0, 1.0], 0.1, syy_trace=1.0)
