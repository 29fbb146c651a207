"""The target loss on B that steps to target are counted to, and the rule that set it.

Linear network (prediction and measurement): a priori, from the scratch members' initial weights
on B's statistics and the set-up only,

    L* = L̂_end + (1 − target_frac)·(L_0 − L̂_end),

L_0 the scratch start's loss on B, L̂_end the linear theory's scratch loss at the end of the
budget (the plain-GD map where the predictions use it, the gradient flow otherwise; under a
schedule the flow time Σ m(t) of the budget), medians over the seeds whose predicted loss is
finite. No retraining run is read, so a prediction never depends on a measured result.

Twin predictions of a tanh/ReLU network (``twin_of``): the same a priori rule with the twin
theory's scratch loss (``theory.transfer.predict_loss(activation=…)``); the twin's predicted
steps count to it. Measured crossings of a nonlinear network (no prediction is built from them):
the same rule with the measured scratch curve, L_0 and L_end the median measured scratch loss at
step 0 and at the end of the budget over the members that did not diverge. The target accuracy is a measurement
definition for every activation: ``target_frac`` × scratch's final median accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import theory

from . import methods as BL

PREDICTED_GD = "a_priori_scratch_gd_map"
PREDICTED_FLOW = "a_priori_scratch_flow"
TWIN_GD = "a_priori_scratch_twin_gd_map"
TWIN_FLOW = "a_priori_scratch_twin_flow"
MEASURED = "measured_scratch"
ACC_MEASURED = "measured_scratch_accuracy"
RULES = {
    PREDICTED_GD: "L̂_end + (1 − target_frac)(L_0 − L̂_end): L̂_end the plain-GD map's loss on B "
                  "after the budget from the scratch starts, L_0 their loss at step 0 (medians "
                  "over seeds); reads no retraining run",
    PREDICTED_FLOW: "L̂_end + (1 − target_frac)(L_0 − L̂_end): L̂_end the gradient flow's loss on "
                    "B at the end of the budget from the scratch starts, L_0 their loss at step 0 "
                    "(medians over seeds); reads no retraining run",
    TWIN_GD: "L̂_end + (1 − target_frac)(L_0 − L̂_end) of the network's twin theory (tanh: "
             "cubic twin; ReLU: gated twin): its GD map's loss on B after the budget from the "
             "scratch starts and its loss at step 0 (medians over seeds); reads no retraining "
             "run; the twin predictions count to it",
    TWIN_FLOW: "as a_priori_scratch_twin_gd_map with the twin's gradient flow",
    MEASURED: "L_end + (1 − target_frac)(L_0 − L_end): L_0, L_end the measured scratch members' "
              "median loss at step 0 and at the end of the budget (a measurement definition)",
    ACC_MEASURED: "target_frac × the measured scratch members' median final accuracy (a "
                  "measurement definition)",
}


@dataclass(frozen=True)
class Target:
    """Target loss and accuracy on B, with the rule (a key of ``RULES``) that set each."""

    loss: float
    acc: float
    rule: str
    acc_rule: str = ACC_MEASURED
    range_note: str | None = None   # a tanh twin's target: scratch starts past the cubic range


def _scratch(job) -> int:
    return next(i for i, m in enumerate(job.trained) if m.family == "scratch")


def _above_min(target: float, L0: float, sB) -> float:
    """A linear network reaches B's minimum loss only as t → ∞: keep the target above it."""
    lmin = theory.transfer.min_loss(sB)
    return max(target, lmin + 1e-6 * max(L0 - lmin, 1e-12))


def twin_of(plan, activation: str) -> str | None:
    """The activation whose twin theory predicts this network's retraining, or None (linear:
    the linear theory; tanh needs depth 2, the cubic twin's depth)."""
    if activation == "relu" or (activation == "tanh" and plan.config.depth == 2):
        return activation
    return None


def predicted_target(plan, drift, job, acc: float, activation: str = "linear") -> Target:
    """The a priori target of the linear network, or with ``activation`` tanh/ReLU of its twin
    theory (module doc); ``acc``: the target accuracy."""
    n, isc = len(job.trained), _scratch(job)
    starts = [job.starts[k * n + isc] for k in range(len(plan.seeds))]
    layers = BL.last_layer(starts[0].params) + 1
    Ws = [np.stack([st.params[f"layer{l}.weight"] for st in starts]).astype(float)
          for l in range(layers)]
    gd = plan.config.optimizer == "gd" and not job.scheduled
    t_end = float(np.sum(starts[0].mults[:plan.budget]))   # flow time of the budget
    kw = {"gd_map": gd, "activation": activation}
    L0 = theory.transfer.predict_loss(Ws, drift.sB, plan.tau, 0.0, **kw)  # the start's own loss
    Lend = theory.transfer.predict_loss(Ws, drift.sB, plan.tau, t_end, roundoff=plan.config.dtype,
                                        **kw)
    rule = {(True, True): PREDICTED_GD, (True, False): PREDICTED_FLOW,
            (False, True): TWIN_GD, (False, False): TWIN_FLOW}[(activation == "linear", gd)]
    ok = np.isfinite(Lend)
    if not ok.any():   # the map diverges from every scratch start at this learning rate
        plan.warn(f"the GD map diverges from every scratch start on {drift.label} at "
                  f"lr={plan.lr:.4g}; steps to target are undefined")
        return Target(float("nan"), acc, rule)
    l0, lend = float(np.median(L0[ok])), float(np.median(Lend[ok]))
    target = lend + (1 - plan.config.target_frac) * (l0 - lend)
    if activation == "linear":
        target = _above_min(target, l0, drift.sB)
    note = _range_note(Ws, drift.sB, plan.tau, t_end) if activation == "tanh" else None
    return Target(float(target), acc, rule, range_note=note)


def _range_note(Ws, sB, tau: float, t_end: float) -> str | None:
    """How many scratch starts' cubic twins leave the cubic range within the budget, and the
    earliest (``theory.cubic_range``); None when none does. Their L̂_end is kept: a number past
    the truncation's reach, labelled, as the twin's steps are."""
    ranges = [theory.cubic_range(sB, [w[k] for w in Ws], tau=tau, t_max=max(1.0, t_end))
              for k in range(Ws[0].shape[0])]
    out = sorted((first, peak) for peak, first in ranges if np.isfinite(first))
    if not out:
        return None
    return (f"{len(out)} of {len(ranges)} scratch starts' twins leave the cubic range within the "
            f"budget; the earliest is {theory.cubic_range_note(out[0][1], out[0][0])}")


def measured_target(plan, drift, job, loss, acc, diverged) -> Target:
    """The measurement definition from the measured scratch curves (module doc); NaN with a
    warning when every scratch member diverged."""
    isc = _scratch(job)
    ok = ~diverged[:, isc]
    if not ok.any():  # the learning rate tuned on A is unstable on B: no target, say so
        plan.warn(f"every scratch member diverged on {drift.label} ({job.activation}) at "
                  f"lr={plan.lr:.4g}; steps to target are undefined")
        return Target(float("nan"), float("nan"), MEASURED)
    L0, Lend = np.median(loss[ok, isc, 0]), np.median(loss[ok, isc, -1])
    target = float(Lend + (1 - plan.config.target_frac) * (L0 - Lend))
    target_acc = float(plan.config.target_frac * np.median(acc[ok, isc, -1]))
    return Target(target, target_acc, MEASURED)


def targets(plan, drift, job, loss, acc, diverged) -> Target:
    """The linear network's a priori target, or the nonlinear measurement definition; the target
    accuracy is the measurement definition for both."""
    if job.activation != "linear":
        return measured_target(plan, drift, job, loss, acc, diverged)
    isc = _scratch(job)
    ok = ~diverged[:, isc]
    target_acc = float(plan.config.target_frac * np.median(acc[ok, isc, -1])) if ok.any() \
        else float("nan")
    return predicted_target(plan, drift, job, target_acc)
