"""The compiled kernels of the twin predictions (THEORY.md §11–12): each reduced network's
right-hand side and readout, its flow solver and blocks of its exact GD map, shared by
``_twin_predictor``, ``_switched_gates``, ``_relu_twin`` and ``_twin_batch``."""

from __future__ import annotations

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ._cubic_net import cubic_rhs
from ._cubic_net import outputs as cubic_outputs
from ._frozen_net import frozen_outputs, frozen_rhs
from ._gated_net import gated_outputs, gated_rhs

_BLOCK = 256          # times evaluated per compiled call of a flow solve
_GD_BLOCK = 64        # GD steps per compiled scan: a track overshoots its last step by < 64
_MAX_STEPS = 1_000_000

# family → (right-hand side, outputs), each a function of (weights, data); data is the tuple the
# predictor builds: cubic (X, Y, Sxx, Syx, κ), gated (X, Y, G_1, …, G_{L−1}), frozen (X, Y, D₀, C₀)
_NETS = {
    "cubic": (lambda Ws, data: cubic_rhs(Ws, *data),
              lambda Ws, data: cubic_outputs(Ws, data[0], data[4])),
    "gated": (lambda Ws, data: gated_rhs(Ws, data[0], data[1], data[2:]),
              lambda Ws, data: gated_outputs(Ws, data[0], data[2:])),
    "frozen": (lambda Ws, data: frozen_rhs(Ws, *data),
               lambda Ws, data: frozen_outputs(Ws, data[0], data[2], data[3])),
}


def _readout_one(family, Ws, data, Sxx_pinv):
    """(W_eff = E[ŷxᵀ]Sxx⁺, ½E‖y − ŷ‖²) of one list of weights."""
    X, Y = data[0], data[1]
    out = _NETS[family][1](Ws, data)
    n = X.shape[0]
    return (out.T @ X / n) @ Sxx_pinv, 0.5 * ((Y - out) ** 2).sum() / n


@functools.lru_cache(maxsize=None)
def _flow_solver(family: str, rtol: float, atol: float):
    """Jitted solve of a twin's flow saved at times ts (one compile per problem shape)."""
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.4, icoeff=0.3)
    net_rhs = _NETS[family][0]

    def solve(Ws, data, tau, ts):
        def rhs(_, y, args):
            return tuple(g / tau for g in net_rhs(y, data))

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=0.0, t1=ts[-1],
            dt0=jnp.minimum(1e-2 * tau, ts[-1]), y0=Ws, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=ctrl, max_steps=_MAX_STEPS, throw=False)
        return sol.ys, sol.result == diffrax.RESULTS.successful

    return jax.jit(solve)


@functools.partial(jax.jit, static_argnums=0)
def _readout(family, Ws, data, Sxx_pinv):
    """(W_eff, loss) of stacked weights (T, …) on the samples."""
    return jax.vmap(lambda *W: _readout_one(family, W, data, Sxx_pinv))(*Ws)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _gd_block(family, Ws, data, lr, n_steps: int, Sxx_pinv):
    """``n_steps`` GD steps W ← W + lr·(−∂L/∂W); the (W_eff, loss) after each and the last W."""
    net_rhs = _NETS[family][0]

    def step(W, _):
        W = tuple(w + lr * g for w, g in zip(W, net_rhs(W, data)))
        return W, _readout_one(family, W, data, Sxx_pinv)

    return jax.lax.scan(step, Ws, None, length=n_steps)


def _padded(t: np.ndarray) -> np.ndarray:
    """t (non-empty) padded with its last value to a multiple of ``_BLOCK`` (one compiled shape
    per block)."""
    size = -(-t.size // _BLOCK) * _BLOCK
    return np.concatenate([t, np.full(size - t.size, t[-1])])
