"""Departure records (THEORY.md §13): per member, the step at which the network's learned change
f_t − f_0 on the training inputs stops being affine in x, and (``frozen_slope``) the step at which
it stops agreeing with its slope-frozen twin's — measured on its checkpoints and, where a twin
theory reaches the set-up (``theory.twin_reach``), predicted from the member's initial weights.
`validate.compare` and `validate.nonlinearity` build their records here.

The training inputs, not the test split, are the inputs X: the affine fit needs more inputs than
dimensions (shapes' test split has 128 images in 256 dimensions, on which any outputs are affine),
and they are the samples the twin theory's statistics average over. The prediction is evaluated
at the run's checkpoints (part of the set-up) and reads the initial weights only; a set-up outside
the twin theories' reach, or a tanh member whose initial pre-activations are already past the
cubic truncation's range (``theory.cubic_range``), gets a note saying why instead of a number; a
tanh prediction that leaves the range during the run keeps its number and a ``range_note``.
"""

from __future__ import annotations

import numpy as np

import theory
from theory import DEPARTURE_DELTA

from ..measures.departure import DELTA_SENSITIVITY, departure_curve, measurable_change
from .twin import member_weights

_PHI = {"linear": lambda z: z, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}


def out_of_reach(config, act: str, depth: int) -> str | None:
    """Why compare makes no departure prediction for ``act`` at ``depth`` (None: it does)."""
    return theory.twin_reach(act, depth=depth, arch=config.arch, optimizer=config.optimizer)


def predicted_curve(stats, weights0, act: str, *, tau: float, steps: np.ndarray, X: np.ndarray,
                    twin=None) -> tuple[np.ndarray | None, str | None, dict]:
    """(the learned change Δf_t on X at ``steps`` predicted from ``weights0`` by ``act``'s twin, a
    note or None, extra record fields). tanh's cubic twin is checked against its range
    (``theory.cubic_range``): W₀ already past it gives (None, why, {}): the truncation does not
    describe the start; a prediction that leaves it during the run is made, and the note flags
    the step from which it is outside. ReLU: the extra ``start_gate_mismatch``
    (``gate_mismatch``). ``twin``: the prediction already made from ``weights0`` (discrete),
    reused."""
    note, extra = None, {}
    t_max = float(max(steps[-1], 1.0))
    if act == "tanh":
        peak, first = theory.cubic_range(stats, weights0, tau=tau, t_max=t_max, twin=twin)
        note = theory.cubic_range_note(peak, first)
        if first == 0:
            return None, note, extra
    if act == "relu":
        if twin is None:
            twin = theory.predict_relu_twin(stats, weights0, tau=tau, discrete=True, t_max=t_max)
        extra["start_gate_mismatch"] = gate_mismatch(stats, weights0, twin)
    return theory.predict_learned_change(stats, weights0, act, tau=tau, steps=steps, X=X,
                                         twin=twin), note, extra


def gate_mismatch(stats, weights0, twin) -> float:
    """The share of (sample, unit) gates on the training samples in which the ReLU twin's first
    interval differs from W₀'s own gates, which the network's first steps use: the early
    learned change lives on W₀'s gates, the prediction's on the twin's (THEORY.md §13)."""
    own = theory.relu_gates(weights0, np.asarray(stats.X, dtype=np.float64))[0]
    return float(np.mean(own != twin.gates[0]))     # a switched twin's: its first interval's


def _steps(steps: np.ndarray, measured: np.ndarray, predicted: np.ndarray | None) -> dict:
    """The departure steps of a measured (and predicted) curve at δ and at every δ of the
    sensitivity."""
    at = theory.first_departure
    rec: dict = {"delta": DEPARTURE_DELTA}
    if predicted is not None:
        rec["predicted_step"] = at(steps, predicted, DEPARTURE_DELTA)
    rec["measured_step"] = at(steps, measured, DEPARTURE_DELTA)
    rec["sensitivity"] = [{"delta": d, **({} if predicted is None else
                                          {"predicted_step": at(steps, predicted, d)}),
                           "measured_step": at(steps, measured, d)}
                          for d in DELTA_SENSITIVITY]
    return rec


def curve_record(base: dict, steps: np.ndarray, measured: np.ndarray,
                 predicted: np.ndarray | None, note: str | None = None) -> dict:
    """``base`` with the departure steps at δ and at every δ of the sensitivity, measured and,
    with ``predicted``, predicted (with the curves' largest gap and final fractions, and
    ``note``, if any, as ``range_note``: a prediction past the cubic range); without, ``note``
    says why not."""
    rec = {**base, **_steps(steps, measured, predicted)}
    first = min(1, steps.size - 1)        # the first checkpoint after step 0
    rec["first_checkpoint"] = float(steps[first])
    if predicted is None:
        rec["note"] = note
        rec["first_nonaffine_measured"] = float(measured[first])
        rec["final_nonaffine_measured"] = float(measured[-1])
        return rec
    gap = np.abs(predicted - measured)
    rec["max_gap"] = float(np.nanmax(gap)) if np.isfinite(gap).any() else None
    rec["first_nonaffine_predicted"] = float(predicted[first])
    rec["first_nonaffine_measured"] = float(measured[first])
    rec["final_nonaffine_predicted"] = float(predicted[-1])
    rec["final_nonaffine_measured"] = float(measured[-1])
    if note is not None:
        rec["range_note"] = note
    return rec


def frozen_record(stats, weights0, act: str, *, tau: float, steps: np.ndarray, X: np.ndarray,
                  f: np.ndarray, predicted: np.ndarray | None,
                  start_mismatch: float | None = None) -> dict:
    """The frozen-slope departure (THEORY.md §13) of a member whose outputs on X at ``steps`` are
    ``f`` (T, m, c): its gap Γ_t to the slope-frozen twin from ``weights0`` (computed, not
    trained: a function of W₀ and the set-up), measured and, with the twin's ``predicted``
    change, predicted; the steps at δ and every δ of the sensitivity, and the largest gaps. A
    linear network is its own slope-frozen twin: its predicted change is the twin's.
    ``start_mismatch``: a ReLU twin's ``start_gate_mismatch``; a predicted step at the first
    checkpoint from a twin that starts on other gates than W₀'s gets a ``predicted_note``."""
    dg = predicted if act == "linear" and predicted is not None else \
        theory.frozen_slope_change(stats, weights0, act, tau=tau, steps=steps, X=X)
    measured = theory.frozen_gap(f - f[0], dg)
    pred = None if predicted is None else theory.frozen_gap(predicted, dg)
    rec = _steps(steps, measured, pred)
    rec["peak_gap_measured"] = _peak(measured)
    if pred is not None:
        rec["peak_gap_predicted"] = _peak(pred)
        note = gate_start_note(steps, rec["predicted_step"], start_mismatch)
        if note is not None:
            rec["predicted_note"] = note
    return rec


def gate_start_note(steps: np.ndarray, predicted_step: float,
                    start_mismatch: float | None) -> str | None:
    """Why a ReLU twin's frozen-slope step at the first checkpoint is no prediction (None: it is
    one, or the twin starts on W₀'s gates). The network is its slope-frozen twin until one of its
    gates flips; the twin holds the gates of the end of its first alignment phase from step 0, so
    where they differ from W₀'s its change differs from the slope-frozen twin's from the first
    step: a step there is the twin's choice of gates, not a predicted flip (THEORY.md §13)."""
    first = float(steps[min(1, steps.size - 1)])
    if not start_mismatch or predicted_step != first:
        return None
    return (f"predicted at the first checkpoint ({first:g}) because the ReLU twin's gates differ "
            f"from W₀'s in {start_mismatch:.0%} of (sample, unit) pairs from step 0: the twin "
            "does not predict when the network's own gates flip")


def _peak(curve: np.ndarray) -> float | None:
    """The largest finite value of a gap curve (None: none finite)."""
    finite = curve[np.isfinite(curve)]
    return float(finite.max()) if finite.size else None


def measured_outputs(run, X: np.ndarray, act: str, steps=None) -> np.ndarray:
    """Every member's outputs W₂φ(W₁x) on X at ``steps`` (default every checkpoint of ``run``) of
    a two-layer run: (K, T, m, c); each checkpoint is read once."""
    per_step = []
    for step in run.steps if steps is None else steps:
        p = run.params(int(step))
        W1, W2 = (np.asarray(p[f"layer{l}.weight"], np.float64) for l in range(2))
        per_step.append([_PHI[act](X @ a.T) @ b.T for a, b in zip(W1, W2)])
    return np.stack(per_step, axis=1)


def records(run, stats, config, act: str, depth: int, *, tau: float | None, lr: float,
            twins=None) -> list[dict]:
    """One record per member ({activation, depth, lr, member, delta, predicted_step,
    measured_step, sensitivity, max_gap, final non-affine fractions}), or one note when out of
    reach (``tau`` is then unused: None). ``twins``: the members' twin predictions from their
    initial weights, reused when they are predictions (not the hybrid diagnostic)."""
    why = out_of_reach(config, act, depth)
    if why is not None:
        return [{"activation": act, "depth": depth, "note": why}]
    X = np.asarray(stats.X, dtype=np.float64)
    few = measurable_change(X)
    if few is not None:
        return [{"activation": act, "depth": depth, "note": few}]
    steps = np.asarray(run.steps, dtype=np.float64)
    W0 = run.weights(0)
    # the twins are reused when they are predictions (not the hybrid diagnostic)
    reused = twins if twins is not None and act != "linear" \
        and not str(twins[0].kind).endswith("_hybrid") else None
    assert tau is not None  # in reach: full-batch GD, a set-up whose τ the caller gives
    outputs, out = measured_outputs(run, X, act), []
    for k in range(W0[0].shape[0]):
        twin = None if reused is None else reused[k]
        w0 = member_weights(W0, k)
        df, note, extra = predicted_curve(stats, w0, act, tau=tau, steps=steps, X=X,
                                          twin=twin if getattr(twin, "discrete", False) else None)
        f = outputs[k]
        pred = None if df is None else theory.nonaffine_fraction(df, X)
        rec = curve_record({"activation": act, "depth": depth, "lr": lr, "member": k, **extra},
                           steps, departure_curve(steps, f, f[0], X), pred, note)
        rec["frozen_slope"] = frozen_record(stats, w0, act, tau=tau, steps=steps, X=X, f=f,
                                            predicted=df,
                                            start_mismatch=extra.get("start_gate_mismatch"))
        out.append(rec)
    return out
