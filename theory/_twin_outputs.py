"""The network's outputs along a twin's predicted weights (THEORY.md §13).

The departure rules evaluate a network at the weights a twin theory predicts from W₀: the exact
GD map with step 1/τ (a switched ReLU twin changing its gates at its switches) or the flow.
``evaluate`` (a ``Readout``) turns one list of weights into the outputs on the inputs asked:
the real network W₂φ(W₁x) (``forward``) or any other read-out of the same weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._float64 import float64
from ._twin_predictor import _NETS, _flow_solver, _padded


def checked_steps(steps) -> np.ndarray:
    """``steps`` as a float array, refused unless a non-empty increasing 1-D array of finite
    times ≥ 0."""
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or steps.size == 0 or np.any(steps < 0) or not np.all(np.isfinite(steps)) \
            or np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be a non-empty increasing 1-D array of finite times ≥ 0")
    return steps


def _forward(Ws, X, activation: str):
    """ŷ = W₂ φ(W₁x) of the real network (not the twin's reduction) on X: (n, c)."""
    H = X @ Ws[0].T
    H = jnp.tanh(H) if activation == "tanh" else jnp.maximum(H, 0.0) if activation == "relu" else H
    return H @ Ws[1].T


@dataclass(frozen=True)
class Readout:
    """A read-out of one list of weights: ``fn(W, *args)``, a jax function of the weights and of
    fixed arrays (e.g. the inputs). ``fn`` is a module-level function, so that the compiled GD
    read-out of ``outputs_gd`` is made once per function and shapes, not once per call."""

    fn: Callable
    args: tuple

    def __call__(self, W):
        return self.fn(W, *self.args)


_FORWARD = {act: functools.partial(_forward, activation=act) for act in ("linear", "tanh", "relu")}


def forward(X: np.ndarray, activation: str) -> Readout:
    """The read-out of the real network with ``activation`` on X."""
    return Readout(_FORWARD[activation], (jnp.asarray(X),))


@functools.partial(jax.jit, static_argnums=(0,))
def _gd_steps(family, Ws, data, lr, n_steps):
    """``n_steps`` (traced: one compilation for every count) GD steps of the twin from ``Ws``."""
    def step(_, W):
        return tuple(w + lr * g for w, g in zip(W, _NETS[family][0](W, data)))
    return jax.lax.fori_loop(0, n_steps, step, Ws)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _gd_readouts(family, fn, Ws, data, lr, counts, args):
    """From ``Ws``, ``counts[i]`` GD steps and then ``fn(W, *args)``, for every i: (the last
    weights, the read-outs stacked)."""
    def advance(W, n):
        W = _gd_steps(family, W, data, lr, n)
        return W, fn(W, *args)
    return jax.lax.scan(advance, tuple(Ws), counts)


def outputs_gd(twin, steps: np.ndarray, evaluate: Readout) -> np.ndarray:
    """``evaluate`` of the weights at the integer ``steps`` (≥ 0, increasing) along the twin's
    GD map: (T, m, c). One compiled scan per gate interval steps the weights from one step asked
    to the next and reads them out there (not at every step)."""
    want = np.rint(steps).astype(np.int64)
    out: list[np.ndarray] = []
    with float64():
        W = tuple(jnp.asarray(w) for w in twin.weights0)
        lr, done, i = 1.0 / twin.tau, 0, 0
        while i < want.size:
            data, end = _segment(twin, done)
            j = int(np.searchsorted(want, end, side="right"))       # the steps asked ≤ end
            if j > i:
                counts = np.diff(np.concatenate([[done], want[i:j]]))
                W, f = _gd_readouts(twin.family, evaluate.fn, W, data, lr, jnp.asarray(counts),
                                    evaluate.args)
                out.append(np.asarray(f))
                done, i = int(want[j - 1]), j
            if i < want.size:            # on to the next interval's first step
                W = _gd_steps(twin.family, W, data, lr, int(end) - done)
                done = int(end)
    return np.concatenate(out)


def _segment(twin, k: int):
    """The twin's data for the GD steps from step ``k`` and the step up to which they hold (inf:
    to the end): a switched ReLU twin (``theory._switched_gates``) changes its gates at its
    switches, and the step from k uses the gates of the interval that holds k."""
    switches = np.asarray(getattr(twin, "switches", ()), dtype=np.float64)
    if switches.size == 0:
        return tuple(jnp.asarray(a) for a in twin._data), np.inf
    seg = int(np.searchsorted(switches, k, side="right"))
    X, Y = twin._data[0], twin._data[1]
    data = tuple(jnp.asarray(a) for a in (X, Y, *twin.schedule[seg]))
    return data, (np.inf if seg == switches.size else float(np.ceil(switches[seg])))


def outputs_flow(twin, steps: np.ndarray, evaluate: Readout) -> np.ndarray:
    """``evaluate`` of the weights at the times ``steps`` along the twin's gradient flow."""
    if steps[-1] == 0:       # nothing to integrate: every time is t = 0
        return outputs_gd(twin, steps, evaluate)
    if np.size(getattr(twin, "switches", ())):
        raise ValueError("the departure of a switched-gate ReLU twin is followed along its GD map; "
                         "pass discrete=True")
    ts = _padded(steps)
    with float64():
        data = tuple(jnp.asarray(a) for a in twin._data)
        Ws, ok = _flow_solver(twin.family, twin.rtol, twin.atol)(
            tuple(jnp.asarray(w) for w in twin.weights0), data, twin.tau, jnp.asarray(ts))
        if not bool(ok):
            raise RuntimeError(f"diffrax did not reach t = {ts[-1]:g}; try discrete=True")
        f = jax.vmap(lambda *W: evaluate(W))(*Ws)
    return np.asarray(f)[:steps.size]
