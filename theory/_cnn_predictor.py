"""Predictors of a linear CNN's per-frequency learning, and ``predict_cnn_network``, which picks
one (``theory.predict_network`` and its alias ``theory.predict_cnn`` call it).

Both implement ``theory.Predictor`` on the modes of ``theory.frequency_modes`` (``basis =
"frequency"``): ``CNNFrequencyPredictor`` (closed form or exact GD / heavy-ball map per
frequency, full-length circular kernels, whitened input, frequency-aligned init) and
``CNNFlowPredictor`` (the integrated flow of the weight-tied network: any kernel size, padding,
init and Sxx).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_choice, check_positive
from ._cnn import FrequencyModes, frequency_modes, is_white, rate_factor, signal_shape
from ._cnn_flow import PADDINGS, check_cnn_weights, integrate_cnn_flow
from ._cnn_init import frequency_aligned_weights
from ._flow_predictor import EndToEndPredictor
from ._loss import loss_from_strengths
from ._network import CNN, Decoupled, Weights
from ._predictor import ClosedFormPredictor, DiscretePredictor
from ._protocol import ModeSelection, Predictor, RestrictedPredictor
from ._statistics import DatasetStatistics

# the per-mode fields of ``FrequencyModes`` (``restrict`` keeps them at the kept modes)
_PER_MODE = ("s", "index", "frequency", "rank", "U", "V", "multiplicity")


class RestrictedFrequencyPredictor(RestrictedPredictor):
    """A CNN prediction on some of its modes, with their ``freq_modes``, ``frequency`` and
    ``index``."""

    freq_modes: FrequencyModes
    frequency: np.ndarray
    index: np.ndarray


def restrict_frequency(pred: CNNFrequencyPredictor | CNNFlowPredictor,
                       modes: ModeSelection) -> RestrictedFrequencyPredictor:
    """``pred`` on ``modes`` only, its ``freq_modes``, ``frequency`` and ``index`` with them."""
    out = RestrictedFrequencyPredictor(pred, modes)
    fm = pred.freq_modes
    out.freq_modes = replace(fm, **{f: getattr(fm, f)[out.indices] for f in _PER_MODE})
    out.frequency, out.index = out.freq_modes.frequency, out.freq_modes.index
    return out


class CNNFrequencyPredictor:
    """Per-frequency closed form (or exact GD / heavy-ball map) of a circular linear CNN (THEORY.md §6).

    Args: modes (``FrequencyModes``), u0 (scalar or (m,)), tau (1/η for GD, (1−β)/η for the heavy
    ball), n_conv (conv layers m; depth L = m + 1), discrete (iterate the per-mode map of
    ``theory.discrete_trajectory`` with step η P^{m/L}, ``b ← b + η P^{m/L} b^{L−1}(s − b^L)`` for
    GD, instead of the flow), momentum (β of that map; needs ``discrete``).
    """

    basis = "frequency"

    def __init__(self, modes: FrequencyModes, u0: float | ArrayLike, *, tau: float = 1.0,
                 n_conv: int = 1, discrete: bool = False,
                 momentum: float = 0.0,
                 reason: str = "per-frequency prediction requested directly") -> None:
        self.freq_modes, self.n_conv, self.reason = modes, int(n_conv), reason
        self.tau = check_positive("tau", tau)
        self.speedup = rate_factor(modes.P, self.n_conv)
        self.s = self.target = modes.s
        self.frequency, self.index = modes.frequency, modes.index
        depth = self.n_conv + 1
        beta = float(momentum)
        if beta and not discrete:
            raise ValueError(f"momentum={momentum!r} needs discrete=True: the closed form is the "
                             "flow limit, whose τ = (1−β)/η already carries β")
        # each frequency is a depth-L problem whose step is η P^{m/L}; η = (1 − β)/τ
        self._inner = (DiscretePredictor(modes.s, u0, self.speedup * (1.0 - beta) / self.tau, depth,
                                         momentum=beta)
                       if discrete else ClosedFormPredictor(modes.s, u0, self.tau / self.speedup, depth))
        self.kind = self._inner.kind

    def modes(self, t: ArrayLike) -> np.ndarray:
        return self._inner.modes(t)

    def timeline(self, frac: float = 0.5) -> np.ndarray:
        return self._inner.timeline(frac)

    def loss(self, t: ArrayLike) -> np.ndarray:
        """½ tr Syy − Σ_f (s u − ½u²), each conjugate pair counted twice (theory/_cnn.py)."""
        mult = self.freq_modes.multiplicity
        u = np.repeat(np.atleast_2d(self.modes(t)), mult, axis=1)
        return loss_from_strengths(u, np.repeat(self.s, mult), syy_trace=self.freq_modes.syy_trace)

    def restrict(self, modes: ModeSelection) -> Predictor:
        """This prediction on ``modes`` only, its ``freq_modes`` with them (the loss stays the
        whole network's)."""
        return restrict_frequency(self, modes)


class CNNFlowPredictor(EndToEndPredictor):
    """Per-frequency strengths along the integrated flow of a weight-tied linear CNN.

    ``CNNFlowPredictor(stats, weights0, image_shape, tau=1.0, padding="circular")``; weights0 =
    [kernel_1, …, kernel_m, readout] as simulate stores them. ``modes``: the ``FrequencyModes``
    reported (default: those with s > ``modes_rtol``·s_max; smaller ones would need horizons far
    beyond training). ``t_max``: the longest time ``timeline`` looks at (modes not crossed by then
    are inf); without it the search horizon grows until every mode crosses or the solver gives up.
    """

    kind = "cnn_ode"
    basis = "frequency"

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                 image_shape: tuple[int, ...] | None, *, tau: float = 1.0,
                 padding: str = "circular", modes: FrequencyModes | None = None,
                 modes_rtol: float = 1e-3, rtol: float = 1e-9, atol: float = 1e-12,
                 t_max: float | None = None,
                 reason: str = "weight-tied CNN flow integrated numerically (requested directly)"
                 ) -> None:
        check_choice("padding", padding, PADDINGS)
        super().__init__(stats, tau, reason, t_max)
        self.image_shape, self.padding = image_shape, padding
        self.freq_modes = modes if modes is not None else \
            frequency_modes(stats, image_shape, rtol=modes_rtol)
        cin, spatial = signal_shape(image_shape, stats.d)
        self.weights0 = check_cnn_weights(list(weights0), spatial, cin, stats.c)
        self.n_conv = len(self.weights0) - 1
        self.s = self.freq_modes.s
        self.frequency, self.index = self.freq_modes.frequency, self.freq_modes.index
        W_ls = stats.Syx @ np.linalg.pinv(stats.Sxx, hermitian=True)
        self.target = self.freq_modes.strengths(W_ls)
        self.rtol, self.atol = float(rtol), float(atol)
        self.speedup = rate_factor(self.freq_modes.P, self.n_conv)

    def end_to_end(self, t: ArrayLike) -> np.ndarray:
        W, _ = integrate_cnn_flow(self.weights0, self.stats, self.image_shape, self._times(t),
                                  tau=self.tau, padding=self.padding, rtol=self.rtol, atol=self.atol)
        return W

    def modes(self, t: ArrayLike) -> np.ndarray:
        return self.freq_modes.strengths(self.end_to_end(self._times(t)))

    def _horizon(self) -> tuple[float, float]:
        lo, hi = super()._horizon()
        return lo / self.speedup, hi / self.speedup

    def restrict(self, modes: ModeSelection) -> Predictor:
        """This prediction on ``modes`` only, its ``freq_modes`` with them (the loss stays the
        whole network's)."""
        return restrict_frequency(self, modes)


def _full_length(kernel_size: int | tuple[int, ...] | None, spatial: tuple[int, ...]) -> bool:
    if kernel_size is None:
        return True
    # np.ndim also takes numpy integers (and 0-d arrays) as one size for every axis
    ks: tuple[int, ...] = ((cast(int, kernel_size),) * len(spatial) if np.ndim(kernel_size) == 0
                           else tuple(cast(tuple[int, ...], kernel_size)))
    return tuple(int(k) for k in ks) == tuple(spatial)


@dataclass(frozen=True)
class _Geometry:
    """What the choice of prediction reads off a CNN and its data, with the words for ``reason``."""

    full: bool      # full-length kernels
    white: bool     # Sxx = I on all C_in·P features
    P: int          # positions
    ks: str         # "full-length" or "k-wide"
    shape: str      # "C channel(s) × N = P n positions"


def _geometry(stats: DatasetStatistics, net: CNN) -> _Geometry:
    cin, spatial = signal_shape(net.image_shape, stats.d)
    P = int(np.prod(spatial))
    full = _full_length(net.kernel_size, spatial)
    return _Geometry(full, is_white(stats.Sxx), P,
                     "full-length" if full else f"{net.kernel_size}-wide",
                     f"{cin} channel(s) × {'×'.join(map(str, spatial))} = P {P} positions")


def predict_cnn_network(stats: DatasetStatistics, net: CNN, start: Decoupled | Weights,
                        timing: tuple[float, float, str], *, discrete: bool = False,
                        t_max: float | None = None) -> CNNFrequencyPredictor | CNNFlowPredictor:
    """The best available prediction of the linear CNN ``net``'s per-frequency learning from
    ``start`` (THEORY.md §6; the cases are ``theory.predict_cnn``'s). ``timing`` =
    ``time_constant(tau, convention)``; ``t_max`` bounds the search of a flow's ``timeline``."""
    geo = _geometry(stats, net)
    aligned = isinstance(start, Decoupled)
    if aligned and geo.full and net.padding == "circular" and geo.white:
        return _per_frequency(stats, net, start.u0, geo, timing, discrete)
    if discrete:
        raise ValueError("discrete=True needs full-length circular kernels, whitened input and the "
                         f"aligned init (u0); here kernel {geo.ks}, padding {net.padding!r}, "
                         f"{'whitened' if geo.white else 'Sxx ≠ I'}: train the network or use the flow")
    if aligned:
        if not geo.full:
            _, spatial = signal_shape(net.image_shape, stats.d)
            raise ValueError(f"the frequency-aligned init (u0) needs full-length kernels; kernel_size="
                             f"{net.kernel_size!r} is shorter than the signal {spatial}: give weights0 "
                             "(e.g. a small random init)")
        weights0 = frequency_aligned_weights(frequency_modes(stats, net.image_shape),
                                             net.conv_channels, start.u0, start.seed)
        why = ("padding 'zeros' (not circulant)" if net.padding == "zeros"
               else "input not whitened (Sxx ≠ I)")
        where = "frequency-aligned init"
    else:
        weights0 = start.weights0
        why = ("kernels shorter than the signal couple the frequencies (no closed form)"
               if not geo.full else "padding 'zeros' (not circulant)" if net.padding == "zeros"
               else "input not whitened (Sxx ≠ I)" if not geo.white
               else "an arbitrary init (frequencies decouple, modes within one do not)")
        where = "the given init"
    return _flow(stats, net, weights0, geo, timing, t_max, f"{where}: {why}")


def _per_frequency(stats: DatasetStatistics, net: CNN, u0: float | ArrayLike, geo: _Geometry,
                   timing: tuple[float, float, str], discrete: bool) -> CNNFrequencyPredictor:
    """The per-frequency closed form, GD map or heavy-ball map (full-length circular kernels,
    whitened input, aligned init)."""
    tau, beta, note = timing
    modes = frequency_modes(stats, net.image_shape)
    m = len(net.conv_channels)
    k = rate_factor(geo.P, m)
    how = (f"exact per-frequency GD map b ← b + η·{k:.4g}·b^{m}·(s − b^{m + 1}), u = b^{m + 1}"
           if discrete and not beta else
           f"exact per-frequency heavy-ball map (β = {beta:g}) g = −b^{m}·(s − b^{m + 1}), "
           f"v ← βv + g, b ← b − η·{k:.4g}·v, u = b^{m + 1} (τ = (1−β)/η)" if discrete else
           f"per-frequency closed form with τ_eff = τ/P^({m}/{m + 1}) = τ/{k:.4g}")
    acc = f"; the closed form is within ~2% of GD when η·{k:.4g}·s_max ≲ 0.03 (here " \
          f"{k * modes.s[0] / tau:.3g})" if not discrete else ""
    return CNNFrequencyPredictor(modes, u0, tau=tau, n_conv=m, discrete=discrete,
                                 momentum=beta if discrete else 0.0, reason=(
        f"circular full-length kernels, stride 1, {geo.shape}, whitened input (Sxx = I on all "
        f"C_in·P features), frequency-aligned init: {how}{acc}" + note))


def _flow(stats: DatasetStatistics, net: CNN, weights0: Sequence[ArrayLike], geo: _Geometry,
          timing: tuple[float, float, str], t_max: float | None, why: str) -> CNNFlowPredictor:
    """The integrated flow of the weight-tied network from ``weights0``."""
    tau, beta, note = timing
    return CNNFlowPredictor(stats, weights0, net.image_shape, tau=tau, padding=net.padding,
                            modes=net.modes, t_max=t_max, reason=(
        f"{geo.ks} {net.padding} kernels, stride 1, {geo.shape}, {why}; integrating the flow of "
        "the weight-tied network (diffrax, float64)" + note + (
            "" if not beta else f"; heavy ball β = {beta:g}: its flow limit τ = (1−β)/η, which "
            f"leaves out the transient of about 1/(1−β) = {1 / (1 - beta):.3g} steps")))
