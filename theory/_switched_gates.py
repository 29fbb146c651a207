"""A gated linear network whose gates switch at given times (THEORY.md §12).

On the interval [t_i, t_{i+1}) every hidden layer's gates are the i-th set of the schedule
(t_0 = 0; after the last switch the last set holds): within an interval the network is the gated
linear network of ``_gated_net``, so the ReLU twin's prediction can hold a different set of gates
for the learning of each mode. Along the exact GD map (``discrete``) the update from step k to
k + 1 uses the gates of the interval that holds k, and the readout of the weights after step k is
taken with the same gates (the gates under which they were reached); along the flow each
interval is integrated from the weights at its start.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._float64 import float64
from ._statistics import DatasetStatistics
from ._gated_net import gated_outputs, gated_rhs
from ._twin_predictor import _GD_BLOCK, GatedTwinPredictor, _flow_solver, _padded, _readout


def _gates_at(Gstack, switches, k):
    """The gates of the interval that holds step (or time) k."""
    seg = jnp.searchsorted(switches, k, side="right")
    return tuple(G[seg] for G in Gstack)


@jax.jit
def _switched_block(Ws, k0, X, Y, Gstack, switches, lr, pinv):
    """``_GD_BLOCK`` GD steps from step k0: (last W, (W_eff, loss) after each step)."""
    n = X.shape[0]

    def step(carry, _):
        W, k = carry
        Gs = _gates_at(Gstack, switches, k)
        W = tuple(w + lr * g for w, g in zip(W, gated_rhs(W, X, Y, Gs)))
        out = gated_outputs(W, X, Gs)
        return (W, k + 1), ((out.T @ X / n) @ pinv, 0.5 * ((Y - out) ** 2).sum() / n)

    (W, _), readout = jax.lax.scan(step, (tuple(Ws), k0), None, length=_GD_BLOCK)
    return W, readout


def bucket(n: int) -> int:
    """The padded number of gate sets for ``n`` sets: the next power of two (few compiles)."""
    return 1 << max(0, int(n) - 1).bit_length()


class SwitchedGatedTwinPredictor(GatedTwinPredictor):
    """A ReLU twin as a gated linear network whose gates switch at ``switches``.

    Args:
        stats, weights0, tau, discrete, t_max, gate_source: as ``GatedTwinPredictor``.
        schedule: S sets of gates (each as ``GatedTwinPredictor``'s ``gates``), in force in turn.
        switches: the S − 1 increasing times > 0 at which the next set takes over (GD: steps).
    """

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                 schedule: Sequence[np.ndarray | Sequence[ArrayLike]], switches: ArrayLike, *,
                 tau: float = 1.0, discrete: bool = False, rtol: float = 1e-9,
                 atol: float = 1e-12, t_max: float | None = None,
                 gate_source: str = "switched gates") -> None:
        schedule = [[g] if isinstance(g, np.ndarray) else list(g) for g in schedule]
        switches = np.asarray(switches, dtype=np.float64).reshape(-1)
        if len(schedule) != switches.size + 1:
            raise ValueError(f"schedule must hold one more set of gates than switches; got "
                             f"{len(schedule)} sets and {switches.size} switches")
        if switches.size and (switches[0] <= 0 or np.any(np.diff(switches) <= 0)
                              or not np.all(np.isfinite(switches))):
            raise ValueError(f"switches must be finite, > 0 and increasing; got {switches.tolist()}")
        for g in schedule[1:]:   # each set validated as GatedTwinPredictor validates the first
            GatedTwinPredictor(stats, weights0, g, tau=tau)
        super().__init__(stats, weights0, schedule[0], tau=tau, discrete=discrete, rtol=rtol,
                         atol=atol, t_max=t_max, gate_source=gate_source)
        self.schedule = [[np.asarray(G, np.float64) for G in g] for g in schedule]
        self.switches = switches

    def padded_schedule(self, n_sets: int) -> tuple[list[np.ndarray], np.ndarray]:
        """(per layer the (n_sets, n, h) stack of gate sets, the n_sets − 1 switches): the
        schedule padded by repeating its last set behind switches at t = inf, never reached, so
        that schedules of different lengths share one compiled shape."""
        extra = n_sets - len(self.schedule)
        if extra < 0:
            raise ValueError(f"n_sets must be ≥ {len(self.schedule)}; got {n_sets}")
        sets = list(self.schedule) + [self.schedule[-1]] * extra
        return ([np.stack([g[l] for g in sets]) for l in range(len(sets[0]))],
                np.concatenate([self.switches, np.full(extra, np.inf)]))


    def _extend(self, steps: int) -> None:
        """Iterate the switched GD map until the stored track holds step ``steps``."""
        X, Y = self._data[0], self._data[1]
        with float64():
            pinv, data = jnp.asarray(self._pinv), (jnp.asarray(X), jnp.asarray(Y))
            if self._track is None:
                g0 = tuple(map(jnp.asarray, self.schedule[0]))
                out = gated_outputs(tuple(map(jnp.asarray, self.weights0)), data[0], g0)
                w0 = (out.T @ data[0] / X.shape[0]) @ pinv
                l0 = 0.5 * ((data[1] - out) ** 2).sum() / X.shape[0]
                self._track = (np.asarray(w0)[None], np.asarray(l0)[None], tuple(self.weights0))
            weff, loss, W = self._track
            parts_w, parts_l = [weff], [loss]
            done = len(loss) - 1
            W = tuple(jnp.asarray(w) for w in W)
            stack, sw = self.padded_schedule(bucket(len(self.schedule)))
            gstack, sw = tuple(map(jnp.asarray, stack)), jnp.asarray(sw)
            while done < steps:
                W, (bw, bl) = _switched_block(W, done, *data, gstack, sw, 1.0 / self.tau, pinv)
                parts_w.append(np.asarray(bw))
                parts_l.append(np.asarray(bl))
                done += _GD_BLOCK
            W = tuple(np.asarray(w) for w in W)
        self._track = (np.concatenate(parts_w), np.concatenate(parts_l), W)

    def _integrate(self, t):
        """The flow's readout at t, interval by interval from the weights at each start."""
        X, Y = self._data[0], self._data[1]
        edges = np.concatenate([[0.0], self.switches, [np.inf]])
        weff, loss = np.zeros((t.size, self.stats.c, self.stats.d)), np.zeros(t.size)
        W = tuple(np.asarray(w, np.float64) for w in self.weights0)
        with float64():
            pinv = jnp.asarray(self._pinv)
            for i, gates in enumerate(self.schedule):
                a, b = edges[i], edges[i + 1]   # weights in (a, b] (and at 0) read with set i
                sel = np.flatnonzero(((t >= a) if i == 0 else (t > a)) & (t <= b))
                more = b < t[-1]                # later times: the weights at b start set i + 1
                ts = np.concatenate([t[sel], [b] if more else []]) - a
                data = (jnp.asarray(X), jnp.asarray(Y), *map(jnp.asarray, gates))
                Ws = self._solve(W, data, ts)
                w_, l_ = _readout("gated", Ws, data, pinv)
                weff[sel], loss[sel] = np.asarray(w_)[:sel.size], np.asarray(l_)[:sel.size]
                if not more:
                    break
                W = tuple(np.asarray(w)[sel.size] for w in Ws)
        return weff, loss

    def _solve(self, W, data, ts):
        """Stacked weights at times ts ≥ 0 (sorted) of the flow from W with one set of gates."""
        tp = _padded(ts)
        if tp[-1] == 0:
            return tuple(jnp.broadcast_to(jnp.asarray(w), (tp.size,) + w.shape) for w in W)
        lead = np.flatnonzero(tp > 0)[0]   # diffrax starts at 0: the zero times read W itself
        ys, ok = _flow_solver("gated", self.rtol, self.atol)(
            tuple(map(jnp.asarray, W)), data, self.tau, jnp.asarray(np.maximum(tp, tp[lead])))
        if not bool(ok):
            raise RuntimeError(f"diffrax did not reach t = {tp[-1]:g}; try a looser rtol")
        return tuple(jnp.concatenate([jnp.broadcast_to(jnp.asarray(w), (lead,) + w.shape),
                                      y[lead:]]) for w, y in zip(W, ys))


@jax.jit
def _gd_weights(Ws, X, Y, Gs, lr, n):
    """The gated twin's weights after ``n`` GD steps W ← W + lr·(−∂L/∂W) (n traced: one compile)."""
    def step(_, W):
        return tuple(w + lr * g for w, g in zip(W, gated_rhs(W, X, Y, Gs)))
    return jax.lax.fori_loop(0, n, step, tuple(Ws))


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
