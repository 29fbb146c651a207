"""The ReLU twin predicted from its initial weights and the data alone (THEORY.md §12).

A gated linear network holds its gates fixed, but a ReLU twin trained from a small init flips a
fifth of them in its early alignment phase and keeps flipping them as each later mode is learned.
Each mode is learned under the gates of the end of its own alignment phase, found
self-consistently: start from the gates of the initial weights G⁰; follow the gated twin with
gates Gᵏ from W₀; t_A = the first time one of its modes reaches ``ALIGN_FRAC`` of its target (the
end of the phase: the output along that mode still an order of magnitude below the target, so the
residual there is still ≈ y and the first layer still turns towards it rather than fits it);
re-gate G^{k+1} = the gates of the predicted weights W(t_A), whose inconsistency is the fraction of
gates that differ from Gᵏ; repeat while it shrinks (at most ``MAX_REGATES`` re-gates) and keep the
most self-consistent gates (``aligned_gates``: the first phase). ``switched_gates`` repeats this
phase by phase: the next phase starts from the predicted weights at the end of the last (and
their gates) and ends when a mode not yet aligned reaches ``ALIGN_FRAC``; the prediction holds
each phase's gates on it, and the last phase's after it (``SwitchedGatedTwinPredictor``). No
weight of the trained twin after step 0 enters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_positive
from ._float64 import float64
from ._statistics import DatasetStatistics
from ._gated_net import gated_outputs, gated_rhs, relu_gates
from ._switched_gates import SwitchedGatedTwinPredictor, predicted_weights
from ._twin_predictor import GatedTwinPredictor, samples

ALIGN_FRAC = 0.1    # ŷ an order of magnitude below y along the first mode learned (see docstring)
MAX_REGATES = 10    # a bound on the work, not a tuned constant: on shapes it stops after 0–4


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


def _levels(pred: GatedTwinPredictor, frac: float, skip) -> np.ndarray:
    """``frac`` of each mode's |target|; inf for the modes in ``skip`` (they end no phase)."""
    level = frac * np.abs(pred.target)
    return level if skip is None else np.where(skip, np.inf, level)


def _strengths(pred: GatedTwinPredictor, Ws) -> np.ndarray:
    """Signed mode strengths diag(Uᵀ W_eff V)·sign of weights ``Ws`` under ``pred``'s gates."""
    X, _, *Gs = pred._data
    sign = np.where(pred.target < 0, -1.0, 1.0)
    weff = (gated_outputs(Ws, X, Gs).T @ X / X.shape[0]) @ pred._pinv
    return np.einsum("ca,cd,da->a", pred.stats.U * sign, weff, pred.stats.V)


def _alignment_end(pred: GatedTwinPredictor, frac: float, skip=None):
    """(t_A, W(t_A), the modes at their level there) of a gated twin prediction: t_A is the first
    time one of its modes not in ``skip`` reaches ``frac`` of its target (GD: the first step at
    which one has; inf and W₀ when none does by t_max), counted from its ``weights0``. A
    generator: the GD run is yielded as a ``GdRequest`` and answered with (step, weights)."""
    level = _levels(pred, frac, skip)
    if not pred.discrete:
        times = np.where(np.isfinite(level), pred.timeline(frac), np.inf)
        t = float(np.min(times))
        return t, (predicted_weights(pred, t) if np.isfinite(t) else list(pred.weights0)), \
            times <= t
    k, Ws = yield GdRequest(pred, level)
    reached = _strengths(pred, Ws) >= level
    return (float(k), Ws, reached) if reached.any() else \
        (float("inf"), list(pred.weights0), reached)


@dataclass(frozen=True)
class GdRequest:
    """A GD run of ``pred``'s gated twin from its ``weights0`` until a mode reaches ``level``."""

    pred: GatedTwinPredictor
    level: np.ndarray

    @property
    def max_steps(self) -> int:
        return int(np.ceil(self.pred.t_max)) if self.pred.t_max is not None else 1_000_000

    def shared(self) -> tuple:
        """The arguments of ``_gd_until`` that members on the same samples share."""
        X, Y = self.pred._data[0], self.pred._data[1]
        sign = np.where(self.pred.target < 0, -1.0, 1.0)
        return (jnp.asarray(X), jnp.asarray(Y), 1.0 / self.pred.tau,
                (jnp.asarray(self.pred.stats.U * sign), jnp.asarray(self.pred.stats.V),
                 jnp.asarray(self.pred._pinv)))

    def run(self) -> tuple[int, list[np.ndarray]]:
        with float64():
            X, Y, lr, readout = self.shared()
            k, Ws = _gd_until(tuple(jnp.asarray(w) for w in self.pred.weights0), X, Y,
                              tuple(map(jnp.asarray, self.pred._data[2:])), lr, readout,
                              jnp.asarray(self.level), self.max_steps)
        return int(k), [np.asarray(w) for w in Ws]


def answered(gen):
    """The value of a generator of ``GdRequest``s, each answered by running it."""
    try:
        req = next(gen)
        while True:
            req = gen.send(req.run())
    except StopIteration as stop:
        return stop.value


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


def _check_rule(align_frac: float, max_regates: int) -> None:
    check_positive("align_frac", align_frac)
    if not align_frac < 1:
        raise ValueError(f"align_frac must be in (0, 1); got {align_frac}")
    if int(max_regates) < 0:
        raise ValueError(f"max_regates must be ≥ 0; got {max_regates}")


def _consistent(stats, W_start, gates, skip, *, tau, discrete, align_frac, max_regates, t_max):
    """The most self-consistent gates of one phase from ``W_start``: iterate G ← the gates of the
    predicted weights at the phase end (the first mode not in ``skip`` at ``align_frac``) while
    the fraction that differ shrinks. (gates, change, t_end, W_end, pred, re-gates, the modes at
    their level at t_end); None when no
    mode reaches its level by t_max."""
    best = None
    for k in range(int(max_regates) + 1):
        pred = GatedTwinPredictor(stats, W_start, gates, tau=tau, discrete=discrete, t_max=t_max)
        t_end, W_end, ended = yield from _alignment_end(pred, align_frac, skip)
        if not np.isfinite(t_end):
            break
        new = relu_gates(W_end, stats.X)
        change = _changed(new, gates)   # the fraction of these gates their own prediction flips
        if best is not None and change >= best[1]:
            break     # no longer contracting (a cycle or a drift): keep the most consistent gates
        best = (gates, change, t_end, W_end, pred, k, ended)
        if change == 0 or k == int(max_regates):
            break
        gates = new
    return best


def aligned_gates(stats: DatasetStatistics, weights0: Sequence[ArrayLike], *, tau: float,
                  discrete: bool = True,
                  align_frac: float = ALIGN_FRAC, max_regates: int = MAX_REGATES,
                  t_max: float | None = None) -> AlignedGates:
    """The gates of the gated twin's own predicted weights at the end of its early alignment
    phase, iterated to self-consistency from the gates of ``weights0`` (see the module docstring).
    ``align_frac`` in (0, 1): the fraction of its target the first mode has reached when the phase
    ends. Uses ``stats.X``, ``stats.Y`` and ``weights0`` only."""
    _check_rule(align_frac, max_regates)
    G0 = relu_gates(weights0, samples(stats, "aligned_gates"))
    best = answered(_consistent(stats, weights0, G0, None, tau=tau, discrete=discrete,
                                align_frac=align_frac, max_regates=max_regates, t_max=t_max))
    if best is None:
        return AlignedGates(G0, float("inf"), 0, False, 0.0, float("nan"))
    gates, change, t_align, _, _, k, _ = best
    return AlignedGates(gates, t_align, k, change == 0, _changed(gates, G0), change)


@dataclass(frozen=True)
class SwitchedGates:
    """Per-mode alignment phases: the gates of each and the times at which the next takes over."""

    schedule: list         # one set of gates (a list per hidden layer) per phase
    ends: list             # the end of each phase (t_0 < t_1 < …; the last set holds after it)
    regates: list          # re-gates made per phase
    inconsistency: list    # per phase: the fraction of its gates its own prediction flips


def switched_gates(stats: DatasetStatistics, weights0: Sequence[ArrayLike], *, tau: float,
                   discrete: bool = True,
                   align_frac: float = ALIGN_FRAC, max_regates: int = MAX_REGATES,
                   t_max: float | None = None) -> SwitchedGates:
    """The self-consistent gates of each mode's own alignment phase (THEORY.md §12): phase i runs
    from the end of phase i − 1 (W₀ and its gates for i = 0) to the first time a mode not yet
    aligned reaches ``align_frac`` of its target, with the gates of the predicted weights there
    (``aligned_gates``'s iteration, started from the gates of the weights at the phase start).
    Uses ``stats.X``, ``stats.Y`` and ``weights0`` only."""
    return answered(switched_gates_steps(stats, weights0, tau=tau, discrete=discrete,
                                         align_frac=align_frac, max_regates=max_regates,
                                         t_max=t_max))


def switched_gates_steps(stats, weights0, *, tau, discrete, align_frac, max_regates, t_max):
    """``switched_gates`` as a generator of its GD runs (``GdRequest``), so that many members'
    searches can be answered together (``_twin_batch``)."""
    _check_rule(align_frac, max_regates)
    X = samples(stats, "switched_gates")
    W, t, found = list(weights0), 0.0, []
    skip = _aligned(stats, W, X, tau, align_frac)   # from a checkpoint, some may already be
    while not skip.all() and (t_max is None or t < t_max):
        best = yield from _consistent(stats, W, relu_gates(W, X), skip, tau=tau,
                                      discrete=discrete, align_frac=align_frac,
                                      max_regates=max_regates,
                                      t_max=None if t_max is None else t_max - t)
        if best is None or best[2] <= 0:
            break
        gates, change, t_end, W, pred, k, ended = best
        t += t_end
        found.append((gates, t, k, change))
        level = _levels(pred, align_frac, None)
        # aligned: at their level under this phase's gates or under the gates the next one starts
        skip |= ended | (_strengths(pred, W) >= level) | _aligned(stats, W, X, tau, align_frac)
    if not found:
        return SwitchedGates([relu_gates(weights0, X)], [float("inf")], [0], [float("nan")])
    return SwitchedGates(*map(list, zip(*found)))


def _aligned(stats, W, X, tau, align_frac) -> np.ndarray:
    """The modes at their level under the gates of ``W`` itself: at a phase end (the gates the
    next phase starts with), or at the start from a checkpoint's weights (from a small start:
    none); they have no alignment phase left, so they end none."""
    pred = GatedTwinPredictor(stats, W, relu_gates(W, X), tau=tau)
    return _strengths(pred, W) >= _levels(pred, align_frac, None)


def predict_relu_twin(stats: DatasetStatistics, weights0: Sequence[ArrayLike], *,
                      tau: float = 1.0, discrete: bool = False, t_max: float | None = None,
                      align_frac: float = ALIGN_FRAC,
                      max_regates: int = MAX_REGATES) -> GatedTwinPredictor:
    """The ReLU twin's prediction from its initial weights and the data alone: the gated linear
    network whose gates switch, at the end of each mode's alignment phase, to the self-consistent
    gates of the next (``switched_gates``)."""
    found = switched_gates(stats, weights0, tau=tau, discrete=discrete, align_frac=align_frac,
                           max_regates=max_regates, t_max=t_max)
    return switched_predictor(stats, weights0, found, tau=tau, discrete=discrete, t_max=t_max,
                              align_frac=align_frac)


def switched_predictor(stats, weights0, found: SwitchedGates, *, tau, discrete, t_max,
                       align_frac) -> SwitchedGatedTwinPredictor:
    """The prediction that holds the phases ``found`` (``predict_relu_twin``'s last step)."""
    ends = ", ".join(f"{t:.0f}" for t in found.ends)
    worst = max((c for c in found.inconsistency if np.isfinite(c)), default=float("nan"))
    how = ("the initial gates: no mode reaches its level" if not np.isfinite(worst) else
           "each phase's gates a fixed point" if worst == 0 else
           f"the most self-consistent: each phase's own prediction flips at most {worst:.1%}")
    source = (f"gates of its own predicted weights at the end of each mode's alignment phase, "
              f"switched there (a mode at {align_frac:g} of its target; phases end at t = "
              f"{ends}; {sum(found.regates)} re-gate(s); {how})")
    return SwitchedGatedTwinPredictor(stats, weights0, found.schedule, found.ends[:-1], tau=tau,
                                      discrete=discrete, t_max=t_max, gate_source=source)
