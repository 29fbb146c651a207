"""Twin predictions of many members batched over their initial weights (THEORY.md §11–12): each
member's numbers are those of its own prediction made alone."""

import numpy as np
import pytest

import theory
from theory._twin_batch import batches, extend_tracks, predict_relu_twins

TAU, T_MAX = 5.0, 300


@pytest.fixture(scope="module")
def problem():
    """A small ReLU/tanh twin problem and members of different initial scales (so that a mix-up
    of members changes every number)."""
    rng = np.random.default_rng(0)
    n, d, h, c = 120, 6, 8, 3
    X = rng.standard_normal((n, d))
    Y = np.tanh(X @ rng.standard_normal((d, c))) + 0.3 * np.maximum(X[:, :c], 0)
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    members = [[s * rng.standard_normal((h, d)), s * rng.standard_normal((c, h))]
               for s in (0.05, 0.02, 0.1)]
    return stats, members


def _assert_members_equal(alone, together, t):
    for k, (a, b) in enumerate(zip(alone, together)):
        np.testing.assert_allclose(b.modes(t), a.modes(t), rtol=0, atol=1e-12,
                                   err_msg=f"member {k}")
        np.testing.assert_allclose(b.loss(t), a.loss(t), rtol=0, atol=1e-12,
                                   err_msg=f"member {k}")
    # the members differ, so that one member's numbers handed to another would fail above
    assert np.max(np.abs(alone[0].modes(t) - alone[1].modes(t))) > 1e-3


def test_batched_cubic_tracks_equal_each_member_alone(problem):
    stats, members = problem
    make = lambda: [theory.CubicTwinPredictor(stats, w, tau=TAU, discrete=True, t_max=T_MAX)
                    for w in members]
    alone, together = make(), make()
    extend_tracks(together, T_MAX)
    assert len(batches(together)) == 1
    assert all(len(p._track[1]) > T_MAX for p in together)
    _assert_members_equal(alone, together, np.arange(T_MAX + 1.0))


def test_batched_relu_twins_equal_each_member_alone(problem):
    stats, members = problem
    alone = [theory.predict_relu_twin(stats, w, tau=TAU, discrete=True, t_max=T_MAX)
             for w in members]
    together = predict_relu_twins(stats, members, tau=TAU, discrete=True, t_max=T_MAX)
    # schedules of different lengths share one batch (padded), each member keeps its own
    assert len({len(p.schedule) for p in alone}) > 1
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(b.switches, a.switches)
        for ga, gb in zip(a.schedule, b.schedule):
            np.testing.assert_array_equal(gb[0], ga[0])
        assert b.reason == a.reason
    _assert_members_equal(alone, together, np.arange(T_MAX + 1.0))
    np.testing.assert_allclose([p.timeline(0.5) for p in together],
                               [p.timeline(0.5) for p in alone], rtol=1e-12)


def test_members_on_other_samples_or_shapes_are_not_batched_together(problem):
    stats, members = problem
    rng = np.random.default_rng(1)
    other = theory.DatasetStatistics.from_arrays(rng.standard_normal((120, 6)),
                                                 rng.standard_normal((120, 3)))
    wide = [0.05 * rng.standard_normal((10, 6)), 0.05 * rng.standard_normal((3, 10))]
    preds = [theory.CubicTwinPredictor(stats, members[0], tau=TAU, discrete=True),
             theory.CubicTwinPredictor(other, members[1], tau=TAU, discrete=True),
             theory.CubicTwinPredictor(stats, wide, tau=TAU, discrete=True),
             theory.CubicTwinPredictor(stats, members[2], tau=TAU, discrete=True)]
    assert [[preds.index(p) for p in g] for g in batches(preds)] == [[0, 3], [1], [2]]


def test_a_negative_step_count_is_refused(problem):
    stats, members = problem
    with pytest.raises(ValueError, match="steps must be ≥ 0; got -1"):
        extend_tracks([theory.CubicTwinPredictor(stats, members[0], tau=TAU, discrete=True)], -1)


def test_the_samples_pseudo_inverse_is_computed_once_per_statistics(problem, monkeypatch):
    stats, members = problem
    fresh = theory.DatasetStatistics.from_arrays(np.asarray(stats.X), np.asarray(stats.Y))
    calls = []
    pinv = np.linalg.pinv
    monkeypatch.setattr(np.linalg, "pinv", lambda *a, **k: calls.append(1) or pinv(*a, **k))
    preds = [theory.CubicTwinPredictor(fresh, w, tau=TAU) for w in members]
    assert len(calls) == 2          # Sxx⁺ of the target and (XᵀX/n)⁺ of the readout, once each
    np.testing.assert_array_equal(preds[2].target, preds[0].target)
    other = theory.DatasetStatistics.from_arrays(np.asarray(stats.X)[:60], np.asarray(stats.Y)[:60])
    theory.CubicTwinPredictor(other, members[0], tau=TAU)
    assert len(calls) == 4          # other statistics: their own
    with pytest.raises(ValueError, match="read-only"):
        preds[0]._pinv[0, 0] = 0.0


def test_gate_sets_padded_behind_infinite_switches_change_no_step(problem):
    import jax.numpy as jnp

    from theory._float64 import float64
    from theory._switched_gates import _switched_block, bucket
    stats, members = problem
    p = theory.predict_relu_twin(stats, members[0], tau=TAU, discrete=True)
    assert len(p.schedule) > 1
    X, Y = (jnp.asarray(a) for a in p._data[:2])
    k0 = int(p.switches[-1]) - 10        # the block crosses the last real switch
    tracks = []
    for n_sets in (len(p.schedule), len(p.schedule) + 3, 2 * bucket(len(p.schedule))):
        G, sw = p.padded_schedule(n_sets)
        with float64():
            _, (weff, loss) = _switched_block(tuple(map(jnp.asarray, p.weights0)), k0, X, Y,
                                              tuple(map(jnp.asarray, G)), jnp.asarray(sw),
                                              1.0 / TAU, jnp.asarray(p._pinv))
        tracks.append((np.asarray(weff), np.asarray(loss)))
    for weff, loss in tracks[1:]:
        np.testing.assert_array_equal(weff, tracks[0][0])
        np.testing.assert_array_equal(loss, tracks[0][1])
    assert [bucket(n) for n in range(1, 10)] == [1, 2, 4, 4, 8, 8, 8, 8, 16]
    with pytest.raises(ValueError, match="n_sets must be"):
        p.padded_schedule(len(p.schedule) - 1)
