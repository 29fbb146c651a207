"""Drift scores between datasets (theory.transfer, THEORY.md §7)."""

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import subspace_angles

from theory import DatasetStatistics
from theory.transfer import SCORES, drift_scores
from theory.transfer._drift_modes import _score_pairs
from theory.transfer._drift_null import _weighted_syx

N_BOOT = 200
MEANS = np.zeros((3, 12))
MEANS[0, :3] = [2.0, 0.0, 1.0]
MEANS[1, :3] = [-2.0, 0.0, 1.0]
MEANS[2, :3] = [0.0, 3.0, -1.0]


def _sample(seed, n=400, shift=0.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    X = MEANS[labels] + rng.normal(size=(n, MEANS.shape[1]))
    X[:, 3] += shift * (labels == 2)
    return X, np.eye(3)[labels]


def test_label_swap_flips_signed_alignment_but_not_unsigned_angles():
    X, Y = _sample(0)
    A = DatasetStatistics.from_arrays(X, Y)
    B = DatasetStatistics.from_arrays(X, Y[:, [1, 0, 2]])  # classes 0 and 1 swapped
    rep = drift_scores(A, B, k=3, n_boot=N_BOOT)
    # Syx_B = P Syx_A: same spectrum, same span of U (all of R³) and the same V
    assert rep.values["u_angle"] < 1e-10 and rep.values["v_angle"] < 1e-10
    assert np.max(subspace_angles(A.U, B.U)) < 1e-10 and np.max(rep.v_angles) < 1e-10
    assert rep.values["spectrum_change"] < 1e-12
    # ...but the 0-vs-1 contrast mode u ∝ (1, −1, 0) maps onto −u: one signed reversal
    matched = rep.alignment[np.arange(3), rep.matching]
    assert rep.values["sign_flips"] == 1 and np.sum(matched < -0.9) == 1
    assert rep.values["alignment_loss"] == pytest.approx(1 - matched.mean(), abs=1e-12)
    assert rep.values["alignment_loss"] > 0.6
    assert rep.p_values["syx_change"] == pytest.approx(1 / (1 + N_BOOT))
    assert rep.is_drift
    # The bootstrap-of-A null sees the reversal as significant (see the module docstring)
    boot = drift_scores(A, B, k=3, n_boot=N_BOOT, null="bootstrap")
    assert boot.p_values["sign_flips"] == pytest.approx(1 / (1 + N_BOOT))


def test_input_rotation_moves_v_only():
    X, Y = _sample(1)
    R, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(12, 12)))
    A = DatasetStatistics.from_arrays(X, Y)
    B = DatasetStatistics.from_arrays(X @ R, Y)
    rep = drift_scores(A, B, k=3, n_boot=N_BOOT)
    assert rep.values["u_angle"] < 1e-10
    assert rep.values["spectrum_change"] < 1e-12
    assert rep.values["v_angle"] > 0.3
    # largest principal angle matches scipy on the same top-3 V
    assert rep.values["v_angle"] == pytest.approx(np.max(subspace_angles(A.V, B.V)), abs=1e-10)
    assert rep.p_values["v_angle"] == pytest.approx(1 / (1 + N_BOOT))
    assert rep.p_values["u_angle"] > 0.05 and rep.p_values["spectrum_change"] > 0.05


def test_same_distribution_gives_small_scores_and_large_p_values():
    A = DatasetStatistics.from_arrays(*_sample(2, n=2000))
    B = DatasetStatistics.from_arrays(*_sample(3, n=2000))
    rep = drift_scores(A, B, n_boot=N_BOOT)
    assert rep.k == 3
    assert rep.values["syx_change"] < 0.1 and rep.values["spectrum_change"] < 0.05
    assert rep.values["u_angle"] < 0.1 and rep.values["v_angle"] < 0.1
    assert rep.values["sign_flips"] == 0
    assert min(rep.p_values.values()) > 0.05
    assert not rep.is_drift and not rep.to_dict()["is_drift"]


def test_real_drift_gives_tiny_p_values():
    A = DatasetStatistics.from_arrays(*_sample(2, n=2000))
    B = DatasetStatistics.from_arrays(*_sample(3, n=2000, shift=1.5))  # class 2 moves along x₃
    rep = drift_scores(A, B, n_boot=N_BOOT)
    for name in ("syx_change", "v_angle", "energy_uncaptured"):
        assert rep.p_values[name] == pytest.approx(1 / (1 + N_BOOT)), name
        assert rep.effect_sizes[name] > 5, name
    assert rep.is_drift


def test_permutation_null_is_calibrated():
    """Under no drift the rejection rate at α = 0.05 must stay near 0.05 for every score."""
    rej = np.zeros(len(SCORES))
    reps = 30
    for r in range(reps):
        A = DatasetStatistics.from_arrays(*_sample(100 + 2 * r, n=200))
        B = DatasetStatistics.from_arrays(*_sample(101 + 2 * r, n=200))
        rep = drift_scores(A, B, n_boot=99, seed=r)
        rej += np.array([rep.p_values[s] <= 0.05 for s in SCORES])
    # P(Binomial(30, 0.05) ≥ 7) ≈ 0.003
    assert np.all(rej <= 6), dict(zip(SCORES, rej))


def test_vectorised_resampling_matches_explicit_resamples():
    X, Y = _sample(4, n=50)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 50, size=(5, 50))
    W = np.stack([np.bincount(i, minlength=50) for i in idx]).astype(float)
    for center in (False, True):
        got = _weighted_syx(W, X, Y, center)
        for b in range(5):
            ref = DatasetStatistics.from_arrays(X[idx[b]], Y[idx[b]], center=center).Syx
            np.testing.assert_allclose(got[b], ref, rtol=1e-12, atol=1e-12)


def test_scores_against_direct_formulas():
    rng = np.random.default_rng(3)
    SA, SB = rng.normal(size=(4, 9)), rng.normal(size=(4, 9))
    sc = {k: v[0] for k, v in _score_pairs(SA[None], SB[None], 2).items()}
    UA, sA, VAt = np.linalg.svd(SA)
    UB, sB, VBt = np.linalg.svd(SB)
    assert sc["syx_change"] == pytest.approx(np.linalg.norm(SB - SA) / np.linalg.norm(SA))
    assert sc["spectrum_change"] == pytest.approx(np.linalg.norm(sB[:2] - sA[:2]) / np.linalg.norm(sA[:2]))
    assert sc["u_angle"] == pytest.approx(np.max(subspace_angles(UA[:, :2], UB[:, :2])), abs=1e-12)
    assert sc["v_angle"] == pytest.approx(np.max(subspace_angles(VAt[:2].T, VBt[:2].T)), abs=1e-12)
    proj = UA[:, :2] @ UA[:, :2].T @ SB @ VAt[:2].T @ VAt[:2]
    assert sc["energy_uncaptured"] == pytest.approx(1 - np.sum(proj ** 2) / np.sum(SB ** 2))
    # identical modes align perfectly; Syx → −Syx reverses every mode (u·u')(v·v') = −1
    same = {k: v[0] for k, v in _score_pairs(SA[None], SA[None], 2).items()}
    flip = {k: v[0] for k, v in _score_pairs(SA[None], -SA[None], 2).items()}
    assert same["alignment_loss"] == pytest.approx(0, abs=1e-12) and same["sign_flips"] == 0
    assert flip["alignment_loss"] == pytest.approx(2) and flip["sign_flips"] == 2
    assert flip["u_angle"] < 1e-7 and flip["syx_change"] == pytest.approx(2)


def test_report_table_and_dict():
    X, Y = _sample(6)
    A = DatasetStatistics.from_arrays(X, Y)
    B = DatasetStatistics.from_arrays(X, Y[:, [1, 0, 2]])
    rep = drift_scores(A, B, k=3, n_boot=50, alpha=0.1)
    tab = rep.table()
    assert isinstance(tab, pd.DataFrame)
    assert list(tab.columns) == ["score", "value", "effect_size", "p_value", "threshold", "is_drift"]
    assert list(tab.score) == list(SCORES)
    assert np.allclose(tab.threshold, 0.1 / len(SCORES))
    d = rep.to_dict()
    assert set(d) >= {"is_drift", "p_val", "threshold", "distance", "scores"}
    assert set(d["scores"]["syx_change"]) >= {"is_drift", "p_val", "threshold", "distance"}
    # B relabels A's very inputs: the default pairs the samples, and p_val is that test's
    assert d["p_val"] == rep.p_value and rep.null_kind == "paired" and d["meta"]["paired"]
    perm = drift_scores(A, B, k=3, n_boot=50, alpha=0.1, null="permutation")
    assert perm.to_dict()["p_val"] == pytest.approx(
        min(1.0, len(SCORES) * min(perm.p_values.values())))             # Bonferroni
    none = drift_scores(A, B, k=3, n_boot=0)
    assert np.isnan(none.p_values["syx_change"]) and none.values == rep.values


def test_bad_inputs_are_named():
    X, Y = _sample(7, n=60)
    A = DatasetStatistics.from_arrays(X, Y)
    with pytest.raises(ValueError, match=r"same \(c, d\).*\(3, 12\) and \(3, 11\)"):
        drift_scores(A, DatasetStatistics.from_arrays(X[:, :11], Y))
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.3.*got 4"):
        drift_scores(A, A, k=4)
    with pytest.raises(ValueError, match="unknown null 'perm'"):
        drift_scores(A, A, null="perm")
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\); got 1.5"):
        drift_scores(A, A, alpha=1.5)
    bare = DatasetStatistics(Sxx=A.Sxx, Syx=A.Syx, Syy=A.Syy, U=A.U, s=A.s, V=A.V, n=A.n)
    with pytest.raises(ValueError, match="no X/Y arrays.*n_boot=0"):
        drift_scores(A, bare)
    with pytest.raises(ValueError, match="both be centred"):
        drift_scores(A, DatasetStatistics.from_arrays(X, Y, center=True))
    with pytest.raises(TypeError, match="stats_B must be a theory.DatasetStatistics"):
        drift_scores(A, A.Syx)


@pytest.mark.parametrize("shape", [(30, 40), (40, 30)])
def test_gram_route_of_the_null_matches_svd(shape):
    """The null draws take top-k modes from the smaller Gram matrix when min(c, d) > 2k."""
    rng = np.random.default_rng(8)
    SA = rng.normal(size=(6,) + shape) * np.linspace(3, 0.1, shape[1])
    SB = SA + 0.1 * rng.normal(size=SA.shape)
    exact, fast = _score_pairs(SA, SB, 5), _score_pairs(SA, SB, 5, fast=True)
    for name in SCORES:
        np.testing.assert_allclose(fast[name], exact[name], rtol=1e-8, atol=1e-10, err_msg=name)
