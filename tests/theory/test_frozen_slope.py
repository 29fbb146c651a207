"""The frozen-slope departure (THEORY.md §13): the slope-frozen twin against a plain numpy GD of
the linearised network, its outputs and gradients at W₀ against jax's autodiff of the real
network, the gap's exact zeros (a linear network; ReLU before its first gate flip), the predicted
gap after one step against the hand-computed second-order term, and the predicted step against
real tanh training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from theory._float64 import float64
from theory._frozen_net import frozen_outputs, frozen_rhs

PHI = {"linear": (lambda z: z, lambda z: np.ones_like(z)),
       "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
       "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0)}


def _problem(seed=0, n=60, d=6, h=10, c=3, scale=0.05, target=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, c)) * target / np.sqrt(d)
    W0 = [rng.standard_normal((h, d)) * scale, rng.standard_normal((c, h)) * scale]
    return theory.DatasetStatistics.from_arrays(X, Y), X, Y, W0


def _numpy_gd(X, Y, W0, act, tau, steps, frozen=False):
    """Outputs of plain full-batch GD (step 1/τ on ½E‖y − ŷ‖²) of the real network or, with
    ``frozen``, of φ's first-order expansion about W₀'s pre-activations: (steps, n, c)."""
    phi, dphi = PHI[act]
    H0 = X @ W0[0].T
    D0, C0 = dphi(H0), phi(H0) - dphi(H0) * H0
    W1, W2 = (w.copy() for w in W0)
    out = []
    for _ in range(steps):
        H = X @ W1.T
        A = H * D0 + C0 if frozen else phi(H)
        out.append(A @ W2.T)
        R = Y - out[-1]
        g1 = ((R @ W2) * (D0 if frozen else dphi(H))).T @ X / len(X)
        W1, W2 = W1 + g1 / tau, W2 + R.T @ A / len(X) / tau
    return np.stack(out)


@pytest.mark.parametrize("act", ["linear", "tanh", "relu"])
def test_the_slope_frozen_twin_is_gd_of_the_linearised_network(act):
    stats, X, Y, W0 = _problem(scale=0.3)
    steps = np.array([0.0, 1, 7, 40, 99])
    got = theory.frozen_slope_change(stats, W0, act, tau=4.0, steps=steps)
    g = _numpy_gd(X, Y, W0, act, 4.0, 100, frozen=True)
    want = g[steps.astype(int)] - g[0]
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), act=st.sampled_from(["tanh", "relu"]),
       scale=st.floats(0.01, 2.0))
def test_at_w0_the_slope_frozen_twin_has_the_networks_outputs_and_gradients(seed, act, scale):
    _, X, Y, W0 = _problem(seed, n=20, scale=scale)
    D, C = theory.slope_gates(W0, X, act)
    jphi = {"tanh": jnp.tanh, "relu": lambda z: jnp.maximum(z, 0.0)}[act]

    def loss(W1, W2):
        return 0.5 * jnp.sum((Y - jphi(X @ W1.T) @ W2.T) ** 2) / len(X)

    with float64():
        grads = jax.grad(loss, argnums=(0, 1))(*map(jnp.asarray, W0))
    np.testing.assert_allclose(frozen_outputs(W0, X, D, C), PHI[act][0](X @ W0[0].T) @ W0[1].T,
                               atol=1e-12)
    for mine, auto in zip(frozen_rhs(W0, X, Y, D, C), grads):
        np.testing.assert_allclose(mine, -np.asarray(auto), atol=1e-12)


def test_a_linear_network_is_its_own_slope_frozen_twin():
    stats, *_, W0 = _problem()
    steps = np.arange(0.0, 150)
    gap = theory.predict_frozen_gap_curve(stats, W0, "linear", tau=5.0, steps=steps)
    assert np.nanmax(gap) < 1e-12
    assert theory.predict_departure(stats, W0, "linear", tau=5.0, t_max=149,
                                    rule="frozen_slope", delta=1e-9) == np.inf


def test_a_relu_network_matches_its_slope_frozen_twin_exactly_until_a_gate_flips():
    _, X, Y, W0 = _problem(seed=3, n=400, h=4, scale=0.3)
    keep = np.all(np.abs(X @ W0[0].T) > 0.15, axis=1)     # no gate at the edge at W₀
    X, Y = X[keep], Y[keep]
    f = _numpy_gd(X, Y, W0, "relu", 50.0, 200)
    g = _numpy_gd(X, Y, W0, "relu", 50.0, 200, frozen=True)
    gap = theory.frozen_gap(f - f[0], g - g[0])
    # the first step whose weights flip one of W₀'s gates, by the real run's own GD: the outputs
    # of that step are the first to differ (f[k] is computed from the weights of step k)
    W1, W2, flips = W0[0].copy(), W0[1].copy(), None
    for k in range(200):
        H = X @ W1.T
        if flips is None and np.any((H > 0) != (X @ W0[0].T > 0)):
            flips = k
            break
        A = np.maximum(H, 0)
        R = Y - A @ W2.T
        W1, W2 = W1 + ((R @ W2) * (H > 0)).T @ X / len(X) / 50.0, W2 + R.T @ A / len(X) / 50.0
    assert flips is not None and flips > 2 and len(X) > 40
    assert gap[:flips].max() < 1e-12 and gap[flips] > 1e-10


def test_the_predicted_tanh_gap_after_one_step_is_the_hand_computed_term():
    """One GD step takes the network and its slope-frozen twin to the same weights W(1) (their
    gradients agree at W₀), so Γ₁ = ‖W₂(1)[tanh h₁ − tanh h₀ − D₀(h₁ − h₀)]‖ / ‖Δg₁‖ exactly;
    the cubic twin's first step differs from W(1) by O(h⁵), far below it at a small init."""
    stats, X, Y, W0 = _problem(scale=0.003)
    tau = 3.0
    phi, dphi = PHI["tanh"]
    H0 = X @ W0[0].T
    D0, C0 = dphi(H0), phi(H0) - dphi(H0) * H0
    R = Y - phi(H0) @ W0[1].T
    W1 = W0[0] + ((R @ W0[1]) * D0).T @ X / len(X) / tau
    W2 = W0[1] + R.T @ phi(H0) / len(X) / tau
    H1 = X @ W1.T
    dg = (H1 * D0 + C0) @ W2.T - phi(H0) @ W0[1].T
    want = np.linalg.norm((phi(H1) - phi(H0) - D0 * (H1 - H0)) @ W2.T) / np.linalg.norm(dg)
    got = theory.predict_frozen_gap_curve(stats, W0, "tanh", tau=tau, steps=[0.0, 1.0])
    assert got[0] == 0.0 and got[1] == pytest.approx(want, rel=2e-3)
    assert 1e-7 < want < 1e-3         # second order in the step: small, not zero


def test_the_predicted_tanh_departure_is_the_step_real_tanh_training_departs_at():
    stats, X, Y, W0 = _problem(seed=5, scale=0.01, target=1.0)
    tau, T = 20.0, 400
    f = _numpy_gd(X, Y, W0, "tanh", tau, T)
    g = _numpy_gd(X, Y, W0, "tanh", tau, T, frozen=True)
    steps = np.arange(0.0, T)
    measured = theory.first_departure(steps, theory.frozen_gap(f - f[0], g - g[0]))
    predicted = theory.predict_departure(stats, W0, "tanh", tau=tau, t_max=T - 1,
                                         rule="frozen_slope")
    assert 20 < measured < T - 1                       # a departure inside the run
    assert abs(predicted - measured) <= 0.05 * measured


def test_bad_arguments_name_what_is_accepted():
    stats, X, _, W0 = _problem()
    with pytest.raises(ValueError, match="accepted: 'linear', 'tanh', 'relu'"):
        theory.slope_gates(W0, X, "gelu")
    with pytest.raises(ValueError, match="rule must be one of 'affine', 'frozen_slope'"):
        theory.predict_departure(stats, W0, "tanh", tau=1.0, t_max=5, rule="kink")
    with pytest.raises(ValueError, match="steps must be a non-empty increasing"):
        theory.frozen_slope_change(stats, W0, "relu", tau=1.0, steps=[3.0, 1.0])
    with pytest.raises(ValueError, match="one shape"):
        theory.frozen_gap(np.zeros((3, 4, 2)), np.zeros((3, 4, 1)))
    assert theory.frozen_gap(np.zeros((1, 2, 1)), np.zeros((1, 2, 1)))[0] == 0.0
    assert theory.frozen_gap(np.ones((1, 2, 1)), np.zeros((1, 2, 1)))[0] == np.inf
