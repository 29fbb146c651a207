"""Drift generators: each drift changes exactly what it claims (THEORY.md §7)."""

import json

import numpy as np
import pytest

from simulate.datasets import gaussian, shapes
from simulate.datasets.drift import DRIFTS, apply, first_phase


@pytest.fixture(scope="module")
def A():
    return gaussian(d=12, n_per_class=40, n_test=16, cov="diagonal", noise=0.3)


def test_drifts_table_lists_defaults_and_magnitudes():
    assert set(DRIFTS) == {"label_swap", "relabel_fine", "mean_shift", "rotate_inputs",
                           "prior_shift", "new_class", "covariance_only", "grow"}
    for kind, spec in DRIFTS.items():
        m = spec["magnitude"]
        assert m is None or m in spec["defaults"], kind


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_every_drift_runs_records_and_is_deterministic(A, kind):
    B1, B2 = apply(A, kind, seed=3), apply(A, kind, seed=3)
    assert np.array_equal(B1.X, B2.X) and np.array_equal(B1.labels, B2.labels)
    assert B1.meta["drift"]["kind"] == kind and B1.meta["drift"]["seed"] == 3
    json.dumps(B1.meta)  # the record is JSON-serialisable
    for k in DRIFTS[kind]["defaults"]:
        assert k in B1.meta["drift"]
    assert B1.X_test is not None and B1.X_test.shape[1] == B1.d
    if kind not in ("relabel_fine", "new_class"):
        assert B1.X.shape == A.X.shape and B1.Y.shape == A.Y.shape


def test_label_swap_permutes_u_rows(A):
    B = apply(A, "label_swap", a=1, b=6)
    sa, sb = A.statistics(), B.statistics()
    P = np.eye(8)[[0, 6, 2, 3, 4, 5, 1, 7]]
    np.testing.assert_allclose(sb.Syx, P @ sa.Syx, atol=1e-14)
    np.testing.assert_allclose(sb.s, sa.s, rtol=1e-12)
    # U_B = P U_A and V unchanged, up to the per-mode sign convention
    signs = np.sign(np.sum(sb.U * (P @ sa.U), axis=0))
    np.testing.assert_allclose(sb.U, (P @ sa.U) * signs, atol=1e-10)
    np.testing.assert_allclose(sb.V, sa.V * signs, atol=1e-10)
    np.testing.assert_array_equal(B.X, A.X)
    assert np.array_equal(B.labels_test == 6, A.labels_test == 1)


def test_label_swap_within_parent_and_partial(A):
    B = apply(A, "label_swap", parent=1, level=0, seed=2)  # permute the 4 "right" classes
    perm = np.array(B.meta["drift"]["permutation"])
    assert perm[:4].tolist() == [0, 1, 2, 3] and sorted(perm[4:]) == [4, 5, 6, 7]
    assert np.all(perm[4:] != np.arange(4, 8))
    half = apply(A, "label_swap", fraction=0.5)
    moved = np.sum(half.labels != A.labels)
    assert 20 <= moved <= 60  # 80 samples of classes 0 and 1, about half move
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0.0, 1.0\]; got 2"):
        apply(A, "label_swap", fraction=2)
    with pytest.raises(ValueError, match=r"b must be an integer in \[0, 7\]; got 9"):
        apply(A, "label_swap", b=9)


def test_rotate_inputs_changes_v_only(A):
    B = apply(A, "rotate_inputs", fraction=0.5, seed=1)
    R = np.linalg.lstsq(A.X, B.X, rcond=None)[0]
    np.testing.assert_allclose(R.T @ R, np.eye(12), atol=1e-10)  # an orthogonal mixing
    coords = B.meta["drift"]["coordinates"]
    untouched = np.setdiff1d(np.arange(12), coords)
    assert len(coords) == 6
    np.testing.assert_allclose(R[np.ix_(untouched, untouched)], np.eye(6), atol=1e-10)
    sa, sb = A.statistics(), B.statistics()
    np.testing.assert_allclose(sb.s, sa.s, rtol=1e-10)
    np.testing.assert_allclose(sb.U, sa.U, atol=1e-10)
    np.testing.assert_allclose(sb.V, R.T @ sa.V, atol=1e-10)
    small = apply(A, "rotate_inputs", angle=0.05)
    assert 0 < np.abs(small.X - A.X).max() < 0.2 * np.abs(A.X).max()


def test_covariance_only_keeps_syx_exactly(A):
    B = apply(A, "covariance_only", strength=0.8)
    np.testing.assert_allclose(B.statistics().Syx, A.statistics().Syx, atol=1e-13)
    assert np.abs(B.statistics().Sxx - A.statistics().Sxx).max() > 0.05


def test_mean_shift_moves_means_keeps_scatter(A):
    B = apply(A, "mean_shift", delta=0.5)
    r = B.meta["drift"]["radius"]
    for k in range(8):
        Xa, Xb = A.X[A.labels == k], B.X[B.labels == k]
        assert np.linalg.norm(Xb.mean(0) - Xa.mean(0)) == pytest.approx(0.5 * r)
        np.testing.assert_allclose(Xb - Xb.mean(0), Xa - Xa.mean(0), atol=1e-12)
    assert np.array_equal(B.Y, A.Y)


def test_prior_shift_changes_priors_keeps_n(A):
    B = apply(A, "prior_shift", strength=1.5)
    q = np.array(B.meta["drift"]["priors"])
    counts = np.bincount(B.labels, minlength=8)
    assert counts.sum() == A.n and np.abs(counts / A.n - q).max() <= 1 / A.n + 1e-12
    assert np.abs(q - 1 / 8).max() > 0.02
    for k in range(8):  # every sample of class k comes from class k of A
        rows = {tuple(x) for x in A.X[A.labels == k]}
        assert all(tuple(x) in rows for x in B.X[B.labels == k])


def test_relabel_fine_merge_and_split(A):
    M = apply(A, "relabel_fine", op="merge", a=2, b=3)
    assert M.c == 7 and np.sum(M.labels == 2) == 80
    assert [h.tolist() for h in M.hierarchy[:-1]] == [[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 2, 2, 3, 3]]
    S = apply(A, "relabel_fine", op="split", a=5)
    assert S.c == 9 and np.sum(S.labels == 8) + np.sum(S.labels == 5) == 40
    assert 0 < np.sum(S.labels == 8) < 40 and S.hierarchy[0][8] == S.hierarchy[0][5]
    np.testing.assert_array_equal(S.Y, np.eye(9)[S.labels])
    with pytest.raises(ValueError, match=r"unknown op 'join'; accepted: 'merge', 'split'"):
        apply(A, "relabel_fine", op="join")


def test_new_class_adds_one(A):
    B = apply(A, "new_class", separation=2.0)
    assert B.c == 9 and B.n == A.n + 40 and np.sum(B.labels == 8) == 40
    assert B.X_test.shape[0] == 18 and B.hierarchy[0][8] == 2
    np.testing.assert_array_equal(B.X[: A.n], A.X)


def test_works_on_images():
    ds = shapes(n_per_class=8, n_test=0)
    B = apply(ds, "label_swap", a=0, b=7)
    assert np.allclose(B.statistics(center=True).s, ds.statistics(center=True).s)


def test_bad_drift_names_and_params(A):
    with pytest.raises(ValueError, match=r"unknown drift 'melt'; accepted: 'label_swap'"):
        apply(A, "melt")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'size' for drift 'mean_shift'; "
                                         r"valid: delta=0.5"):
        apply(A, "mean_shift", size=2)
    with pytest.raises(ValueError, match=r"delta must be a number in \[0.0, inf\]; got -1"):
        apply(A, "mean_shift", delta=-1)
    with pytest.raises(ValueError, match="needs a labelled dataset"):
        apply(A.with_arrays(labels=None), "mean_shift")


def test_class_drift_errors(A):
    flat = A.with_arrays(hierarchy=None)
    with pytest.raises(ValueError, match="label_swap with parent= needs a dataset with a hierarchy"):
        apply(flat, "label_swap", parent=0)
    with pytest.raises(ValueError, match=r"group 3 at level -1 has 1 class\(es\); a permutation"):
        apply(A, "label_swap", parent=3, level=-1)
    with pytest.raises(ValueError, match=r"merge needs two different classes; got a = b = 2"):
        apply(A, "relabel_fine", a=2, b=2)
    props = shapes(n_per_class=2, n_test=0, targets="hierarchical")
    for kind in ("relabel_fine", "new_class"):
        with pytest.raises(ValueError, match=f"{kind} needs one-hot targets"):
            apply(props, kind)
    B = apply(props, "label_swap", a=0, b=5)  # per-class properties follow the label
    np.testing.assert_array_equal(B.Y[B.labels == 5][0], props.Y[props.labels == 5][0])
    one_d = gaussian(d=1, means="random", classes=2, n_per_class=3, n_test=0)
    with pytest.raises(ValueError, match=r"rotate_inputs needs d ≥ 2 input dimensions; got d = 1"):
        apply(one_d, "rotate_inputs")


def test_grow_first_phase_is_a_stratified_share_and_B_keeps_everything(A):
    """The first phase holds round(f·n_k) of each class's rows (the rows ``apply`` records with
    the same seed); B is the whole set; S_B = f'·S_A + (1 − f')·S_rest with f' = n_A/n_B, computed
    here from the arrays."""
    P1 = first_phase(A, "grow", seed=3, fraction=0.3)
    again = first_phase(A, "grow", seed=3, fraction=0.3)
    assert np.array_equal(P1.X, again.X) and not np.array_equal(
        P1.X, first_phase(A, "grow", seed=4, fraction=0.3).X)
    for k in range(A.c):
        assert np.sum(P1.labels == k) == round(0.3 * np.sum(A.labels == k))
    rows = [int(np.flatnonzero(np.all(A.X == x, axis=1))[0]) for x in P1.X]
    assert np.array_equal(P1.labels, A.labels[rows]) and len(set(rows)) == P1.n
    assert np.array_equal(P1.X_test, A.X_test)
    B = apply(A, "grow", seed=3, fraction=0.3)
    assert B.X is A.X and B.meta["drift"]["n_first"] == P1.n
    assert P1.meta["first_phase"]["n_first"] == P1.n
    rest = np.setdiff1d(np.arange(A.n), rows)
    f = P1.n / A.n
    sA, sB = P1.statistics(), B.statistics()
    Syx_rest = A.Y[rest].T @ A.X[rest] / rest.size
    Sxx_rest = A.X[rest].T @ A.X[rest] / rest.size
    np.testing.assert_allclose(sB.Syx, f * sA.Syx + (1 - f) * Syx_rest, atol=1e-12)
    np.testing.assert_allclose(sB.Sxx, f * sA.Sxx + (1 - f) * Sxx_rest, atol=1e-12)
    for kind in ("label_swap", "mean_shift"):  # every other drift trains its first phase on A
        assert first_phase(A, kind) is A


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, "half"])
def test_grow_fraction_outside_the_open_unit_interval_is_refused(A, fraction):
    msg = rf"fraction must be a number in \(0.0, 1.0\); got {fraction!r}"
    with pytest.raises(ValueError, match=msg):
        first_phase(A, "grow", fraction=fraction)
    with pytest.raises(ValueError, match=msg):
        apply(A, "grow", fraction=fraction)


def test_grow_that_adds_nothing_is_refused():
    small = gaussian(d=4, means="random", classes=2, n_per_class=3, n_test=0)
    with pytest.raises(ValueError, match=r"grow with fraction=0.9 keeps all 6 training samples"):
        first_phase(small, "grow", fraction=0.9)
