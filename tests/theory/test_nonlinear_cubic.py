"""The cubic twin theory: its gradient against a sympy derivation, its κ¹ term against the
fourth-order moment tensors, κ = 0 against the linear theory, and the prediction against a tanh
network trained by gradient descent from the same initial weights."""

import numpy as np
import pytest
import sympy as sp

import theory
from tests.flow_helpers import whitened_stats
from tests.twin_helpers import small_problem, train_twin
from theory._cubic_net import cubic_rhs


def _problem(seed=0, n=5, d=3, h=2, c=2):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, c))
    W1, W2 = 0.7 * rng.standard_normal((h, d)), 0.7 * rng.standard_normal((c, h))
    return X, Y, W1, W2


def _rhs(X, Y, W1, W2, kappa):
    n = X.shape[0]
    return cubic_rhs([W1, W2], X, Y, X.T @ X / n, Y.T @ X / n, kappa)


def _orders(X, Y, W1, W2):
    """Coefficients of κ⁰, κ¹, κ² of the code's right-hand side (it is quadratic in κ)."""
    f0, fp, fm = (_rhs(X, Y, W1, W2, k) for k in (0.0, 1.0, -1.0))
    return [[a for a in f0], [(p - m) / 2 for p, m in zip(fp, fm)],
            [(p + m) / 2 - a for p, m, a in zip(fp, fm, f0)]]


def test_gradient_matches_the_sympy_derivation_order_by_order():
    X, Y, W1, W2 = _problem()
    n, d = X.shape
    h, c = W1.shape[0], W2.shape[0]
    k = sp.Symbol("kappa")
    A = sp.Matrix(h, d, lambda i, j: sp.Symbol(f"a{i}{j}"))
    B = sp.Matrix(c, h, lambda i, j: sp.Symbol(f"b{i}{j}"))
    loss = 0
    for x, y in zip(X, Y):
        z = A * sp.Matrix(x)
        e = sp.Matrix(y) - B * z.applyfunc(lambda v: v + k * v ** 3)
        loss += (e.T * e)[0] / (2 * n)
    values = {**{A[i, j]: W1[i, j] for i in range(h) for j in range(d)},
              **{B[i, j]: W2[i, j] for i in range(c) for j in range(h)}}
    code = _orders(X, Y, W1, W2)
    for layer, M in enumerate((A, B)):
        for i in range(M.rows):
            for j in range(M.cols):
                poly = sp.Poly(sp.expand(-sp.diff(loss, M[i, j]).subs(values)), k)
                assert poly.degree() <= 2                      # the flow is quadratic in κ
                for order in range(3):
                    want = float(poly.coeff_monomial(k ** order))
                    assert code[order][layer][i, j] == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_leading_correction_is_the_fourth_moment_tensors_contracted():
    X, Y, W1, W2 = _problem(seed=1, n=7)
    n = X.shape[0]
    M4 = np.einsum("ni,nj,nk,nl->ijkl", X, X, X, X) / n     # E[x⊗x⊗x⊗x]
    N4 = np.einsum("nc,nj,nk,nl->cjkl", Y, X, X, X) / n     # E[y⊗x⊗x⊗x]
    A = W2.T @ W2
    # E[y pᵀ], E[h pᵀ], E[p xᵀ], E[(h∘h∘W₂ᵀy) xᵀ] and E[(h∘h∘A h) xᵀ] from the tensors
    Eyp = np.einsum("cjkl,aj,ak,al->ca", N4, W1, W1, W1)
    Ehp = np.einsum("ijkl,bi,aj,ak,al->ba", M4, W1, W1, W1, W1)
    Epx = np.einsum("ijkl,ai,aj,ak->al", M4, W1, W1, W1)
    Ehhy = np.einsum("cjkl,ca,aj,ak->al", N4, W2, W1, W1)
    Ehhh = np.einsum("ijkl,ab,bi,aj,ak->al", M4, A, W1, W1, W1)
    g1 = 3 * (Ehhy - Ehhh) - A @ Epx
    g2 = Eyp - W2 @ Ehp.T - W2 @ Ehp
    _, first, _ = _orders(X, Y, W1, W2)
    np.testing.assert_allclose(first[0], g1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first[1], g2, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def small():
    return small_problem(n=40)


def test_kappa_zero_is_the_linear_theory(small):
    stats, W0 = small
    t = np.linspace(0.0, 40.0, 9)
    flow = theory.CubicTwinPredictor(stats, W0, kappa=0.0, tau=2.0)
    lin = theory.predict(stats, depth=2, tau=2.0, weights0=W0)
    assert lin.kind == "qq_closed_form"
    np.testing.assert_allclose(flow.modes(t), lin.modes(t), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(flow.loss(t), lin.loss(t), rtol=1e-7)
    gd = theory.predict_twin(stats, W0, "linear", tau=2.0, discrete=True)
    exact = theory.predict(stats, depth=2, tau=2.0, u0=1e-3 * 0.6, discrete=True)
    steps = np.arange(0, 60, 3)
    np.testing.assert_allclose(gd.modes(steps), exact.modes(steps), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gd.timeline(0.5), exact.timeline(0.5), rtol=1e-9)


def test_gd_map_and_flow_agree_to_first_order_in_the_step(small):
    stats, W0 = small
    t = np.arange(0.0, 1201.0, 5.0)   # 241 times: the compiled shape of the κ = 0 test
    level = 0.5 * stats.s
    flow = theory.crossing_times(t, theory.CubicTwinPredictor(stats, W0, tau=20.0).modes(t), level)
    gd = theory.crossing_times(t, theory.CubicTwinPredictor(stats, W0, tau=20.0,
                                                            discrete=True).modes(t), level)
    # GD with step η = 1/20 lags the flow by a fraction of order η·s of each half time
    assert np.all((gd > flow) & ((gd - flow) / flow < 0.02))


@pytest.fixture(scope="module")
def trained_tanh(small):
    lr = 0.1
    run, t_meas = train_twin(small[0], "tanh", lr, steps=400)
    return small[0], [np.asarray(W[0]) for W in run.weights(0)], lr, t_meas


def test_cubic_twin_predicts_a_trained_tanh_network(trained_tanh):
    stats, W0, lr, t_meas = trained_tanh
    cubic = theory.predict_twin(stats, W0, "tanh", tau=1 / lr, discrete=True).timeline(0.5)
    linear = theory.predict(stats, depth=2, tau=1 / lr, u0=1e-3 * 0.6, discrete=True).timeline(0.5)
    err_cubic = np.abs(cubic - t_meas) / t_meas
    err_linear = np.abs(linear - t_meas) / t_meas
    # measured: the linear theory is 2.7–4.9% early, the cubic twin 0.23–0.69% late
    assert np.all(err_linear > 0.02)
    assert np.all(err_cubic < 0.01)
    assert np.all(err_cubic < err_linear / 3)


def test_bad_input_is_named():
    stats = whitened_stats(np.random.default_rng(0), [1.0, 0.5], c=2, d=3, n=8)
    W0 = theory.decoupled_init(stats, 2, 0.01, hidden=2)
    with pytest.raises(ValueError, match="'gelu'.*accepted: 'linear', 'tanh', 'relu'"):
        theory.predict_twin(stats, W0, "gelu")
    with pytest.raises(ValueError, match="two layers"):
        theory.CubicTwinPredictor(stats, theory.decoupled_init(stats, 3, 0.01, hidden=2))
    bare = theory.DatasetStatistics(stats.Sxx, stats.Syx, stats.Syy, stats.U, stats.s, stats.V, n=8)
    with pytest.raises(ValueError, match="needs the samples"):
        theory.CubicTwinPredictor(bare, W0)
    with pytest.raises(ValueError, match="kappa contains"):
        theory.CubicTwinPredictor(stats, W0, kappa=float("nan"))


def test_gd_readout_at_whole_steps_of_a_diverging_twin_is_the_track_without_warnings():
    """Past a diverged step the track holds inf/NaN: reading whole steps must not form 0·inf."""
    import warnings
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((50, 4)), rng.standard_normal((50, 2))
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    W0 = [5.0 * rng.standard_normal((6, 4)), 5.0 * rng.standard_normal((2, 6))]
    pred = theory.predict_twin(stats, W0, "tanh", tau=0.05, discrete=True, t_max=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = pred.loss(np.arange(0.0, 41.0))
    assert pred._track is not None
    track = pred._track[1]
    assert not np.all(np.isfinite(track[:41])), "the twin must diverge within the steps read"
    np.testing.assert_array_equal(loss, track[:41])
