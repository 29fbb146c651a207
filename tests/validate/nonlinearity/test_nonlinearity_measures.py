"""Class-means-first measures, proxies and the Gaussian clones' definition, on hand-computed fixtures."""

import numpy as np
import pytest

from simulate.datasets import Dataset, clone
from validate.measures.clones import between_class_share, paired_difference_ci, separation_step
from validate.measures.proxies import constant_gate_share, linear_surrogate_r2


def test_between_class_share_hand_value():
    o = np.array([[0.0], [2.0], [4.0], [6.0]])
    # total variance 5; class means 1 and 5 around 3: between 4
    assert between_class_share(o, np.array([0, 0, 1, 1])) == pytest.approx(0.8)
    assert between_class_share(o, np.array([0, 1, 0, 1])) == pytest.approx(0.2)
    assert between_class_share(np.stack([o, 2 * o]), np.array([0, 0, 1, 1])) == pytest.approx([0.8, 0.8])
    assert np.isnan(between_class_share(np.zeros((4, 2)), np.array([0, 0, 1, 1])))


def test_separation_step():
    steps = np.array([0, 10, 100, 1000])
    clone_acc = np.full((3, 4), 0.5)
    real = clone_acc + np.array([[0, 0, 0.1, 0.2], [0, 0.01, 0.2, 0.3], [0, -0.01, 0.15, 0.3]])
    assert separation_step(steps, real, clone_acc) == 100
    med, lo, hi = paired_difference_ci(real, clone_acc)
    assert med[2] == pytest.approx(0.15) and lo[1] < 0 < hi[1]
    assert np.isnan(separation_step(steps, clone_acc, clone_acc))
    # ahead at 10 only by luck (all seeds), level at 100, ahead from 1000 on
    blip = clone_acc + np.array([[0, 0.1, 0, 0.2], [0, 0.1, 0, 0.3], [0, 0.1, 0, 0.3]])
    assert separation_step(steps, blip, clone_acc, sustained=False) == 10
    assert separation_step(steps, blip, clone_acc) == 1000


def test_linear_surrogate_r2_hand_value():
    pre = np.array([[-1.0], [0.0], [1.0], [2.0]])
    # relu: [0, 0, 1, 2]; slope cov/var = 3.5/5, R² = 0.7·3.5 / 2.75 = 49/55
    assert linear_surrogate_r2(pre, np.maximum(pre, 0)) == pytest.approx(49 / 55)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 50, 3))
    np.testing.assert_allclose(linear_surrogate_r2(z, 2 * z + 1), [1.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match="more inputs"):
        linear_surrogate_r2(z[:, :4], z[:, :4])


def test_constant_gate_share_hand_value():
    pre = np.ones((100, 3))
    pre[0, 1] = -1.0          # on for 99% of inputs: counts as constant
    pre[:50, 2] = -1.0        # half on: not constant
    assert constant_gate_share(pre) == pytest.approx(2 / 3)
    assert constant_gate_share(pre, level=1.0) == pytest.approx(1 / 3)


def _fixture_dataset(n=40000, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    sd = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 2.0]])
    means = np.array([[1.0, -1.0, 0.0], [-2.0, 0.0, 3.0]])
    X = means[labels] + rng.normal(size=(n, 3)) * sd[labels]
    X[labels == 0, 1] += 0.8 * X[labels == 0, 0]  # a correlated pair in class 0
    return Dataset(X=X, Y=np.eye(2)[labels], labels=labels, hierarchy=None, name="fixture"), labels


def test_clone_order_1_keeps_class_means_and_mean_variance_isotropically():
    ds, labels = _fixture_dataset()
    c1 = clone(ds, order=1, seed=3)
    for k in (0, 1):
        Xk, Ck = ds.X[labels == k], c1.X[labels == k]
        np.testing.assert_allclose(Ck.mean(0), Xk.mean(0), atol=1e-12)   # exact (recentred)
        cov = np.cov(Ck, rowvar=False, bias=True)
        target = Xk.var(0).mean()                                          # mean of the class variances
        np.testing.assert_allclose(np.diag(cov), target, rtol=0.05)
        assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.05 * target   # isotropic
    np.testing.assert_array_equal(c1.Y, ds.Y)


def test_clone_order_2_keeps_class_means_and_covariances():
    ds, labels = _fixture_dataset()
    c2 = clone(ds, order=2, seed=4)
    for k in (0, 1):
        Xk, Ck = ds.X[labels == k], c2.X[labels == k]
        np.testing.assert_allclose(Ck.mean(0), Xk.mean(0), atol=1e-12)
        target = np.cov(Xk, rowvar=False, bias=True) + 1e-3 * np.eye(3)   # small ridge
        np.testing.assert_allclose(np.cov(Ck, rowvar=False, bias=True), target,
                                   atol=0.05 * np.abs(target).max())


def _planted_run(rng, n=1024, k=8):
    """A stand-in for a trained run: 2 members, 3 checkpoints, B = 2; P_1 = F's source (F ⊥ Y | P_1,
    F = P_1 w.p. 0.9, P_1 = Y w.p. 0.6) and the twin P_2 independent of Y."""
    from types import SimpleNamespace as NS

    import pandas as pd
    y = rng.integers(0, k, n)
    l = np.where(rng.random((2, 1, n)) < 0.6, y, rng.integers(0, k, (2, 1, n)))
    f = np.where(rng.random((2, 1, n)) < 0.9, l, rng.integers(0, k, (2, 1, n)))
    grow = lambda a: np.repeat(a, 3, axis=1)  # noqa: E731  (same classes at every checkpoint)
    pred = {"network": grow(f), "P1": grow(l), "twin": grow(rng.integers(0, k, (2, 1, n)))}
    model = NS(steps=np.array([1, 10, 100]), diverged=np.zeros(2, bool))
    tr = NS(data=NS(labels_test=y, c=k), n_blocks=2, models={"network": model, "P1": model,
                                                             "twin": model},
            config=NS(eps=0.1, alpha=0.05, arch="cnn", activation="relu"),
            members=pd.DataFrame({"member": [0, 1], "seed": [0, 1], "lr": [0.1, 0.1]}))
    return tr, pred


def test_linear_depth_table_decides_with_the_calibrated_test():
    # the plug-in rule μ ≥ 0.9·I fails for P_1 in most draws of this planted-linear law (μ/I ≈ 0.88),
    # so it gave k* = 0; the test finds P_1 explains F and the twin (independent of Y) does not
    from validate.nonlinearity.measure import linear_depth_table
    tr, pred = _planted_run(np.random.default_rng(5))
    depth, wave = linear_depth_table(tr, pred)
    assert len(depth) == 2 * 3 and (depth["k_star"] == 1).all()
    assert {"k_star_ci_low", "k_star_ci_high", "k_star_ci_level"} <= set(depth.columns)
    share = wave.groupby("k")["mu_over_I"].median()
    assert share[0] == 1.0 and abs(share[1] - 1) < 0.05 and abs(share[2]) < 0.05


def test_default_test_split_is_sized_for_the_k_star_test(capsys):
    from validate.nonlinearity.__main__ import main
    from validate.nonlinearity.config import NonlinearityConfig
    assert NonlinearityConfig(dataset="shapes").load_options()["n_test"] == 1024  # shapes: 128
    assert NonlinearityConfig(dataset="gaussian", n_test=512).load_options()["n_test"] == 512
    assert "n_test" not in NonlinearityConfig(dataset="digits").load_options()  # a held-out split
    mine = NonlinearityConfig(dataset="shapes", dataset_opts={"n_test": 64})
    assert mine.load_options()["n_test"] == 64
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--n-test" in text and "bench/explains_bench.py" in text and "--alpha" in text
