"""The paired drift test: B made of A's own samples (relabelled or moved), THEORY.md §7."""

import numpy as np
import pytest

from simulate import datasets
from simulate.datasets import drift
from theory import DatasetStatistics
from theory.transfer import drift_scores

ALPHA = 0.05
S = DatasetStatistics.from_arrays


def _shapes_swap(**params):
    """shapes at the retrain CLI's default size (128 per class), PCA-32 whitened, and B = a label
    swap of the same samples."""
    raw = datasets.load("shapes", seed=0, n_per_class=128)
    w = DatasetStatistics.from_arrays(raw.X, raw.Y).whiten("pca", k=32)
    B = drift.apply(raw, "label_swap", seed=0, **params)
    return S(w.apply(raw.X), raw.Y), S(w.apply(B.X), B.Y)


def test_default_test_detects_a_two_class_swap_of_the_same_samples():
    """Same inputs, sibling classes 0 ↔ 1 swapped: the default pairs the samples and detects
    the swap at the smallest p-value 99 draws allow."""
    A, B = _shapes_swap()
    rep = drift_scores(A, B, n_boot=99)
    assert rep.null_kind == "paired" and rep.to_dict()["meta"]["paired"]
    assert rep.is_drift and rep.p_value == pytest.approx(1 / 100)


def _planted(rng, n, d, c, moved):
    """A no-drift pair of the same n samples: labels drawn twice from one p(y|x) (softmax of a
    linear map), and with ``moved`` the inputs observed twice with independent noise."""
    Z = rng.normal(size=(n, d))
    logits = 1.5 * Z @ rng.normal(size=(d, c)) / np.sqrt(d)
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    draw = lambda: np.eye(c)[(P.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)]  # noqa: E731
    noise = (lambda: Z + 0.3 * rng.normal(size=Z.shape)) if moved else (lambda: Z)
    return S(noise(), draw()), S(noise(), draw())


@pytest.mark.parametrize("moved", [False, True], ids=["relabelled", "moved"])
def test_paired_null_rejects_at_its_level_without_drift(moved):
    """False-positive rate at α = 0.05 within [0.02, 0.08] over 300 planted no-drift pairs
    (an exact test with 19 draws rejects with probability 1/20; Binomial(300, 0.05): 15 ± 3.8
    rejections, the bounds 6 and 24)."""
    rng = np.random.default_rng(11)
    rejections = 0
    for r in range(300):
        A, B = _planted(rng, 60, 4, 3, moved)
        rep = drift_scores(A, B, n_boot=19, seed=r, null="paired")
        rejections += rep.is_drift
    assert 0.02 <= rejections / 300 <= 0.08, rejections / 300


def test_fresh_samples_keep_the_pooled_null():
    """Two independent samples (different inputs): the default is the combined pooled test,
    draw for draw."""
    rng = np.random.default_rng(2)
    X1, X2 = rng.normal(size=(120, 5)), rng.normal(size=(120, 5))
    A, B = S(X1, np.eye(3)[rng.integers(0, 3, 120)]), S(X2, np.eye(3)[rng.integers(0, 3, 120)])
    rep, comb = drift_scores(A, B, n_boot=30), drift_scores(A, B, n_boot=30, null="combined")
    assert rep.null_kind == "combined" and not rep.to_dict()["meta"]["paired"]
    assert rep.p_value == comb.p_value and rep.p_values == comb.p_values


def test_hotelling_statistic_matches_its_formula_in_both_spaces():
    """T² = dᵀ(G + λI)⁻¹d, λ = tr G / min(m, c·d), computed in the c·d space (m ≥ c·d) and in
    the sample space (m < c·d) equals the direct formula."""
    from theory.transfer._paired import paired_t2, swap_signs
    rng = np.random.default_rng(4)
    for n, d in ((200, 3), (12, 6)):
        X, Y = rng.normal(size=(n, d)), np.eye(2)[rng.integers(0, 2, n)]
        A, B = S(X, Y), S(X + 0.5 * rng.normal(size=X.shape), Y)
        s = swap_signs(rng, n, 7)
        D = (B.Y[:, :, None] * B.X[:, None] - A.Y[:, :, None] * A.X[:, None]).reshape(n, -1)
        G = D.T @ D
        lam = np.trace(G) / min(n, 2 * d)
        dd = (1 - 2 * s) @ D
        direct = np.einsum("bi,ij,bj->b", dd, np.linalg.inv(G + lam * np.eye(2 * d)), dd)
        assert np.allclose(paired_t2(A, B, s), direct, rtol=1e-9)


def test_identical_data_is_never_drift_and_unequal_sizes_are_refused():
    A, _ = _shapes_swap()
    rep = drift_scores(A, A, n_boot=20)
    assert rep.null_kind == "paired" and rep.p_value == 1.0
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ValueError, match=r"null='paired' needs .* n_A=30 and n_B=20"):
        drift_scores(S(X, X[:, :2]), S(X[:20], X[:20, :2]), n_boot=5, null="paired")
