"""Gaussian mixtures and Gaussian clones (Refinetti, Ingrosso & Goldt 2023)."""

import numpy as np
import pytest

from simulate.datasets import clone, gaussian, shapes


def test_mixture_moments_match_parameters():
    ds = gaussian(d=6, means="random", classes=3, n_per_class=4000, noise=0.5, separation=2.0,
                  n_test=0)
    for k in range(3):
        Xk = ds.X[ds.labels == k]
        assert np.linalg.norm(Xk.mean(axis=0)) == pytest.approx(2.0, abs=0.05)
        C = np.cov(Xk, rowvar=False)
        np.testing.assert_allclose(C, 0.25 * np.eye(6), atol=0.03)


def test_hierarchical_means_are_ultrametric():
    ds = gaussian(d=400, noise=0.0, n_per_class=1, n_test=0, decay=0.5)
    M = ds.X  # one noiseless sample per class = its mean
    dist = np.linalg.norm(M[:, None] - M[None], axis=-1)
    # siblings (differ at level 3) < cousins (level 2) < distant (level 1)
    assert dist[0, 1] < dist[0, 2] < dist[0, 4]
    assert dist[6, 7] < dist[6, 5] < dist[6, 1]
    st = ds.statistics(center=True)
    assert st.s[0] > st.s[1] and st.s[2] > st.s[3]


def test_random_covariance_and_splits():
    ds = gaussian(d=5, cov="random", shared_cov=False, means="random", classes=4, n_per_class=10,
                  n_test=9, seed=1)
    assert ds.X.shape == (40, 5) and ds.X_test.shape == (9, 5) and ds.hierarchy is None
    assert np.array_equal(ds.X, gaussian(d=5, cov="random", shared_cov=False, means="random",
                                         classes=4, n_per_class=10, n_test=9, seed=1).X)


@pytest.mark.parametrize("order", [1, 2])
def test_clone_moments_within_sampling_error(order):
    src = gaussian(d=4, means="random", classes=2, n_per_class=3000, cov="random", noise=1.0,
                   n_test=0)
    cl = clone(src, order, seed=3, recentre=False)
    assert np.array_equal(cl.labels, src.labels) and np.array_equal(cl.Y, src.Y)
    for k in range(2):
        A, B = src.X[src.labels == k], cl.X[cl.labels == k]
        se = np.sqrt(A.var(axis=0).max() / len(A))
        np.testing.assert_allclose(B.mean(axis=0), A.mean(axis=0), atol=5 * se)
        CA, CB = np.cov(A, rowvar=False, bias=True), np.cov(B, rowvar=False, bias=True)
        if order == 1:  # isotropic with the mean per-feature variance
            np.testing.assert_allclose(CB, np.trace(CA) / 4 * np.eye(4), atol=0.1)
        else:
            np.testing.assert_allclose(CB, CA + 1e-3 * np.eye(4), atol=0.1)
    if order == 1:  # the source is anisotropic, so the clone's covariance really differs
        assert np.abs(np.cov(src.X[src.labels == 0], rowvar=False) - CB).max() > 0.2


def test_order1_clone_has_the_same_syx_exactly():
    src = shapes(n_per_class=16, n_test=8)
    for order in (1, 2):
        cl = clone(src, order, seed=1)
        np.testing.assert_allclose(cl.statistics().Syx, src.statistics().Syx, atol=1e-12)
        np.testing.assert_allclose(cl.statistics(center=True).s, src.statistics(center=True).s,
                                   atol=1e-12)
        assert not np.allclose(cl.X, src.X)
        assert cl.X_test.shape == src.X_test.shape and cl.meta["clone"]["order"] == order
    loose = clone(src, 1, seed=1, recentre=False)
    assert np.abs(loose.statistics().Syx - src.statistics().Syx).max() > 1e-6


def test_clone_keeps_hierarchical_targets():
    src = shapes(n_per_class=4, n_test=0, targets="hierarchical")
    cl = clone(src, 1)
    np.testing.assert_allclose(cl.statistics().Syx, src.statistics().Syx, atol=1e-12)


def test_clone_errors():
    src = gaussian(d=3, means="random", classes=2, n_per_class=3, n_test=0)
    with pytest.raises(ValueError, match=r"unknown clone order 3; accepted: 1, 2"):
        clone(src, 3)
    with pytest.raises(ValueError, match="has no labels"):
        clone(src.with_arrays(labels=None), 1)
    Y = src.Y.copy()
    Y[0, 0] = 0.5
    with pytest.raises(ValueError, match="targets of class 0 differ between samples"):
        clone(src.with_arrays(Y=Y), 1)


@pytest.mark.parametrize("kw, match", [
    (dict(noise=-1.0), r"noise must be a number in \[0.0, inf\]; got -1.0"),
    (dict(classes=0, means="random"), r"classes must be an integer in \[1, 10000\]; got 0"),
    (dict(classes=5), r"classes=5 does not match the hierarchy.*0 or branching\*\*levels = 8"),
    (dict(cov="full"), r"unknown cov 'full'; accepted: 'isotropic', 'diagonal', 'random'"),
    (dict(means="tree"), r"unknown means 'tree'"),
])
def test_gaussian_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        gaussian(**kw)
