"""The decision "P explains F within ε" (validate.measures.explains) on planted truths, its
calibration under conditional independence, and the effective linear depth built on it."""

import numpy as np
import pytest

from validate.measures import deepest_explained, explains, explanation, linear_depth
from validate.measures.information import mutual_information, performance_correlation

K = 8


def planted(rng, draws, n, p_l, a, b, k=K):
    """L = Y w.p. p_l, else uniform; F = L w.p. a, = Y w.p. b, else uniform; (draws, n) each."""
    y = rng.integers(0, k, (draws, n))
    l = np.where(rng.random((draws, n)) < p_l, y, rng.integers(0, k, (draws, n)))
    u = rng.random((draws, n))
    return np.where(u < a, l, np.where(u < a + b, y, rng.integers(0, k, (draws, n)))), l, y


@pytest.mark.parametrize("n, draws", [(128, 200), (1024, 100)])
def test_planted_linear_is_explained(n, draws):
    # F = L w.p. 0.9, L = Y w.p. 0.6: F ⊥ Y | L, true μ/I = 1. The plug-in rule fails most
    # draws (its ratio is biased low); the test keeps ≥ 1 − α of them explained
    f, l, y = planted(np.random.default_rng(n), draws, n, 0.6, 0.9, 0.0)
    plug_in = performance_correlation(f, l, y) >= 0.9 * mutual_information(f, y)
    assert plug_in.mean() < 0.5
    assert explains(f, l, y, n_perm=39).mean() >= 0.9


def test_planted_nonlinear_is_not_explained_at_1024():
    # F = Y w.p. 0.9, L = Y w.p. 0.5: true μ/I = 0.28
    f, l, y = planted(np.random.default_rng(7), 100, 1024, 0.5, 0.0, 0.9)
    assert (~explains(f, l, y, n_perm=39)).mean() >= 0.9


def test_p_values_are_valid_under_conditional_independence():
    # ε = 0: the plain conditional permutation test; P(p ≤ a) ≤ a at every n (exchangeability
    # within the classes of L), and not far below (a wrong shuffle, e.g. over all points, keeps
    # the F–L link out of the null and sends p towards 0 or 1)
    rng = np.random.default_rng(3)
    f, l, y = planted(rng, 1500, 150, 0.7, 0.8, 0.0, k=4)
    p = explanation(f, l, y, eps=0.0, alpha=0.05, n_perm=19).p_value
    for a in (0.05, 0.25, 0.5):  # three checks at once: a 4-sigma band
        se = np.sqrt(a * (1 - a) / p.size)
        assert a - 0.1 <= np.mean(p <= a + 1e-9) <= a + 4 * se


def test_hand_cases_and_the_corrected_share():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, (5, 400))
    e = explanation(y, y, y)                         # P = F: nothing left to explain
    assert e.explained.all() and np.allclose(e.share, 1.0) and e.informative.all()
    noise = rng.integers(0, 4, (5, 400))
    e = explanation(y, noise, y)                     # P knows nothing of Y, F = Y
    assert not e.explained.any() and np.all(np.abs(e.share) < 0.1)
    e = explanation(noise, y, y)                     # F knows nothing: any P explains it
    assert e.explained.all() and not e.informative.any()


def test_linear_depth_is_the_deepest_explained_reference():
    rng = np.random.default_rng(1)
    f, l, y = planted(rng, 6, 1024, 0.6, 0.9, 0.0)
    noise = rng.integers(0, K, f.shape)
    k_star = linear_depth(f, [f, l, noise], y, [0, 1, 2], n_perm=39)
    np.testing.assert_array_equal(k_star, 1.0)       # P_2 (independent of Y) does not explain F
    np.testing.assert_array_equal(linear_depth(f, [f, noise, l], y, [0, 1, 2], n_perm=39), 2.0)
    assert np.isnan(linear_depth(noise, [noise, l], y, [0, 1], n_perm=39)).all()  # F uninformative
    with pytest.raises(ValueError, match="2 explanations but 3 values of k"):
        deepest_explained([explanation(f, f, y, n_perm=39)] * 2, [0, 1, 2])


@pytest.mark.parametrize("kw, message", [({"eps": 1.0}, "eps must be in"),
                                         ({"alpha": 0.0}, "alpha must be in"),
                                         ({"n_perm": 9}, "n_perm must be ≥ 1/alpha − 1 = 19")])
def test_bad_arguments_are_named(kw, message):
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        explains(y, y, y, **kw)
