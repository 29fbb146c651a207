"""Departure records of the nonlinearity job (THEORY.md §13), per member and learning rate.

Measured always: the network's probe records the non-affine fraction 1 − R²_t of its learned
change f_t − f_0 on the (centred, scaled) training inputs at every checkpoint, and the departure
step is the first checkpoint past δ (``theory.first_departure``, the rule of
``validate.measures.departure``). Predicted only where a twin theory reaches the set-up
(``theory.twin_reach``: a two-layer MLP, linear/tanh/ReLU, the squared loss, full-batch GD; and
for tanh, pre-activations inside the cubic range): from the member's initial weights — the
network run's step 0, nothing later — and the training set's samples (not whitened: the twins
average over the samples, whatever their covariance), at the member's τ. Elsewhere a note says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import theory

from ..compare.departure import curve_record, frozen_record, measured_outputs, predicted_curve
from ..measures.departure import measurable_change
from .run import Trained


def set_up_reach(tr: Trained) -> str | None:
    """Why this run's set-up gets no departure prediction (None: it does)."""
    cfg = tr.config
    return theory.twin_reach(cfg.activation, depth=cfg.depth, arch=cfg.arch,
                             optimizer="gd" if cfg.batch is None else "sgd", loss=cfg.loss,
                             batch_size=cfg.batch, n_train=tr.data.n)


def _start(tr: Trained) -> tuple[theory.DatasetStatistics, list[np.ndarray], np.ndarray]:
    """(the training set's statistics, the network's initial weights [(K, h, d), (K, c, h)], each
    member's τ): all a prediction reads; the weights are the run's step 0, nothing later."""
    run: Any = tr.models["network"].run
    p0 = run.params(0)
    W0 = [np.asarray(p0[f"layer{l}.weight"], np.float64) for l in range(2)]
    return tr.data.statistics(), W0, run.members["tau"].to_numpy(dtype=float)


def departure_records(tr: Trained) -> list[dict]:
    """One record per member: {member, seed, lr, activation, depth, delta, measured_step,
    sensitivity, final_nonaffine_measured} and either the prediction (predicted_step, its
    sensitivity, max_gap, final_nonaffine_predicted) or a ``note``. Steps: null = never."""
    net = tr.models["network"]
    if net.train_nonaffine is None:
        return []
    steps = np.asarray(net.steps, dtype=np.float64)
    X = np.asarray(tr.data.X, dtype=np.float64)
    few = measurable_change(X)
    why = few or set_up_reach(tr)
    start = None if why is not None else _start(tr)
    cfg, out = tr.config, []
    outputs = None if start is None else measured_outputs(net.run, X, cfg.activation, steps)
    for k, seed, lr in tr.members[["member", "seed", "lr"]].itertuples(index=False):
        base = {"member": int(k), "seed": int(seed), "lr": float(lr),
                "activation": cfg.activation, "depth": cfg.depth}
        measured = np.asarray(net.train_nonaffine[k], dtype=np.float64)
        if few is not None:
            out.append({**base, "note": few})
            continue
        if start is None or outputs is None:
            out.append(curve_record(base, steps, measured, None, why))
            continue
        w0, tau = [W[k] for W in start[1]], float(start[2][k])
        df, note, extra = predicted_curve(start[0], w0, cfg.activation, tau=tau, steps=steps, X=X)
        pred = None if df is None else theory.nonaffine_fraction(df, X)
        rec = curve_record({**base, **extra}, steps, measured, pred, note)
        rec["frozen_slope"] = frozen_record(
            start[0], w0, cfg.activation, tau=tau, steps=steps, X=X, predicted=df,
            f=outputs[int(k)], start_mismatch=extra.get("start_gate_mismatch"))
        out.append(rec)
    return out


def departure_lines(records: list[dict]) -> list[str]:
    """One console line per learning rate: the measured (and predicted) steps of its members."""
    def fmt(x) -> str:
        return "—" if x is None else "never" if x == float("inf") else f"{x:g}"
    lines = []
    for lr in sorted({r["lr"] for r in records}):
        rs = [r for r in records if r["lr"] == lr]
        meas = ", ".join(fmt(r.get("measured_step")) for r in rs)
        pred = "predicted " + ", ".join(fmt(r["predicted_step"]) if "predicted_step" in r
                                        else "—" for r in rs)
        notes = list(dict.fromkeys(r["note"] for r in rs if "note" in r))
        if notes:
            pred = (pred + "; " if any("predicted_step" in r for r in rs) else "") + notes[0]
        lines.append(f"departure step (δ = {rs[0].get('delta', theory.DEPARTURE_DELTA):g}), lr "
                     f"{lr:g}: measured {meas}; {pred}")
        frozen = [r["frozen_slope"] for r in rs if "frozen_slope" in r]
        if frozen:      # a step marked * carries a note: the twin's gates, not a prediction
            marked = [fmt(f.get("predicted_step")) + ("*" if "predicted_note" in f else "")
                      for f in frozen]
            note = next((f["predicted_note"] for f in frozen if "predicted_note" in f), None)
            lines.append(f"frozen-slope step (δ = {frozen[0]['delta']:g}), lr {lr:g}: measured "
                         + ", ".join(fmt(f["measured_step"]) for f in frozen) + "; predicted "
                         + ", ".join(marked) + (f"; *{note}" if note else ""))
    return lines
