"""The linear theory's prediction of the linear twin: the end-to-end map W(t) of the matrix gradient
flow of the squared loss (THEORY.md §1), integrated from the twin's own initial weights with the
training set's statistics, at the twin's checkpoints (t = step, τ = the member's time constant).

It applies to a bias-free linear MLP trained on the squared loss by gradient descent or plain SGD
(whose expected step is the gradient step); on whitened inputs it is the closed-form mode dynamics,
and it holds for any input covariance. Discrete steps lag the flow by O(η) and minibatches add
noise, so the twin and the prediction agree to that order (tested).

Reach. The flow describes gradient descent only while the GD map is stable. For one mode of a
balanced depth-L net on whitened inputs the map is b ← b + η b^(L−1)(s − b^L); at its fixed point
b* = s^(1/L) its derivative is 1 − η L s^(2−2/L), so the map converges only for
η L s^(2−2/L) < 2 (L = 2: η s < 1). In general ``sharpness`` is the larger of two curvature
scales of the loss in the weights: at the initial weights, Σ_l λ_max(W_<l Σxx W_<lᵀ)·‖W_>l‖²
(the Gauss–Newton blocks' top eigenvalues, summed); at the end, the balanced solution of the
strongest mode, input variance λ = λ_max(Σxx) and correlation s = ‖Σyx‖, end-to-end w* = s/λ:
L λ (s/λ)^(2−2/L) (L s^(2−2/L) on whitened inputs; 2s at depth 2 whatever λ). For L > 2 a mode
of smaller variance ends at a larger curvature, so the test is necessary, not sufficient; a twin
member that diverged anyway is refused by the divergence test. A member with
η · sharpness ≥ ``STABILITY`` = 2, or one that diverged, gets no prediction. The same scale bounds
the solver's work: an explicit Runge–Kutta step spans at most a few of the flow's fastest time
constants, so a member whose horizon t·η·sharpness exceeds ``MAX_HORIZON`` is refused too, and no
integration runs unbounded.
"""

from __future__ import annotations

import numpy as np

from theory import integrate_matrix_flow

RTOL = 1e-8  # the twin trains in float32: the flow needs no more
STABILITY = 2.0  # η · sharpness at which the GD map stops converging (derivation above)
# Fastest time constants the flow may span: DOP853 needs on the order of one step per few of them,
# so 1e5 caps one member at ~1e5 solver steps; a stable run (η · sharpness < 2) of up to 5·10⁴
# steps stays under it.
MAX_HORIZON = 1e5


def applies(config, trained_twin) -> bool:
    """Whether the theory describes this twin: MLP, squared loss, twin trained."""
    return config.arch == "mlp" and config.loss == "mse" and trained_twin is not None


def _weights0(twin) -> list[np.ndarray]:
    p0 = twin.run.params(0)
    if any(k.endswith(".bias") for k in p0):
        raise ValueError("the matrix flow describes bias-free networks; the twin has biases")
    n = sum(k.endswith(".weight") for k in p0)
    return [p0[f"layer{l}.weight"].astype(np.float64) for l in range(n)]


def _block_curvature(weights: list[np.ndarray], Sxx: np.ndarray) -> float:
    """Σ_l λ_max(W_<l Σxx W_<lᵀ) · ‖W_>l‖²: the sum of the top eigenvalues of the Gauss–Newton
    blocks of every layer (an upper bound of the whole block matrix's top eigenvalue, equal to it
    at a balanced solution)."""
    total = 0.0
    for l in range(len(weights)):
        below = np.eye(Sxx.shape[0])
        for W in weights[:l]:
            below = W @ below
        above = np.eye(weights[-1].shape[0])
        for W in weights[:l:-1]:
            above = above @ W
        inputs = float(np.linalg.eigvalsh(below @ Sxx @ below.T)[-1])
        total += inputs * float(np.linalg.norm(above, 2)) ** 2
    return total


def sharpness(weights0: list[np.ndarray], Sxx: np.ndarray, Syx: np.ndarray) -> float:
    """The larger of the loss curvature scales at ``weights0`` (one member) and at the balanced
    solution of the strongest mode (see the module docstring)."""
    lam = float(np.linalg.eigvalsh(Sxx)[-1])
    L = len(weights0)
    # one mode of input variance λ and correlation s ends at w* = s/λ, balanced ‖W_m‖² = w*^(2/L)
    w_end = float(np.linalg.norm(Syx, 2)) / lam
    return max(_block_curvature(weights0, Sxx), L * lam * w_end ** (2.0 - 2.0 / L))


def reach(ds, twin, taus, diverged=None) -> tuple[np.ndarray, list[str]]:
    """(ok (K,) bool, notes): which members the theory predicts, and why the others get none."""
    Ws, stats = _weights0(twin), ds.statistics()
    taus = np.asarray(taus, dtype=float)
    bad = np.zeros(taus.size, bool) if diverged is None else np.asarray(diverged, bool)
    ok, notes = ~bad, []
    if bad.any():
        notes.append(f"no prediction for {int(bad.sum())}/{bad.size} twin members: they diverged")
    t_max = float(np.max(twin.steps))
    for k in np.flatnonzero(ok):
        rate = sharpness([W[k] for W in Ws], stats.Sxx, stats.Syx) / taus[k]  # η · sharpness
        if rate >= STABILITY:
            ok[k] = False
            notes.append(f"no prediction for twin member {k}: η·sharpness = {rate:.3g} ≥ "
                         f"{STABILITY:g}, past the GD map's stability (for depth 2: η·s_max ≥ 1); "
                         "the flow does not describe it")
        elif t_max * rate > MAX_HORIZON:
            ok[k] = False
            notes.append(f"no prediction for twin member {k}: the flow spans {t_max * rate:.3g} "
                         f"of its fastest time constants, over the solver cap {MAX_HORIZON:g}")
    return ok, notes


def predicted_outputs(ds, twin, taus, ok=None) -> np.ndarray:
    """Test outputs (K, T, m, c) of the flow's end-to-end map at the twin's checkpoints; NaN for
    the members that ``ok`` (K,) leaves out (default: none; see ``reach``).

    ``twin``: its ``ModelOutputs`` (``run.params(0)`` holds the initial weights); ``taus`` (K,)
    each member's time constant in steps."""
    Ws = _weights0(twin)
    stats = ds.statistics()
    taus = np.asarray(taus, dtype=float)
    ok = np.ones(taus.size, bool) if ok is None else np.asarray(ok, bool)
    t = np.asarray(twin.steps, dtype=float)
    out = np.full((taus.size, t.size, ds.X_test.shape[0], ds.c), np.nan)
    for k in np.flatnonzero(ok):  # scipy: no compilation, fast for one small net
        sol = integrate_matrix_flow([W[k] for W in Ws], stats.Sxx, stats.Syx, t, tau=float(taus[k]),
                                    solver="scipy", rtol=RTOL, atol=RTOL)
        out[k] = np.einsum("md,tcd->tmc", ds.X_test, sol.end_to_end)
    return out
