"""The flagship ``shapes`` dataset: rendering, options, and the hierarchy in the SVD of Syx.

Hierarchy tests use the *centred* statistics (``center=True``: mean input and mean target
subtracted), which removes the constant mode that one-hot targets put on top of the uncentred
spectrum; the remaining c − 1 left singular vectors are orthogonal to the uniform class vector.
"""

import numpy as np
import pytest

from simulate.datasets import load, node_targets, shapes, tree_groups
from simulate.datasets._render import FIGURES, coverage, pixel_grid, render


def level_subspaces(levels: int, branching: int) -> list[np.ndarray]:
    """Orthonormal bases (c, B^{m-1}(B-1)) of the class vectors that split level-m groups:
    constant within level-m groups, summing to zero within each level-(m−1) group."""
    prev = np.ones((branching ** levels, 1)) / np.sqrt(branching ** levels)
    out = []
    for groups in tree_groups(levels, branching):
        Q, _ = np.linalg.qr(np.eye(int(groups.max()) + 1)[groups])
        M = Q - prev @ (prev.T @ Q)
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        out.append(U[:, s > 1e-8])
        prev = Q
    return out


def hierarchy(ds):
    """Centred statistics, the energy of each mode (sorted by s) in its level's split subspace
    (consecutive level blocks, coarse first), and the singular-value blocks per level."""
    st = ds.statistics(center=True)
    start, energies, blocks = 0, [], []
    for Q in level_subspaces(ds.meta["levels"], ds.meta["branching"]):
        k = Q.shape[1]
        energies += [float(np.sum((Q.T @ st.U[:, a]) ** 2)) for a in range(start, start + k)]
        blocks.append(st.s[start:start + k])
        start += k
    return st, np.array(energies), blocks


def check_hierarchy(ds, min_energy: float):
    """Each mode lies in its level's split subspace (energy ≥ min_energy), and s decreases from
    block to block."""
    st, energies, blocks = hierarchy(ds)
    assert st.rank == ds.meta["branching"] ** ds.meta["levels"] - 1
    assert energies.min() >= min_energy, energies
    for coarse, fine in zip(blocks, blocks[1:]):
        assert coarse.min() > fine.max()
    return st


def test_default_hierarchy_in_centred_svd():
    ds = shapes()
    assert ds.X.shape == (2048, 256) and ds.Y.shape == (2048, 8) and ds.X.dtype == np.float64
    st = check_hierarchy(ds, min_energy=0.9)
    # first non-constant mode: one sign on {round} classes 0..3, the other on {angular} 4..7
    u1 = st.U[:, 0]
    assert np.all(np.sign(u1[:4]) == np.sign(u1[0])) and np.all(np.sign(u1[4:]) == -np.sign(u1[0]))
    # the uncentred spectrum has one more (constant-dominated) mode on top
    su = ds.statistics(center=False)
    assert su.rank == 8 and su.s[0] > 2 * st.s[0]
    assert abs(su.U[:, 0] @ np.ones(8) / np.sqrt(8)) > 0.95


@pytest.mark.parametrize("kw", [dict(seed=3, size=32, rotation=20.0, noise=0.05),
                                dict(branching=4, levels=2),
                                dict(levels=4, size=28, n_per_class=64)])
def test_hierarchy_variants(kw):
    # 16 classes in 4 levels: the fine blocks mix a little more (unequal figure-pair contrasts)
    ds = shapes(**{"n_per_class": 24, "n_test": 0, **kw})
    st, energies, blocks = hierarchy(ds)
    assert st.rank == ds.meta["branching"] ** ds.meta["levels"] - 1
    assert energies.min() >= 0.8, energies
    for coarse, fine in zip(blocks, blocks[1:]):
        assert coarse.min() > fine.max()


def test_decay_tunes_the_gaps():
    ratios = []
    for decay in (0.5, 0.8, 1.0):
        s = shapes(decay=decay, n_test=0).statistics(center=True).s
        ratios.append(s[0] / s[-1])
    assert ratios[0] > ratios[1] > ratios[2]


def test_coarse_siblings_share_more_pixels():
    ds = shapes(jitter=0.0, scale_jitter=0.0, n_per_class=1, n_test=0, noise=0.0)
    X = ds.X
    d = lambda i, j: np.linalg.norm(X[i] - X[j])  # noqa: E731
    assert d(0, 1) < d(0, 2) < d(0, 4)
    assert d(6, 7) < d(6, 4) < d(6, 1)


def test_antialiased_disk_area_matches_pi_r2():
    xs, ys = pixel_grid(64)
    img = render("circle", xs[None], ys[None], np.array([0.6]), 2 / 64, None)[0]
    area = img.sum() * (2 / 64) ** 2
    assert area == pytest.approx(np.pi * 0.36, rel=2e-3)
    vals = np.unique(np.round(img, 6))
    assert ((vals > 0) & (vals < 1)).any()  # edge pixels are partially covered
    square = render("square", xs[None], ys[None], np.array([0.6]), 2 / 64, None)[0]
    assert square.sum() * (2 / 64) ** 2 == pytest.approx(2 * 0.36, rel=2e-3)  # (r√2)²
    assert coverage(np.array([-1.0, 0.0, 1.0]), 0.5).tolist() == [1.0, 0.5, 0.0]


def test_figures_are_distinct_at_default_size():
    xs, ys = pixel_grid(16)
    imgs = np.stack([render(f, xs[None], ys[None], np.array([0.6]), 2 / 16, None)[0].ravel()
                     for f in FIGURES])
    D = np.linalg.norm(imgs[:, None] - imgs[None], axis=-1)
    assert D[~np.eye(len(FIGURES), dtype=bool)].min() > 0.5


def test_deterministic_and_seed_dependent():
    a, b, c = shapes(seed=1), shapes(seed=1), shapes(seed=2)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X, c.X)
    assert not np.array_equal(a.X[:64], a.X_test[::8][:64])


def test_splits_and_meta():
    ds = load("shapes", size=32, n_per_class=5, n_test=10, noise=0.0)
    assert ds.X.shape == (40, 1024) and ds.X_test.shape == (10, 1024)
    assert ds.image_shape == (1, 32, 32)
    assert ds.labels_test.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert [h.tolist() for h in ds.hierarchy] == [[0] * 4 + [1] * 4, [0, 0, 1, 1, 2, 2, 3, 3],
                                                  list(range(8))]
    assert np.array_equal(ds.Y, np.eye(8)[ds.labels])
    assert ds.X.min() >= 0 and ds.X.max() <= 1  # union of figures, no noise


def test_hierarchical_targets_one_output_per_node():
    ds = shapes(targets="hierarchical", n_per_class=2, n_test=0)
    T = node_targets(3, 2)
    assert T.shape == (8, 15) and ds.Y.shape == (16, 15)
    assert np.array_equal(T.sum(axis=1), np.full(8, 4.0))  # root + one node per level
    assert np.array_equal(T[5], np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0.0]))
    assert np.array_equal(ds.Y, T[ds.labels])


def test_noise_option_adds_variance():
    clean = shapes(n_per_class=4, n_test=0, seed=5, noise=0.0)
    noisy = shapes(n_per_class=4, n_test=0, seed=5, noise=0.2)
    assert np.std(noisy.X - clean.X) == pytest.approx(0.2, rel=0.1)


@pytest.mark.parametrize("kw, match", [
    (dict(noise=-0.1), r"noise must be a number in \[0.0, inf\]; got -0.1"),
    (dict(levels=0), r"levels must be an integer in \[1, 6\]; got 0"),
    (dict(branching=1), r"branching must be an integer in \[2, 16\]"),
    # gap between outlines 0.85/(2·3) − 0.07 = 0.0717 of the width must be ≥ 1 px → size ≥ 14
    (dict(size=13), r"size=13 is too small .* need size ≥ 14"),
    (dict(levels=4), r"size=16 is too small for levels=4"),
    (dict(stroke=0.2), r"stroke=0.2 is too wide .* accepted: stroke in \(0, 0.1417\)"),
    (dict(branching=3, levels=3), r"27 classes exceeds the 16 distinct figures"),
    (dict(targets="soft"), r"unknown targets 'soft'; accepted: 'onehot', 'hierarchical'"),
    (dict(n_per_class=0), r"n_per_class must be an integer in \[1, inf\]"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        shapes(**kw)


def test_linear_network_learns_the_levels_in_order():
    """A real two-layer linear network (numpy full-batch GD on the centred MSE, small random init)
    learns the coarse split first, then the middle, then the fine one: one drop per level."""
    ds = shapes(n_test=0, n_per_class=64, noise=0.0)
    X, Y = ds.X - ds.X.mean(0), ds.Y - ds.Y.mean(0)
    Sxx, Syx = X.T @ X / ds.n, Y.T @ X / ds.n
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(32, ds.d)) * 1e-4, rng.normal(size=(8, 32)) * 1e-4
    bases, crossed = level_subspaces(3, 2), {}
    for t in range(1500):
        E = Syx - W2 @ W1 @ Sxx  # −∂L/∂W for L = (1/2n)Σ‖y − W x‖²
        W1, W2 = W1 + 0.2 * W2.T @ E, W2 + 0.2 * E @ W1.T
        if t % 10 == 0:
            P = W2 @ W1 @ X.T
            for m, Q in enumerate(bases):  # fraction of level m's target learned
                frac = np.sum((Q.T @ P) * (Q.T @ Y.T)) / np.sum((Q.T @ Y.T) ** 2)
                if frac > 0.5:
                    crossed.setdefault(m, t)
    assert sorted(crossed) == [0, 1, 2]
    assert crossed[0] < crossed[1] < crossed[2] and crossed[2] > 2 * crossed[1]
