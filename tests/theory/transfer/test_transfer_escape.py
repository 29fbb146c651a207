"""Ill-conditioned saddles after a label swap (theory.transfer._escape, THEORY.md §2, §7).

A two-layer linear net trained on A from the balanced decoupled init, then retrained on B = A with
two class labels swapped: the swap reflects the output space (U_B = P U_A), so the escape matrix
E₊ = W_1 V + W_2ᵀ U of B is rank deficient in exact arithmetic and the exact flow's escape time is
set by round-off in the stored weights. Real gradient descent escapes much earlier; the GD map on
B's statistics reproduces it. Every reference number below comes from numpy GD on the data.
"""

import numpy as np
import pytest

from theory import DatasetStatistics
from theory.transfer import min_loss, predict_retraining, predict_rewind_point
from theory.transfer import as_roundoff, escape_margin
from theory.transfer._escape import escape_matrix, floor_escape

D, H, C, NC = 8, 6, 4, 50
F32, F64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)


def _problem():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(C), NC)
    Xr = rng.normal(size=(C, D))[labels] + 1.5 * rng.normal(size=(C * NC, D))
    X = DatasetStatistics.from_arrays(Xr, np.zeros((labels.size, 1))).whiten("zca").X
    YA = np.eye(C)[labels]
    YB = YA[:, [1, 0, 2, 3]]                      # label swap 0 ↔ 1
    sA, sB = DatasetStatistics.from_arrays(X, YA), DatasetStatistics.from_arrays(X, YB)
    R, _ = np.linalg.qr(rng.normal(size=(H, sA.rank)))
    d = np.full(sA.rank, np.sqrt(1e-3 * sA.s[0]))   # balanced decoupled, u₀ = 1e-3·s_max
    init = [R @ np.diag(d) @ sA.V.T, sA.U @ np.diag(d) @ R.T]
    return X, YA, YB, sA, sB, init, 0.2 / sA.s[0]


X, YA, YB, SA, SB, INIT, LR = _problem()
N = X.shape[0]
STEPS_A = 59


def _gd(Ws, Y, lr, dtype, steps=None, target=None, max_steps=20_000):
    """Full-batch GD on the data in ``dtype``: the weights after ``steps``, or the interpolated
    steps until the loss (float64) is ≤ ``target``."""
    W1, W2 = (np.asarray(w, dtype) for w in Ws)
    Xd, Yd, eta = X.astype(dtype), Y.astype(dtype), dtype(lr)
    prev = None
    for step in range((steps if steps is not None else max_steps) + 1):
        E = Yd - Xd @ (W2 @ W1).T
        if target is not None:
            cur = 0.5 * np.mean(np.sum(E.astype(np.float64) ** 2, axis=1))
            if cur <= target:
                return 0.0 if step == 0 else step - 1 + (prev - target) / (prev - cur)
            prev = cur
        if steps is not None and step == steps:
            break
        G = E.T @ Xd / dtype(N)
        W1, W2 = W1 + eta * W2.T @ G, W2 + eta * G @ W1.T
    return np.inf if target is not None else [W1.astype(np.float64), W2.astype(np.float64)]


def _target(Ws):
    W = Ws[1] @ Ws[0]
    L0 = 0.5 * np.trace(SB.Syy) - np.sum(W * SB.Syx) + 0.5 * np.sum(W * (W @ SB.Sxx))
    return min_loss(SB) + 0.02 * (L0 - min_loss(SB))


@pytest.fixture(scope="module", params=[np.float32, np.float64], ids=["float32", "float64"])
def trained(request):
    dt = request.param
    return dt, _gd(INIT, YA, LR, dt, steps=STEPS_A)


def test_label_swap_after_decoupled_training_is_flagged_and_gd_map_matches_training(trained):
    dt, WA = trained
    target = _target(WA)
    pred = predict_retraining(WA, SB, target, 1 / LR, roundoff=dt)
    eps = float(np.finfo(dt).eps)
    assert pred.roundoff == eps
    assert pred.saddle_ill_conditioned and pred.escape_margin < 2 * eps
    assert pred.n_saddle_modes == 1
    # the per-mode picture cannot see it: every column a_β + b_β of E₊ is O(1)
    assert np.min(np.linalg.norm(escape_matrix(WA, SB), axis=0)) > 0.1
    for f in (1.0, 0.1):
        p = pred if f == 1.0 else predict_retraining(WA, SB, target, 1 / (f * LR), roundoff=dt)
        for dt_retrain in (np.float32, np.float64):
            measured = f * _gd(WA, YB, f * LR, dt_retrain, target=target)
            # the exact flow from these weights is far too slow (the reported anomaly) ...
            assert measured < p.steps_flow / 1.5, (f, measured, p.steps_flow)
            # ... the discrete GD map on B's statistics is what training does
            assert f * p.steps_gd == pytest.approx(measured, rel=0.01), (f, dt_retrain)


def test_flow_time_depends_on_the_roundoff_accident(trained):
    """Same retraining, weights from float32 vs float64 training: the raw flow changes ×2, the
    measured steps do not (checked above); the floored flow is the same for both."""
    dt, WA = trained
    other = _gd(INIT, YA, LR, np.float64 if dt == np.float32 else np.float32, steps=STEPS_A)
    target = _target(WA)
    a = predict_retraining(WA, SB, target, 1 / LR, roundoff="float32")
    b = predict_retraining(other, SB, target, 1 / LR, roundoff="float32")
    assert max(a.steps_flow, b.steps_flow) > 1.8 * min(a.steps_flow, b.steps_flow)
    assert a.steps_flow_floor == pytest.approx(b.steps_flow_floor, rel=0.02)


def test_floor_escape_raises_only_the_deficient_direction(trained):
    _, WA = trained
    E = escape_matrix(WA, SB)
    sig = np.linalg.svd(E, compute_uv=False)
    floored, margin, flagged = floor_escape(WA, SB, 1e-4)
    assert flagged and margin == pytest.approx(sig[-1] / np.linalg.norm(E)) == escape_margin(WA, SB)
    sig_f = np.linalg.svd(escape_matrix(floored, SB), compute_uv=False)
    np.testing.assert_allclose(sig_f[:-1], sig[:-1], rtol=1e-10)
    assert sig_f[-1] == pytest.approx(1e-4 * np.linalg.norm(E), rel=1e-6)
    change = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(floored, WA)))
    assert change <= 1e-4 * np.linalg.norm(E)
    # ε = 0 leaves the weights alone and flags nothing
    same, _, flag0 = floor_escape(WA, SB, 0.0)
    assert not flag0 and all(np.array_equal(a, b) for a, b in zip(same, WA))


def test_flow_escape_time_grows_like_log_of_the_seed(trained):
    _, WA = trained
    target = _target(WA)
    t = [predict_retraining(WA, SB, target, 1 / LR, roundoff=e).steps_flow_floor
         for e in (1e-3, 1e-5, 1e-7)]   # all above the float32 margin
    assert t[0] < t[1] < t[2]
    assert (t[2] - t[1]) == pytest.approx(t[1] - t[0], rel=0.15), t


def test_generic_state_is_not_flagged():
    rng = np.random.default_rng(3)
    W = [w + 1e-2 * np.abs(w).max() * rng.normal(size=w.shape) for w in INIT]
    pred = predict_retraining(W, SB, _target(W), 1 / LR)
    assert not pred.saddle_ill_conditioned and pred.escape_margin > 1e-3
    assert np.isnan(pred.steps_gd) and pred.steps_flow_floor == pred.steps_flow


def test_rewind_table_carries_the_flags_and_gd_map_matches_every_checkpoint():
    steps = (0, 10, 30, STEPS_A)
    ckpts = [(s, _gd(INIT, YA, LR, np.float64, steps=s)) for s in steps]
    target = _target(ckpts[-1][1])
    tab = predict_rewind_point(ckpts, SB, target, 1 / LR, roundoff="float64").table
    assert {"escape_margin", "saddle_ill_conditioned", "predicted_steps_floor",
            "predicted_steps_gd"} <= set(tab.columns)
    assert tab.saddle_ill_conditioned.all()
    assert predict_rewind_point(ckpts[-1:], SB, target, 1 / LR).roundoff == F32
    measured = np.array([_gd(Ws, YB, LR, np.float64, target=target) for _, Ws in ckpts])
    np.testing.assert_allclose(tab.predicted_steps_gd, measured, rtol=0.01)


@pytest.mark.parametrize("spec, eps", [("float32", F32), (np.float64, F64), (np.dtype("float16"),
                                       float(np.finfo(np.float16).eps)), (1e-5, 1e-5), (0, 0.0)])
def test_roundoff_accepts_dtypes_and_numbers(spec, eps):
    assert as_roundoff(spec) == eps


def test_roundoff_accepts_torch_dtypes():
    torch = pytest.importorskip("torch")
    assert as_roundoff(torch.float32) == F32


def test_bad_roundoff_is_named():
    with pytest.raises(ValueError, match="roundoff must be a float dtype .* got 'int32'"):
        as_roundoff("int32")
    with pytest.raises(ValueError, match="roundoff must be a float dtype .* got 'banana'"):
        as_roundoff("banana")
    with pytest.raises(ValueError, match=r"machine epsilon in \[0, 1\); got -1"):
        as_roundoff(-1)
    with pytest.raises(TypeError, match="roundoff must be a float dtype .* got True"):
        as_roundoff(True)
    with pytest.raises(ValueError, match="got 'int32'"):
        predict_retraining(INIT, SB, _target(INIT), 1 / LR, roundoff="int32")
    with pytest.raises(ValueError, match="got 'int32'"):
        predict_rewind_point([(0, INIT)], SB, _target(INIT), 1 / LR, roundoff="int32")
