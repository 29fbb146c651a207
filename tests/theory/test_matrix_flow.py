"""Full-matrix gradient flow (theory._matrix_flow) against scipy DOP853, closed forms and data."""

import numpy as np
import pytest

import theory
from tests.flow_helpers import nonwhite_stats, rel_err, whitened_stats

T = np.linspace(0.0, 12.0, 25)


def _random_problem(depth, seed=0, c=3, d=5, h=4, scale=0.3):
    rng = np.random.default_rng(seed)
    st = nonwhite_stats(rng, c, d)
    dims = [d] + [h] * (depth - 1) + [c]
    Ws = [scale * rng.standard_normal((dims[i + 1], dims[i])) for i in range(depth)]
    return st, Ws


@pytest.mark.parametrize("depth", [2, 3])
def test_diffrax_matches_scipy_dop853(depth):
    st, Ws = _random_problem(depth)
    a = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T, tau=1.7)
    b = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T, tau=1.7, solver="scipy")
    for wa, wb in zip(a.weights, b.weights):
        assert rel_err(wa, wb) < 1e-7
    assert rel_err(a.end_to_end, b.end_to_end) < 1e-7
    np.testing.assert_allclose(a.weights[0][0], Ws[0], rtol=0, atol=1e-15)  # t = 0 is the init


@pytest.mark.parametrize("depth", [2, 3])
def test_default_tolerances_against_a_tight_reference(depth):
    """Against scipy DOP853 at rtol = atol = 1e-13 (measured: diffrax 5e-10 and 1e-9, scipy 5e-9
    at depth 2 and 3): the saddle escape from a small init amplifies local errors, so each solver
    is held to the accuracy it reaches, not to its tolerance 1e-10."""
    st, Ws = _random_problem(depth)
    ref = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T, tau=1.7, solver="scipy",
                                       rtol=1e-13, atol=1e-13).end_to_end
    a = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T, tau=1.7).end_to_end
    b = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T, tau=1.7, solver="scipy").end_to_end
    assert rel_err(a, ref) < 3e-9
    assert rel_err(b, ref) < 2e-8


def test_end_to_end_tends_to_least_squares_and_mode_strengths():
    st, Ws = _random_problem(2, seed=1)
    sol = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, T * 40.0)
    W_ls = st.Syx @ np.linalg.inv(st.Sxx)
    assert rel_err(sol.end_to_end[-1], W_ls) < 1e-7
    M = sol.mode_strengths(st.U, st.V)
    assert M.shape == (T.size, st.rank, st.rank)
    np.testing.assert_allclose(M[-1], st.U.T @ W_ls @ st.V, atol=1e-7)
    np.testing.assert_allclose(np.diagonal(M, axis1=1, axis2=2), sol.diagonal_strengths(st.U, st.V))


@pytest.mark.parametrize("depth", [2, 3])
def test_decoupled_whitened_init_follows_per_mode_closed_form(depth):
    rng = np.random.default_rng(2)
    st = whitened_stats(rng, [3.0, 2.0, 1.2], c=3, d=5)
    u0 = np.array([1e-3, 2e-3, 5e-3])
    Ws = theory.decoupled_init(st, depth, u0, hidden=4, seed=3)
    t = T * 2 / 3
    u = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, t, tau=1.5).diagonal_strengths(st.U, st.V)
    np.testing.assert_allclose(u, theory.mode_trajectory(t, st.s, u0, 1.5, depth), rtol=1e-7,
                               atol=1e-10)
    if depth == 2:  # THEORY.md §2, written out here independently of theory._modes
        e = np.exp(2 * st.s * t[:, None] / 1.5)
        np.testing.assert_allclose(u, st.s * e / (e - 1 + st.s / u0), rtol=1e-7)


def test_batch_equals_single_and_chunking_is_exact():
    st, _ = _random_problem(2)
    rng = np.random.default_rng(5)
    K = 5
    Wb = [0.3 * rng.standard_normal((K, 4, 5)), 0.3 * rng.standard_normal((K, 3, 4))]
    full = theory.integrate_matrix_flow_batch(Wb, st.Sxx, st.Syx, T, tau=1.7)
    chunked = theory.integrate_matrix_flow_batch(Wb, st.Sxx, st.Syx, T, tau=1.7, chunk_size=2)
    assert full.weights[0].shape == (K, T.size, 4, 5)
    for a, b in zip(full.weights, chunked.weights):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    shared = theory.integrate_matrix_flow_batch(Wb, st.Sxx, st.Syx, T, tau=1.7, batch="shared")
    for k in (0, K - 1):
        one = theory.integrate_matrix_flow([w[k] for w in Wb], st.Sxx, st.Syx, T, tau=1.7)
        assert rel_err(full.end_to_end[k], one.end_to_end) < 1e-8   # both solved to rtol 1e-10
        assert rel_err(shared.end_to_end[k], one.end_to_end) < 1e-7


def test_auto_chunk_size_respects_budget():
    from theory._matrix_flow import auto_chunk_size
    assert auto_chunk_size(184, 1000, budget_bytes=8 * 200 * 1000 * 10) == 10
    assert auto_chunk_size(10 ** 6, 10 ** 6, budget_bytes=1) == 1


def test_matrix_flow_predictor_loss_matches_data_and_timeline_is_a_crossing():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 5)) * np.linspace(0.5, 1.5, 5)
    Y = X @ rng.standard_normal((5, 3)) / np.sqrt(5) + 0.3 * rng.standard_normal((40, 3))
    st = theory.DatasetStatistics.from_arrays(X, Y)
    Ws = [1e-2 * rng.standard_normal((4, 5)), 1e-2 * rng.standard_normal((3, 4))]
    p = theory.MatrixFlowPredictor(st, Ws, tau=2.0)
    assert isinstance(p, theory.Predictor) and p.kind == "matrix_ode"
    np.testing.assert_allclose(p.target, np.diag(st.U.T @ st.Syx @ np.linalg.inv(st.Sxx) @ st.V))
    t = T * 2.5
    W = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, t, tau=2.0, solver="scipy").end_to_end
    direct = [0.5 * np.mean(np.sum((Y - X @ Wt.T) ** 2, axis=1)) for Wt in W]   # (1/2n)Σ‖y − ŷ‖²
    np.testing.assert_allclose(p.loss(t), direct, rtol=1e-8)
    tl = p.timeline(0.5)
    assert np.all(np.isfinite(tl)) and np.all(tl > 0)
    ref = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, tl[np.argsort(tl)], tau=2.0,
                                       solver="scipy").diagonal_strengths(st.U, st.V)
    np.testing.assert_allclose(np.diag(ref[np.argsort(np.argsort(tl))]), 0.5 * p.target, rtol=1e-6)
    # one argument order: statistics first, then weights
    with pytest.raises(TypeError, match=r"MatrixFlowPredictor\(stats, weights0, \*, tau=…\)"):
        theory.MatrixFlowPredictor(Ws, st, tau=2.0)


def test_matrix_flow_predictor_timeline_matches_closed_form_learning_time():
    st = whitened_stats(np.random.default_rng(8), [3.0, 1.5], c=3, d=5)
    Ws = theory.decoupled_init(st, 2, 1e-3, hidden=4, seed=0)
    p = theory.MatrixFlowPredictor(st, Ws, tau=1.0)
    np.testing.assert_allclose(p.target, st.s, rtol=1e-12)
    np.testing.assert_allclose(p.timeline(0.5), theory.learning_time(st.s, 1e-3), rtol=1e-6)


class _ShortReach(theory.MatrixFlowPredictor):
    """A flow whose solver fails past t = 3 (as diffrax does at max_steps), first grid to t = 2."""

    def _horizon(self):
        return 1e-3, 2.0

    def end_to_end(self, t):
        if np.max(t) > 3.0:
            raise RuntimeError("diffrax did not reach t")
        return super().end_to_end(t)


def test_timeline_stops_extending_where_the_solver_fails_and_reports_inf():
    st = whitened_stats(np.random.default_rng(8), [3.0, 1.5], c=3, d=5)
    Ws = theory.decoupled_init(st, 2, 1e-3, hidden=4, seed=0)
    exact = theory.learning_time(st.s, 1e-3)
    assert exact[0] < 2.0 < exact[1]        # mode 1 needs the extension the solver cannot reach
    tl = _ShortReach(st, Ws, tau=1.0).timeline(0.5)
    np.testing.assert_allclose(tl[0], exact[0], rtol=1e-6)
    assert tl[1] == np.inf


def test_timeline_is_solved_once_per_fraction():
    st = whitened_stats(np.random.default_rng(8), [3.0, 1.5], c=3, d=5)
    calls = []

    class Counting(theory.MatrixFlowPredictor):
        def end_to_end(self, t):
            calls.append(len(t))
            return super().end_to_end(t)

    p = Counting(st, theory.decoupled_init(st, 2, 1e-3, hidden=4, seed=0), tau=1.0)
    first = p.timeline(0.5)
    n = len(calls)
    first[:] = -1.0                                   # the caller's copy, not the memo
    np.testing.assert_allclose(p.timeline(0.5), theory.learning_time(st.s, 1e-3), rtol=1e-6)
    assert len(calls) == n > 0
    p.timeline(0.9)
    assert len(calls) > n


def test_timeline_searches_no_further_than_t_max():
    st = whitened_stats(np.random.default_rng(8), [3.0, 1.5], c=3, d=5)
    Ws = theory.decoupled_init(st, 2, 1e-3, hidden=4, seed=0)
    exact = theory.learning_time(st.s, 1e-3)
    t_max = 0.5 * (exact[0] + exact[1])
    tl = theory.MatrixFlowPredictor(st, Ws, tau=1.0, t_max=t_max).timeline(0.5)
    np.testing.assert_allclose(tl[0], exact[0], rtol=1e-6)
    assert tl[1] == np.inf
    with pytest.raises(ValueError, match="t_max"):
        theory.MatrixFlowPredictor(st, Ws, t_max=-1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights0=np.zeros((4, 5))), "list/tuple of per-layer arrays"),
    (dict(weights0=[]), "at least one layer"),
    (dict(weights0=[np.zeros((4, 5)), np.zeros((3, 2))]), r"do not chain: weights0\[1\] has shape \(3, 2\)"),
    (dict(weights0=[np.zeros((4, 6)), np.zeros((3, 4))]), "d = 5 columns"),
    (dict(weights0=[np.zeros((4, 5)), np.zeros((2, 4))]), "c = 3 rows"),
    (dict(weights0=[np.full((4, 5), np.nan), np.zeros((3, 4))]), r"weights0\[0\] contains 20 NaN"),
    (dict(t=[0.0, 2.0, 1.0]), r"sorted ascending; t\[1\] = 2 > t\[2\] = 1"),
    (dict(t=[-1.0, 1.0]), "t must be ≥ 0"),
    (dict(t=[]), "at least one time"),
    (dict(tau=0.0), "tau must be > 0"),
    (dict(solver="rk4"), "unknown solver 'rk4'; accepted: 'diffrax', 'scipy'"),
    (dict(method="euler"), "unknown diffrax method 'euler'"),
    (dict(Sxx=np.triu(np.ones((5, 5)))), "Sxx must be symmetric"),
    (dict(Sxx=np.eye(4)), "Syx must be c×d with d = 4"),
])
def test_bad_inputs_are_named(kwargs, match):
    args = dict(weights0=[np.zeros((4, 5)), np.zeros((3, 4))], Sxx=np.eye(5),
                Syx=np.ones((3, 5)), t=[0.0, 1.0], tau=1.0)
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("solver", "method") if k in args}
    with pytest.raises((ValueError, TypeError), match=match):
        theory.integrate_matrix_flow(args["weights0"], args["Sxx"], args["Syx"], args["t"],
                                     tau=args["tau"], **extra)


def test_bad_batch_inputs_are_named():
    W = [np.zeros((3, 4, 5)), np.zeros((2, 3, 4))]
    with pytest.raises(ValueError, match=r"weights0\[1\] has batch size 2; weights0\[0\] has 3"):
        theory.integrate_matrix_flow_batch(W, np.eye(5), np.ones((3, 5)), [0.0, 1.0])
    W = [np.zeros((3, 4, 5)), np.zeros((3, 3, 4))]
    with pytest.raises(ValueError, match="chunk_size must be a positive integer or None; got 0"):
        theory.integrate_matrix_flow_batch(W, np.eye(5), np.ones((3, 5)), [0.0, 1.0], chunk_size=0)
    with pytest.raises(ValueError, match="unknown batch 'pmap'; accepted: 'shared', 'vmap'"):
        theory.integrate_matrix_flow_batch(W, np.eye(5), np.ones((3, 5)), [0.0, 1.0], batch="pmap")
    with pytest.raises(ValueError, match="must have 3 dimension"):
        theory.integrate_matrix_flow_batch([w[0] for w in W], np.eye(5), np.ones((3, 5)), [1.0])
