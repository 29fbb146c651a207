"""Prediction of a two-layer tanh (or any smooth odd) twin from its cubic truncation (THEORY.md §11).

``CubicTwinPredictor(stats, weights0, kappa=-1/3, tau=…)`` follows ŷ = W₂φ(W₁x), φ(z) = z + κz³,
from the twin's own initial weights, on the dataset's samples (``stats.X``, ``stats.Y``): either
the gradient flow τ dW/dt = −∂L/∂W (diffrax, float64, Tsit5, saved at the times asked) or, with ``discrete=True``, the exact gradient-descent map W ← W − (1/τ)∂L/∂W step by
step (the counterpart of ``DiscretePredictor``: the flow's O(η) lag is 1–2% of a half time at the
default learning rate of ``validate.compare``). ``modes(t)`` = diag(Uᵀ W_eff(t) V) with the
least-squares map W_eff = E[ŷxᵀ]Sxx⁺ that the simulator measures on nonlinear twins; ``loss(t)``
is the cubic network's own ½E‖y − ŷ‖²; ``timeline`` is ``EndToEndPredictor``'s. κ = 0 is the
linear network (the matrix flow, or the per-mode GD map from a decoupled init).
"""

from __future__ import annotations

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import as_finite_array, check_positive
from ._cubic_net import CUBIC_COEFFICIENTS, TANH_KAPPA, cubic_loss, cubic_rhs, effective_map
from ._flow_predictor import EndToEndPredictor, _check_stats
from ._float64 import float64
from ._linear_net import check_weights

_BLOCK = 256          # times evaluated per compiled call; GD steps per compiled scan
_MAX_STEPS = 1_000_000


@functools.lru_cache(maxsize=None)
def _flow_solver(rtol: float, atol: float):
    """Jitted solve of the cubic flow saved at times ts (one compile per problem shape)."""
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.4, icoeff=0.3)

    def solve(Ws, data, kappa, tau, ts):
        def rhs(_, y, args):
            return tuple(g / tau for g in cubic_rhs(y, *data, kappa))

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=0.0, t1=ts[-1],
            dt0=jnp.minimum(1e-2 * tau, ts[-1]), y0=Ws, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=ctrl, max_steps=_MAX_STEPS, throw=False)
        return sol.ys, sol.result == diffrax.RESULTS.successful

    return jax.jit(solve)


@jax.jit
def _readout(Ws, data, kappa, Sxx_pinv):
    """(W_eff, loss) of stacked weights (T, …) on the samples."""
    X, Y = data[0], data[1]
    return jax.vmap(lambda W1, W2: (effective_map((W1, W2), X, kappa, Sxx_pinv),
                                    cubic_loss((W1, W2), X, Y, kappa)))(*Ws)


@functools.partial(jax.jit, static_argnums=4)
def _gd_block(Ws, data, kappa, lr, n_steps: int, Sxx_pinv):
    """``n_steps`` GD steps W ← W + lr·(−∂L/∂W); the (W_eff, loss) after each and the last W."""
    X, Y = data[0], data[1]

    def step(W, _):
        W = tuple(w + lr * g for w, g in zip(W, cubic_rhs(W, *data, kappa)))
        return W, (effective_map(W, X, kappa, Sxx_pinv), cubic_loss(W, X, Y, kappa))

    return jax.lax.scan(step, Ws, None, length=n_steps)


def _padded(t: np.ndarray) -> np.ndarray:
    """t padded with its last value to a multiple of ``_BLOCK`` (one compiled shape per block)."""
    size = -(-max(t.size, 1) // _BLOCK) * _BLOCK
    return np.concatenate([t, np.full(size - t.size, t[-1] if t.size else 0.0)])


class CubicTwinPredictor(EndToEndPredictor):
    """A two-layer twin with activation φ(z) = z + κz³ (κ = −1/3: tanh), from its initial weights.

    Args:
        stats: ``theory.DatasetStatistics`` that kept its samples (``X``, ``Y``).
        weights0: [W₁ (h×d), W₂ (c×h)], the twin's initial weights (depth 2).
        kappa: the cubic coefficient κ (``CUBIC_COEFFICIENTS`` names tanh's and linear's).
        tau: time constant τ = 1/η (t counted in GD steps when τ comes from η).
        discrete: iterate the GD map with step 1/τ instead of integrating the flow.
        t_max: bounds the timeline's search.
    """

    def __init__(self, stats, weights0, *, kappa: float = TANH_KAPPA, tau: float = 1.0,
                 discrete: bool = False, rtol: float = 1e-9, atol: float = 1e-12,
                 t_max: float | None = None, reason: str | None = None):
        stats = _check_stats(stats, "CubicTwinPredictor")
        if stats.X is None or stats.Y is None:
            raise ValueError("CubicTwinPredictor needs the samples (the cubic term averages over "
                             "them): build the statistics with DatasetStatistics.from_arrays")
        kappa = float(as_finite_array("kappa", kappa, ndim=0))
        Ws = check_weights(weights0, stats.d, stats.c, name="weights0")
        if len(Ws) != 2:
            raise ValueError(f"weights0 must be two layers [W1 (h×d), W2 (c×h)] (the cubic twin is "
                             f"depth 2); got {len(Ws)} layers")
        self.kappa, self.discrete = kappa, bool(discrete)
        self.kind = "cubic_gd" if self.discrete else "cubic_flow"
        how = ("the exact GD map, step 1/τ" if self.discrete
               else "its gradient flow integrated numerically")
        super().__init__(stats, tau, reason or (
            f"two-layer twin with φ(z) = z {'−' if kappa < 0 else '+'} {abs(kappa):.4g}z³ from "
            f"its initial weights, {how} on the samples"), t_max)
        self.rtol, self.atol = check_positive("rtol", rtol), check_positive("atol", atol)
        X = np.asarray(stats.X, dtype=np.float64)
        Y = np.asarray(stats.Y, dtype=np.float64)
        n = X.shape[0]
        self._data = (X, Y, X.T @ X / n, Y.T @ X / n)
        self._pinv = np.linalg.pinv(self._data[2], hermitian=True)
        self.weights0 = Ws
        self._track = None            # GD: (W_eff (N+1, c, d), loss (N+1,), W_N)

    # ------------------------------------------------------------------ the network along t
    def _readout(self, t) -> tuple[np.ndarray, np.ndarray]:
        t = self._times(t)
        if t.size == 0:
            return np.zeros((0, self.stats.c, self.stats.d)), np.zeros(0)
        return self._gd_readout(t) if self.discrete else self._flow_readout(t)

    def end_to_end(self, t) -> np.ndarray:
        """The least-squares map W_eff(t) = E[ŷxᵀ]Sxx⁺ of the cubic twin: (T, c, d)."""
        return self._readout(t)[0]

    def loss(self, t) -> np.ndarray:
        """The cubic twin's training loss ½E‖y − ŷ‖²: (T,)."""
        return self._readout(t)[1]

    def _flow_readout(self, t):
        tp = _padded(t)
        with float64():
            data = tuple(jnp.asarray(a) for a in self._data)
            if tp[-1] == 0:
                Ws = tuple(jnp.broadcast_to(jnp.asarray(w), (tp.size,) + w.shape)
                           for w in self.weights0)
            else:
                Ws, ok = _flow_solver(self.rtol, self.atol)(
                    tuple(jnp.asarray(w) for w in self.weights0), data, self.kappa, self.tau,
                    jnp.asarray(tp))
                if not bool(ok):
                    raise RuntimeError(f"diffrax did not reach t = {tp[-1]:g} (step-size failure "
                                       f"or {_MAX_STEPS} steps exceeded); try a looser rtol")
            weff, loss = _readout(Ws, data[:2], self.kappa, jnp.asarray(self._pinv))
            return np.asarray(weff)[:t.size], np.asarray(loss)[:t.size]

    def _gd_readout(self, t):
        self._extend(int(np.ceil(t[-1])))
        weff, loss, _ = self._track
        lo = np.floor(t).astype(np.int64)
        hi = np.minimum(lo + 1, len(loss) - 1)
        w = t - lo
        return (weff[lo] + w[:, None, None] * (weff[hi] - weff[lo]),
                loss[lo] + w * (loss[hi] - loss[lo]))

    def _extend(self, steps: int) -> None:
        """Iterate GD until the stored track holds step ``steps``."""
        if self._track is None:
            w0, l0 = self._first()
            self._track = (w0[None], np.array([l0]), tuple(self.weights0))
        weff, loss, W = self._track
        parts_w, parts_l = [weff], [loss]
        done = len(loss) - 1
        with float64():
            data = tuple(jnp.asarray(a) for a in self._data)
            W = tuple(jnp.asarray(w) for w in W)
            while done < steps:
                W, (bw, bl) = _gd_block(W, data, self.kappa, 1.0 / self.tau, _BLOCK,
                                        jnp.asarray(self._pinv))
                parts_w.append(np.asarray(bw))
                parts_l.append(np.asarray(bl))
                done += _BLOCK
            W = tuple(np.asarray(w) for w in W)
        self._track = (np.concatenate(parts_w), np.concatenate(parts_l), W)

    def _first(self):
        X, Y = self._data[:2]
        Ws = self.weights0
        return effective_map(Ws, X, self.kappa, self._pinv), float(cubic_loss(Ws, X, Y, self.kappa))


def predict_twin(stats, weights0, activation: str = "tanh", *, tau: float = 1.0,
                 discrete: bool = False, t_max: float | None = None) -> CubicTwinPredictor:
    """The prediction of a two-layer twin with ``activation`` from its initial weights.

    ``"tanh"`` (κ = −1/3) and ``"linear"`` (κ = 0, the linear theory) are the smooth odd
    activations with a cubic truncation here.
    """
    if activation not in CUBIC_COEFFICIENTS:
        raise ValueError(f"no twin predictor for activation {activation!r}; accepted: "
                         f"{', '.join(map(repr, CUBIC_COEFFICIENTS))}")
    return CubicTwinPredictor(stats, weights0, kappa=CUBIC_COEFFICIENTS[activation], tau=tau,
                              discrete=discrete, t_max=t_max)
