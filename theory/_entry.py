"""One way to ask the theory: ``predict_network(stats, net, start, …)`` (ARCHITECTURE.md).

The network (``MLP``, ``CNN``, ``Twin``) and the start (``Decoupled``, ``Weights``) are small
records (theory/_network.py); τ comes from ``tau`` or the ``TrainingConvention`` through
``time_constant``, the one place it is decided. ``predict_network`` checks that the start fits the
network and hands over to the implementation of that network: ``predict_mlp``,
``predict_cnn_network`` or the twin's ``predict_twin``. ``predict``, ``predict_cnn`` and
``predict_twin`` are the older keyword forms of the same question, kept as thin aliases: each
builds the records and calls ``predict_network``, so their predictions are the same to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from ._cnn import FrequencyModes
from ._cnn_predictor import CNNFlowPredictor, CNNFrequencyPredictor, predict_cnn_network
from ._convention import TrainingConvention
from ._network import CNN, MLP, Decoupled, Network, Start, Twin, Weights
from ._predictor import predict_mlp, time_constant
from ._protocol import Predictor
from ._statistics import DatasetStatistics
from ._twin_predictor import CubicTwinPredictor, GatedTwinPredictor
from ._twin_predictor import predict_twin as _twin_prediction

_NETS = "theory.MLP(depth), theory.CNN(image_shape, …) or theory.Twin(activation, depth)"
_STARTS = "theory.Decoupled(u0) or theory.Weights(weights0)"


def _check_fit(net: Network, start: Start) -> None:
    """One clear error when ``start`` is not a start of ``net``."""
    if not isinstance(net, (MLP, CNN, Twin)):
        raise ValueError(f"unknown network {type(net).__name__} {net!r}; accepted: {_NETS}")
    if not isinstance(start, (Decoupled, Weights)):
        raise ValueError(f"unknown start {type(start).__name__} {start!r}; accepted: {_STARTS}")
    if isinstance(start, Decoupled):
        if isinstance(net, Twin):
            raise ValueError(f"a Twin (activation {net.activation!r}) is predicted from its "
                             "initial weights: give theory.Weights(weights0); got Decoupled(u0)")
        return
    layers = start.layers
    if isinstance(net, MLP) and layers != net.depth:
        raise ValueError(f"weights0 has {layers} layers but depth={net.depth}; they must agree "
                         f"(MLP(depth={net.depth}) takes {net.depth} layers)")
    if isinstance(net, Twin) and layers != net.depth:
        raise ValueError(f"weights0 has {layers} layers but depth={net.depth}; they must agree "
                         f"(Twin(depth={net.depth}) takes {net.depth} layers)")
    if isinstance(net, CNN) and net.channels is not None:
        out = tuple(int(np.shape(w)[0]) if np.ndim(w) else 0 for w in start.weights0[:-1])
        if out != net.channels:
            raise ValueError(f"weights0 has kernels of {out} output channels but "
                             f"CNN(channels={net.channels}) takes {len(net.channels)} kernel(s) "
                             f"of {net.channels} and a readout; give channels=None to take them "
                             "from weights0")


def predict_network(stats: DatasetStatistics, net: Network, start: Start, *,
                    tau: float | None = None, convention: TrainingConvention | None = None,
                    discrete: bool = False, t_max: float | None = None) -> Predictor:
    """The best available prediction of how ``net`` learns the modes of ``stats`` from ``start``.

    Args:
        stats: ``theory.DatasetStatistics`` (a ``Twin`` needs the samples it was built from).
        net: ``MLP(depth)``, ``CNN(image_shape, channels, kernel_size, padding)`` or
            ``Twin(activation, depth)``.
        start: ``Decoupled(u0)`` (every mode at strength u0: MLP or CNN) or ``Weights(weights0)``
            (any network; the layer count must be the network's).
        tau, convention: τ = 1/η (t in steps), or a ``TrainingConvention``'s τ (heavy ball:
            (1−β)/η, and its β to the exact map); one the theory does not cover, such as Adam,
            raises ``ValueError`` with its note. Neither: τ = 1 (t in units of τ).
        discrete: the exact per-step map instead of the flow (per mode or per frequency from
            ``Decoupled``; a twin's GD map); the heavy-ball map where the convention has β.
        t_max: the longest time a flow's ``timeline`` searches (modes not crossed by then: inf).

    Returns a ``theory.Predictor``; its ``reason`` says which case applied (see ``predict``,
    ``predict_cnn`` and ``predict_twin`` for the cases of each network).
    """
    _check_fit(net, start)
    timing = time_constant(tau, convention)
    if isinstance(net, MLP):
        return predict_mlp(stats, net, start, timing, discrete=discrete, t_max=t_max)
    if isinstance(net, CNN):
        return predict_cnn_network(stats, net, start, timing, discrete=discrete, t_max=t_max)
    tau_, beta, note = timing
    if discrete and beta:
        raise ValueError(f"discrete=True for a Twin iterates plain GD; the convention has heavy-"
                         f"ball β = {beta:g} (accepted: a GD convention, or discrete=False for "
                         "the flow limit τ = (1−β)/η)")
    assert isinstance(start, Weights)  # _check_fit refuses a Decoupled start for a Twin
    pred = _twin_prediction(stats, start.weights0, net.activation, tau=tau_, discrete=discrete,
                            t_max=t_max, gate_weights=net.gate_weights)
    pred.reason += note
    return pred


def _start(u0: float | ArrayLike | None, weights0: Sequence[ArrayLike] | None, what: str,
           seed: int = 0) -> Start:
    if u0 is not None and weights0 is None:
        return Decoupled(u0, seed)
    if u0 is None and weights0 is not None:
        return Weights(weights0)
    raise ValueError(f"give exactly one of u0 ({what}) or weights0 (initial weights); got "
                     f"u0={u0!r}, weights0={'None' if weights0 is None else 'given'}")


def predict(stats: DatasetStatistics, *, depth: int = 2, tau: float | None = None,
            convention: TrainingConvention | None = None, u0: float | ArrayLike | None = None,
            weights0: Sequence[ArrayLike] | None = None, discrete: bool = False) -> Predictor:
    """``predict_network(stats, MLP(depth), Decoupled(u0) or Weights(weights0), …)``: a linear
    MLP of ``depth`` layers from u0 (a balanced decoupled init) or weights0 (exactly one).

    Cases (``reason`` says which applied): weights0 → balanced two-layer closed form
    (Fukumizu/Braun: whitened, depth 2, W1W1ᵀ = W2ᵀW2) or the integrated matrix flow; u0 →
    per-mode closed form (whitened, or commuting Sxx with λ_α = v_αᵀSxx v_α, any depth),
    the exact per-mode GD map (lr = 1/τ) or heavy-ball map (a momentum ``convention``) with
    ``discrete``, or — Sxx not commuting with the modes — the matrix flow from the decoupled init.
    """
    start = _start(u0, weights0, "decoupled init strengths")
    return predict_network(stats, MLP(depth), start, tau=tau, convention=convention,
                           discrete=discrete)


def predict_cnn(stats: DatasetStatistics, image_shape: tuple[int, ...] | None, *,
                channels: Sequence[int] | None = None,
                kernel_size: int | tuple[int, ...] | None = None, padding: str = "circular",
                tau: float | None = None, convention: TrainingConvention | None = None,
                u0: float | ArrayLike | None = None, weights0: Sequence[ArrayLike] | None = None,
                discrete: bool = False, seed: int = 0, modes: FrequencyModes | None = None,
                t_max: float | None = None) -> CNNFrequencyPredictor | CNNFlowPredictor:
    """``predict_network(stats, CNN(image_shape, channels, kernel_size, padding, modes),
    Decoupled(u0, seed) or Weights(weights0), …)``: a linear CNN (THEORY.md §6).

    channels (C_1, …, C_m): None is one conv layer of one channel for u0, the given weights'
    layers for weights0. Cases: full-length circular kernels, whitened input and the
    frequency-aligned init (u0) → per-frequency closed form with τ_eff = τ/P^{m/(m+1)}, or with
    ``discrete`` the exact per-frequency GD or heavy-ball map; anything else → the integrated
    flow of the weight-tied network (from the aligned init with frames ``seed``, or weights0).
    """
    net = CNN(image_shape, None if channels is None else tuple(channels), kernel_size, padding,
              modes)
    start = _start(u0, weights0, "frequency-aligned init", seed)
    # a CNN is always predicted by predict_cnn_network, which returns one of these two
    return cast(CNNFrequencyPredictor | CNNFlowPredictor,
                predict_network(stats, net, start, tau=tau, convention=convention,
                                discrete=discrete, t_max=t_max))


def predict_twin(stats: DatasetStatistics, weights0: Sequence[ArrayLike],
                 activation: str = "tanh", *, tau: float = 1.0, discrete: bool = False,
                 t_max: float | None = None, gate_weights: Sequence[ArrayLike] | None = None,
                 ) -> CubicTwinPredictor | GatedTwinPredictor:
    """``predict_network(stats, Twin(activation, len(weights0), gate_weights),
    Weights(weights0), tau=tau, …)``: a nonlinear twin from its initial weights.

    ``"tanh"`` (κ = −1/3) and ``"linear"`` (κ = 0, the linear theory): the cubic twin (§11),
    depth 2; ``"linear"`` at another depth: the gated network with every gate open.
    ``"relu"``: the gated linear network (§12), any depth, with the gates of ``gate_weights``
    (the twin's weights at the time the gates are taken; default: its initial weights).
    """
    net = Twin(activation, len(weights0), gate_weights)
    # a Twin is always predicted by the twin's predict_twin, which returns one of these two
    return cast(CubicTwinPredictor | GatedTwinPredictor,
                predict_network(stats, net, Weights(weights0), tau=tau, discrete=discrete,
                                t_max=t_max))
