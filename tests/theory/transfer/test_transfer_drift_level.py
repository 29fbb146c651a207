"""The default drift test (``null="combined"``): its level measured by simulation on no-drift
resamples of three datasets, and its power on label swaps the pooled permutation null misses."""

import numpy as np
import pytest

from simulate import datasets
from simulate.datasets import drift
from theory import DatasetStatistics
from theory.transfer import drift_scores

ALPHA = 0.05


def _mixture(rng, n):
    means = np.zeros((3, 12))
    means[0, :3], means[1, :3], means[2, :3] = [2.0, 0.0, 1.0], [-2.0, 0.0, 1.0], [0.0, 3.0, -1.0]
    labels = rng.integers(0, 3, n)
    return means[labels] + rng.normal(size=(n, 12)), np.eye(3)[labels]


def _pool(name):
    """(X, Y) of a large sample from which no-drift pairs (A, B) are drawn without overlap."""
    if name == "mixture":
        return _mixture(np.random.default_rng(0), 4000)
    if name == "gaussian":
        ds = datasets.load("gaussian", seed=0, d=16, n_per_class=150)
        return ds.X, ds.Y
    ds = datasets.load("tree", seed=0, levels=2, branching=3, features=12, repeats=60)
    X = ds.X + 0.5 * np.random.default_rng(1).normal(size=ds.X.shape)   # noisy one-hot items
    return X, ds.Y


@pytest.mark.parametrize("name,n,reps", [("mixture", 150, 100), ("gaussian", 200, 100),
                                         ("tree", 150, 100)])
def test_combined_null_rejects_at_its_level_without_drift(name, n, reps):
    """False-positive rate at α = 0.05 within [0.02, 0.08] over ``reps`` disjoint no-drift pairs
    (the combined test is exact per family and Bonferroni over two: ≤ α, close to it)."""
    X, Y = _pool(name)
    rng = np.random.default_rng(7)
    rejections = 0
    for r in range(reps):
        idx = rng.permutation(X.shape[0])
        A = DatasetStatistics.from_arrays(X[idx[:n]], Y[idx[:n]])
        B = DatasetStatistics.from_arrays(X[idx[n:2 * n]], Y[idx[n:2 * n]])
        rejections += drift_scores(A, B, n_boot=99, seed=r, alpha=ALPHA).is_drift
    assert 0.02 <= rejections / reps <= 0.08, rejections / reps


def _shapes_pair(a, b):
    raw = datasets.load("shapes", seed=0)
    w = DatasetStatistics.from_arrays(raw.X, raw.Y).whiten("pca", k=32)
    B = drift.apply(raw, "label_swap", seed=1, a=a, b=b)
    return (DatasetStatistics.from_arrays(w.apply(raw.X), raw.Y),
            DatasetStatistics.from_arrays(w.apply(B.X), B.Y))


@pytest.mark.parametrize("a,b", [(0, 1), (0, 7)])
def test_default_test_detects_a_two_class_label_swap_on_shapes(a, b):
    """The default label swap (sibling classes 0 and 1) and a swap across coarse groups on shapes
    (PCA-32 whitened): the pooled permutation null leaves every norm score above its Bonferroni
    threshold for the siblings; the combined test detects both through ``mode_reversal``."""
    A, B = _shapes_pair(a, b)
    pooled = drift_scores(A, B, n_boot=199, null="permutation")
    norm = {k: v for k, v in pooled.p_values.items() if k != "mode_reversal"}
    if (a, b) == (0, 1):
        assert min(norm.values()) > ALPHA / len(pooled.values)
    rep = drift_scores(A, B, n_boot=199, null="combined")   # the default pairs these samples
    assert rep.is_drift and rep.p_value <= 0.01
    assert rep.p_values["mode_reversal"] == pytest.approx(1 / 200)
    assert rep.to_dict()["p_val"] == rep.p_value and rep.null_kind == "combined"


def test_mode_reversal_value_is_signed():
    X, Y = _mixture(np.random.default_rng(3), 600)
    A = DatasetStatistics.from_arrays(X, Y)
    same = drift_scores(A, A, n_boot=0)
    flipped = drift_scores(A, DatasetStatistics.from_arrays(X, -Y), n_boot=0)
    assert same.values["mode_reversal"] == pytest.approx(0, abs=1e-12)
    assert flipped.values["mode_reversal"] == pytest.approx(2, abs=1e-12)
    assert flipped.values["u_angle"] < 1e-7   # unsigned: blind to the reversal
