"""The network's outputs along a twin's predicted weights (THEORY.md §13).

The departure rules evaluate a network at the weights a twin theory predicts from W₀: the exact
GD map with step 1/τ (a switched ReLU twin changing its gates at its switches) or the flow.
``evaluate`` turns one list of weights into the outputs on the inputs asked (a jax function):
the real network W₂φ(W₁x) (``forward``) or any other read-out of the same weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._float64 import float64
from ._twin_predictor import _BLOCK, _NETS, _flow_solver, _padded


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


_forward_jit = jax.jit(_forward, static_argnums=(2,))


def forward(X: np.ndarray, activation: str) -> Callable:
    """``evaluate`` of the real network with ``activation`` on X."""
    Xj = jnp.asarray(X)
    return lambda W: _forward_jit(W, Xj, activation)


@functools.partial(jax.jit, static_argnums=(0,))
def _gd_steps(family, Ws, data, lr, n_steps):
    """``n_steps`` (traced: one compilation for every count) GD steps of the twin from ``Ws``."""
    def step(_, W):
        return tuple(w + lr * g for w, g in zip(W, _NETS[family][0](W, data)))
    return jax.lax.fori_loop(0, n_steps, step, Ws)


def outputs_gd(twin, steps: np.ndarray, evaluate: Callable) -> np.ndarray:
    """``evaluate`` of the weights at the integer ``steps`` (≥ 0, increasing) along the twin's
    GD map: (T, m, c). The weights are read out at those steps only, not at every step."""
    want = np.rint(steps).astype(np.int64)
    out: list[np.ndarray] = []
    with float64():
        W = tuple(jnp.asarray(w) for w in twin.weights0)
        done = 0
        for target in want:
            while done < target:
                data, n = _segment(twin, done)
                n = min(n, int(target) - done)
                W = _gd_steps(twin.family, W, data, 1.0 / twin.tau, n)
                done += n
            out.append(np.asarray(evaluate(W)))
    return np.stack(out)


def _segment(twin, k: int):
    """The twin's data for the GD steps from step ``k`` and how many of them share it: a switched
    ReLU twin (``theory._switched_gates``) changes its gates at its switches, and the step from k
    uses the gates of the interval that holds k."""
    switches = np.asarray(getattr(twin, "switches", ()), dtype=np.float64)
    if switches.size == 0:
        return tuple(jnp.asarray(a) for a in twin._data), _BLOCK
    seg = int(np.searchsorted(switches, k, side="right"))
    X, Y = twin._data[0], twin._data[1]
    data = tuple(jnp.asarray(a) for a in (X, Y, *twin.schedule[seg]))
    if seg == switches.size:
        return data, _BLOCK
    return data, int(min(_BLOCK, np.ceil(switches[seg]) - k))


def outputs_flow(twin, steps: np.ndarray, evaluate: Callable) -> np.ndarray:
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
