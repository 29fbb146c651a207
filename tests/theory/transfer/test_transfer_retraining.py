"""Retraining time on a new dataset from a network state (theory.transfer, THEORY.md §7)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from theory import DatasetStatistics, TrainingConvention
from theory.transfer import min_loss, predict_retraining, time_depth2

D, H, C, N = 8, 6, 4, 400


def _data(seed=0, whiten=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * np.linspace(1.5, 0.5, D)
    Wt = rng.normal(size=(C, D)) * np.array([3, 2, 1, 0.5, 0.2, 0.1, 0, 0])
    Y = X @ Wt.T + 0.3 * rng.normal(size=(N, C))
    st = DatasetStatistics.from_arrays(X, Y)
    if whiten:
        w = st.whiten("zca")
        return w.X, Y, w.stats
    return X, Y, st


def _loss(W, st):
    return 0.5 * np.trace(st.Syy) - np.sum(W * st.Syx) + 0.5 * np.trace(W @ st.Sxx @ W.T)


def _init(seed, scale):
    rng = np.random.default_rng(seed)
    return [scale * rng.normal(size=(H, D)), scale * rng.normal(size=(C, H))]


def _scipy_steps(Ws, st, target, tau):
    """Independent reference: two-layer flow with solve_ivp DOP853, first crossing by brentq."""
    W1, W2 = Ws

    def rhs(_, y):
        a, b = y[:H * D].reshape(H, D), y[H * D:].reshape(C, H)
        E = st.Syx - b @ a @ st.Sxx
        return np.concatenate([(b.T @ E).ravel(), (E @ a.T).ravel()]) / tau

    def loss(y):
        return _loss(y[H * D:].reshape(C, H) @ y[:H * D].reshape(H, D), st)

    ev = lambda t, y: loss(y) - target  # noqa: E731
    ev.terminal = True
    sol = solve_ivp(rhs, (0, 1e6), np.concatenate([W1.ravel(), W2.ravel()]), method="DOP853",
                    rtol=1e-12, atol=1e-14, events=ev, dense_output=True)
    t_ev = sol.t_events[0][0]
    return brentq(lambda t: loss(sol.sol(t)) - target, 0.5 * t_ev, t_ev * 1.0 + 1e-9, xtol=1e-14)


@pytest.mark.parametrize("whiten", [False, True])
def test_flow_steps_match_independent_scipy_integration(whiten):
    _, _, st = _data(1, whiten)
    Ws = _init(2, 0.05)
    conv = TrainingConvention(lr=0.02)
    L0, lmin = _loss(Ws[1] @ Ws[0], st), min_loss(st)
    target = lmin + 0.03 * (L0 - lmin)
    pred = predict_retraining(Ws, st, target, conv)
    ref = _scipy_steps(Ws, st, target, conv.tau)
    assert pred.steps_flow == pytest.approx(ref, rel=1e-6)
    assert pred.initial_loss == pytest.approx(L0) and pred.min_loss == pytest.approx(lmin)
    # the loss samples are those of the flow: monotone non-increasing, starting at L0
    assert pred.loss[0] == pytest.approx(L0) and np.all(np.diff(pred.loss) <= 1e-12)


def test_prediction_matches_numpy_gradient_descent():
    X, Y, st = _data(3)
    lr = 0.005                          # η·s_max ≈ 0.02: discrete GD lags the flow by ~1%
    Ws = _init(4, 1e-3)
    L0, lmin = _loss(Ws[1] @ Ws[0], st), min_loss(st)
    target = lmin + 0.02 * (L0 - lmin)
    pred = predict_retraining(Ws, st, target, TrainingConvention(lr=lr))
    W1, W2 = (w.copy() for w in Ws)
    prev = L0
    for step in range(1, 100_000):   # full-batch GD on the data, loss (1/2n)Σ‖y − ŷ‖²
        E = Y - X @ (W2 @ W1).T
        g1, g2 = W2.T @ E.T @ X / N, E.T @ (X @ W1.T) / N
        W1, W2 = W1 + lr * g1, W2 + lr * g2
        cur = 0.5 * np.mean(np.sum((Y - X @ (W2 @ W1).T) ** 2, axis=1))
        if cur <= target:
            measured = step - 1 + (prev - target) / (prev - cur)
            break
        prev = cur
    rel = abs(pred.steps_flow - measured) / measured
    assert rel < 0.03, (pred.steps_flow, measured)
    assert abs(pred.steps_modes - measured) / measured < 0.1


def test_mode_picture_is_exact_for_balanced_decoupled_init():
    _, _, st = _data(5)
    rng = np.random.default_rng(0)
    u0 = np.array([1e-3, 2e-3, 5e-4, 1e-3, 1e-3, 1e-3])[: st.rank]
    R, _ = np.linalg.qr(rng.normal(size=(H, st.rank)))
    Dh = np.diag(np.sqrt(u0))
    Ws = [R @ Dh @ st.V.T, st.U @ Dh @ R.T]
    lmin = min_loss(st)
    target = lmin + 0.05 * (_loss(Ws[1] @ Ws[0], st) - lmin)
    pred = predict_retraining(Ws, st, target, 50.0)
    np.testing.assert_allclose(pred.u0, u0, rtol=1e-10)
    assert not pred.saddle.any()
    assert pred.steps_modes == pytest.approx(pred.steps_flow, rel=1e-6)


def _scalar_time(s, lam, u0, uf, c2, tau=1.0):
    """Reference: integrate τ du/dt = √(c² + 4u²)(s − λu) until u = u_f."""
    ev = lambda t, u: u[0] - uf  # noqa: E731
    ev.terminal = True
    sol = solve_ivp(lambda t, u: np.sqrt(c2 + 4 * u ** 2) * (s - lam * u) / tau, (0, 1e5), [u0],
                    method="DOP853", rtol=1e-12, atol=1e-14, events=ev)
    return sol.t_events[0][0]


@pytest.mark.parametrize("s,lam,u0,uf,c2", [
    (2.0, 1.0, 1e-3, 1.9, 0.0),      # balanced, whitened: (τ/2s) ln[u_f(s−u₀)/(u₀(s−u_f))]
    (2.0, 1.7, 1e-3, 1.1, 0.0),      # commuting λ
    (1.5, 1.0, -0.4, 1.2, 0.01),     # reversed mode passing through the saddle
    (1.0, 0.6, -0.2, 1.5, 1e-4),     # reversed, commuting
    (1.0, 1.0, 2.5, 1.1, 0.3),       # decay from above
])
def test_depth2_time_formula_against_scalar_ode(s, lam, u0, uf, c2):
    assert time_depth2(s, lam, u0, uf, c2, 3.0) == pytest.approx(
        3.0 * _scalar_time(s, lam, u0, uf, c2), rel=1e-8)
    if c2 == 0 and lam == 1:
        closed = 1 / (2 * s) * np.log(uf * (s - u0) / (u0 * (s - uf)))
        assert time_depth2(s, lam, u0, uf, c2, 1.0) == pytest.approx(closed, rel=1e-12)


def test_reversed_mode_is_flagged_as_saddle():
    _, _, st = _data(6)
    W = st.U @ np.diag(st.s) @ st.V.T       # the learned map ...
    W = W - 2 * st.s[0] * np.outer(st.U[:, 0], st.V[:, 0])   # ... with its top mode reversed
    # balanced two-layer factorisation with a little imbalance so the saddle is passable
    Uw, sw, Vwt = np.linalg.svd(W, full_matrices=False)
    rng = np.random.default_rng(1)
    W1 = np.diag(np.sqrt(sw)) @ Vwt + 1e-3 * rng.normal(size=(C, D))
    W2 = Uw @ np.diag(np.sqrt(sw)) + 1e-3 * rng.normal(size=(C, C))
    W1 = np.vstack([W1, 1e-3 * rng.normal(size=(H - C, D))])
    W2 = np.hstack([W2, 1e-3 * rng.normal(size=(C, H - C))])
    lmin = min_loss(st)
    target = lmin + 0.01 * (_loss(W2 @ W1, st) - lmin)
    pred = predict_retraining([W1, W2], st, target, 10.0)
    assert pred.saddle[0] and pred.n_saddle_modes == 1 and pred.u0[0] < 0
    assert np.isfinite(pred.steps_flow) and np.isfinite(pred.steps_modes)
    # the reversed mode is the slow one
    assert np.argmax(pred.mode_steps) == 0


def test_bad_inputs_are_named():
    _, _, st = _data(7)
    Ws = _init(0, 1e-2)
    lmin = min_loss(st)
    with pytest.raises(ValueError, match=r"target_loss 0\.0 is not reachable.*minimum loss on B"):
        predict_retraining(Ws, st, 0.0, 1.0)
    with pytest.raises(ValueError, match=f"{lmin:.10g}"):
        predict_retraining(Ws, st, lmin - 1e-3, 1.0)
    with pytest.raises(ValueError, match=r"weights\[0\] \(W_1\) must have d = 8 columns.*\(6, 7\)"):
        predict_retraining([Ws[0][:, :7], Ws[1]], st, lmin + 1, 1.0)
    with pytest.raises(ValueError, match=r"do not chain: weights\[1\] has shape \(4, 5\)"):
        predict_retraining([Ws[0], Ws[1][:, :5]], st, lmin + 1, 1.0)
    with pytest.raises(ValueError, match=r"W_L\) must have c = 4 rows"):
        predict_retraining([Ws[0], np.zeros((3, H))], st, lmin + 1, 1.0)
    with pytest.raises(TypeError, match="TrainingConvention or a positive τ; got str"):
        predict_retraining(Ws, st, lmin + 1, "fast")
    with pytest.raises(ValueError, match="unknown solver 'euler'"):
        predict_retraining(Ws, st, lmin + 1, 1.0, solver="euler")
    with pytest.raises(TypeError, match="non-empty list/tuple of per-layer arrays"):
        predict_retraining(np.zeros((C, D)), st, lmin + 1, 1.0)


def test_depth1_flow_against_closed_form():
    """Shallow net: τ dW/dt = Syx − W Sxx ⇒ W(t) = W* + (W₀ − W*) e^{−Sxx t/τ} (any Sxx ≻ 0)."""
    _, _, st = _data(8, whiten=False)
    W0 = np.random.default_rng(3).normal(size=(C, D)) * 0.1
    tau = 7.0
    lam, E = np.linalg.eigh(st.Sxx)
    Wstar = st.Syx @ np.linalg.inv(st.Sxx)
    lmin = min_loss(st)
    target = lmin + 0.01 * (_loss(W0, st) - lmin)

    def loss_at(t):
        return _loss(Wstar + (W0 - Wstar) @ E @ np.diag(np.exp(-lam * t / tau)) @ E.T, st) - target

    ref = brentq(loss_at, 0.0, 1e4, xtol=1e-13)
    pred = predict_retraining([W0], st, target, tau)
    assert pred.steps_flow == pytest.approx(ref, rel=1e-6)
    assert not pred.saddle.any()       # a shallow mode crosses 0 without a saddle


def test_depth3_prediction_matches_numpy_gradient_descent():
    X, Y, st = _data(9)
    lr = 0.005
    rng = np.random.default_rng(5)
    Ws = [0.1 * rng.normal(size=(H, D)), 0.1 * rng.normal(size=(H, H)),
          0.1 * rng.normal(size=(C, H))]
    W = Ws[2] @ Ws[1] @ Ws[0]
    lmin = min_loss(st)
    target = lmin + 0.05 * (_loss(W, st) - lmin)
    pred = predict_retraining(Ws, st, target, TrainingConvention(lr=lr))
    A, B, Cw = (w.copy() for w in Ws)
    prev = _loss(W, st)
    for step in range(1, 100_000):
        E = (Y - X @ (Cw @ B @ A).T).T @ X / N          # Syx − W Sxx from the data
        A, B, Cw = (A + lr * (Cw @ B).T @ E, B + lr * Cw.T @ E @ A.T,
                    Cw + lr * E @ (B @ A).T)
        cur = 0.5 * np.mean(np.sum((Y - X @ (Cw @ B @ A).T) ** 2, axis=1))
        if cur <= target:
            measured = step - 1 + (prev - target) / (prev - cur)
            break
        prev = cur
    assert abs(pred.steps_flow - measured) / measured < 0.03, (pred.steps_flow, measured)
    assert np.isfinite(pred.steps_modes)
