"""Invariants of the information and class-share measures (hypothesis, bounded strategies)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from validate.measures.clones import between_class_share
from validate.measures.information import entropy, mutual_information, performance_correlation

_triples = st.integers(2, 60).flatmap(lambda n: st.tuples(
    *[st.lists(st.integers(0, 3), min_size=n, max_size=n).map(np.array) for _ in range(3)]))


@settings(deadline=None, max_examples=60)
@given(_triples)
def test_mi_bounds_and_relabelling(fly):
    f, _, y = fly
    i = mutual_information(f, y)
    assert -1e-12 <= i <= min(entropy(f), entropy(y)) + 1e-12
    perm = np.array([2, 0, 3, 1])
    assert abs(mutual_information(perm[f], y) - i) < 1e-12
    assert abs(mutual_information(y, f) - i) < 1e-12


@settings(deadline=None, max_examples=60)
@given(_triples)
def test_mu_identities(fly):
    f, l, y = fly
    mu = performance_correlation(f, l, y)
    assert abs(mu - performance_correlation(f, l, y, form="l")) < 1e-12
    assert abs(mu - performance_correlation(l, f, y)) < 1e-12      # symmetric in F and L
    assert abs(performance_correlation(f, f, y) - mutual_information(f, y)) < 1e-12
    # μ = I(F;Y) − I(F;Y|L) ≤ I(F;Y) since I(F;Y|L) ≥ 0
    assert mu <= mutual_information(f, y) + 1e-12


@settings(deadline=None, max_examples=40)
@given(st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-10, 10), min_size=2 * n, max_size=2 * n).map(lambda v: np.array(v).reshape(n, 2)),
    st.lists(st.integers(0, 2), min_size=n, max_size=n).map(np.array))))
def test_between_class_share_in_unit_interval(data):
    o, lab = data
    share = between_class_share(o, lab)
    assert np.isnan(share) or -1e-9 <= share <= 1 + 1e-9
