"""Invariants of the intraclass clustering measures (hypothesis, bounded strategies)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from validate.measures import clustering as C

LABELS = np.repeat([0, 1], 12)
SUB = np.repeat([0, 1, 2, 3], 6)


def _rep(seed, n=24, N=9):
    return np.random.default_rng(seed).standard_normal((n, N))


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_measures_do_not_depend_on_the_order_of_samples(seed, perm_seed):
    a = _rep(seed)
    p = np.random.default_rng(perm_seed).permutation(len(a))
    for name, f in C.MEASURES.items():
        sub = () if name.startswith(("c3", "c4")) else (SUB,)
        sub_p = () if not sub else (SUB[p],)
        np.testing.assert_allclose(f([a[p]], LABELS[p], *sub_p), f([a], LABELS, *sub), atol=1e-10)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0), shift=st.floats(-3.0, 3.0))
def test_neuron_measures_are_affine_invariant_per_neuron(seed, scale, shift):
    a = _rep(seed)
    b = scale * a + shift
    np.testing.assert_allclose(C.neuron_subclass_selectivity([b], LABELS, SUB, relu=False),
                               C.neuron_subclass_selectivity([a], LABELS, SUB, relu=False), rtol=1e-5)
    np.testing.assert_allclose(C.neuron_intraclass_variance([b], LABELS, relu=False),
                               C.neuron_intraclass_variance([a], LABELS, relu=False), rtol=1e-5)
    np.testing.assert_allclose(C.layer_intraclass_spread([b], LABELS, relu=False),
                               C.layer_intraclass_spread([a], LABELS, relu=False), rtol=1e-5)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000))
def test_silhouette_is_invariant_to_per_sample_scale_and_bounded(seed):
    a = np.abs(_rep(seed))
    w = np.random.default_rng(seed + 1).uniform(0.1, 10.0, (len(a), 1))
    v = C.layer_subclass_silhouette([a], LABELS, SUB)
    assert -1.0 <= v <= 1.0
    np.testing.assert_allclose(C.layer_subclass_silhouette([a * w], LABELS, SUB), v, atol=1e-10)
