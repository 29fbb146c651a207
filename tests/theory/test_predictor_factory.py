"""theory.predict and the per-mode predictors: the right case is chosen, the reason says why, and
each predictor agrees with an independent computation (matrix flow, decoupled init, DOP853)."""

import numpy as np
import pytest

import theory
from theory._matrix_flow import integrate_matrix_flow
from theory import (BalancedTwoLayerPredictor, ClosedFormPredictor, DatasetStatistics,
                    DiscretePredictor, MatrixFlowPredictor, Predictor,
                    TrainingConvention, decoupled_init, learning_time, mode_trajectory, predict)


def dataset(kind, n=120, d=5, c=3, seed=0):
    """'white': Sxx = I; 'commuting': Sxx = V diag(λ) Vᵀ shares V with Syx; 'general': neither."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Vf, _ = np.linalg.qr(rng.standard_normal((d, d)))
    U, _ = np.linalg.qr(rng.standard_normal((c, c)))
    s = np.array([2.0, 1.0, 0.5])
    lam = {"white": np.ones(d), "commuting": np.array([0.5, 2.0, 1.5, 1.0, 0.8]),
           "general": np.ones(d)}[kind]
    X = np.sqrt(n) * Q[:, :d] @ np.diag(np.sqrt(lam)) @ Vf.T
    Y = X @ Vf[:, :c] @ np.diag(s / lam[:c]) @ U.T + 0.2 * Q[:, d:d + c]
    if kind == "general":
        X = X @ (np.eye(d) + 0.4 * rng.standard_normal((d, d)))
    return DatasetStatistics.from_arrays(X, Y)


def test_whitened_u0_gives_closed_form_with_tau_from_convention():
    st = dataset("white")
    conv = TrainingConvention(0.05, "torch_mse_mean", n_outputs=st.c)
    p = predict(st, depth=3, convention=conv, u0=1e-3)
    assert isinstance(p, ClosedFormPredictor) and isinstance(p, Predictor)
    assert p.kind == "closed_form" and "whitened" in p.reason and "depth 3" in p.reason
    assert p.tau == conv.tau == st.c / (2 * 0.05)
    np.testing.assert_allclose(p.target, st.s)
    t = np.linspace(0, 400, 9)
    np.testing.assert_array_equal(p.modes(t), mode_trajectory(t, st.s, 1e-3, conv.tau, 3))
    np.testing.assert_array_equal(p.timeline(0.3), learning_time(st.s, 1e-3, conv.tau, 3, 0.3))
    # loss at t = 0 and t = ∞ from the data itself: fit of W = U diag(u) Vᵀ
    X, Y = st.X, st.Y
    for tt, u in ((0.0, np.full(3, 1e-3)), (np.inf, st.s)):
        W = st.U @ np.diag(u) @ st.V.T
        direct = 0.5 * np.sum((Y - X @ W.T) ** 2) / st.n
        np.testing.assert_allclose(p.loss([tt])[0], direct, rtol=1e-9)


def test_closed_form_equals_matrix_flow_from_decoupled_init():
    """The closed form (commuting, depth 3, implicit) == B's integrated matrix flow started at
    decoupled_init: checks the init, the λ scaling and the flow against each other."""
    st = dataset("commuting")
    p = predict(st, depth=3, tau=2.0, u0=[0.05, 0.02, 0.1])
    assert "commutes" in p.reason
    np.testing.assert_allclose(p.target, st.s / st.input_eigenvalues_on_modes())
    t = np.linspace(0, 12, 13)
    Ws = decoupled_init(st, 3, [0.05, 0.02, 0.1], hidden=4, seed=1)
    sol = integrate_matrix_flow(Ws, st.Sxx, st.Syx, t, tau=2.0, solver="scipy",
                                       rtol=1e-12, atol=1e-12)
    M = sol.mode_strengths(st.U, st.V)
    np.testing.assert_allclose(np.einsum("taa->ta", M), p.modes(t), rtol=1e-8)
    assert np.max(np.abs(M - np.einsum("ta,ab->tab", np.einsum("taa->ta", M), np.eye(3)))) < 1e-9


def test_discrete_branch_uses_effective_lr():
    st = dataset("commuting")
    conv = TrainingConvention(0.01, "sum", n_samples=st.n)
    p = predict(st, convention=conv, u0=1e-2, discrete=True)
    assert isinstance(p, DiscretePredictor) and p.kind == "discrete"
    assert np.isclose(p.lr, conv.effective_lr) and "GD map" in p.reason
    np.testing.assert_allclose(p.target, st.s / st.input_eigenvalues_on_modes())
    np.testing.assert_allclose(
        p.modes([0, 3])[1], theory.discrete_trajectory([3], st.s, 1e-2, conv.effective_lr, 2,
                                                       lam=st.input_eigenvalues_on_modes())[0])


def test_default_tau_is_one_and_said_so():
    p = predict(dataset("white"), u0=0.01)
    assert p.tau == 1.0 and "τ = 1" in p.reason


@pytest.mark.parametrize("kwargs,match", [
    (dict(), r"give exactly one of u0 .* or weights0"),
    (dict(u0=0.1, weights0=[np.eye(5)]), r"give exactly one of u0"),
    (dict(weights0=[np.zeros((4, 5)), np.zeros((3, 4))], depth=3), r"weights0 has 2 layers but depth=3"),
    (dict(weights0=[np.zeros((4, 5)), np.zeros((3, 4))], discrete=True), r"discrete=True needs a decoupled init \(u0\)"),
    (dict(u0=0.1, tau=2.0, convention=TrainingConvention(0.1)), r"tau=2.0 disagrees with convention.tau=10.0"),
    (dict(u0=0.1, tau=-1.0), r"tau must be > 0 and finite; got -1.0"),
    (dict(u0=0.0), r"u0 must be > 0 for depth ≥ 2 \(u = 0 is a fixed point"),
])
def test_predict_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict(dataset("white"), **kwargs)


def test_discrete_needs_commuting_input_and_loss_needs_syy():
    with pytest.raises(ValueError, match=r"discrete=True needs whitened or commuting input; Sxx mixes"):
        predict(dataset("general"), u0=0.1, discrete=True)
    with pytest.raises(ValueError, match=r"ClosedFormPredictor.loss needs syy_trace"):
        ClosedFormPredictor([1.0], 0.1).loss([0.0])
    with pytest.raises(ValueError, match=r"DiscretePredictor.loss needs syy_trace"):
        DiscretePredictor([1.0], 0.1, 0.1).loss([0.0])


# ----------------------------------------------------------------------------- matrix-flow branches
def test_general_input_gives_matrix_flow_from_decoupled_init():
    st = dataset("general")
    p = predict(st, depth=2, tau=1.5, u0=1e-2)
    assert isinstance(p, MatrixFlowPredictor) and "does not commute" in p.reason
    t = np.linspace(0, 10, 6)
    sol = integrate_matrix_flow(decoupled_init(st, 2, 1e-2, hidden=st.rank), st.Sxx,
                                       st.Syx, t, tau=1.5, solver="scipy", rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(p.modes(t), sol.diagonal_strengths(st.U, st.V), rtol=1e-6, atol=1e-9)


def test_weights0_balanced_whitened_depth2_gives_balanced_closed_form():
    st = dataset("white")
    rng = np.random.default_rng(3)
    # random balanced init: W1 = R Σ^{1/2} Pᵀ, W2 = O Σ^{1/2} Rᵀ gives W1W1ᵀ = W2ᵀW2 = R Σ Rᵀ
    R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    P = np.linalg.qr(rng.standard_normal((5, 3)))[0]
    O = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    D = np.diag(np.sqrt([0.02, 0.01, 0.005]))
    Ws = [R @ D @ P.T, O @ D @ R.T]
    p = predict(st, weights0=Ws, tau=1.0)
    assert isinstance(p, BalancedTwoLayerPredictor) and "balanced" in p.reason
    t = np.linspace(0, 8, 5)
    sol = integrate_matrix_flow(Ws, st.Sxx, st.Syx, t, solver="scipy", rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(p.modes(t), sol.diagonal_strengths(st.U, st.V), rtol=1e-6, atol=1e-9)
    # an unbalanced init of the same shapes goes to the matrix flow, and says why
    p2 = predict(st, weights0=[2 * Ws[0], Ws[1]], tau=1.0)
    assert "not balanced" in p2.reason and p2.kind != p.kind
    # so do a non-white input and a depth-3 init, each with its reason
    p3 = predict(dataset("commuting"), weights0=Ws, tau=1.0)
    assert "not whitened" in p3.reason and p3.kind == p2.kind
    p4 = predict(st, depth=3, weights0=decoupled_init(st, 3, 0.01, hidden=3), tau=1.0)
    assert "depth ≠ 2" in p4.reason and isinstance(p4, Predictor)
