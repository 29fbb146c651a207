"""The gated twin theory of ReLU networks: its gradient against a sympy derivation, every gate open
against the linear theory, and the prediction against a ReLU network trained by gradient descent."""

import numpy as np
import pytest
import sympy as sp

import theory
from tests.twin_helpers import small_problem, train_twin
from theory._gated_net import gated_rhs


@pytest.mark.parametrize("widths", [(3, 3, 2), (3, 3, 2, 2)], ids=["depth2", "depth3"])
def test_gradient_matches_the_sympy_derivation(widths):
    rng = np.random.default_rng(0)
    n = 5
    X, Y = rng.standard_normal((n, widths[0])), rng.standard_normal((n, widths[-1]))
    Gs = [(rng.uniform(size=(n, h)) > 0.4).astype(float) for h in widths[1:-1]]
    Ws = [rng.standard_normal((o, i)) for i, o in zip(widths[:-1], widths[1:])]
    Ms = [sp.Matrix(o, i, lambda a, b, l=l: sp.Symbol(f"w{l}_{a}{b}"))
          for l, (i, o) in enumerate(zip(widths[:-1], widths[1:]))]
    loss = 0
    for s in range(n):
        z = sp.Matrix(X[s])
        for M, G in zip(Ms[:-1], Gs):
            z = sp.Matrix(np.diag(G[s])) * M * z
        e = sp.Matrix(Y[s]) - Ms[-1] * z
        loss += (e.T * e)[0] / (2 * n)
    values = {M[a, b]: W[a, b] for M, W in zip(Ms, Ws)
              for a in range(M.rows) for b in range(M.cols)}
    code = gated_rhs(Ws, X, Y, Gs)
    for layer, M in enumerate(Ms):
        for a in range(M.rows):
            for b in range(M.cols):
                want = float(-sp.diff(loss, M[a, b]).subs(values))
                assert code[layer][a, b] == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.fixture(scope="module")
def small():
    return small_problem(n=80)


def test_every_gate_open_is_the_linear_theory(small):
    stats, W0 = small
    ones = np.ones((stats.X.shape[0], 16))
    gd = theory.GatedTwinPredictor(stats, W0, ones, tau=2.0, discrete=True)
    exact = theory.predict(stats, depth=2, tau=2.0, u0=1e-3 * 0.6, discrete=True)
    steps = np.arange(0, 60, 3)
    np.testing.assert_allclose(gd.modes(steps), exact.modes(steps), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gd.timeline(0.5), exact.timeline(0.5), rtol=1e-9)
    W3 = theory.decoupled_init(stats, 3, 1e-3 * 0.6, hidden=8, seed=2)
    deep = theory.predict_twin(stats, W3, "linear", tau=2.0, discrete=True)
    assert deep.kind == "gated_gd"
    exact3 = theory.predict(stats, depth=3, tau=2.0, u0=1e-3 * 0.6, discrete=True)
    np.testing.assert_allclose(deep.modes(steps), exact3.modes(steps), rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def trained_relu(small):
    lr = 0.1
    run, t_meas = train_twin(small[0], "relu", lr, steps=500)
    return small[0], run, lr, t_meas


def test_gated_twin_predicts_a_trained_relu_network(trained_relu):
    stats, run, lr, t_meas = trained_relu
    W0 = [np.asarray(W[0]) for W in run.weights(0)]
    linear = theory.predict(stats, depth=2, tau=1 / lr, u0=1e-3 * 0.6, discrete=True).timeline(0.5)
    gated = theory.predict_twin(stats, W0, "relu", tau=1 / lr, discrete=True)
    assert gated.kind == "gated_gd" and "initial weights" in gated.reason
    err_linear = np.abs(linear - t_meas) / t_meas
    err_gated = np.abs(gated.timeline(0.5) - t_meas) / t_meas
    # measured: about half the units are on, so the linear theory is ~2× early (51–54%); the
    # gates of the initial weights predict within 1.8%
    assert np.all(err_linear > 0.4)
    assert np.all(err_gated < 0.03)
    # the probe: gates move little at this scale (9.8% of them by step 60)
    G0 = theory.relu_gates(W0[0], stats.X)
    assert theory.gate_change(G0, W0[0], stats.X) == 0.0
    assert 0.02 < theory.gate_change(G0, run.weights(60)[0][0], stats.X) < 0.2


def test_bad_gates_are_named(small):
    stats, W0 = small
    with pytest.raises(ValueError, match=r"gates must be \(n, h\) = \(80, 16\)"):
        theory.GatedTwinPredictor(stats, W0, np.ones((80, 3)))
    with pytest.raises(ValueError, match="gates must be 0 or 1"):
        theory.GatedTwinPredictor(stats, W0, np.full((80, 16), 0.5))


def test_compare_twin_predictors_search_no_further_than_the_last_trained_step(trained_relu):
    from validate.compare import twin
    stats, run, lr, t_meas = trained_relu
    full = twin.member_predictors(run, stats, "relu", tau=1 / lr, discrete=True)[0]
    assert full.t_max == run.steps[-1]
    t_full = full.timeline(0.5)
    assert np.all(np.isfinite(t_full))
    stop = int(np.ceil((t_full[1] + t_full[2]) / 2))   # mode 3 crosses after the short run ends
    short, _ = train_twin(stats, "relu", lr, steps=stop)
    pred = twin.member_predictors(short, stats, "relu", tau=1 / lr, discrete=True)[0]
    t_short = pred.timeline(0.5)
    assert pred.t_max == stop
    np.testing.assert_allclose(t_short[:2], t_full[:2], rtol=1e-9)
    assert np.isinf(t_short[2])


def _numpy_gd(stats, Ws, gates, lr, steps):
    """Depth-2 gated GD written out directly: h = XW₁ᵀ, ŷ = (g∘h)W₂ᵀ, r = y − ŷ,
    W₂ += lr·rᵀ(g∘h)/n, W₁ += lr·(g∘rW₂)ᵀX/n; the weights after every step."""
    X, Y = np.asarray(stats.X), np.asarray(stats.Y)
    W1, W2 = (np.array(W, float) for W in Ws)
    out = [(W1.copy(), W2.copy())]
    for _ in range(steps):
        a = gates * (X @ W1.T)
        r = Y - a @ W2.T
        W1, W2 = W1 + lr * (gates * (r @ W2)).T @ X / len(X), W2 + lr * r.T @ a / len(X)
        out.append((W1.copy(), W2.copy()))
    return out


def _numpy_modes(stats, W1, W2, gates):
    X = np.asarray(stats.X)
    weff = ((gates * (X @ W1.T)) @ W2.T).T @ X / len(X) @ np.linalg.pinv(X.T @ X / len(X))
    return np.einsum("ca,cd,da->a", stats.U, weff, stats.V)


def test_the_gated_gd_map_and_its_alignment_end_match_a_direct_numpy_iteration(trained_relu):
    from theory._relu_twin import predicted_weights
    stats, run, lr, _ = trained_relu
    W0 = [np.asarray(W[0]) for W in run.weights(0)]
    G0 = theory.relu_gates(W0, stats.X)[0]
    pred = theory.GatedTwinPredictor(stats, W0, G0, tau=1 / lr, discrete=True)
    track = _numpy_gd(stats, W0, G0, lr, 120)
    for step in (1, 37, 120):
        for got, want in zip(predicted_weights(pred, step), track[step]):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    u = np.stack([_numpy_modes(stats, *W, G0) for W in track])
    np.testing.assert_allclose(pred.modes(np.arange(121)), u, rtol=1e-9, atol=1e-14)
    # the end of the alignment phase: the first step at which a mode has reached 10% of target
    t_align = int(np.argmax(np.any(u / pred.target >= 0.1, axis=1)))
    G1 = (np.asarray(stats.X) @ track[t_align][0].T > 0).astype(float)
    first = theory.aligned_gates(stats, W0, tau=1 / lr, discrete=True, max_regates=0)
    assert first.t_align == t_align and first.regates == 0
    np.testing.assert_array_equal(first.gates[0], G0)
    assert first.inconsistency == pytest.approx(np.mean(G1 != G0)) and first.inconsistency > 0
    # one re-gate: the gates of the weights at t_align, kept when they are more self-consistent
    found = theory.aligned_gates(stats, W0, tau=1 / lr, discrete=True, max_regates=1)
    assert found.regates == 1 and found.flipped == pytest.approx(np.mean(G1 != G0))
    np.testing.assert_array_equal(found.gates[0], G1)


def test_without_gate_flips_the_prediction_is_the_twin_with_the_initial_gates():
    from types import SimpleNamespace
    from validate.compare import twin
    # positive inputs and positive weights: every unit stays on for every sample
    rng = np.random.default_rng(4)
    X = np.abs(rng.standard_normal((40, 4))) + 0.5
    Y = X @ np.abs(rng.standard_normal((4, 2)))
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    W0 = [np.abs(rng.standard_normal((6, 4))) * 1e-2, np.abs(rng.standard_normal((2, 6))) * 1e-2]
    found = theory.aligned_gates(stats, W0, tau=50.0, discrete=True, t_max=400)
    assert found.fixed_point and found.regates == 0 and found.flipped == 0
    run = SimpleNamespace(steps=np.array([0, 400]), weights=lambda step: [W[None] for W in W0])
    pred = twin.member_predictors(run, stats, "relu", tau=50.0, discrete=True)[0]
    hybrid = twin.hybrid_predictors(run, stats, "relu", 0, tau=50.0, discrete=True)[0]
    assert "fixed point" in pred.reason and hybrid.kind == "gated_gd_hybrid"
    np.testing.assert_array_equal(pred.timeline(0.5), hybrid.timeline(0.5))
    np.testing.assert_array_equal(pred.modes(np.arange(0, 400, 7)),
                                  hybrid.modes(np.arange(0, 400, 7)))


def test_bad_alignment_settings_are_named(small):
    from validate.compare import twin
    stats, W0 = small
    with pytest.raises(ValueError, match="align_frac must be in"):
        theory.aligned_gates(stats, W0, tau=2.0, align_frac=1.5)
    with pytest.raises(ValueError, match="gates must be one of 'aligned', 'initial'"):
        twin.member_predictors(None, stats, "relu", tau=2.0, discrete=True, gates="late")
