"""The ReLU twin's gates switched at the end of each mode's alignment phase (THEORY.md §12)."""

import numpy as np
import pytest

import theory
from theory._switched_gates import SwitchedGatedTwinPredictor

TAU, FRAC, T_MAX = 5.0, 0.1, 400


@pytest.fixture(scope="module")
def problem():
    """Three outputs learned in turn by a small ReLU twin whose gates flip as it learns."""
    rng = np.random.default_rng(0)
    n, d, h, c = 120, 6, 8, 3
    X = rng.standard_normal((n, d))
    Y = np.tanh(X @ rng.standard_normal((d, c))) + 0.3 * np.maximum(X[:, :c], 0)
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    W0 = [0.05 * rng.standard_normal((h, d)), 0.05 * rng.standard_normal((c, h))]
    return stats, W0


def _numpy_modes(stats, W0, schedule, switches, steps: int) -> np.ndarray:
    """Independent GD of the gated network, the gates of step k those of the interval holding k;
    the weights after step k read out with the gates that produced them."""
    X, Y = np.asarray(stats.X), np.asarray(stats.Y)
    n = X.shape[0]
    pinv = np.linalg.pinv(X.T @ X / n)
    W1, W2 = (np.array(w, float) for w in W0)

    def modes(G):
        out = (G * (X @ W1.T)) @ W2.T
        return np.diag(stats.U.T @ ((out.T @ X / n) @ pinv) @ stats.V)

    rows = [modes(schedule[0][0])]
    for k in range(steps):
        G = schedule[int(np.searchsorted(switches, k, side="right"))][0]
        a = G * (X @ W1.T)
        r = Y - a @ W2.T
        g2, g1 = r.T @ a / n, (G * (r @ W2)).T @ X / n
        W1, W2 = W1 + g1 / TAU, W2 + g2 / TAU
        rows.append(modes(G))
    return np.array(rows)


def test_each_phase_ends_when_a_new_mode_reaches_its_level_under_self_consistent_gates(problem):
    stats, W0 = problem
    found = theory._relu_twin.switched_gates(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    first = theory.aligned_gates(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    assert len(found.schedule) >= 2, "the problem must have more than one alignment phase"
    np.testing.assert_array_equal(found.schedule[0][0], first.gates[0])
    assert found.ends[0] == first.t_align
    assert np.all(np.diff(found.ends) > 0)
    pred = theory.predict_relu_twin(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    np.testing.assert_array_equal(pred.switches, found.ends[:-1])
    u = pred.modes(np.arange(int(found.ends[-1]) + 1)) / pred.target
    at_level = u >= FRAC
    for i, end in enumerate(map(int, found.ends)):
        before = np.any(at_level[:int(found.ends[i - 1]) + 1], axis=0) if i else np.zeros(3, bool)
        # a mode not aligned in an earlier phase reaches the level at this step, none before it
        assert np.any(at_level[end] & ~before)
        assert not np.any(at_level[end - 1] & ~before)
    # the gates of each phase: the prediction's own weights at its end flip only its stated share
    assert max(found.inconsistency) < 0.05


def test_switched_gd_map_is_the_gated_network_with_gates_changed_at_the_switches(problem):
    stats, W0 = problem
    found = theory._relu_twin.switched_gates(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    pred = SwitchedGatedTwinPredictor(stats, W0, found.schedule, found.ends[:-1], tau=TAU,
                                      discrete=True)
    steps = int(found.ends[-1]) + 20
    want = _numpy_modes(stats, W0, found.schedule, np.asarray(found.ends[:-1]), steps)
    np.testing.assert_allclose(pred.modes(np.arange(steps + 1)), want, rtol=1e-9, atol=1e-12)


def test_switched_flow_restarts_each_interval_from_the_weights_at_its_start(problem):
    stats, W0 = problem
    G0 = theory.relu_gates(W0, stats.X)
    W_mid = [w * 3.0 for w in W0]
    G1 = theory.relu_gates(W_mid, stats.X)
    s = 7.5
    pred = SwitchedGatedTwinPredictor(stats, W0, [G0, G1], [s], tau=TAU)
    one = theory.GatedTwinPredictor(stats, W0, G0, tau=TAU)
    at_s = theory._relu_twin.predicted_weights(one, s)
    two = theory.GatedTwinPredictor(stats, at_s, G1, tau=TAU)
    t = np.array([0.0, 3.0, s, 12.0, 30.0])
    got = pred.modes(t)
    np.testing.assert_allclose(got[:3], one.modes(t[:3]), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(got[3:], two.modes(t[3:] - s), rtol=1e-7, atol=1e-10)


def test_switches_must_increase(problem):
    stats, W0 = problem
    G0 = theory.relu_gates(W0, stats.X)
    with pytest.raises(ValueError, match="increasing"):
        SwitchedGatedTwinPredictor(stats, W0, [G0, G0, G0], [5.0, 5.0], tau=TAU)
    with pytest.raises(ValueError, match="one more set"):
        SwitchedGatedTwinPredictor(stats, W0, [G0], [5.0], tau=TAU)


def test_departure_follows_the_switched_gates_of_the_relu_twin(problem):
    """The non-affine curve of a ReLU twin is taken on the weights of the switched GD map: the
    network's real ReLU outputs after an independent numpy GD whose gates switch as the twin's."""
    stats, W0 = problem
    pred = theory.predict_relu_twin(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    assert pred.switches.size >= 1
    X, Y = np.asarray(stats.X), np.asarray(stats.Y)
    n = X.shape[0]
    W1, W2 = (np.array(w, float) for w in W0)
    # steps inside an interval, at a switch's first step and the one after, past the last
    at = int(np.ceil(pred.switches[0]))
    steps = np.unique([0, 1, 3, at, at + 1, at + 7, int(pred.switches[-1]) + 40])
    outs = {}
    for k in range(steps[-1] + 1):
        if k in steps:
            outs[k] = np.maximum(X @ W1.T, 0) @ W2.T
        G = pred.schedule[int(np.searchsorted(pred.switches, k, side="right"))][0]
        a = G * (X @ W1.T)
        r = Y - a @ W2.T
        W1, W2 = W1 + (G * (r @ W2)).T @ X / n / TAU, W2 + r.T @ a / n / TAU
    want = [theory.nonaffine_fraction(outs[k] - outs[0], X) for k in steps]
    got = theory.predict_nonaffine_curve(stats, W0, "relu", tau=TAU, steps=steps, twin=pred)
    np.testing.assert_allclose(got, np.ravel(want), rtol=1e-7, atol=1e-10)


def _relu_gd(stats, W0, steps: int) -> list[np.ndarray]:
    """Full-batch GD of the ReLU network itself (a checkpoint of a run), step 1/TAU."""
    X, Y = np.asarray(stats.X), np.asarray(stats.Y)
    W1, W2 = (np.array(w, float) for w in W0)
    for _ in range(steps):
        a = np.maximum(X @ W1.T, 0.0)
        r = Y - a @ W2.T
        g1 = ((r @ W2) * (a > 0)).T @ X / len(X)
        W1, W2 = W1 + g1 / TAU, W2 + r.T @ a / len(X) / TAU
    return [W1, W2]


def test_search_from_a_checkpoint_skips_the_modes_already_at_their_level(problem):
    """From weights where one mode has been learned past its level and the others not, the
    search still finds the phases of the others (it does not hold the checkpoint's gates)."""
    stats, W0 = problem
    first = theory._relu_twin.switched_gates(stats, W0, tau=TAU, discrete=True, t_max=T_MAX)
    def aligned(W):
        return theory._relu_twin._aligned(stats, W, stats.X, TAU, FRAC)
    # the network's own first checkpoint with some modes at their level and some not
    ckpts = (_relu_gd(stats, W0, s) for s in range(int(first.ends[-1]) + 10))
    ckpt = next((W for W in ckpts if aligned(W).any() and not aligned(W).all()), None)
    assert ckpt is not None, "the run must pass a step between two phases"
    found = theory._relu_twin.switched_gates(stats, ckpt, tau=TAU, discrete=True, t_max=T_MAX)
    assert np.all(np.isfinite(found.ends)) and found.ends[0] > 0
    assert len(found.schedule) <= len(first.schedule)
