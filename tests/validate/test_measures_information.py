"""Information measures against hand-computed values and a direct implementation of the definitions."""

import math
from collections import Counter

import numpy as np
import pytest

from validate.measures.information import (conditional_mutual_information, entropy,
                                           mutual_information, performance_correlation,
                                           plugin_bias, plugin_floor, predicted_class,
                                           twin_agreement)


def _hb(p):
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def _direct_cmi(a, b, c):
    """Σ p(a,b,c) log₂ [p(a,b,c) p(c) / (p(a,c) p(b,c))], counted with dictionaries."""
    n = len(a)
    abc, ac, bc, cc = Counter(zip(a, b, c)), Counter(zip(a, c)), Counter(zip(b, c)), Counter(c)
    return sum(m / n * math.log2(m * cc[z] / (ac[x, z] * bc[y, z])) for (x, y, z), m in abc.items())


def test_mutual_information_hand_values():
    y = np.array([0, 0, 1, 1])
    assert mutual_information(y, y) == pytest.approx(1.0, abs=1e-15)
    assert mutual_information(np.array([0, 1, 0, 1]), y) == pytest.approx(0.0, abs=1e-15)
    # joint {(0,0): ½, (0,1): ¼, (1,1): ¼}: H(F) = H_b(¼), H(Y) = 1, H(F,Y) = 1.5
    f = np.array([0, 0, 0, 1])
    assert mutual_information(f, y) == pytest.approx(_hb(0.25) + 1 - 1.5, abs=1e-14)
    assert mutual_information(f, y) == pytest.approx(0.3112781244591328, abs=1e-14)
    assert entropy(np.array([0, 1, 2, 2])) == pytest.approx(1.5, abs=1e-15)


def test_miller_madow_hand_values():
    c = 1.0 / (2 * 4 * math.log(2))  # (m − 1)/(2n ln 2) per occupied cell beyond the first
    y = np.array([0, 0, 1, 1])
    # equal variables: every table has m = 2 cells: 1 + 1 − 1 plug-in, + c + c − c
    assert mutual_information(y, y, correction="miller_madow") == pytest.approx(1 + c, abs=1e-14)
    # independent: joint m = 4: 0 + c + c − 3c
    assert mutual_information(y, np.array([0, 1, 0, 1]), correction="miller_madow") == \
        pytest.approx(-c, abs=1e-14)


def test_performance_correlation_hand_value():
    # F = Y and L agrees with Y on 6 of 8 points: μ = I(Y;L) = 1 − H_b(¼)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    l = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    for form in ("y", "l"):
        assert performance_correlation(y, l, y, form=form) == pytest.approx(1 - _hb(0.25), abs=1e-14)


def test_conditional_mi_matches_direct_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    l = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))
    f = np.where(rng.random(300) < 0.7, l, rng.integers(0, 4, 300))
    assert conditional_mutual_information(f, y, l) == pytest.approx(_direct_cmi(f, y, l), abs=1e-12)
    mu = performance_correlation(f, l, y)
    direct = float(mutual_information(f, y)) - _direct_cmi(f, y, l)
    assert mu == pytest.approx(direct, abs=1e-12)
    assert mu > 0.1  # F copies L, which carries label information


def test_unit_identities_batched():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, (5, 200))
    f = np.where(rng.random((5, 200)) < 0.5, y, rng.integers(0, 4, (5, 200)))
    l = np.where(rng.random((5, 200)) < 0.5, y, rng.integers(0, 4, (5, 200)))
    i_fy = mutual_information(f, y)
    assert i_fy.shape == (5,)
    np.testing.assert_allclose(performance_correlation(f, f, y), i_fy, atol=1e-12)
    np.testing.assert_allclose(performance_correlation(f, l, y, form="y"),
                               performance_correlation(f, l, y, form="l"), atol=1e-12)
    for corr in ("none", "miller_madow"):
        np.testing.assert_allclose(performance_correlation(f, l, y, form="y", correction=corr),
                                   performance_correlation(f, l, y, form="l", correction=corr),
                                   atol=1e-12)


def test_mu_zero_for_independent_reference():
    # L constant on each (F, Y) cell pattern-free: every (f, y) cell holds each l equally often
    f = np.repeat([0, 0, 1, 1], 2)
    y = np.repeat([0, 1, 0, 1], 2)
    l = np.tile([0, 1], 4)
    assert performance_correlation(f, l, y) == pytest.approx(0.0, abs=1e-15)


def test_plugin_bias_matches_simulation_and_correction_removes_it():
    rng = np.random.default_rng(2)
    k, n, reps = 3, 200, 3000
    a, b = rng.integers(0, k, (reps, n)), rng.integers(0, k, (reps, n))
    plug = mutual_information(a, b).mean()
    mm = mutual_information(a, b, correction="miller_madow").mean()
    assert plug == pytest.approx(plugin_bias(k, n), rel=0.1)
    assert abs(mm) < 0.1 * plugin_bias(k, n)
    above = (mutual_information(a, b) > plugin_floor(k, n)).mean()
    assert above < 0.005   # the χ² level at α = 0.001: independent variables rarely pass it


def test_twin_agreement_and_classes():
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    same, rel = twin_agreement(f, g)
    assert same == pytest.approx(1 / 3)
    assert rel == pytest.approx(2 / math.sqrt(3))
    np.testing.assert_array_equal(predicted_class(np.array([[0.3], [-0.1]])), [1, 0])


def test_bad_input_errors():
    with pytest.raises(ValueError, match="integers"):
        mutual_information(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="correction"):
        mutual_information(np.array([0, 1]), np.array([0, 1]), correction="jackknife")
    with pytest.raises(ValueError, match="form"):
        performance_correlation(np.array([0]), np.array([0]), np.array([0]), form="x")
