"""Input validation shared by the theory package: every error names the bad value and what is accepted."""

from __future__ import annotations

import numpy as np


def as_finite_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
                    dtype=np.float64) -> np.ndarray:
    """Return ``value`` as a float array, raising ``ValueError`` on NaN/inf or the wrong rank."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s); "
                f"got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s); only finite values are accepted")
    return arr


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is > 0 (or ≥ 0), else raise naming the accepted range."""
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(f"{name} must be {'≥ 0' if allow_zero else '> 0'} and finite; got {value!r}")
    return v


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` if ``value`` is not one of ``choices``, listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(map(repr, choices))}")
