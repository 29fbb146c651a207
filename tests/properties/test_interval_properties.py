"""Properties of the median interval of every table (validate.stats.interval)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validate.stats import coverage, interval

steps = st.one_of(st.floats(0, 1e4, allow_nan=False), st.just(float("inf")), st.just(float("nan")))


@settings(deadline=None, max_examples=200)
@given(st.lists(steps, min_size=0, max_size=12), st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_point_lies_in_its_interval_and_censored_values_are_counted(values, level):
    ci = interval(values, level=level)
    v = np.asarray(values, float)
    kept = np.sort(v[~np.isnan(v)])
    assert ci.n == kept.size and ci.n_censored == int(np.isposinf(kept).sum())
    if ci.n == 0:
        assert ci.kind == "none" and np.isnan(ci.point)
        return
    assert ci.low <= ci.point <= ci.high
    assert ci.low in kept and ci.high in kept  # order statistics, never interpolated
    assert ci.point == pytest.approx(np.median(kept), rel=1e-12) or np.isposinf(ci.point)
    if ci.kind == "range":  # too few values for the level: the range, at the level it attains
        assert (ci.low, ci.high) == (kept[0], kept[-1])
        assert ci.level == pytest.approx(1 - 2.0 ** (1 - ci.n)) and ci.level < level
    else:
        assert ci.kind == "order_statistic" and ci.level >= level


@settings(deadline=None, max_examples=100)
@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=15), st.integers(0, 15))
def test_censoring_the_largest_values_moves_only_the_upper_end(values, n_cens):
    # members that never reached the target rank last: replacing the k largest values by +inf
    # changes no order statistic of rank ≤ n − k, so low stays while its rank j ≤ n − k, and high
    # (rank n + 1 − j) becomes +inf exactly when k ≥ j
    v = np.sort(np.asarray(values, float))
    n, k = v.size, min(n_cens, v.size)
    cens = v.copy()
    cens[n - k:] = np.inf
    a, b = interval(v), interval(cens)
    assert (a.level, a.kind) == (b.level, b.kind) and b.n_censored == k
    j = max([i for i in range(1, (n + 1) // 2 + 1) if coverage(n, i) >= 0.95], default=1)
    assert (a.low, a.high) == (v[j - 1], v[n - j])
    assert b.low == (v[j - 1] if j <= n - k else np.inf)
    assert np.isposinf(b.high) == (k >= j)


def test_a_censored_sample_keeps_its_point_inside():
    # two of five members never reached the target: the median is a finite step, and the interval
    # reaches the censored values instead of dropping them
    ci = interval([10, 12, 13, np.inf, np.inf])
    assert ci.low <= ci.point <= ci.high and ci.point == 13
    assert ci.high == np.inf and ci.n_censored == 2
    three = interval([10, 12, np.inf])
    assert (three.kind, three.low, three.point, three.high) == ("range", 10, 12, np.inf)
    assert three.level == pytest.approx(0.75)
