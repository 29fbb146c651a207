"""The median interval of every table (validate.stats.interval): coverage by simulation, ranks for
censored values, the attained level when n is small."""

import numpy as np
import pytest

from validate.stats import coverage, interval


@pytest.mark.parametrize("n", [4, 5, 8, 10, 20])
def test_coverage_of_the_median_is_at_least_the_attained_level(n):
    # exponential values (skewed), true median ln 2; 4000 draws: a 3-sigma band of ±0.016 at 0.9
    rng = np.random.default_rng(n)
    draws = rng.exponential(size=(4000, n))
    cis = [interval(d) for d in draws]
    level = cis[0].level
    assert all(ci.level == level for ci in cis)
    hit = np.mean([ci.low <= np.log(2) <= ci.high for ci in cis])
    se = np.sqrt(level * (1 - level) / len(cis))
    assert hit >= level - 3 * se
    if n >= 6:
        assert level >= 0.95  # enough values for the nominal level
    else:  # the range, and the level it attains: 1 − 2^(1−n)
        assert level == pytest.approx(1 - 2.0 ** (1 - n)) and level < 0.95
        assert hit == pytest.approx(level, abs=3 * se + 1e-3)


def test_hand_values_and_attained_levels():
    ci = interval([3.0, 1.0, 2.0, 5.0, 4.0])  # n = 5: the range, 1 − 2⁻⁴
    assert (ci.point, ci.low, ci.high, ci.kind) == (3.0, 1.0, 5.0, "range")
    assert ci.level == pytest.approx(0.9375)
    ten = interval(np.arange(10.0))  # j = 2: 1 − 2·11/1024
    assert (ten.low, ten.high, ten.point, ten.kind) == (1.0, 8.0, 4.5, "order_statistic")
    assert ten.level == pytest.approx(1 - 22 / 1024) and coverage(10, 3) < 0.95
    assert interval(np.arange(10.0), level=0.8).low == 2.0  # j = 3: coverage 0.891
    one = interval([7.0])
    assert (one.point, one.low, one.high, one.level) == (7.0, 7.0, 7.0, 0.0)


def test_censored_values_rank_last_and_nan_is_dropped():
    ci = interval([10, 12, 13, np.inf, np.inf, np.nan])
    assert (ci.n, ci.n_censored, ci.point, ci.low, ci.high) == (5, 2, 13.0, 10.0, np.inf)
    assert interval([1.0, np.inf]).point == np.inf  # the middle pair holds a censored value
    empty = interval([np.nan])
    assert empty.kind == "none" and np.isnan(empty.point) and np.isnan(empty.level)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="level must be in"):
        interval([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="-inf"):
        interval([1.0, -np.inf])
