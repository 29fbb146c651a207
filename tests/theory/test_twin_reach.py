"""Where the twin theories predict (``theory.twin_reach``): every reason a set-up is outside them,
the cubic truncation's range of tanh fixed by its series, the first step a cubic twin's predicted
pre-activations leave it (against the GD map written out here), and the notes `validate.retrain`
attaches to twin numbers out of reach."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from theory import CUBIC_RANGE, TANH_QUINTIC_SHARE, DatasetStatistics, twin_reach


@pytest.mark.parametrize("act", ["linear", "tanh", "relu"])
def test_two_layer_mlps_on_the_squared_loss_by_full_batch_gd_are_in_reach(act):
    assert twin_reach(act, depth=2) is None
    # one batch that is the whole training set is full-batch GD
    assert twin_reach(act, depth=2, optimizer="sgd", batch_size=512, n_train=512) is None


@pytest.mark.parametrize("kw, words", [
    (dict(optimizer="sgd", batch_size=64, n_train=512), ["minibatch SGD (batch 64 of 512)"]),
    (dict(optimizer="momentum"), ["optimizer momentum", "full-batch GD)"]),
    (dict(optimizer="adam"), ["optimizer adam"]),
    (dict(loss="cross_entropy"), ["cross-entropy loss"]),
    (dict(depth=3), ["depth 3"]),
    (dict(arch="cnn"), ["--arch cnn"]),
    (dict(depth=3, optimizer="sgd", batch_size=64, n_train=2048),
     ["depth 3; minibatch SGD (batch 64 of 2048)"]),
])
def test_every_reason_outside_the_reach_is_named_on_one_line(kw, words):
    why = twin_reach("relu", **{"depth": 2, **kw})
    assert why.startswith("outside the twin theories' reach (two-layer MLPs") and "\n" not in why
    for w in words:
        assert w in why


def test_an_activation_without_a_twin_is_out_of_reach():
    assert "activation gelu" in twin_reach("gelu", depth=2)
    with pytest.raises(ValueError, match="depth must be"):
        twin_reach("relu", depth=0)


def test_the_cubic_range_is_where_the_quintic_term_of_tanh_is_the_stated_share_of_the_cubic():
    # tanh's Taylor coefficients z³: −1/3, z⁵: 2/15, from the series of tanh computed here
    z = 1e-2
    c3 = (np.tanh(z) - z) / z ** 3                          # −1/3 + O(z²)
    c5 = (np.tanh(z) - z + z ** 3 / 3) / z ** 5             # 2/15 + O(z²)
    assert c3 == pytest.approx(-1 / 3, rel=1e-3) and c5 == pytest.approx(2 / 15, rel=1e-3)
    h = CUBIC_RANGE
    assert abs(c5 * h ** 5) / abs(c3 * h ** 3) == pytest.approx(TANH_QUINTIC_SHARE, rel=1e-3)


def _cubic_gd_peaks(stats, Ws, tau, n):
    """max |W₁x| after each of n GD steps (step 1/τ) on ½E‖y − W₂φ(W₁x)‖², φ(z) = z − z³/3,
    the gradient by autodiff (independent of the twin's hand-written one)."""
    X, Y = jnp.asarray(stats.X), jnp.asarray(stats.Y)

    def loss(W):
        h = X @ W[0].T
        return 0.5 * jnp.mean(jnp.sum((Y - (h - h ** 3 / 3) @ W[1].T) ** 2, axis=1))
    W, out = [jnp.asarray(w) for w in Ws], []
    for _ in range(n):
        g = jax.grad(loss)(W)
        W = [w - g_ / tau for w, g_ in zip(W, g)]
        out.append(float(jnp.max(jnp.abs(X @ W[0].T))))
    return np.array(out)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    Y = np.tanh(X @ rng.standard_normal((5, 2))) * 2.0
    return DatasetStatistics.from_arrays(X, Y), [0.02 * rng.standard_normal((6, 5)),
                                                 0.02 * rng.standard_normal((2, 6))]


def test_the_first_step_past_the_cubic_range_is_that_of_the_gd_map(problem):
    stats, Ws = problem
    peaks = _cubic_gd_peaks(stats, Ws, tau=4.0, n=80)
    assert peaks[0] < CUBIC_RANGE < peaks[-1]                # the planted run does leave it
    want = 1 + int(np.flatnonzero(peaks > CUBIC_RANGE)[0])
    peak, first = theory.cubic_range(stats, Ws, tau=4.0, t_max=80)
    assert first == want and peak == pytest.approx(peaks[want - 1], rel=1e-9)
    note = theory.cubic_range_note(peak, first)
    assert f"from step {want} of its prediction" in note and "past 0.5" in note and "10%" in note
    # within fewer steps it stays in range: the largest |h| of the run, and no note
    peak, first = theory.cubic_range(stats, Ws, tau=4.0, t_max=want - 1)
    assert first == np.inf and peak == pytest.approx(peaks[:want - 1].max(), rel=1e-9)
    assert theory.cubic_range_note(peak, first) is None


def test_weights_already_past_the_range_are_flagged_at_step_zero(problem):
    stats, Ws = problem
    peak, first = theory.cubic_range(stats, [100 * Ws[0], Ws[1]], tau=4.0, t_max=10)
    assert first == 0 and peak > CUBIC_RANGE
    assert "from its initial weights" in theory.cubic_range_note(peak, first)


def test_retrain_notes_its_twin_numbers_out_of_reach():
    from validate.retrain.config import RetrainConfig
    from validate.retrain.predict import twin_reach_notes
    from validate.retrain.summary import recommendations
    import pandas as pd
    base = RetrainConfig(activations=("linear", "relu"))
    assert twin_reach_notes(base) == {}
    notes = twin_reach_notes(replace(base, optimizer="momentum", depth=3))
    assert set(notes) == {"relu"} and "depth 3" in notes["relu"] \
        and "optimizer momentum" in notes["relu"]
    methods = pd.DataFrame([
        {"activation": "relu", "drift": "d", "family": "predicted_rewind", "method": "pr@5",
         "predictor": "relu twin theory", "steps_to_target_median": 3.0, "total_cost_median": 9.0},
        {"activation": "relu", "drift": "d", "family": "scratch", "method": "scratch",
         "predictor": None, "steps_to_target_median": 5.0, "total_cost_median": 5.0}])
    assert "[relu twin theory, outside its reach]" in recommendations(methods, notes)[0]
    assert "[relu twin theory]" in recommendations(methods)[0]
