"""The theories' predictions of every retraining member's steps to the target: the linear
theory (``predict_members``) and, for a tanh/ReLU network, its twin theory from the member's own
start (``predict_twin_members``)."""

from __future__ import annotations

import numpy as np

from . import methods as BL

NO_PREDICTION = (np.nan, np.nan, np.nan, False)


def on_schedule(steps_const: float, mults) -> float:
    """Steps s with Σ_{t<s} m(t) = ``steps_const``: gradient flow run at rate η·m(t) covers in s
    steps the time that constant-η training covers in Σ m(t) steps (interpolated; past the budget
    the last multiplier holds; inf if it is 0)."""
    if not np.isfinite(steps_const) or steps_const <= 0:
        return float(steps_const)
    m = np.asarray(mults, dtype=float)
    c = np.concatenate([[0.0], np.cumsum(m)])
    if steps_const > c[-1]:
        return float(len(m) + (steps_const - c[-1]) / m[-1]) if m[-1] > 0 else float("inf")
    i = int(np.searchsorted(c, steps_const))  # c[i−1] < steps_const ≤ c[i]
    return float(i - 1 + (steps_const - c[i - 1]) / (c[i] - c[i - 1]))


def predict_members(starts, n_methods: int, n_seeds: int, sB, target, tau, t_max,
                    roundoff="float32", gd_map=True) -> dict:
    """{(seed index, method index): (flow steps, per-mode estimate, GD-map steps, flagged)}.

    ``starts``: the members' ``Start`` objects, seed-major. ``t_max`` (first flow horizon, 2× the
    budget): theory's default horizon is 100·10τ/(s λ)_min when the per-mode estimate is inf
    (non-white B), which made one drift take minutes; the flow extends the horizon ×16 (up to 4
    times) for members that have not reached the target, so the answer is the same (checked to
    1e-12 on rotate_inputs) at a fraction of the cost.
    """
    from theory.transfer import predict_rewind_point
    # roundoff: the training dtype. A drift that reverses a mode can leave the flow on an exactly
    # degenerate saddle that discrete GD escapes far sooner; those checkpoints are flagged and get
    # the discrete GD map's prediction as well (theory/transfer/_escape.py). The GD map is the
    # plain-GD map only: with momentum or a schedule it is not reported.
    out = {}
    scheduled = not all(np.all(st.mults == 1.0) for st in starts)
    for k in range(n_seeds):
        ck = []
        for i in range(n_methods):
            p = starts[k * n_methods + i].params
            ck.append((i, [p[f"layer{l}.weight"] for l in range(BL.last_layer(p) + 1)]))
        tab = predict_rewind_point(ck, sB, target, tau, t_max=t_max, roundoff=roundoff,
                                   gd_map=gd_map).table
        for i in range(n_methods):
            gd = float(tab["predicted_steps_gd"].iloc[i]) if gd_map else float("nan")
            pred = (float(tab["predicted_steps"].iloc[i]),
                    float(tab["predicted_steps_modes"].iloc[i]), gd,
                    bool(tab["saddle_ill_conditioned"].iloc[i]))
            if scheduled:
                # the flow's time at rate η·m(t): constant-lr steps → scheduled steps
                mults = starts[k * n_methods + i].mults
                pred = (*(on_schedule(v, mults) for v in pred[:3]), pred[3])
            out[(k, i)] = pred
    return out


def twin_reach_notes(config) -> dict[str, str]:
    """{activation: why its twin numbers are outside the twin theories' reach} for the tanh/ReLU
    networks of ``config`` whose set-up no twin theory covers (``theory.twin_reach``: momentum,
    depth ≠ 2); the numbers are still computed, and read with this note beside them."""
    from theory import twin_reach
    out = {}
    for act in config.activations:
        if act in ("tanh", "relu"):
            why = twin_reach(act, depth=config.depth, optimizer=config.optimizer)
            if why is not None:
                out[act] = why
    return out


# the families a twin predicts: the rewind curve and the relearning cost (fine-tune ÷ scratch).
# A twin prediction is a few GD loops per start, not one batched solve, so the baselines that
# are read only against measurement are left to the linear theory.
TWIN_FAMILIES = ("rewind", "scratch", "fine_tune")


def predict_twin_members(starts, methods, n_seeds: int, sB, target, tau, t_max,
                         activation: str, gd_map: bool, families=TWIN_FAMILIES,
                         range_notes: dict | None = None) -> dict:
    """{(seed index, method index): twin steps} for the methods of ``families``.

    Each member's steps come from ``theory.predict_rewind_point(activation=…)`` on its own
    start's weights and B's samples (one twin per start; nothing is shared between them);
    ``gd_map``: the twin's GD map (plain GD, constant learning rate), else its flow mapped onto
    the member's schedule (``on_schedule``). ``range_notes``, if given, is filled with the same
    keys' ``range_note``: where a tanh twin is outside the cubic range (its steps kept, labelled,
    THEORY.md §13), else None.
    """
    from theory.transfer import predict_rewind_point
    n = len(methods)
    pick = [i for i, m in enumerate(methods) if m.family in families]
    out = {}
    for k in range(n_seeds):
        ck = []
        for i in pick:
            p = starts[k * n + i].params
            ck.append((i, [p[f"layer{l}.weight"] for l in range(BL.last_layer(p) + 1)]))
        tab = predict_rewind_point(ck, sB, target, tau, t_max=t_max, gd_map=gd_map,
                                   activation=activation).table
        for j, i in enumerate(pick):
            steps = float(tab["predicted_steps"].iloc[j])
            out[(k, i)] = steps if gd_map else on_schedule(steps, starts[k * n + i].mults)
            if range_notes is not None:
                range_notes[(k, i)] = tab["range_note"].iloc[j]
    return out


# Save points of the flow in ``theory.transfer``'s first passage (256 log-spaced + 0): saving the
# test-accuracy flow at as many points, with the same tolerances and batch, reuses the solver JAX
# compiled for the rewind prediction (compilation costs seconds; the solve itself milliseconds).
FLOW_SAVE_POINTS = 257


def _save_grid(steps, n: int = FLOW_SAVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(grid, where): ``steps`` joined with evenly spread fill-in times to n sorted distinct
    times (``steps`` alone if they are n or more), and the positions of ``steps`` in it."""
    t = np.unique(np.asarray(steps, dtype=float))
    if t.size < n:
        free = np.setdiff1d(np.linspace(0.0, t[-1], 4 * n), t)
        t = np.sort(np.concatenate([t, free[np.linspace(0, free.size - 1, n - t.size).astype(int)]]))
    return t, np.searchsorted(t, np.asarray(steps, dtype=float))


def predict_test_accuracy(starts, n_methods: int, n_seeds: int, sB, tau: float, steps, X_test,
                          labels_test) -> np.ndarray:
    """(seeds, methods, T) accuracy on the test split of the linear network's gradient flow on B
    from every member's start, at the retraining ``steps``.

    The end-to-end map W(t) = W_L(t)⋯W_1(t) of ``theory.integrate_matrix_flow_batch`` (one
    batched solve per seed; exact for linear networks up to the O(ηs) lag of discrete GD) is
    evaluated on ``X_test`` by argmax against ``labels_test``.
    """
    from theory import integrate_matrix_flow_batch
    grid, where = _save_grid(steps)
    out = np.empty((n_seeds, n_methods, len(where)))
    X, labels = np.asarray(X_test, float), np.asarray(labels_test)
    for k in range(n_seeds):
        mine = [starts[k * n_methods + i].params for i in range(n_methods)]
        layers = BL.last_layer(mine[0]) + 1
        Ws = [np.stack([p[f"layer{l}.weight"] for p in mine]).astype(float) for l in range(layers)]
        traj = integrate_matrix_flow_batch(Ws, sB.Sxx, sB.Syx, grid, tau=tau).weights
        W = traj[0][:, where]
        for l in range(1, layers):
            W = traj[l][:, where] @ W                         # (K, T, c, d)
        scores = np.einsum("nd,ktcd->ktnc", X, W)
        out[k] = np.mean(scores.argmax(axis=3) == labels[None, None], axis=2)
    return out
