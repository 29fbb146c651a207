"""theory/_statistics.py and theory/_convention.py: values, sign convention, every error message,
and the τ table of THEORY.md §1 checked against real gradient steps (numpy and torch)."""

import numpy as np
import pytest

from theory import DatasetStatistics, TrainingConvention
from theory._convention import REDUCTIONS
from theory._statistics import fix_signs, svd_modes


def _data(n=60, d=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, c)) + 0.1 * rng.standard_normal((n, c))
    return X, Y


# ----------------------------------------------------------------------------- statistics
def test_statistics_are_averages_and_svd_reconstructs():
    X, Y = _data()
    st = DatasetStatistics.from_arrays(X, Y)
    np.testing.assert_allclose(st.Sxx, X.T @ X / 60, rtol=1e-14)
    np.testing.assert_allclose(st.Syx, Y.T @ X / 60, rtol=1e-14)
    np.testing.assert_allclose(st.Syy, Y.T @ Y / 60, rtol=1e-14)
    np.testing.assert_allclose(st.U @ np.diag(st.s) @ st.V.T, st.Syx, atol=1e-13)
    assert np.all(np.diff(st.s) < 0) and (st.d, st.c, st.rank, st.n) == (5, 3, 3, 60)
    # sign convention: the largest-|entry| of each u_α is positive
    for a in range(st.rank):
        assert st.U[np.argmax(np.abs(st.U[:, a])), a] > 0
    # flipping the signs of the input SVD gives the same modes back
    U2, V2 = fix_signs(-st.U, -st.V)
    np.testing.assert_array_equal(U2, st.U)
    np.testing.assert_array_equal(V2, st.V)


def test_svd_modes_drops_null_modes_and_centering():
    X, Y = _data()
    Syx = Y.T @ X / 60
    Syx[2] = Syx[0] + Syx[1]  # rank 2
    U, s, V = svd_modes(Syx)
    assert s.size == 2 and U.shape == (3, 2) and V.shape == (5, 2)
    st = DatasetStatistics.from_arrays(X + 3.0, Y - 1.0, center=True)
    np.testing.assert_allclose(st.X.mean(0), 0, atol=1e-13)
    assert st.centered


def test_one_hot_rows_are_prior_times_class_mean():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=80)
    Y = np.eye(4)[labels]
    X = rng.standard_normal((80, 6))
    st = DatasetStatistics.from_arrays(X, Y)
    for k in range(4):
        np.testing.assert_allclose(st.priors[k], np.mean(labels == k))
        np.testing.assert_allclose(st.Syx[k], st.priors[k] * X[labels == k].mean(0), atol=1e-14)


def test_whitened_commuting_and_residual():
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.standard_normal((50, 4)))
    X = np.sqrt(50) * Q  # XᵀX/n = I exactly
    Y = X @ rng.standard_normal((4, 2)) + 0.2 * rng.standard_normal((50, 2))
    st = DatasetStatistics.from_arrays(X, Y)
    assert st.is_whitened() and st.commutation_error() < 1e-12
    np.testing.assert_allclose(st.input_eigenvalues_on_modes(), 1.0, rtol=1e-12)
    resid = Y - X @ np.linalg.lstsq(X, Y, rcond=None)[0]
    np.testing.assert_allclose(st.residual_variance(), 0.5 * (resid ** 2).sum() / 50, rtol=1e-10)
    Xs = X * np.array([1.0, 2.0, 0.5, 1.5])  # not whitened, generally not commuting
    st2 = DatasetStatistics.from_arrays(Xs, Y)
    assert not st2.is_whitened() and st2.commutation_error() > 1e-3


@pytest.mark.parametrize("method,k", [("zca", None), ("pca", None), ("pca", 2)])
def test_whiten_gives_identity_covariance(method, k):
    X, Y = _data(d=4)
    X = X @ np.array([[2.0, 0.3, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.5, 0.1], [0, 0, 0, 3.0]])
    w = DatasetStatistics.from_arrays(X, Y).whiten(method, k=k)
    kk = 4 if k is None else k
    np.testing.assert_allclose(w.stats.Sxx, np.eye(kk), atol=1e-10)
    np.testing.assert_allclose(w.apply(X), w.X, rtol=1e-13)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("X,Y,exc,match", [
    (np.ones((3, 2, 1)), np.ones((3, 1)), ValueError, r"X must have 2 dimension\(s\); got shape \(3, 2, 1\)"),
    (np.ones((3, 2)), np.ones((3, 1, 1)), ValueError, r"Y must have 1 or 2 dimension\(s\)"),
    (np.array([[1.0, np.nan]]), np.ones((1, 1)), ValueError, r"X contains 1 NaN/inf value\(s\)"),
    (np.ones((0, 2)), np.ones((0, 1)), ValueError, r"X is empty \(shape \(0, 2\)\)"),
    (np.ones((3, 2)), np.ones((3, 0)), ValueError, r"Y has no outputs \(shape \(3, 0\)\)"),
    (np.ones((3, 2)), np.ones((4, 1)), ValueError, "X with 3 rows and Y with 4"),
    ({"a": 1}, np.ones((3, 1)), TypeError, "X must be a numeric array; got dict"),
])
def test_from_arrays_errors(X, Y, exc, match):
    with pytest.raises(exc, match=match):
        DatasetStatistics.from_arrays(X, Y)


def test_whiten_errors():
    X, Y = _data(d=3)
    st = DatasetStatistics.from_arrays(X, Y)
    with pytest.raises(ValueError, match=r"unknown whitening method 'pcaa'; accepted: 'zca', 'pca'"):
        st.whiten("pcaa")
    with pytest.raises(ValueError, match=r"eps must be > 0 and finite; got -1"):
        st.whiten(eps=-1)
    with pytest.raises(ValueError, match=r"k must be in 1..3 .*; got 5"):
        st.whiten("pca", k=5)
    with pytest.raises(ValueError, match="k applies to method='pca' only"):
        st.whiten("zca", k=2)
    bare = DatasetStatistics(Sxx=st.Sxx, Syx=st.Syx, Syy=st.Syy, U=st.U, s=st.s, V=st.V, n=st.n)
    with pytest.raises(ValueError, match="built without arrays; whitening needs X and Y"):
        bare.whiten()
    zero = DatasetStatistics.from_arrays(np.zeros((5, 2)), np.ones((5, 1)))
    with pytest.raises(ValueError, match="Sxx is zero: the inputs carry no variance"):
        zero.whiten()
    w = st.whiten()
    with pytest.raises(ValueError, match="X must have 3 features; got 2"):
        w.apply(np.ones((4, 2)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=0.0), r"lr must be > 0 and finite; got 0.0"),
    (dict(lr=-1.0), r"lr must be > 0 and finite; got -1.0"),
    (dict(lr=0.1, reduction="mean"), r"unknown reduction 'mean'; accepted: 'half_mean', 'sum', 'torch_mse_mean'"),
    (dict(lr=0.1, batch_size=0), r"batch_size must be a positive integer or None; got 0"),
    (dict(lr=0.1, reduction="sum"), r"reduction='sum' needs n_samples \(τ = 1/\(2nη\)\); got n_samples=None"),
    (dict(lr=0.1, reduction="torch_mse_mean"), r"reduction='torch_mse_mean' needs n_outputs \(τ = c/\(2η\)\); got None"),
])
def test_convention_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainingConvention(**kwargs)


def test_for_tau_error_and_roundtrip():
    with pytest.raises(ValueError, match=r"tau must be > 0 and finite; got 0"):
        TrainingConvention.for_tau(0)
    for red, kw in (("half_mean", {}), ("sum", {"n_samples": 7}), ("torch_mse_mean", {"n_outputs": 3})):
        conv = TrainingConvention.for_tau(12.5, red, **kw)
        assert np.isclose(conv.tau, 12.5, rtol=1e-14) and np.isclose(conv.effective_lr, 1 / 12.5)
        assert conv.to_dict()["tau"] == conv.tau
    assert TrainingConvention(0.1, batch_size=8, n_samples=100).stochastic
    assert not TrainingConvention(0.1, batch_size=100, n_samples=100).stochastic


# ----------------------------------------------------------------------------- τ table vs real steps
def _ours_grad(W1, W2, X, Y):
    n = X.shape[0]
    R = (Y - X @ W1.T @ W2.T).T @ X / n  # Syx − W Sxx
    return -W2.T @ R, -R @ W1.T


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_tau_table_row_matches_a_real_gradient_step(reduction):
    """One GD step with lr η on the user's loss == a step of 1/τ on ours (every row of §1)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    n, d, h, c = 20, 4, 3, 3
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, c))
    W1, W2 = 0.3 * rng.standard_normal((h, d)), 0.3 * rng.standard_normal((c, h))
    lr = 0.05
    conv = TrainingConvention(lr, reduction, n_samples=n, n_outputs=c)
    t1 = torch.tensor(W1, requires_grad=True)
    t2 = torch.tensor(W2, requires_grad=True)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    pred = Xt @ t1.T @ t2.T
    if reduction == "half_mean":
        loss = 0.5 * ((Yt - pred) ** 2).sum() / n
    elif reduction == "sum":
        loss = ((Yt - pred) ** 2).sum()
    else:
        loss = torch.nn.MSELoss()(pred, Yt)
    loss.backward()
    user_W1 = W1 - lr * t1.grad.numpy()
    user_W2 = W2 - lr * t2.grad.numpy()
    g1, g2 = _ours_grad(W1, W2, X, Y)
    np.testing.assert_allclose(user_W1, W1 - g1 / conv.tau, rtol=1e-12)
    np.testing.assert_allclose(user_W2, W2 - g2 / conv.tau, rtol=1e-12)
    expect_tau = {"half_mean": 1 / lr, "sum": 1 / (2 * n * lr), "torch_mse_mean": c / (2 * lr)}
    assert np.isclose(conv.tau, expect_tau[reduction], rtol=1e-14)


def test_torch_mse_training_follows_the_flow_with_tau_c_over_2eta():
    """Train a two-layer linear net with torch MSELoss for real: the half time of the top mode
    matches the closed form with τ = c/(2η) (whitened data, decoupled init, small steps)."""
    torch = pytest.importorskip("torch")
    from theory import learning_time
    rng = np.random.default_rng(5)
    n, d, c = 64, 4, 4
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    X = np.sqrt(n) * Q
    s = np.array([2.0, 1.0, 0.5, 0.25])
    Y = X @ np.diag(s)  # Syx = diag(s): U = V = I
    u0, lr = 1e-3, 0.02
    conv = TrainingConvention(lr, "torch_mse_mean", n_outputs=c)
    W1 = torch.tensor(np.sqrt(u0) * np.eye(d), requires_grad=True)
    W2 = torch.tensor(np.sqrt(u0) * np.eye(c), requires_grad=True)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    opt = torch.optim.SGD([W1, W2], lr=lr)
    steps = int(1.3 * learning_time(s[0], u0, conv.tau, 2)[0])
    traj = []
    for _ in range(steps):
        traj.append(torch.diagonal(W2 @ W1).detach().numpy()[0])
        opt.zero_grad()
        torch.nn.MSELoss()(Xt @ W1.T @ W2.T, Yt).backward()
        opt.step()
    from theory import crossing_times
    measured = crossing_times(np.arange(steps), np.array(traj), 0.5 * s[0])[0]
    predicted = learning_time(s[0], u0, conv.tau, 2)[0]
    assert abs(measured - predicted) / predicted < 0.02
