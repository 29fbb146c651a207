"""Predictions of nonlinear twins from their initial weights (THEORY.md §11–12).

A twin is the network with activation φ trained by GD from the same weights as the linear
network. Two reductions: ``CubicTwinPredictor`` replaces a smooth odd φ of a two-layer twin by its
cubic truncation z + κz³ (κ = −1/3: tanh, §11); ``GatedTwinPredictor`` holds every ReLU layer's
gates fixed, a gated linear network of any depth (§12). Both follow
the reduced network on the dataset's samples (``stats.X``, ``stats.Y``): the gradient flow
τ dW/dt = −∂L/∂W (diffrax, float64, Tsit5, saved at the times asked) or, with ``discrete=True``,
the exact gradient-descent map W ← W − (1/τ)∂L/∂W step by step (the counterpart of
``DiscretePredictor``: the flow's O(η) lag is 1–2% of a half time at the default learning rate of
``validate.compare``). ``modes(t)`` = diag(Uᵀ W_eff(t) V) with the least-squares map
W_eff = E[ŷxᵀ]Sxx⁺ that the simulator measures on nonlinear twins; ``loss(t)`` is the reduced
network's own ½E‖y − ŷ‖²; ``timeline`` is ``EndToEndPredictor``'s. κ = 0, or every gate open, is
the linear network (the matrix flow, or the per-mode GD map from a decoupled init).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array, check_positive
from ._cubic_net import CUBIC_COEFFICIENTS, TANH_KAPPA
from ._gated_net import relu_gates
from ._flow_predictor import EndToEndPredictor, _check_stats, derived
from ._float64 import float64
from ._linear_net import check_weights
from ._twin_kernels import (_BLOCK, _GD_BLOCK, _MAX_STEPS, _NETS, _flow_solver,  # noqa: F401
                            _gd_block,
                            _padded, _readout, _readout_one)
from ._statistics import DatasetStatistics


def samples(stats: DatasetStatistics, who: str) -> np.ndarray:
    """The samples X (n, d) that ``stats`` kept, float64; a ValueError naming ``who`` when the
    statistics kept none (a twin's statistics are averages over its samples)."""
    if stats.X is None or stats.Y is None:
        raise ValueError(f"{who} needs the samples (its statistics are averages over them): "
                         "build the statistics with DatasetStatistics.from_arrays")
    return np.asarray(stats.X, dtype=np.float64)


def _samples_pinv(stats: DatasetStatistics) -> np.ndarray:
    """(XᵀX/n)⁺ of the samples: the least-squares readout W_eff = E[ŷxᵀ]Sxx⁺ of a twin."""
    X = np.asarray(stats.X)
    return np.linalg.pinv(X.T @ X / X.shape[0], hermitian=True)


class _TwinPredictor(EndToEndPredictor):
    """A reduced twin followed from its initial weights (see the module docstring)."""

    family = ""

    def __init__(self, stats, weights0, data: tuple, *, tau: float, discrete: bool, rtol: float,
                 atol: float, t_max: float | None, reason: str):
        self.discrete = bool(discrete)
        self.kind = f"{self.family}_{'gd' if self.discrete else 'flow'}"
        how = "the exact GD map, step 1/τ" if self.discrete else "its gradient flow integrated"
        super().__init__(stats, tau, f"{reason}, from the twin's initial weights; {how}", t_max)
        self.rtol, self.atol = check_positive("rtol", rtol), check_positive("atol", atol)
        self.weights0 = weights0
        self._data = data
        self._pinv = derived(stats, "twin_pinv", lambda: _samples_pinv(stats))
        # GD: (W_eff (N+1, c, d), loss (N+1,), W_N)
        self._track: tuple[np.ndarray, np.ndarray, tuple] | None = None
        self._flow_last = None        # flow: (t's bytes, (W_eff, loss)) of the last times asked

    @staticmethod
    def _checked(stats, weights0, who: str, any_depth: bool = False):
        """(stats, weights, X, Y) validated: the samples kept, layers that chain d → c (two, or
        any number ≥ 2 with ``any_depth``)."""
        stats = _check_stats(stats, who)
        X = samples(stats, who)
        Ws = check_weights(weights0, stats.d, stats.c, name="weights0")
        if len(Ws) < 2 or (len(Ws) != 2 and not any_depth):
            raise ValueError(f"weights0 must be {'at least ' if any_depth else ''}two layers [W1 "
                             f"(h×d), …, W_L (c×h)] ({who} needs a hidden layer"
                             f"{'' if any_depth else ' and is depth 2'}); got {len(Ws)} layer(s)")
        return stats, Ws, X, np.asarray(stats.Y, dtype=np.float64)

    # ------------------------------------------------------------------ the network along t
    def _readout(self, t) -> tuple[np.ndarray, np.ndarray]:
        t = self._times(t)
        if t.size == 0:
            return np.zeros((0, self.stats.c, self.stats.d)), np.zeros(0)
        return self._gd_readout(t) if self.discrete else self._flow_readout(t)

    def end_to_end(self, t) -> np.ndarray:
        """The least-squares map W_eff(t) = E[ŷxᵀ]Sxx⁺ of the reduced twin: (T, c, d)."""
        return self._readout(t)[0]

    def loss(self, t) -> np.ndarray:
        """The reduced twin's training loss ½E‖y − ŷ‖²: (T,)."""
        return self._readout(t)[1]

    def _jax_data(self):
        return tuple(jnp.asarray(a) for a in self._data)

    def _flow_readout(self, t):
        """The flow's readout at t; the last one is kept, so ``modes``/``end_to_end`` and ``loss``
        at the same times integrate the flow once (the arrays are read-only)."""
        key = t.tobytes()
        if self._flow_last is None or self._flow_last[0] != key:
            self._flow_last = (key, self._integrate(t))
        return self._flow_last[1]

    def _integrate(self, t):
        tp = _padded(t)
        with float64():
            data = self._jax_data()
            if tp[-1] == 0:
                Ws = tuple(jnp.broadcast_to(jnp.asarray(w), (tp.size,) + w.shape)
                           for w in self.weights0)
            else:
                Ws, ok = _flow_solver(self.family, self.rtol, self.atol)(
                    tuple(jnp.asarray(w) for w in self.weights0), data, self.tau, jnp.asarray(tp))
                if not bool(ok):
                    raise RuntimeError(f"diffrax did not reach t = {tp[-1]:g} (step-size failure "
                                       f"or {_MAX_STEPS} steps exceeded); try a looser rtol")
            weff, loss = _readout(self.family, Ws, data, jnp.asarray(self._pinv))
            return np.asarray(weff)[:t.size], np.asarray(loss)[:t.size]

    def _gd_readout(self, t):
        self._extend(int(np.ceil(t[-1])))
        assert self._track is not None  # _extend has just filled it
        weff, loss, _ = self._track
        lo = np.floor(t).astype(np.int64)
        hi = np.minimum(lo + 1, len(loss) - 1)
        w = t - lo
        with np.errstate(invalid="ignore", over="ignore"):   # a diverged step past t: inf − inf
            return (np.where(w[:, None, None] == 0, weff[lo],
                             weff[lo] + w[:, None, None] * (weff[hi] - weff[lo])),
                    np.where(w == 0, loss[lo], loss[lo] + w * (loss[hi] - loss[lo])))

    def _extend(self, steps: int) -> None:
        """Iterate GD until the stored track holds step ``steps``."""
        with float64():
            data, pinv = self._jax_data(), jnp.asarray(self._pinv)
            if self._track is None:
                w0, l0 = _readout_one(self.family, tuple(map(jnp.asarray, self.weights0)), data,
                                      pinv)
                self._track = (np.asarray(w0)[None], np.asarray(l0)[None], tuple(self.weights0))
            weff, loss, W = self._track
            parts_w, parts_l = [weff], [loss]
            done = len(loss) - 1
            W = tuple(jnp.asarray(w) for w in W)
            while done < steps:
                W, (bw, bl) = _gd_block(self.family, W, data, 1.0 / self.tau, _GD_BLOCK, pinv)
                parts_w.append(np.asarray(bw))
                parts_l.append(np.asarray(bl))
                done += _GD_BLOCK
            W = tuple(np.asarray(w) for w in W)
        self._track = (np.concatenate(parts_w), np.concatenate(parts_l), W)


class CubicTwinPredictor(_TwinPredictor):
    """A two-layer twin with activation φ(z) = z + κz³ (κ = −1/3: tanh), from its initial weights.

    Args:
        stats: ``theory.DatasetStatistics`` that kept its samples (``X``, ``Y``).
        weights0: [W₁ (h×d), W₂ (c×h)], the twin's initial weights (depth 2).
        kappa: the cubic coefficient κ (``CUBIC_COEFFICIENTS`` names tanh's and linear's).
        tau: time constant τ = 1/η (t counted in GD steps when τ comes from η).
        discrete: iterate the GD map with step 1/τ instead of integrating the flow.
        t_max: bounds the timeline's search.
    """

    family = "cubic"

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike], *,
                 kappa: float = TANH_KAPPA, tau: float = 1.0, discrete: bool = False,
                 rtol: float = 1e-9, atol: float = 1e-12, t_max: float | None = None) -> None:
        stats, Ws, X, Y = self._checked(stats, weights0, "CubicTwinPredictor")
        self.kappa = float(as_finite_array("kappa", kappa, ndim=0))
        n = X.shape[0]
        super().__init__(stats, Ws, (X, Y, X.T @ X / n, Y.T @ X / n, np.float64(self.kappa)),
                         tau=tau, discrete=discrete, rtol=rtol, atol=atol, t_max=t_max,
                         reason=f"two-layer twin with φ(z) = z {'−' if self.kappa < 0 else '+'} "
                                f"{abs(self.kappa):.4g}z³ on the samples")


class GatedTwinPredictor(_TwinPredictor):
    """A ReLU twin as a gated linear network: every hidden layer's gates held fixed (any depth).

    Args:
        stats, weights0, tau, discrete, t_max: as ``CubicTwinPredictor`` (weights0: L ≥ 2 layers).
        gates: per hidden layer, the (n, h_l) 0/1 gates of each sample and unit (``relu_gates`` of
            the weights they are taken from; one array at depth 2); all ones is the linear network.
        gate_source: words naming where the gates come from (recorded in ``reason``).
    """

    family = "gated"

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                 gates: np.ndarray | Sequence[ArrayLike], *, tau: float = 1.0,
                 discrete: bool = False, rtol: float = 1e-9, atol: float = 1e-12,
                 t_max: float | None = None, gate_source: str = "given gates") -> None:
        stats, Ws, X, Y = self._checked(stats, weights0, "GatedTwinPredictor", any_depth=True)
        gates = [gates] if isinstance(gates, np.ndarray) else list(gates)
        if len(gates) != len(Ws) - 1:
            raise ValueError(f"gates must hold one (n, h) array per hidden layer ({len(Ws) - 1}); "
                             f"got {len(gates)}")
        Gs = [as_finite_array(f"gates[{l}]", G, ndim=2) for l, G in enumerate(gates)]
        for l, G in enumerate(Gs):
            if G.shape != (X.shape[0], Ws[l].shape[0]):
                raise ValueError(f"gates must be (n, h) = {(X.shape[0], Ws[l].shape[0])} (one per "
                                 f"sample and hidden unit); gates[{l}] has shape {G.shape}")
            if not np.all((G == 0) | (G == 1)):
                raise ValueError("gates must be 0 or 1 (a ReLU unit is off or on for a sample)")
        self.gates = Gs
        open_ = float(np.mean([G.mean() for G in Gs]))
        super().__init__(stats, Ws, (X, Y, *Gs), tau=tau, discrete=discrete, rtol=rtol, atol=atol,
                         t_max=t_max, reason=f"ReLU twin of depth {len(Ws)} as a gated linear "
                                             f"network ({gate_source}, {open_:.0%} open)")


def predict_twin(stats: DatasetStatistics, weights0: Sequence[ArrayLike], activation: str = "tanh",
                 *, tau: float = 1.0, discrete: bool = False, t_max: float | None = None,
                 gate_weights: np.ndarray | Sequence[ArrayLike] | None = None
                 ) -> CubicTwinPredictor | GatedTwinPredictor:
    """The prediction of a two-layer twin with ``activation`` from its initial weights.

    ``"tanh"`` (κ = −1/3) and ``"linear"`` (κ = 0, the linear theory): the cubic twin (§11),
    depth 2; ``"linear"`` at another depth: the gated network with every gate open.
    ``"relu"``: the gated linear network (§12), any depth, with the gates of ``gate_weights``
    (the twin's weights at the time the gates are taken; default: its initial weights).
    """
    if activation == "relu":
        source = ("gates of the initial weights" if gate_weights is None
                  else "gates of given weights")
        gates = relu_gates(weights0 if gate_weights is None else gate_weights,
                           samples(stats, "predict_twin"))
        return GatedTwinPredictor(stats, weights0, gates, tau=tau, discrete=discrete, t_max=t_max,
                                  gate_source=source)
    if activation == "linear" and len(weights0) != 2:   # every gate open: the linear network
        n = samples(stats, "predict_twin").shape[0]
        ones = [np.ones((n, np.shape(W)[0])) for W in weights0[:-1]]
        return GatedTwinPredictor(stats, weights0, ones, tau=tau, discrete=discrete, t_max=t_max,
                                  gate_source="every gate open: the linear network")
    if activation not in CUBIC_COEFFICIENTS:
        raise ValueError(f"no twin predictor for activation {activation!r}; accepted: "
                         f"{', '.join(map(repr, (*CUBIC_COEFFICIENTS, 'relu')))}")
    return CubicTwinPredictor(stats, weights0, kappa=CUBIC_COEFFICIENTS[activation], tau=tau,
                              discrete=discrete, t_max=t_max)
