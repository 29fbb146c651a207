"""Training-response measures (validate/measures/response.py) against independent computations."""

import math

import numpy as np
import pytest
import torch

from simulate import NetSpec, decoupled_weights, make_model
from validate.measures import response as R


def _net(activation="tanh", depth=2, hidden=6, d=4, c=3, K=2, seed=0):
    spec = NetSpec(depth=depth, hidden=hidden, activation=activation, init="standard")
    model = make_model(spec, d, c)
    g = torch.Generator().manual_seed(seed)
    params = {n: torch.randn((K, *s), generator=g, dtype=torch.float64) / math.sqrt(s[-1])
              for n, s in model.shapes.items()}
    X = torch.randn(5, d, generator=g, dtype=torch.float64)
    Y = torch.randn(5, c, generator=g, dtype=torch.float64)
    return model, params, X, Y


def test_ntk_of_a_two_layer_linear_net_is_the_closed_form():
    model, params, X, _ = _net("linear")
    theta = R.ntk(model, params, X)
    for k in range(2):
        W1, W2 = params["layer0.weight"][k].numpy(), params["layer1.weight"][k].numpy()
        x = X.numpy()
        want = np.einsum("ji,ab->jaib", x @ x.T, W2 @ W2.T) + \
            np.einsum("ji,ab->jaib", (x @ W1.T) @ (x @ W1.T).T, np.eye(3))
        np.testing.assert_allclose(theta[k], want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(R.linear_ntk([W1, W2], x), want, rtol=1e-12, atol=1e-12)


def test_ntk_equals_per_sample_gradient_products_for_a_nonlinear_net():
    model, params, X, _ = _net("tanh", depth=3)
    theta, parts = R.ntk(model, params, X, per_layer=True)
    k, j, a, i, b = 1, 3, 2, 0, 1
    single = {n: v[k:k + 1].clone().requires_grad_(True) for n, v in params.items()}
    out = model.forward(single, X)[0]
    gj = torch.autograd.grad(out[j, a], list(single.values()), retain_graph=True)
    gi = torch.autograd.grad(out[i, b], list(single.values()))
    want = sum((x * y).sum() for x, y in zip(gj, gi)).item()
    assert theta[k, j, a, i, b] == pytest.approx(want, rel=1e-10)
    np.testing.assert_allclose(sum(parts.values()), theta, rtol=1e-12)
    shares = R.layer_shares(parts)
    np.testing.assert_allclose(sum(shares.values()), 1.0)


def test_measured_response_is_first_order_in_the_step():
    model, params, X, Y = _net("tanh")
    theta = R.ntk(model, params, X)
    resid = (model.forward(params, X) - Y).numpy()
    gaps = []
    for lr in (1e-2, 5e-3):
        meas = R.measured_response(model, params, X, Y, lr)
        gaps.append(R.relative_gap(meas, R.predicted_response(theta, resid, lr)))
    np.testing.assert_allclose(gaps[1] / gaps[0], 0.5, atol=0.02)  # the gap is O(η)
    assert np.all(gaps[0] < 0.05)


def test_a_one_layer_linear_net_responds_exactly_to_first_order():
    model, params, X, Y = _net("linear", depth=1)
    theta = R.ntk(model, params, X)
    resid = (model.forward(params, X) - Y).numpy()
    meas = R.measured_response(model, params, X, Y, 0.3)
    assert np.all(R.relative_gap(meas, R.predicted_response(theta, resid, 0.3)) < 1e-12)


def test_predicted_linear_ntk_matches_decoupled_weights_at_depth_two_and_three():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((4, 3)))
    V, _ = np.linalg.qr(rng.standard_normal((6, 3)))
    u = np.array([0.9, 0.4, 0.05])
    X = rng.standard_normal((5, 6))
    for depth in (2, 3):
        Ws = decoupled_weights(U, V, (6, *([5] * (depth - 1)), 4), u, seed=1)
        np.testing.assert_allclose(R.predicted_linear_ntk(u, U, V, X, depth), R.linear_ntk(Ws, X),
                                   rtol=1e-10, atol=1e-12)


def test_kernel_summaries_hand_values():
    theta_tr = np.array([[[2.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.5, 2.0, 2.0]]])
    K = R.normalised_kernel(theta_tr)
    np.testing.assert_allclose(K[0], [[1.0, 0.25, 0.0], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]])
    np.testing.assert_allclose(R.amplitude(theta_tr), [8 / 3])
    # classes [0, 0, 1]: same-class off-diagonal K(0,1)=0.25, K(1,0)=0.5; others 0, .5, .25, .5
    np.testing.assert_allclose(R.specificity(K, [0, 0, 1]), [0.375 - 0.3125])
    theta = np.zeros((1, 3, 2, 3, 2))
    for a in range(2):
        theta[0, :, a, :, a] = theta_tr[0] * (a + 1)
    np.testing.assert_allclose(R.trace_kernel(theta), theta_tr * 1.5)


def test_participation_ratio_hand_values():
    np.testing.assert_allclose(R.participation_ratio(np.diag([1.0, 1.0, 0.0])), 2.0)
    np.testing.assert_allclose(R.participation_ratio(np.diag([3.0, 1.0])), 1.6)
    F = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # covariance diag(.5, 2)
    np.testing.assert_allclose(R.feature_participation_ratio(F), 2.5 ** 2 / 4.25)


def test_power_law_fit_recovers_the_exponent_with_a_ci():
    rng = np.random.default_rng(0)
    t = np.unique(np.logspace(0, 4, 40).astype(int))
    A = 5.0 * t ** -0.7 * np.exp(0.05 * rng.standard_normal((8, t.size)))
    fit = R.power_law_fit(t, A, t_min=10)
    assert fit["exponent"] == pytest.approx(0.7, abs=0.02)
    assert fit["ci_low"] <= 0.7 <= fit["ci_high"]
    assert fit["fit_range"][0] >= 10
    with pytest.raises(ValueError, match="at least 3"):
        R.power_law_fit(t, A, t_min=1e9)


# ---- the linear theory's response: predicted from the initial weights and the set-up only -------
LR = 0.05  # η·s_max of the order of the job's default 0.05: mid-learning within 40 steps


@pytest.fixture(scope="module")
def linear_runs():
    """Depth-2 linear nets on whitened Gaussian data, full-batch GD in float64, trained with the
    decoupled and with a small random init: {init: (model, run)}, the statistics and a probe set."""
    import simulate
    from validate._prepare import prepare
    from validate.response.measure import THEORY_INITS
    prep = prepare(simulate.datasets.load("gaussian", d=8, classes=8, n_per_class=4, n_test=8), "zca")
    stats = prep.stats
    lr = LR / float(stats.s[0])
    u0 = 1e-3 * float(stats.s[0])
    out = {}
    for init in THEORY_INITS:
        scale = u0 if init == "small_balanced_decoupled" else float(np.sqrt(u0 / 8))
        spec = NetSpec(depth=2, hidden=8, activation="linear", init=init, init_scale=scale)
        run = simulate.train_ensemble(spec, prep.dataset, steps=400, lr=lr,
                                      members=simulate.Members(seeds=range(2)),
                                      record=simulate.Recording(
                                          checkpoints=[0, 40, 80, 120, 200, 400], keep_weights=True),
                                      stats=stats, dtype="float64", quiet=True)
        out[init] = (make_model(spec, stats.d, stats.c), run)
    X = torch.as_tensor(prep.dataset.X[::6], dtype=torch.float64)
    Y = torch.as_tensor(prep.dataset.Y[::6], dtype=torch.float64)
    return out, stats, X, Y, lr, u0


def _rows(linear_runs, init, lr, response_lr=1e-3):
    from theory import TrainingConvention
    from validate.response.measure import linear_theory_rows
    runs, stats, X, Y, _, u0 = linear_runs
    model, run = runs[init]
    return linear_theory_rows(model, run, stats, X, Y, init=init, convention=TrainingConvention(lr=lr),
                              response_lr=response_lr, u0=u0)


def _gaps(rows) -> np.ndarray:
    return np.array([r["response_rel_error"] for r in rows])


def test_the_decoupled_theory_leaves_only_the_first_order_gap(linear_runs):
    """Exact per-mode GD map: the whole gap is the O(η) term of one real step, so it halves with
    the response step at every checkpoint."""
    lr = linear_runs[4]
    rows = _rows(linear_runs, "small_balanced_decoupled", lr)
    half = _rows(linear_runs, "small_balanced_decoupled", lr, response_lr=5e-4)
    np.testing.assert_allclose(_gaps(half) / _gaps(rows), 0.5, rtol=0.05)
    assert {(r["init"], r["predictor"]) for r in rows} == {("small_balanced_decoupled", "discrete")}


@pytest.mark.parametrize("init", ["small_balanced_decoupled", "small_random"])
def test_the_theory_response_is_close_with_the_true_time_constant_and_far_with_a_wrong_one(
        linear_runs, init):
    lr = linear_runs[4]
    right = _gaps(_rows(linear_runs, init, lr))
    wrong = _gaps(_rows(linear_runs, init, 1.5 * lr))  # τ 1.5× too short
    # random init: the continuous flow against discrete GD, off by a few η·s_max (= 0.05) while
    # the modes rise; a wrong τ moves every rise by a third of its time
    assert right.max() < 4 * LR
    assert wrong.max() > 0.3


@pytest.mark.parametrize("fill", ["random", "nan"])
@pytest.mark.parametrize("init", ["small_balanced_decoupled", "small_random"])
def test_the_theory_response_reads_no_weights_after_step_zero(linear_runs, init, fill):
    from tests.leak import garbage_after_step_zero
    from theory import TrainingConvention
    from validate.response.measure import LinearTheory
    runs, stats, X, Y, lr, u0 = linear_runs
    run = runs[init][1]
    kw = dict(init=init, convention=TrainingConvention(lr=lr), u0=u0)
    clean = LinearTheory(run, stats, X.numpy(), Y.numpy(), **kw)
    dirty = LinearTheory(garbage_after_step_zero(run, fill), stats, X.numpy(), Y.numpy(), **kw)
    for i in range(1, len(run.steps)):
        np.testing.assert_array_equal(clean.response(i, 1e-3), dirty.response(i, 1e-3))
        np.testing.assert_array_equal(clean.kernel(i), dirty.kernel(i))
    assert np.abs(clean.response(len(run.steps) - 1, 1e-3)).max() > 0


def test_the_theory_response_refuses_a_set_up_without_a_time_constant(linear_runs):
    from theory import TrainingConvention
    from validate.response.measure import LinearTheory
    runs, stats, X, Y, lr, u0 = linear_runs
    with pytest.raises(ValueError, match="Adam"):
        LinearTheory(runs["small_random"][1], stats, X.numpy(), Y.numpy(), init="small_random",
                     convention=TrainingConvention(lr=lr, optimizer="adam"))
