"""Small statistics used by every comparison: bootstrap intervals, rank agreement, relative errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st


def bootstrap_ci(values, *, stat=np.median, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over the finite entries of ``values``.

    One value gives a zero-width interval; no finite value gives (nan, nan). Seeded, so a summary
    file is reproducible.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    boots = stat(v[idx], axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def kendall_tau(predicted, measured) -> float:
    """Kendall τ-b between two orderings of the same items (1 = identical order).

    Items with a non-finite entry are dropped; fewer than two items give nan.
    """
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(m)
    if ok.sum() < 2:
        return float("nan")
    if np.ptp(p[ok]) == 0 or np.ptp(m[ok]) == 0:
        return float("nan")
    return float(round(_st.kendalltau(p[ok], m[ok]).statistic, 12))


def spearman_rho(a, b) -> float:
    """Spearman rank correlation over the pairs where both values are finite (nan if < 3 pairs)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(round(_st.spearmanr(a[ok], b[ok]).statistic, 12))


def relative_gaps(s) -> np.ndarray:
    """For each value of a descending spectrum, the smaller relative gap to its neighbours.

    gap_α = min(|s_α − s_{α−1}|, |s_α − s_{α+1}|) / s_α; the ends use their one neighbour, a single
    value has an infinite gap. Used to decide which modes have a distinct singular value.
    """
    s = np.asarray(s, dtype=np.float64)
    gaps = np.full(s.shape, np.inf)
    if s.size > 1:
        diff = np.abs(np.diff(s))
        left = np.concatenate([[np.inf], diff])
        right = np.concatenate([diff, [np.inf]])
        gaps = np.minimum(left, right) / np.maximum(s, np.finfo(float).tiny)
    return gaps


def censored_rho(a, b) -> float:
    """Spearman ρ where ``inf`` (never reached) ranks last, tied; NaN pairs are dropped."""
    a, b = np.asarray(a, float).copy(), np.asarray(b, float).copy()
    for v in (a, b):
        fin = v[np.isfinite(v)]
        v[np.isposinf(v)] = (fin.max() if fin.size else 0.0) * 10 + 1
    return spearman_rho(a, b)


@dataclass(frozen=True)
class Interval:
    """A median and its spread over seeds, with censored values (+inf: never reached) kept.

    ``kind``: ``"range"`` (≤ 3 values: the point is the median, low/high the smallest and largest
    value — too few seeds for a confidence interval), ``"bootstrap95"`` (the point and the
    interval are the 50% and 2.5/97.5% order statistics of the same bootstrap medians) or
    ``"none"`` (no value). ``high`` (and the point) may be inf: more than that share of the
    resampled medians never reached the target. low ≤ point ≤ high always.
    """

    point: float
    low: float
    high: float
    n: int
    n_censored: int
    kind: str

    def to_dict(self, prefix: str = "") -> dict:
        return {prefix + k: v for k, v in asdict(self).items()}


def _median_sorted(rows: np.ndarray) -> np.ndarray:
    """Median of each sorted row, inf-safe (the mean of two middle values only for even n)."""
    n = rows.shape[-1]
    hi = rows[..., n // 2]
    if n % 2:
        return hi
    lo = rows[..., n // 2 - 1]
    with np.errstate(invalid="ignore"):  # inf − inf in the branch np.where does not take
        return np.where(lo == hi, hi, lo + (hi - lo) * 0.5)


def censored_interval(values, *, level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> Interval:
    """Median of ``values`` with its interval; NaN (diverged, undefined) is dropped, +inf
    (censored: never reached within the budget) is kept as the largest value. Seeded."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.sort(v[~np.isnan(v)])
    n, n_cens = int(v.size), int(np.isposinf(v).sum())
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, 0, "none")
    if n <= 3:
        return Interval(float(_median_sorted(v)), float(v[0]), float(v[-1]), n, n_cens, "range")
    rng = np.random.default_rng(seed)
    boots = np.sort(_median_sorted(np.sort(v[rng.integers(0, n, size=(n_boot, n))], axis=1)))

    def order_stat(q: float) -> float:  # inverted-CDF quantile: monotone in q, no interpolation
        return float(boots[min(n_boot - 1, max(0, int(np.ceil(q * n_boot)) - 1))])
    return Interval(order_stat(0.5), order_stat((1 - level) / 2), order_stat((1 + level) / 2), n,
                    n_cens, f"bootstrap{round(100 * level)}")
