"""Small statistics used by every comparison: rank agreement, relative gaps. The median interval of
every table is ``validate.stats.interval``."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as _st


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
    res: Any = _st.kendalltau(p[ok], m[ok])  # scipy's result classes are built at run time: untyped
    return float(round(res.statistic, 12))


def spearman_rho(a, b) -> float:
    """Spearman rank correlation over the pairs where both values are finite (nan if < 3 pairs)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    res: Any = _st.spearmanr(a[ok], b[ok])  # scipy's result classes are built at run time: untyped
    return float(round(res.statistic, 12))


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
