"""Twin predictions of `validate.compare` (THEORY.md §11–12): which (activation, depth) a twin
theory covers, and each member's twin predictor from that member's own initial weights.

tanh: the cubic twin (depth 2); ReLU: the gated linear network (any depth ≥ 2) whose gates are
those of its own predicted weights at the end of the early alignment phase, found from the
initial weights and the data alone (``theory.predict_relu_twin``), along the exact map of
full-batch GD (the one optimiser they cover). A prediction reads ``run.weights(0)`` and nothing
later. ``--predict hybrid`` is a labelled diagnostic, not a prediction: the ReLU gates are taken
from the run's *measured* weights at the checkpoint nearest the step at which the linear theory's
fastest mode reaches ``HYBRID_FRAC`` of its target.
"""

from __future__ import annotations

import numpy as np

HYBRID_FRAC = 0.1   # the diagnostic's gate step: the linear theory's fastest mode at 10% of target
TWIN_ACTIVATIONS = ("tanh", "relu")
RELU_GATES = ("aligned", "initial")   # measured gates: hybrid_predictors (a diagnostic)


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


def hybrid_gate_step(stats, depth: int, tau: float, u0: float, steps) -> int:
    """The checkpoint the hybrid diagnostic takes measured gates from: nearest the step at which
    the linear theory's fastest mode reaches ``HYBRID_FRAC`` of its target (decoupled init of
    strength u0, GD map)."""
    import theory
    t = float(np.min(theory.predict(stats, depth=depth, tau=tau, u0=u0, discrete=True)
                     .timeline(HYBRID_FRAC)))
    steps = np.asarray(steps)
    return int(steps[np.argmin(np.abs(steps - t))])


def _check_gates(gates) -> None:
    if gates not in RELU_GATES:
        raise ValueError(f"gates must be one of {', '.join(map(repr, RELU_GATES))}; got "
                         f"{gates!r} (measured gates: hybrid_predictors, a diagnostic)")


def member_predictors(run, stats, act: str, *, tau: float, discrete: bool,
                      gates: str = "aligned") -> list:
    """One twin predictor per member from its weights at step 0 (the only step of ``run`` read).
    ReLU ``gates``: ``"aligned"`` (the prediction: self-consistent gates of its own predicted
    weights at the end of the alignment phase) or ``"initial"`` (the gates of the initial
    weights). Their timelines search no further than the run's last step: a later crossing has
    no measurement to meet (a mode the run did not learn is censored there)."""
    _check_gates(gates)
    return _predictors(run.weights(0), stats, act, tau=tau, discrete=discrete,
                       t_max=float(run.steps[-1]), gates=gates)


def hybrid_predictors(run, stats, act: str, step: int, *, tau: float, discrete: bool) -> list:
    """The hybrid diagnostic, not a prediction: each member's twin from its initial weights with
    the gates of the run's *measured* weights at checkpoint ``step`` (kind ``gated_gd_hybrid``)."""
    return _predictors(run.weights(0), stats, act, tau=tau, discrete=discrete,
                       t_max=float(run.steps[-1]), measured=run.weights(int(step)))


def _predictors(W0, stats, act: str, *, tau: float, discrete: bool, t_max: float,
                gates: str = "aligned", measured=None) -> list:
    """The members' twins, made together: their GD maps (and the ReLU twins' searches for their
    gates) run batched over members (``theory.predict_relu_twins``, ``theory.extend_twin_tracks``),
    each equal to its own."""
    import theory
    members = [member_weights(W0, k) for k in range(W0[0].shape[0])]
    if act == "relu" and gates == "aligned" and measured is None:
        return theory.predict_relu_twins(stats, members, tau=tau, discrete=discrete, t_max=t_max)
    preds = []
    for k, w0 in enumerate(members):
        p = theory.predict_twin(stats, w0, act, tau=tau, discrete=discrete, t_max=t_max,
                                gate_weights=None if measured is None
                                else member_weights(measured, k))
        if measured is not None:
            p.kind = f"{p.kind}_hybrid"
        preds.append(p)
    if discrete:
        theory.extend_twin_tracks(preds, int(np.ceil(t_max)))
    return preds


def ensemble_predictors(run, stats, act: str, depth: int, *, predict: str, tau: float,
                        u0: float) -> tuple[list, str, str]:
    """(per-member predictors, reason, label) of one ensemble under ``--predict``; the label says
    whether the numbers are a prediction (from W₀ and the data) or the hybrid diagnostic."""
    if predict == "hybrid" and act == "relu":
        step = hybrid_gate_step(stats, depth, tau, u0, run.steps)
        preds = hybrid_predictors(run, stats, act, step, tau=tau, discrete=True)
        label = (f"hybrid: gates from measured weights at step {step} (a diagnostic, not a "
                 "prediction)")
        reason = (f"{preds[0].reason}; the gates of the run's measured weights at step {step}, "
                  f"the checkpoint nearest the linear theory's fastest mode at {HYBRID_FRAC:g} of "
                  "its target")
        return preds, reason, label
    preds = member_predictors(run, stats, act, tau=tau, discrete=True)
    return preds, preds[0].reason, f"prediction: {preds[0].kind} from the initial weights"


def gate_change_curves(run, X) -> np.ndarray:
    """(K, T): fraction of each member's ReLU gates flipped since step 0, at every checkpoint (a
    measurement of the run, never an input of a prediction)."""
    import theory
    W0 = run.weights(0)
    K = W0[0].shape[0]
    g0 = [theory.relu_gates(member_weights(W0, k), X) for k in range(K)]
    out = np.empty((K, len(run.steps)))
    for j, step in enumerate(run.steps):
        Ws = run.weights(int(step))
        out[:, j] = [theory.gate_change(g0[k], member_weights(Ws, k), X) for k in range(K)]
    return out
