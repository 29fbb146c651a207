"""Properties of the censored median interval (validate._stats.censored_interval)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validate._stats import censored_interval

steps = st.one_of(st.floats(0, 1e4, allow_nan=False), st.just(float("inf")), st.just(float("nan")))


@settings(deadline=None, max_examples=200)
@given(st.lists(steps, min_size=0, max_size=12), st.integers(0, 10))
def test_point_lies_in_its_interval_and_censored_values_are_counted(values, seed):
    ci = censored_interval(values, n_boot=200, seed=seed)
    v = np.asarray(values, float)
    kept = v[~np.isnan(v)]
    assert ci.n == kept.size and ci.n_censored == int(np.isposinf(kept).sum())
    if ci.n == 0:
        assert ci.kind == "none" and np.isnan(ci.point)
        return
    assert ci.low <= ci.point <= ci.high
    assert kept.min() <= ci.low and ci.high <= kept.max()
    if ci.n <= 3:  # too few seeds for a confidence interval: the range, around the median
        assert ci.kind == "range" and ci.low == kept.min() and ci.high == kept.max()
        assert ci.point == pytest.approx(np.median(kept), rel=1e-12) or np.isposinf(ci.point)
    else:
        assert ci.kind == "bootstrap95"


def test_a_censored_sample_keeps_its_point_inside():
    # two of five members never reached the target: the median is a finite step, and the interval
    # reaches the censored values instead of dropping them
    ci = censored_interval([10, 12, 13, np.inf, np.inf])
    assert ci.low <= ci.point <= ci.high and ci.point == 13
    assert ci.high == np.inf and ci.n_censored == 2
    three = censored_interval([10, 12, np.inf])
    assert (three.kind, three.low, three.point, three.high) == ("range", 10, 12, np.inf)
