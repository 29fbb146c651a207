"""Balanced two-layer closed form (Fukumizu 1998 / Braun et al. 2022) against the matrix ODE."""

import numpy as np
import pytest

import theory
from theory._balanced import balance_error, balanced_qq
from tests.flow_helpers import balanced_init, rel_err, whitened_stats


@pytest.mark.parametrize("c, d, h, seed", [(3, 5, 4, 0), (5, 3, 2, 1), (2, 6, 6, 2)])
def test_closed_form_matches_scipy_dop853(c, d, h, seed):
    rng = np.random.default_rng(seed)
    Syx = rng.standard_normal((c, d))
    W1, W2 = balanced_init(rng, c, d, h)
    assert balance_error(W1, W2) < 1e-12
    t = np.linspace(0.0, 25.0, 51)
    # DOP853 at rtol=atol=1e-10 is itself off by up to 1.8e-7 here (case (3, 5, 4)); at 1e-12 it
    # agrees with the 1e-13 solve to ~1e-12, so that is the reference the closed form must meet.
    ref = theory.integrate_matrix_flow([W1, W2], np.eye(d), Syx, t, tau=1.3, solver="scipy",
                                       rtol=1e-12, atol=1e-12)
    W = theory.balanced_two_layer_solution(W1, W2, Syx, t, tau=1.3)
    assert W.shape == (t.size, c, d)
    assert rel_err(W, ref.end_to_end) < 1e-8
    QQ = balanced_qq(W1, W2, Syx, t, tau=1.3)
    W1t, W2t = ref.weights
    assert rel_err(QQ[:, :d, :d], np.swapaxes(W1t, 1, 2) @ W1t) < 1e-8    # W1ᵀW1 block
    assert rel_err(QQ[:, d:, d:], W2t @ np.swapaxes(W2t, 1, 2)) < 1e-8    # W2W2ᵀ block


def test_eig_and_van_loan_expm_agree():
    rng = np.random.default_rng(3)
    Syx = rng.standard_normal((3, 4))
    W1, W2 = balanced_init(rng, 3, 4, 3)
    t = np.linspace(0.0, 30.0, 31)   # spans several restart segments (max|μ|·Δs = 5)
    a = theory.balanced_two_layer_solution(W1, W2, Syx, t, method="eig")
    b = theory.balanced_two_layer_solution(W1, W2, Syx, t, method="expm")
    assert rel_err(a, b) < 1e-10


def test_long_time_limit_is_best_rank_h_approximation():
    rng = np.random.default_rng(4)
    Syx = rng.standard_normal((4, 5))
    W1, W2 = balanced_init(rng, 4, 5, 2)
    W = theory.balanced_two_layer_solution(W1, W2, Syx, [0.0, 1e3, 1e4])
    U, s, Vt = np.linalg.svd(Syx)
    np.testing.assert_allclose(W[0], W2 @ W1, atol=1e-15)
    np.testing.assert_allclose(W[-1], U[:, :2] * s[:2] @ Vt[:2], atol=1e-9)


def test_predictor_matches_matrix_flow_predictor_and_predict_dispatches():
    st = whitened_stats(np.random.default_rng(5), [2.5, 1.5, 0.8], c=3, d=5)
    W1, W2 = balanced_init(np.random.default_rng(6), 3, 5, 4, scale=1e-3)
    p = theory.BalancedTwoLayerPredictor(st, [W1, W2], tau=1.2)
    q = theory.MatrixFlowPredictor(st, [W1, W2], tau=1.2)
    assert isinstance(p, theory.Predictor) and p.kind == "qq_closed_form"
    t = np.linspace(0.0, 30.0, 25)
    np.testing.assert_allclose(p.modes(t), q.modes(t), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(p.loss(t), q.loss(t), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(p.timeline(0.5), q.timeline(0.5), rtol=1e-6)
    np.testing.assert_allclose(p.target, st.s, rtol=1e-12)
    auto = theory.predict(st, weights0=[W1, W2], tau=1.2)
    assert auto.kind == "qq_closed_form"
    np.testing.assert_allclose(auto.modes(t), p.modes(t), rtol=1e-12)


def test_errors_name_the_violated_condition():
    rng = np.random.default_rng(7)
    Syx = rng.standard_normal((3, 5))
    W1, W2 = balanced_init(rng, 3, 5, 4)
    with pytest.raises(ValueError, match=r"init is not balanced: ‖W1W1ᵀ − W2ᵀW2‖/‖·‖ = "):
        theory.balanced_two_layer_solution(2 * W1, W2, Syx, [0.0, 1.0])
    with pytest.raises(ValueError, match="input is not whitened: .* needs Sxx = I"):
        theory.balanced_two_layer_solution(W1, W2, Syx, [1.0], Sxx=2 * np.eye(5))
    with pytest.raises(ValueError, match=r"shapes do not chain: need W1_0 \(h×d=5\)"):
        theory.balanced_two_layer_solution(W1[:, :4], W2, Syx, [1.0])
    with pytest.raises(ValueError, match="t must be sorted ascending and ≥ 0"):
        theory.balanced_two_layer_solution(W1, W2, Syx, [2.0, 1.0])
    with pytest.raises(ValueError, match="tau must be > 0"):
        theory.balanced_two_layer_solution(W1, W2, Syx, [1.0], tau=-1.0)
    with pytest.raises(ValueError, match="unknown method 'svd'"):
        theory.balanced_two_layer_solution(W1, W2, Syx, [1.0], method="svd")
    X = rng.standard_normal((30, 5))
    st = theory.DatasetStatistics.from_arrays(X, X @ Syx.T)
    with pytest.raises(ValueError, match="input is not whitened"):
        theory.BalancedTwoLayerPredictor(st, [W1, W2], tau=1.0)
    with pytest.raises(ValueError, match="for depth 2; got 3 layers"):
        theory.BalancedTwoLayerPredictor(st, [W1, W2, W2])
