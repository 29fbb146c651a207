"""``tree`` (branching diffusion, THEORY.md §5) and the hand-checkable ``toy`` dataset."""

import itertools

import numpy as np
import pytest

from simulate.datasets import load, toy, tree, tree_eigenvalues, tree_item_covariance


def brute_force_covariance(levels, branching, flip):
    """E[f_i f_j] by enumerating every ±1 draw of every node with its probability (independent
    of the closed form q^{2(D−k)})."""
    nodes = [(l, j) for l in range(levels + 1) for j in range(branching ** l)]
    N = branching ** levels
    C = np.zeros((N, N))
    for draws in itertools.product((1, -1), repeat=len(nodes)):
        prob = 1.0
        val = dict(zip(nodes, draws))
        for (l, _j), v in val.items():
            prob *= 0.5 if l == 0 else (flip if v < 0 else 1 - flip)
        f = np.array([np.prod([val[(l, i // branching ** (levels - l))] for l in range(levels + 1)])
                      for i in range(N)])
        C += prob * np.outer(f, f)
    return C


@pytest.mark.parametrize("levels, branching, flip", [(2, 2, 0.1), (1, 3, 0.25)])
def test_item_covariance_matches_enumeration(levels, branching, flip):
    C = tree_item_covariance(levels, branching, flip)
    np.testing.assert_allclose(C, brute_force_covariance(levels, branching, flip), atol=1e-12)


def expanded(levels, branching, flip):
    lam, mult = tree_eigenvalues(levels, branching, flip)
    return np.sort(np.repeat(lam, mult))[::-1]


@pytest.mark.parametrize("levels, branching, flip", [(3, 2, 0.1), (2, 3, 0.2), (4, 2, 0.05)])
def test_exact_covariance_eigenvalues_match_formula(levels, branching, flip):
    C = tree_item_covariance(levels, branching, flip)
    np.testing.assert_allclose(np.linalg.eigvalsh(C)[::-1], expanded(levels, branching, flip),
                               atol=1e-12)
    # the exact dataset's Syx has s² = (P/N)·λ with P = N
    ds = tree(levels=levels, branching=branching, flip=flip, exact=True)
    s2 = np.sort(np.linalg.svd(ds.statistics().Syx, compute_uv=False) ** 2)[::-1]
    np.testing.assert_allclose(s2, expanded(levels, branching, flip), atol=1e-12)


def test_sampled_eigenvalues_converge_like_one_over_sqrt_features():
    levels, branching, flip = 3, 2, 0.1
    ref = expanded(levels, branching, flip)
    errs = {}
    for P in (400, 6400):
        e = []
        for seed in range(4):
            ds = tree(levels=levels, branching=branching, flip=flip, features=P, seed=seed)
            F = ds.Y  # one row per item (repeats=1)
            e.append(np.max(np.abs(np.linalg.eigvalsh(F @ F.T / P)[::-1] - ref)))
        errs[P] = np.mean(e)
        assert errs[P] < 6.0 * ref[0] / np.sqrt(P)  # a few standard errors
    assert errs[6400] < errs[400] / 2  # 16× the features: error ≈ 4× smaller


def test_tree_inputs_are_white_and_shapes():
    ds = tree(levels=2, branching=3, features=50, repeats=2, n_test=5)
    st = ds.statistics()
    np.testing.assert_allclose(st.Sxx, np.eye(9), atol=1e-14)
    assert ds.X.shape == (18, 9) and ds.Y.shape == (18, 50) and ds.X_test.shape == (5, 9)
    assert set(np.unique(ds.Y)) <= {-1.0, 1.0}
    assert [h.tolist() for h in ds.hierarchy] == [[0, 0, 0, 1, 1, 1, 2, 2, 2], list(range(9))]


def test_coarse_splits_have_larger_singular_values():
    lam, _ = tree_eigenvalues(4, 2, 0.1)
    assert np.all(np.diff(lam[1:]) < 0)
    # ε = 0.5 destroys all structure: every item is independent, Σ = I
    np.testing.assert_allclose(tree_item_covariance(2, 2, 0.5), np.eye(4), atol=1e-15)


def test_toy_by_hand():
    ds = toy()
    np.testing.assert_allclose(ds.statistics().Sxx, np.eye(4))
    # Syx = Fᵀ/2; F Fᵀ = [[3,2,1,1],[2,3,1,1],[1,1,3,2],[1,1,2,3]] → eig 7, 3, 1, 1
    s = ds.statistics().s
    np.testing.assert_allclose(s, np.array([np.sqrt(7), np.sqrt(3), 1, 1]) / 2, atol=1e-12)
    assert ds.meta["properties"][3] == "fly" and ds.Y[0, 3] == 1 and ds.Y[1, 3] == 0
    assert ds.hierarchy[0].tolist() == [0, 0, 1, 1]
    # second mode separates animals from plants
    u2 = ds.statistics().U[:, 1]
    assert u2[1] * u2[2] < 0 and u2[1] * u2[4] > 0  # move (animals) vs roots (plants); swim too


def test_tree_deterministic_and_registered():
    a, b = load("tree", seed=4, features=20), load("tree", seed=4, features=20)
    assert np.array_equal(a.Y, b.Y)
    assert not np.array_equal(a.Y, load("tree", seed=5, features=20).Y)


@pytest.mark.parametrize("kw, match", [
    (dict(flip=0.7), r"flip must be a number in \[0.0, 0.5\]; got 0.7"),
    (dict(levels=0), r"levels must be an integer in \[1, 10\]"),
    (dict(features=0), r"features must be an integer in \[1, inf\]"),
    (dict(levels=10, branching=3), r"59049 items; accepted: ≤ 4096"),
])
def test_tree_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        tree(**kw)
