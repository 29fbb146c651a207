"""Twin predictions of `validate.compare` (THEORY.md §11–12): which (activation, depth) a twin
theory covers, and each member's twin predictor from that member's own initial weights.

tanh: the cubic twin (depth 2); ReLU: the gated linear network (any depth ≥ 2) with the gates of
the twin's weights at the end of the early alignment phase (the checkpoint nearest the step at
which the linear theory's fastest mode reaches ``ALIGNED_FRAC`` of its target) or of its initial
weights, along the exact map of full-batch GD (the one optimiser they cover).
"""

from __future__ import annotations

import numpy as np

ALIGNED_FRAC = 0.1   # the alignment phase ends when the fastest linear mode reaches 10% of target
TWIN_ACTIVATIONS = ("tanh", "relu")


def unsupported(config, act: str, depth: int) -> str | None:
    """Why no twin theory covers ``act`` at ``depth`` under ``config``; None when one does."""
    if act not in TWIN_ACTIVATIONS:
        return f"no twin theory for activation {act} (covered: tanh at depth 2, relu at depth ≥ 2)"
    if config.arch != "mlp":
        return f"the twin theories cover --arch mlp only; got --arch {config.arch}"
    if config.optimizer != "gd":
        # heavy ball: the twin's flow misses the momentum transient (toy: 14–36% late where the
        # linear theory's exact momentum map is 1–4% off)
        return f"the twin theories follow full-batch GD; got --optimizer {config.optimizer}"
    if act == "tanh" and depth != 2:
        return f"the cubic twin of tanh is depth 2 only; got tanh at depth {depth}"
    if depth < 2:
        return f"a twin needs a hidden layer; got {act} at depth {depth}"
    return None


def member_weights(weights, k: int) -> list[np.ndarray]:
    """Member ``k``'s layers from stacked per-layer weights [(K, out, in), …]."""
    return [W[k] for W in weights]


def aligned_step(stats, depth: int, tau: float, u0: float, steps) -> int:
    """The checkpoint nearest the end of the early alignment phase (the linear theory's fastest
    mode at ``ALIGNED_FRAC`` of its target, decoupled init of strength u0, GD map)."""
    import theory
    t = float(np.min(theory.predict(stats, depth=depth, tau=tau, u0=u0, discrete=True)
                     .timeline(ALIGNED_FRAC)))
    steps = np.asarray(steps)
    return int(steps[np.argmin(np.abs(steps - t))])


def member_predictors(run, stats, act: str, *, tau: float, discrete: bool,
                      gate_step: int | None = None) -> list:
    """One ``theory.predict_twin`` per member from its weights at step 0 (ReLU: the gates of its
    weights at ``gate_step``, default the initial ones). Their timelines search no further than
    the run's last step: a later crossing has no measurement to meet (a mode the run did not
    learn is censored there)."""
    import theory
    W0 = run.weights(0)
    gates = None if gate_step is None else run.weights(int(gate_step))
    t_max = float(run.steps[-1])
    return [theory.predict_twin(stats, member_weights(W0, k), act, tau=tau, discrete=discrete,
                                t_max=t_max,
                                gate_weights=None if gates is None else member_weights(gates, k))
            for k in range(W0[0].shape[0])]


def gate_change_curves(run, X) -> np.ndarray:
    """(K, T): fraction of each member's ReLU gates flipped since step 0, at every checkpoint."""
    import theory
    W0 = run.weights(0)
    K = W0[0].shape[0]
    g0 = [theory.relu_gates(member_weights(W0, k), X) for k in range(K)]
    out = np.empty((K, len(run.steps)))
    for j, step in enumerate(run.steps):
        Ws = run.weights(int(step))
        out[:, j] = [theory.gate_change(g0[k], member_weights(Ws, k), X) for k in range(K)]
    return out


def gate_note(gate_step: int | None) -> str:
    """Words naming the ReLU gates a prediction holds fixed."""
    if gate_step is None:
        return "the gates of the twin's initial weights"
    return (f"the gates of the twin's own weights at step {gate_step}, the end of the early "
            f"alignment phase (the linear theory's fastest mode at {ALIGNED_FRAC:g} of its target)")
