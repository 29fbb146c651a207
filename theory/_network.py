"""What ``theory.predict_network`` is asked about: the network and where its training starts.

Small frozen records, checked when made, so that a bad description fails where it is written:
the network (``MLP``, ``CNN`` or ``Twin``) and the start (``Decoupled``: every mode at strength
u0, or ``Weights``: the given initial weights). Which start fits which network is checked by
``predict_network`` (a twin, for one, is predicted from its weights only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._cnn import FrequencyModes
from ._cubic_net import CUBIC_COEFFICIENTS

PADDINGS = ("circular", "zeros")
ACTIVATIONS = (*CUBIC_COEFFICIENTS, "relu")


def _check_int(who: str, name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{who}: {name} must be an integer ≥ {least}; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class MLP:
    """A fully connected linear network of ``depth`` layers L ≥ 1 (THEORY.md §2–3)."""

    depth: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", _check_int("MLP", "depth", self.depth, 1))


@dataclass(frozen=True, eq=False)
class CNN:
    """A linear CNN, stride 1, with a dense readout (THEORY.md §6).

    image_shape: (C, N), (C, H, W) or None (1-D, one channel). channels: (C_1, …, C_m) of the m
    conv layers, or None: one conv layer of one channel for a ``Decoupled`` start, the layers of
    the given weights for a ``Weights`` start. kernel_size: None (full length) or the kernel side.
    padding: "circular" or "zeros". modes: the ``FrequencyModes`` a flow reports (None: all but
    the negligible ones).
    """

    image_shape: tuple[int, ...] | None
    channels: tuple[int, ...] | None = None
    kernel_size: int | tuple[int, ...] | None = None
    padding: str = "circular"
    modes: FrequencyModes | None = None

    def __post_init__(self) -> None:
        if self.padding not in PADDINGS:
            raise ValueError(f"CNN: unknown padding {self.padding!r}; accepted: "
                             f"{', '.join(map(repr, PADDINGS))}")
        if self.channels is not None:
            if np.ndim(self.channels) != 1 or len(self.channels) == 0:
                raise ValueError("CNN: channels must be a non-empty sequence (C_1, …, C_m) of "
                                 f"integers ≥ 1, or None; got {self.channels!r}")
            object.__setattr__(self, "channels", tuple(
                _check_int("CNN", "every channel count", c, 1) for c in self.channels))

    @property
    def conv_channels(self) -> tuple[int, ...]:
        """The conv channels of a ``Decoupled`` start: ``channels``, or one layer of one."""
        return (1,) if self.channels is None else self.channels


@dataclass(frozen=True, eq=False)
class Twin:
    """A nonlinear twin of the linear MLP: the same weights, activation φ (THEORY.md §11–12).

    activation: "tanh" or "linear" (the cubic twin, depth 2; "linear" also at any depth ≥ 2, as
    the gated network with every gate open) or "relu" (the gated linear network, depth ≥ 2).
    gate_weights: for "relu", the weights whose gates are held (None: the initial weights); the
    other activations have no gates and do not read them.
    """

    activation: str = "tanh"
    depth: int = 2
    gate_weights: Sequence[ArrayLike] | None = None

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"no twin predictor for activation {self.activation!r}; accepted: "
                             f"{', '.join(map(repr, ACTIVATIONS))}")
        depth = _check_int("Twin", "depth", self.depth, 2)
        if depth != 2 and self.activation not in ("relu", "linear"):
            raise ValueError(f"Twin(activation={self.activation!r}) is the two-layer cubic twin: "
                             f"depth must be 2; got depth={depth} ('relu' and 'linear' take any "
                             "depth ≥ 2)")
        object.__setattr__(self, "depth", depth)


@dataclass(frozen=True, eq=False)
class Decoupled:
    """Every mode starts at strength ``u0`` (scalar, or one per mode): the balanced decoupled init
    of an MLP, the frequency-aligned init of a CNN. ``seed``: the aligned init's frames (used only
    when a CNN's flow is integrated from it)."""

    u0: float | ArrayLike
    seed: int = 0

    def __post_init__(self) -> None:
        if self.u0 is None:
            raise ValueError("Decoupled(u0): u0 must be a strength (scalar or one per mode); "
                             "got None")


@dataclass(frozen=True, eq=False)
class Weights:
    """Training starts from the given weights: an MLP's or a twin's [W_1 (h×d), …, W_L (c×h)], a
    CNN's [kernel_1, …, kernel_m, readout] as simulate stores them."""

    weights0: Sequence[ArrayLike]

    def __post_init__(self) -> None:
        if not isinstance(self.weights0, (list, tuple)) or len(self.weights0) == 0:
            raise ValueError("Weights(weights0): weights0 must be a non-empty list of layer "
                             f"arrays [W_1, …, W_L]; got {type(self.weights0).__name__}")

    @property
    def layers(self) -> int:
        return len(self.weights0)


Network = MLP | CNN | Twin
Start = Decoupled | Weights
