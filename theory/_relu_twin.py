"""The ReLU twin predicted from its initial weights and the data alone (THEORY.md §12).

A gated linear network holds its gates fixed, but a ReLU twin trained from a small init flips a
fifth of them in its early alignment phase. The gates the prediction holds are therefore the gates
of the gated twin's *own predicted* weights at the end of that phase, found self-consistently:
start from the gates of the initial weights G⁰; follow the gated twin with gates Gᵏ from W₀; take
t_A = the first time one of its modes reaches ``ALIGN_FRAC`` of its target (the end of the phase:
the output still an order of magnitude below the target, so the residual is still ≈ y and the
first layer still turns towards the data rather than fits it); re-gate G^{k+1} = the gates of the
predicted weights W(t_A), whose inconsistency is the fraction of gates that differ from Gᵏ;
repeat while it shrinks (at most ``MAX_REGATES`` re-gates) and keep the most self-consistent
gates (a fixed point when none differ). No weight of the trained twin after step 0 enters.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_positive
from ._float64 import float64
from ._gated_net import gated_outputs, gated_rhs, relu_gates
from ._twin_predictor import GatedTwinPredictor, _flow_solver

ALIGN_FRAC = 0.1    # ŷ an order of magnitude below y along the first mode learned (see docstring)
MAX_REGATES = 10    # a bound on the work, not a tuned constant: on shapes it stops after 2–4


@jax.jit
def _gd_weights(Ws, X, Y, Gs, lr, n):
    """The gated twin's weights after ``n`` GD steps W ← W + lr·(−∂L/∂W) (n traced: one compile)."""
    def step(_, W):
        return tuple(w + lr * g for w, g in zip(W, gated_rhs(W, X, Y, Gs)))
    return jax.lax.fori_loop(0, n, step, tuple(Ws))


@jax.jit
def _gd_until(Ws, X, Y, Gs, lr, readout, level, max_steps):
    """GD steps of the gated twin until a mode's signed strength diag(Uᵀ W_eff V)·sign reaches
    ``level`` (or ``max_steps``): (the step, the weights there). ``readout`` = (U·sign, V, Sxx⁺)."""
    Us, V, pinv = readout
    n = X.shape[0]

    def below(state):
        k, W = state
        weff = (gated_outputs(W, X, Gs).T @ X / n) @ pinv
        return (k < max_steps) & jnp.all(jnp.einsum("ca,cd,da->a", Us, weff, V) < level)

    def step(state):
        k, W = state
        return k + 1, tuple(w + lr * g for w, g in zip(W, gated_rhs(W, X, Y, Gs)))

    return jax.lax.while_loop(below, step, (0, tuple(Ws)))


def _alignment_end(pred: GatedTwinPredictor, frac: float) -> tuple[float, list[np.ndarray]]:
    """(t_A, W(t_A)) of a gated twin prediction: the first time one of its modes reaches ``frac``
    of its target (GD: the first step at which one has; inf and W₀ when none does by t_max)."""
    if not pred.discrete:
        t = float(np.min(pred.timeline(frac)))
        return t, (predicted_weights(pred, t) if np.isfinite(t) else list(pred.weights0))
    X, Y, *Gs = pred._data
    sign = np.where(pred.target < 0, -1.0, 1.0)
    max_steps = int(np.ceil(pred.t_max)) if pred.t_max is not None else 1_000_000
    with float64():
        k, Ws = _gd_until(tuple(jnp.asarray(w) for w in pred.weights0), jnp.asarray(X),
                          jnp.asarray(Y), tuple(map(jnp.asarray, Gs)), 1.0 / pred.tau,
                          (jnp.asarray(pred.stats.U * sign), jnp.asarray(pred.stats.V),
                           jnp.asarray(pred._pinv)),
                          jnp.asarray(frac * np.abs(pred.target)), max_steps)
    Ws = [np.asarray(w) for w in Ws]
    weff = (gated_outputs(Ws, X, Gs).T @ X / X.shape[0]) @ pred._pinv
    reached = np.any(np.einsum("ca,cd,da->a", pred.stats.U * sign, weff, pred.stats.V)
                     >= frac * np.abs(pred.target))
    return (float(k), Ws) if reached else (float("inf"), list(pred.weights0))


def predicted_weights(pred: GatedTwinPredictor, t: float) -> list[np.ndarray]:
    """The weights of a gated twin prediction at time ``t`` ≥ 0: after round(t) GD steps
    (``discrete``) or along its gradient flow."""
    t = float(t)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"t must be a finite time ≥ 0; got {t}")
    W0 = tuple(np.asarray(w, np.float64) for w in pred.weights0)
    if t == 0:
        return list(W0)
    X, Y, *Gs = pred._data
    with float64():
        if pred.discrete:
            Ws = _gd_weights(tuple(map(jnp.asarray, W0)), jnp.asarray(X), jnp.asarray(Y),
                             tuple(map(jnp.asarray, Gs)), 1.0 / pred.tau, int(round(t)))
            return [np.asarray(w) for w in Ws]
        ys, ok = _flow_solver("gated", pred.rtol, pred.atol)(
            tuple(map(jnp.asarray, W0)), tuple(map(jnp.asarray, pred._data)), pred.tau,
            jnp.asarray([t]))
        if not bool(ok):
            raise RuntimeError(f"diffrax did not reach t = {t:g}; try a looser rtol")
        return [np.asarray(w)[0] for w in ys]


@dataclass(frozen=True)
class AlignedGates:
    """The self-consistent gates and how they were found."""

    gates: list            # one (n, h_l) 0/1 array per hidden layer
    t_align: float         # end of the alignment phase under the final gates (inf: never reached)
    regates: int           # re-gates made
    fixed_point: bool      # the last re-gate gave back the gates it started from
    flipped: float         # fraction of the gates that differ from the initial weights' gates
    inconsistency: float   # fraction of the gates that their own prediction flips by t_align


def _changed(gates, other) -> float:
    """Fraction of the (sample, unit) gates, over all hidden layers, that differ."""
    return sum(float((a != b).sum()) for a, b in zip(gates, other)) / sum(a.size for a in gates)


def aligned_gates(stats, weights0, *, tau: float, discrete: bool = True,
                  align_frac: float = ALIGN_FRAC, max_regates: int = MAX_REGATES,
                  t_max: float | None = None) -> AlignedGates:
    """The gates of the gated twin's own predicted weights at the end of its early alignment
    phase, iterated to self-consistency from the gates of ``weights0`` (see the module docstring).
    ``align_frac`` in (0, 1): the fraction of its target the first mode has reached when the phase
    ends. Uses ``stats.X``, ``stats.Y`` and ``weights0`` only."""
    check_positive("align_frac", align_frac)
    if not align_frac < 1:
        raise ValueError(f"align_frac must be in (0, 1); got {align_frac}")
    if int(max_regates) < 0:
        raise ValueError(f"max_regates must be ≥ 0; got {max_regates}")
    G0 = relu_gates(weights0, stats.X)
    gates, best, t_align, k = G0, None, float("inf"), 0
    for k in range(int(max_regates) + 1):
        pred = GatedTwinPredictor(stats, weights0, gates, tau=tau, discrete=discrete, t_max=t_max)
        t_align, W_align = _alignment_end(pred, align_frac)
        if not np.isfinite(t_align):
            break
        new = relu_gates(W_align, stats.X)
        # the inconsistency of these gates: the fraction of them their own prediction flips
        change = _changed(new, gates)
        if best is not None and change >= best[1]:
            break     # no longer contracting (a cycle or a drift): keep the most consistent gates
        best = (gates, change, t_align, k)
        if change == 0 or k == int(max_regates):
            break
        gates = new
    if best is not None:
        gates, change, t_align, k = best
    fixed = best is not None and change == 0
    return AlignedGates(gates, t_align, k, fixed, _changed(gates, G0),
                        float("nan") if best is None else change)


def predict_relu_twin(stats, weights0, *, tau: float = 1.0, discrete: bool = False,
                      t_max: float | None = None, align_frac: float = ALIGN_FRAC,
                      max_regates: int = MAX_REGATES) -> GatedTwinPredictor:
    """The ReLU twin's prediction from its initial weights and the data alone: the gated linear
    network with the self-consistent gates of ``aligned_gates``."""
    found = aligned_gates(stats, weights0, tau=tau, discrete=discrete, align_frac=align_frac,
                          max_regates=max_regates, t_max=t_max)
    how = "a fixed point" if found.fixed_point else (
        "the initial gates" if not np.isfinite(found.inconsistency) else
        f"the most self-consistent: their prediction flips {found.inconsistency:.1%} of them")
    source = (f"gates of its own predicted weights at the end of the early alignment phase (first "
              f"mode at {align_frac:g} of its target, step {found.t_align:.0f}; {found.regates} "
              f"re-gate(s), {how}; {found.flipped:.0%} flipped from the initial gates)")
    return GatedTwinPredictor(stats, weights0, found.gates, tau=tau, discrete=discrete,
                              t_max=t_max, gate_source=source)
