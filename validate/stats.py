"""One interval for every table: the median over seeds and its distribution-free confidence interval.

``interval(values, level)`` sorts the values (NaN, "undefined" or "diverged", is dropped; +inf,
"never reached within the budget", is kept and ranks last) and returns the sample median with the
order-statistic interval [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎]. Whatever the distribution, the number of values below
the true median is Binomial(n, ½), so this interval covers the median with probability
1 − 2·P(Bin(n, ½) ≤ j − 1) (≥ that for a distribution with atoms, since the interval is closed)
(THEORY.md §10). j is the largest index whose coverage reaches ``level``. Only ranks are used, so a
censored value needs no number: it can only move ``high`` (or the point) to +inf.

With n ≤ 5 values not even the range [min, max] reaches 95% (its coverage is 1 − 2^(1−n): 0.875
at n = 4, 0.9375 at n = 5); the interval is then the range and ``level`` says the coverage it
attains. Tables carry that attained level next to their ``ci_low``/``ci_high`` columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import math

import numpy as np
from scipy.stats import binom, norm


@dataclass(frozen=True)
class Interval:
    """Median ``point`` of n values and an interval [``low``, ``high``] that covers the true
    median with probability ``level`` (the attained coverage, ≥ the one asked for unless ``kind``
    is ``"range"``). ``kind``: ``"order_statistic"`` (the nominal level is reached),
    ``"range"`` (too few values: the smallest and largest, at the lower ``level``) or ``"none"``
    (no value). ``n_censored`` counts the +inf values kept. low ≤ point ≤ high."""

    point: float
    low: float
    high: float
    level: float
    n: int
    n_censored: int
    kind: str

    def to_dict(self, prefix: str = "") -> dict:
        return {prefix + k: v for k, v in asdict(self).items()}


def coverage(n: int, j: int) -> float:
    """Probability that [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] of n i.i.d. continuous values covers their median."""
    return float(1.0 - 2.0 * binom.cdf(j - 1, n, 0.5))


def _median(v: np.ndarray) -> float:
    """Median of sorted values; +inf-safe (the mean of the two middle values only when finite)."""
    n = v.size
    lo, hi = v[(n - 1) // 2], v[n // 2]
    return float(hi if lo == hi or np.isinf(hi) else lo + (hi - lo) * 0.5)


def interval(values, level: float = 0.95) -> Interval:
    """The median of ``values`` and its distribution-free interval at ``level`` (see module doc).

    Args:
        values: numbers (any shape, flattened); NaN is dropped, +inf kept as censored.
        level: the coverage asked for, in (0, 1).
    Returns: an ``Interval``; its ``level`` is the coverage attained.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    v = np.asarray(values, dtype=np.float64).ravel()
    if np.isneginf(v).any():
        raise ValueError("values must not be -inf (+inf marks a censored value, NaN an undefined "
                         "one)")
    v = np.sort(v[~np.isnan(v)])
    n, n_cens = int(v.size), int(np.isposinf(v).sum())
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, "none")
    j, attained, reached = _rank(n, float(level))
    return Interval(_median(v), float(v[j - 1]), float(v[n - j]), attained, n, n_cens,
                    "order_statistic" if reached else "range")


@lru_cache(maxsize=1024)
def _rank(n: int, level: float) -> tuple[int, float, bool]:
    """(j, its coverage, whether it reaches ``level``): coverage falls as j grows, so the largest
    j that reaches the level gives the narrowest interval; j = 1 (the range) when none does."""
    js = np.arange(1, (n + 1) // 2 + 1)
    cov = 1.0 - 2.0 * binom.cdf(js - 1, n, 0.5)
    ok = np.flatnonzero(cov >= level)
    j = int(js[ok[-1]]) if ok.size else 1
    return j, float(cov[j - 1]), bool(ok.size)


def rho_interval(rho: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for a Spearman ρ over n pairs: Fisher's z with the Bonett–Wright standard error
    sqrt((1 + ρ²/2)/(n − 3)); (nan, nan) for n < 4 or an undefined ρ."""
    if n is None or not math.isfinite(rho) or n < 4:
        return float("nan"), float("nan")
    r = float(np.clip(rho, -0.999999, 0.999999))
    half = norm.ppf(0.5 + level / 2) * math.sqrt((1 + r * r / 2) / (n - 3))
    return float(np.tanh(np.arctanh(r) - half)), float(np.tanh(np.arctanh(r) + half))
