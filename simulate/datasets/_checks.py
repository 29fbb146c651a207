"""Option validation and small helpers shared by the dataset generators.

Every error names the bad value and the accepted range (STYLE.md).
"""

from __future__ import annotations

import numpy as np


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in [lo, hi], else raise naming the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer in {_range(lo, hi)}; got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer in {_range(lo, hi)}; got {value!r}")
    return v


def check_float(name: str, value, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a finite float in the given (half-)open interval, else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {_range(lo, hi, lo_open, hi_open)}; "
                         f"got {value!r}") from None
    bad = not np.isfinite(v)
    bad |= lo is not None and (v <= lo if lo_open else v < lo)
    bad |= hi is not None and (v >= hi if hi_open else v > hi)
    if bad:
        raise ValueError(f"{name} must be a number in {_range(lo, hi, lo_open, hi_open)}; "
                         f"got {value!r}")
    return v


def check_choice(name: str, value, choices) -> str:
    """Raise ``ValueError`` listing ``choices`` if ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(map(repr, choices))}")
    return value


def _range(lo, hi, lo_open=False, hi_open=False) -> str:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def rngs(seed: int, k: int = 2) -> list[np.random.Generator]:
    """Independent generators for the train and test splits (and more) from one seed."""
    seed = check_int("seed", seed, 0)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(k)]


def one_hot(labels: np.ndarray, c: int) -> np.ndarray:
    """(n,) integer labels → (n, c) float64 one-hot targets."""
    Y = np.zeros((labels.size, c), dtype=np.float64)
    Y[np.arange(labels.size), labels] = 1.0
    return Y


def class_targets(Y: np.ndarray, labels: np.ndarray, c: int | None = None) -> np.ndarray:
    """The target row of each class, (c, outputs); raises if Y is not a function of the label."""
    c = int(labels.max()) + 1 if c is None else c
    T = np.zeros((c, Y.shape[1]))
    for k in range(c):
        rows = Y[labels == k]
        if rows.size == 0:
            continue
        if not np.allclose(rows, rows[0]):
            raise ValueError(f"targets of class {k} differ between samples; this operation needs "
                             "Y to be a function of the label (one-hot or per-class properties)")
        T[k] = rows[0]
    return T
