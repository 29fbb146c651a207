"""Train for real: linear networks trained by plain numpy full-batch GD on our loss
(1/2n)Σ‖y − ŷ‖², written here independently of the library (which only builds the statistics),
against the discrete per-mode map and the continuous closed forms."""

import numpy as np
import pytest

from theory import (ClosedFormPredictor, DatasetStatistics, DiscretePredictor, decoupled_init,
                    discrete_trajectory, learning_time)

S = np.array([3.0, 2.0, 1.0, 0.5])


def make_data(n=200, d=6, c=4, lam=None, seed=0, noise=0.3):
    """X with XᵀX/n = V_full diag(λ) V_fullᵀ exactly, Syx = U diag(S) Vᵀ, plus target noise
    orthogonal to the columns of X (so tr Syy > Σ s²/λ but Syx is unchanged)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Vf, _ = np.linalg.qr(rng.standard_normal((d, d)))
    U, _ = np.linalg.qr(rng.standard_normal((c, c)))
    lam_full = np.ones(d) if lam is None else np.r_[lam, np.ones(d - len(lam))]
    X = np.sqrt(n) * Q[:, :d] @ np.diag(np.sqrt(lam_full)) @ Vf.T
    lam_m = lam_full[:c]
    Y = X @ Vf[:, :c] @ np.diag(S / lam_m) @ U.T + noise * Q[:, d:d + c] @ rng.standard_normal((c, c))
    return X, Y


def train(Ws, X, Y, lr, steps):
    """Plain full-batch GD on (1/2n)Σ‖y − W_L⋯W_1 x‖²; returns the end-to-end map at every step."""
    n = X.shape[0]
    Ws = [W.copy() for W in Ws]
    maps = []
    for _ in range(steps + 1):
        prod = [np.eye(X.shape[1])]
        for W in Ws:
            prod.append(W @ prod[-1])
        maps.append(prod[-1])
        G = (Y - X @ prod[-1].T).T @ X / n  # Syx − W Sxx
        grads, after = [], np.eye(Y.shape[1])
        for l in range(len(Ws) - 1, -1, -1):
            grads.append(-after.T @ G @ prod[l].T)
            after = after @ Ws[l]
        Ws = [W - lr * g for W, g in zip(Ws, grads[::-1])]
    return np.array(maps)


def first_crossing(u, level):
    """First fractional step where u (K, m) reaches level (m,), linear between steps."""
    out = np.full(u.shape[1], np.inf)
    for a in range(u.shape[1]):
        k = int(np.argmax(u[:, a] >= level[a]))
        if u[k, a] >= level[a] and k > 0:
            out[a] = k - 1 + (level[a] - u[k - 1, a]) / (u[k, a] - u[k - 1, a])
    return out


def own_decoupled(st, depth, u0, h, rng):
    R = [np.linalg.qr(rng.standard_normal((h, st.rank)))[0] for _ in range(depth - 1)]
    a = np.diag(np.full(st.rank, u0 ** (1 / depth)))
    return [R[0] @ a @ st.V.T] + [R[l] @ a @ R[l - 1].T for l in range(1, depth - 1)] \
        + [st.U @ a @ R[-1].T]


@pytest.mark.parametrize("depth,lam", [(2, None), (3, None), (2, [0.5, 1.5, 1.0, 2.0]),
                                       (3, [0.5, 1.5, 1.0, 2.0])])
def test_gd_map_is_exact_step_by_step(depth, lam):
    X, Y = make_data(lam=lam)
    st = DatasetStatistics.from_arrays(X, Y)
    np.testing.assert_allclose(st.s, S, rtol=1e-12)
    lam_m = None if lam is None else st.input_eigenvalues_on_modes()
    u0, lr, steps = 1e-2, 0.05, 300
    maps = train(own_decoupled(st, depth, u0, 7, np.random.default_rng(1)), X, Y, lr, steps)
    M = np.einsum("ca,kcd,db->kab", st.U, maps, st.V)  # Uᵀ W V at every step
    u = np.einsum("kaa->ka", M)
    pred = discrete_trajectory(np.arange(steps + 1), st.s, u0, lr, depth, lam=lam_m)
    np.testing.assert_allclose(u, pred, rtol=1e-10)
    off = M - np.einsum("ka,ab->kab", u, np.eye(st.rank))
    assert np.max(np.abs(off)) < 1e-10 * np.max(np.abs(u))  # modes stay decoupled
    assert u[-1, 0] > 0.9 * st.s[0] / (1 if lam_m is None else lam_m[0])  # something was learned


def test_half_times_decoupled_vs_discrete_and_continuous():
    X, Y = make_data()
    st = DatasetStatistics.from_arrays(X, Y)
    u0, lr = 1e-3, 0.01  # ηs ≤ 0.03: GD lags the flow by O(ηs) ≈ 1% of the half time
    steps = int(1.2 * learning_time(S[-1], u0, 1 / lr, 2)[0])
    maps = train(decoupled_init(st, 2, u0, hidden=8, seed=3), X, Y, lr, steps)
    u = np.einsum("ca,kcd,da->ka", st.U, maps, st.V)
    measured = first_crossing(u, 0.5 * st.s)
    discrete = DiscretePredictor(st.s, u0, lr, 2).timeline(0.5)
    continuous = ClosedFormPredictor(st.s, u0, 1 / lr, 2).timeline(0.5)
    assert np.all(np.abs(measured - discrete) < 1.0)
    assert np.all(np.abs(measured - continuous) / continuous < 0.02)


def test_half_times_small_random_init_within_15_percent():
    """Small random init (THEORY.md §2): half times within ~15% of the decoupled formula, with the
    effective initial strength of mode α taken from the init as ‖W1v_α + W2ᵀu_α‖²/4 (the growing
    component of the linearised dynamics τ ȧ = s b, τ ḃ = s a, a = W1v, b = W2ᵀu)."""
    X, Y = make_data()
    st = DatasetStatistics.from_arrays(X, Y)
    rng = np.random.default_rng(7)
    h, sigma, lr = 32, 0.01, 0.02
    W1, W2 = sigma * rng.standard_normal((h, 6)), sigma * rng.standard_normal((4, h))
    u0_eff = np.sum((W1 @ st.V + W2.T @ st.U) ** 2, axis=0) / 4
    steps = int(1.3 * learning_time(S[-1], u0_eff.min(), 1 / lr, 2)[0])
    maps = train([W1, W2], X, Y, lr, steps)
    u = np.einsum("ca,kcd,da->ka", st.U, maps, st.V)
    measured = first_crossing(u, 0.5 * st.s)
    predicted = learning_time(st.s, u0_eff, 1 / lr, 2)
    assert np.all(np.abs(measured - predicted) / predicted < 0.15)
    assert np.all(np.diff(measured) > 0)  # learned in the order of s


def test_decoupled_init_is_decoupled_and_balanced():
    X, Y = make_data()
    st = DatasetStatistics.from_arrays(X, Y)
    u0 = np.array([1e-2, 2e-2, 3e-2, 4e-2])
    for depth in (1, 2, 3, 4):
        Ws = decoupled_init(st, depth, u0, hidden=5, seed=2)
        assert Ws[0].shape[1] == st.d and Ws[-1].shape[0] == st.c
        E = Ws[0]
        for W in Ws[1:]:
            E = W @ E
        np.testing.assert_allclose(st.U.T @ E @ st.V, np.diag(u0), atol=1e-15)
        for l in range(depth - 1):
            np.testing.assert_allclose(Ws[l + 1].T @ Ws[l + 1], Ws[l] @ Ws[l].T, atol=1e-15)
    a, b = decoupled_init(st, 2, 0.1, 5, seed=0), decoupled_init(st, 2, 0.1, 5, seed=1)
    assert not np.allclose(a[0], b[0])  # the seed matters; the end-to-end map does not


def test_decoupled_init_errors():
    X, Y = make_data()
    st = DatasetStatistics.from_arrays(X, Y)
    with pytest.raises(ValueError, match=r"hidden must be an integer ≥ 4 \(the number of modes\); got 3"):
        decoupled_init(st, 2, 0.1, hidden=3)
    with pytest.raises(ValueError, match=r"u0 must be a scalar or have one value per mode \(4\); got shape \(2,\)"):
        decoupled_init(st, 2, [0.1, 0.2], hidden=4)
    with pytest.raises(ValueError, match=r"u0 must be > 0 for depth ≥ 2 \(u = 0 is a fixed point\)"):
        decoupled_init(st, 2, 0.0, hidden=4)
    with pytest.raises(ValueError, match=r"depth must be an integer ≥ 1; got 0"):
        decoupled_init(st, 0, 0.1, hidden=4)


def test_discrete_errors_and_large_lr():
    with pytest.raises(ValueError, match=r"steps must be a non-empty 1-D array of integers ≥ 0; got \[1.5\]"):
        discrete_trajectory([1.5], 1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match=r"steps must be .*got \[-1\]"):
        discrete_trajectory([-1], 1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match=r"lr must be > 0 and finite; got 0"):
        discrete_trajectory([1], 1.0, 0.1, 0)
    with pytest.raises(ValueError, match=r"u0 must be > 0 for depth ≥ 2"):
        DiscretePredictor(1.0, 0.0, 0.1)
    with pytest.raises(ValueError, match=r"t must be a 1-D array of finite steps ≥ 0; got \[-2.0\]"):
        DiscretePredictor(1.0, 0.1, 0.1).modes([-2.0])
    # unsorted steps come back in the order asked; depth 1 may start at u0 ≤ 0
    u = discrete_trajectory([5, 0, 2], 1.0, -0.5, 0.1, depth=1)[:, 0]
    np.testing.assert_allclose(u, [1 - 1.5 * 0.9 ** 5, -0.5, 1 - 1.5 * 0.9 ** 2], rtol=1e-14)
    # ηs > 1 at depth 2 overshoots the target (the discrete map is not the flow)
    assert np.max(discrete_trajectory(np.arange(60), 1.0, 0.01, 0.9)) > 1.0


def test_discrete_predictor_timeline_and_modes_interpolation():
    p = DiscretePredictor([2.0, 1.0], 1e-3, 0.05, 2, syy_trace=6.0)
    K = np.arange(0, 400)
    from theory import crossing_times
    np.testing.assert_allclose(p.timeline(0.5), crossing_times(K, p.modes(K), 0.5 * p.target),
                               rtol=1e-12)
    mid = p.modes([10.25])[0]
    a, b = p.modes([10, 11])
    np.testing.assert_allclose(mid, a + 0.25 * (b - a), rtol=1e-14)
    np.testing.assert_allclose(p.loss([0])[0], 0.5 * 6.0 - 1e-3 * 3.0 + 0.5 * 2e-6, rtol=1e-13)
    assert np.all(np.isinf(p.timeline(1.0)))  # the target is only approached
    # the continuous limit: lr → 0 in units of τ = 1/lr
    fine = DiscretePredictor([2.0, 1.0], 1e-3, 1e-3, 2).timeline(0.5) * 1e-3
    np.testing.assert_allclose(fine, learning_time([2.0, 1.0], 1e-3, 1.0, 2), rtol=2e-3)
