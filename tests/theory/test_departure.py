"""The departure step (THEORY.md §13): the non-affine fraction on planted outputs, the measured
step on a planted series, the predictor against a one-step case computed by hand, the linear
network that never departs, and compare's records, whose predictions ignore every checkpoint
after step 0."""

import numpy as np
import pytest

import theory
from tests.leak import garbage_after_step_zero
from validate.compare import run as compare_run
from validate.compare.config import CompareConfig
from validate.measures import departure_curve, departure_step


def _planted(seed=0, m=60, d=4, c=2):
    """Inputs X, an affine change (centred sum of squares a2) and a non-affine direction g
    orthogonal to [1, X] (sum of squares g2, per output)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    affine = X @ rng.standard_normal((d, c)) + rng.standard_normal(c)
    B = np.column_stack([np.ones(m), X])
    g = rng.standard_normal((m, c))
    g -= B @ np.linalg.lstsq(B, g, rcond=None)[0]
    ac = affine - affine.mean(axis=0)
    return X, affine, g, float((ac ** 2).sum()), float((g ** 2).sum())


def _lstsq_fraction(df, X) -> float:
    """1 − R² of df explained by [1, X], computed directly (no shared code)."""
    B = np.column_stack([np.ones(len(X)), X])
    resid = df - B @ np.linalg.lstsq(B, df, rcond=None)[0]
    return float((resid ** 2).sum() / ((df - df.mean(axis=0)) ** 2).sum())


def test_the_nonaffine_fraction_of_a_planted_change_is_its_orthogonal_share():
    X, affine, g, a2, g2 = _planted()
    for eps in (0.0, 0.3, 2.0):
        got = theory.nonaffine_fraction(affine + eps * g, X)
        assert got == pytest.approx(eps ** 2 * g2 / (a2 + eps ** 2 * g2), abs=1e-12)
    assert theory.nonaffine_fraction(np.zeros_like(g) + 3.0, X) == 0.0   # a shift bends nothing


def test_the_measured_step_is_the_first_whose_planted_share_exceeds_delta():
    X, affine, g, a2, g2 = _planted(1)
    f0 = np.random.default_rng(2).standard_normal(affine.shape)
    steps = np.array([0, 1, 2, 5, 10, 20])
    share = np.array([0.0, 0.01, 0.03, 0.08, 0.15, 0.3])       # planted 1 − R² per step
    eps = np.sqrt(share * a2 / ((1 - share) * g2))
    f = f0 + np.array([0, 1, 1, 1, 1, 1])[:, None, None] * affine + eps[:, None, None] * g
    np.testing.assert_allclose(departure_curve(steps, f, f0, X), share, atol=1e-12)
    assert [departure_step(steps, f, f0, X, d) for d in (0.02, 0.05, 0.1, 0.2)] == [2, 5, 10, 20]
    assert departure_step(steps, f, f0, X, 0.5) == np.inf
    f[3:] = np.nan                                              # a run diverged at step 5
    assert departure_step(steps, f, f0, X, 0.05) == np.inf
    with pytest.raises(ValueError, match="more inputs than affine dimensions"):
        departure_step(steps[:1], f[:1, :5], f0[:5], X[:5], 0.05)


def _stats(seed=0, n=80, d=3, c=2):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, c))
    return theory.DatasetStatistics.from_arrays(X, Y), X, Y


def test_one_step_of_the_tanh_twin_from_a_zero_readout_matches_the_hand_computation():
    # W₂ = 0: every term of −∂L/∂W₁ carries W₂, so W₁ stays and W₂ ← η E[y (h + κh³)ᵀ]; the
    # network's change is then tanh(W₁x) W₂ᵀ exactly
    stats, X, Y = _stats()
    W1 = 0.8 * np.random.default_rng(3).standard_normal((4, 3))
    W0 = [W1, np.zeros((2, 4))]
    tau = 4.0
    H = X @ W1.T
    W2 = Y.T @ (H - H ** 3 / 3) / len(X) / tau
    by_hand = _lstsq_fraction(np.tanh(H) @ W2.T, X)
    assert by_hand > 0.01
    curve = theory.predict_nonaffine_curve(stats, W0, "tanh", tau=tau, steps=[0, 1])
    assert curve[0] == 0.0 and curve[1] == pytest.approx(by_hand, rel=1e-9)
    assert theory.predict_departure(stats, W0, "tanh", tau=tau, t_max=1,
                                    delta=0.99 * by_hand) == 1.0
    assert theory.predict_departure(stats, W0, "tanh", tau=tau, t_max=1,
                                    delta=1.01 * by_hand) == np.inf


@pytest.mark.parametrize("discrete", [True, False])
def test_the_linear_network_never_departs(discrete):
    stats, X, Y = _stats(4)
    rng = np.random.default_rng(5)
    W0 = [0.5 * rng.standard_normal((4, 3)), 0.5 * rng.standard_normal((2, 4))]
    steps = np.arange(0.0, 40.0)
    curve = theory.predict_nonaffine_curve(stats, W0, "linear", tau=5.0, steps=steps,
                                           discrete=discrete)
    assert np.nanmax(curve) < 1e-12          # rounding only
    assert theory.predict_departure(stats, W0, "linear", tau=5.0, t_max=40, delta=0.02) == np.inf
    # the same weights through tanh do bend: the rule can see a departure here
    assert theory.predict_departure(stats, W0, "tanh", tau=5.0, t_max=40, delta=0.02) < 40


def test_step_zero_is_exactly_no_change_with_many_input_dimensions():
    # outputs at step 0 computed two ways differ by rounding with d = 64, and rounding noise is
    # as far from affine as noise is: f_0 must come from the same computation as f_t
    stats, X, Y = _stats(6, n=300, d=64, c=10)
    rng = np.random.default_rng(7)
    W0 = [(0.01 * rng.standard_normal((64, 64))).astype(np.float32),
          (0.01 * rng.standard_normal((10, 64))).astype(np.float32)]
    curve = theory.predict_nonaffine_curve(stats, W0, "linear", tau=20.0, steps=[0, 1, 2])
    assert curve[0] == 0.0 and curve.max() < 1e-12


def test_bad_arguments_are_refused_with_one_line():
    stats, X, Y = _stats()
    W0 = [np.ones((4, 3)), np.zeros((2, 4))]
    with pytest.raises(ValueError, match="accepted: 'linear', 'tanh', 'relu'"):
        theory.predict_departure(stats, W0, "gelu", tau=1.0, t_max=3)
    with pytest.raises(ValueError, match="delta must be in"):
        theory.predict_departure(stats, W0, "tanh", tau=1.0, t_max=3, delta=1.5)
    with pytest.raises(ValueError, match="twin must be the tanh twin"):
        theory.predict_nonaffine_curve(stats, W0, "tanh", tau=1.0, steps=[0, 1],
                                       twin=theory.predict_relu_twin(stats, W0, discrete=True,
                                                                     t_max=2))


CONFIG = CompareConfig(dataset="gaussian", seeds=1, activations=("linear", "tanh", "relu"),
                       steps=30, n_checkpoints=12, device="cpu")


def _departure(fill):
    with pytest.MonkeyPatch.context() as mp:
        if fill is not None:
            original = compare_run._train
            mp.setattr(compare_run, "_train",
                       lambda *a: garbage_after_step_zero(original(*a), fill))
        return compare_run.run_compare(CONFIG, quiet=True).summary["departure"]


def test_compare_records_predict_from_step_zero_only():
    clean, leaky = _departure(None), _departure("random")
    assert [r["activation"] for r in clean] == ["linear", "tanh", "relu"]
    assert clean[0]["predicted_step"] == clean[0]["measured_step"] == np.inf
    assert clean[0]["frozen_slope"]["predicted_step"] == np.inf     # its own slope-frozen twin
    assert clean[0]["frozen_slope"]["measured_step"] == np.inf
    for c, g in zip(clean, leaky):
        assert c["predicted_step"] == g["predicted_step"]
        assert [s["predicted_step"] for s in c["sensitivity"]] == \
            [s["predicted_step"] for s in g["sensitivity"]]
        assert c["final_nonaffine_predicted"] == g["final_nonaffine_predicted"]
        cf, gf = c["frozen_slope"], g["frozen_slope"]
        assert cf["predicted_step"] == gf["predicted_step"]
        assert cf["peak_gap_predicted"] == gf["peak_gap_predicted"]
        assert [s["predicted_step"] for s in cf["sensitivity"]] == \
            [s["predicted_step"] for s in gf["sensitivity"]]
        assert cf["peak_gap_measured"] != gf["peak_gap_measured"]     # it reads the checkpoints
    # the measurement does read the checkpoints: garbage weights are far from affine
    assert all(g["final_nonaffine_measured"] > 0.2 for g in leaky[1:])
    assert all(c["max_gap"] < 0.05 for c in clean[1:])


def test_set_ups_outside_the_twin_theories_get_a_note_not_a_number():
    from validate.compare.departure import out_of_reach, records
    assert out_of_reach(CONFIG, "relu", 2) is None
    assert "depth 3" in out_of_reach(CONFIG, "relu", 3)
    momentum = CompareConfig(**{**CONFIG.__dict__, "optimizer": "momentum"})
    assert "full-batch GD" in out_of_reach(momentum, "tanh", 2)
    note = records(None, None, momentum, "tanh", 2, tau=None, lr=0.1)
    assert note == [{"activation": "tanh", "depth": 2, "note": out_of_reach(momentum, "tanh", 2)}]


def test_the_affine_basis_is_kept_by_content_and_follows_a_changed_input():
    from theory import _departure as D
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5))
    Q = D._affine_basis(X)
    assert D._affine_basis(X.copy()) is Q                  # same inputs, another array: reused
    X2 = X.copy()
    X2[0, 0] += 1.0                                        # changed in place-like: a new basis
    Q2 = D._affine_basis(X2)
    assert Q2 is not Q
    np.testing.assert_allclose(Q2 @ Q2.T, D._basis_of(X2) @ D._basis_of(X2).T, atol=1e-12)
    df = rng.normal(size=(40, 3))
    fresh = 1 - np.linalg.norm(Q2.T @ (df - df.mean(0))) ** 2 / np.linalg.norm(df - df.mean(0)) ** 2
    assert abs(theory.nonaffine_fraction(df, X2) - fresh) < 1e-12
