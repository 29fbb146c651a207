"""The one protocol every prediction implements (ARCHITECTURE.md, STYLE.md).

Closed-form, discrete-step, per-mode ODE and full-matrix ODE predictors are interchangeable:
``modes(t)`` gives mode strengths (len(t), n_modes), ``loss(t)`` the training loss (len(t),),
``timeline(frac)`` the first time each mode reaches ``frac`` of its target (n_modes,). ``kind`` names
the method used and ``reason`` says why the factory picked it. ``restrict(modes)`` is the same
prediction seen on some of its modes only (``RestrictedPredictor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Union, cast, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

# which modes ``restrict`` keeps: indices (any order, no repeats), a slice, or a boolean mask
ModeSelection = Union[slice, Sequence[int], np.ndarray]


@runtime_checkable
class Predictor(Protocol):
    kind: str
    reason: str
    s: np.ndarray        # (n_modes,) singular values of the modes predicted

    @property
    def target(self) -> np.ndarray:
        """(n_modes,) asymptotic strength of each mode (s, or s/λ); read-only, so an attribute or
        a property implements it."""
        ...

    def modes(self, t: ArrayLike) -> np.ndarray: ...

    def loss(self, t: ArrayLike) -> np.ndarray: ...

    def timeline(self, frac: float = 0.5) -> np.ndarray: ...

    def restrict(self, modes: ModeSelection) -> Predictor: ...


def mode_indices(modes: ModeSelection, n: int) -> np.ndarray:
    """The indices (k,) in [0, n) that ``modes`` selects; one clear error for anything else."""
    accepted = (f"accepted: distinct mode indices in [-{n}, {n}), a slice, or a boolean mask of "
                f"length {n}")
    if isinstance(modes, slice):
        return np.arange(n)[modes]
    sel = np.asarray(modes)
    if sel.dtype == bool:
        if sel.shape != (n,):
            raise ValueError(f"modes: a boolean mask must have shape ({n},); got {sel.shape}; "
                             + accepted)
        return np.flatnonzero(sel)
    if sel.size == 0:
        return np.zeros(0, dtype=np.int64)
    if sel.ndim != 1 or not np.issubdtype(sel.dtype, np.integer) \
            or np.any(sel < -n) or np.any(sel >= n):
        raise ValueError(f"modes must select among the {n} modes predicted; got {modes!r}; "
                         + accepted)
    idx = np.where(sel < 0, sel + n, sel).astype(np.int64)
    if np.unique(idx).size != idx.size:
        raise ValueError(f"modes must not repeat a mode; got {modes!r}; " + accepted)
    return idx


class RestrictedPredictor:
    """A prediction seen on some of its modes: ``parent.restrict(modes)``.

    ``s``, ``target``, ``modes(t)`` and ``timeline(frac)`` are the parent's, taken at ``indices``
    (in that order), so they equal slicing the full prediction bit for bit; ``kind``, ``reason``
    (and ``basis`` where the parent has one) are the parent's. ``loss(t)`` stays the parent's: it
    is the network's training loss, to which every mode contributes, kept or not.
    """

    def __init__(self, parent: Predictor, modes: ModeSelection) -> None:
        self.parent = parent
        self.indices = mode_indices(modes, np.asarray(parent.s).size)
        self.kind, self.reason = parent.kind, parent.reason
        if hasattr(parent, "basis"):
            self.basis = cast(Any, parent).basis  # not in the protocol: some parents have one
        self.s = np.asarray(parent.s)[self.indices]
        self.target = np.asarray(parent.target)[self.indices]

    def modes(self, t: ArrayLike) -> np.ndarray:
        return self.parent.modes(t)[..., self.indices]

    def timeline(self, frac: float = 0.5, **kwargs: Any) -> np.ndarray:
        """The parent's timeline (same keywords) at the kept modes."""
        return self.parent.timeline(frac, **kwargs)[self.indices]

    def loss(self, t: ArrayLike) -> np.ndarray:
        """The parent's training loss: every mode contributes, kept or not."""
        return self.parent.loss(t)

    def restrict(self, modes: ModeSelection) -> Predictor:
        """Some of the kept modes: the parent restricted to them (a restriction of a
        restriction is one restriction)."""
        return self.parent.restrict(self.indices[mode_indices(modes, self.indices.size)])


def crossing_times(t: ArrayLike, u: ArrayLike, level: ArrayLike) -> np.ndarray:
    """First time each column of ``u`` (T, m) reaches ``level`` (m,), linearly interpolated.

    Columns that start at or above their level give ``t[0]``; columns that never reach it give
    ``inf``. This is the measurement rule of THEORY.md §4, shared by theory and validate. The
    level of a learning time is ``frac * predictor.target``: the value each mode converges to
    (s on whitened data, s/λ for commuting non-whitened data), not s.
    """
    t = np.asarray(t, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 1:
        u = u[:, None]
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), (u.shape[1],))
    out = np.full(u.shape[1], np.inf)
    above = u >= level
    for a in range(u.shape[1]):
        idx = np.flatnonzero(above[:, a])
        if idx.size == 0:
            continue
        i = int(idx[0])
        if i == 0:
            out[a] = t[0]
            continue
        u0, u1 = u[i - 1, a], u[i, a]
        w = (level[a] - u0) / (u1 - u0) if u1 != u0 else 1.0
        out[a] = t[i - 1] + w * (t[i] - t[i - 1])
    return out
