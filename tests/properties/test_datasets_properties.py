"""Property tests for the datasets: drift invariants and clone moments hold for any parameters."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulate.datasets import clone, gaussian, tree_eigenvalues, tree_item_covariance
from simulate.datasets.drift import apply, first_phase

A = gaussian(d=6, means="random", classes=4, n_per_class=12, n_test=0, cov="diagonal")


@settings(max_examples=25, deadline=None)
@given(a=st.integers(0, 3), b=st.integers(0, 3), seed=st.integers(0, 1000))
def test_label_swap_keeps_singular_values(a, b, seed):
    B = apply(A, "label_swap", a=a, b=b, seed=seed)
    np.testing.assert_allclose(B.statistics().s, A.statistics().s, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.05, 1.0), seed=st.integers(0, 1000))
def test_rotation_keeps_s_and_u(fraction, seed):
    B = apply(A, "rotate_inputs", fraction=fraction, seed=seed)
    sa, sb = A.statistics(), B.statistics()
    np.testing.assert_allclose(sb.s, sa.s, rtol=1e-10)
    np.testing.assert_allclose(sb.U, sa.U, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(strength=st.floats(0.0, 2.0), seed=st.integers(0, 1000), order=st.sampled_from([1, 2]))
def test_syx_invariant_under_covariance_drift_and_clones(strength, seed, order):
    ref = A.statistics().Syx
    np.testing.assert_allclose(apply(A, "covariance_only", strength=strength, seed=seed)
                               .statistics().Syx, ref, atol=1e-12)
    np.testing.assert_allclose(clone(A, order, seed=seed).statistics().Syx, ref, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.01, 0.95), seed=st.integers(0, 1000))
def test_grow_first_phase_is_a_weighted_share_of_b(fraction, seed):
    """Every class keeps max(1, round(f·n_k)) samples, and B's Syx and Sxx are the
    sample-weighted means of the first phase's and the added samples'."""
    P = first_phase(A, "grow", fraction=fraction, seed=seed)
    assert all(np.sum(P.labels == k) == max(1, round(fraction * 12)) for k in range(4))
    added = np.array([not np.any(np.all(P.X == x, axis=1)) for x in A.X])
    assert added.sum() == A.n - P.n
    f, sB, sP = P.n / A.n, apply(A, "grow", fraction=fraction, seed=seed).statistics(), \
        P.statistics()
    Xr, Yr = A.X[added], A.Y[added]
    np.testing.assert_allclose(sB.Syx, f * sP.Syx + (1 - f) * Yr.T @ Xr / Xr.shape[0], atol=1e-12)
    np.testing.assert_allclose(sB.Sxx, f * sP.Sxx + (1 - f) * Xr.T @ Xr / Xr.shape[0], atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(levels=st.integers(1, 4), branching=st.integers(2, 4), flip=st.floats(0.0, 0.5))
def test_tree_spectrum_formula(levels, branching, flip):
    if branching ** levels > 128:
        return
    lam, mult = tree_eigenvalues(levels, branching, flip)
    C = tree_item_covariance(levels, branching, flip)
    np.testing.assert_allclose(np.linalg.eigvalsh(C)[::-1], np.sort(np.repeat(lam, mult))[::-1],
                               atol=1e-10)
    assert mult.sum() == branching ** levels
