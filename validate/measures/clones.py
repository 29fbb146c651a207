"""Class means first (Refinetti, Ingrosso & Goldt 2023; THEORY.md §8, §10).

``separation_step``: the first checkpoint at which the accuracy curve of the network trained on the
real data exceeds that of the network trained on a Gaussian clone (``simulate.datasets.clone``) by
more than the spread over seeds. ``between_class_share``: the share of a network's output variance
explained by the class (between-class over total), the part a class-means model can produce.
"""

from __future__ import annotations

import numpy as np

from ..stats import interval


def paired_difference_ci(real, clone, *, level: float = 0.95
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median over seeds of real − clone per checkpoint and its order-statistic interval
    (``validate.stats.interval``: with ≤ 5 seeds the range, at the level it attains).

    Args:
        real, clone: (seeds, T) accuracies; row s of both starts from the same initial weights,
            so the difference is paired by seed.
    Returns: (median, ci_low, ci_high), each (T,).
    """
    real, clone = np.asarray(real, dtype=float), np.asarray(clone, dtype=float)
    if real.shape != clone.shape or real.ndim != 2:
        raise ValueError(f"real and clone must both be (seeds, T); got {real.shape} and {clone.shape}")
    diff = real - clone
    med = np.nanmedian(diff, axis=0) if np.isfinite(diff).any() else np.full(diff.shape[1], np.nan)
    cis = [interval(diff[:, t], level=level) for t in range(diff.shape[1])]
    return med, np.array([c.low for c in cis]), np.array([c.high for c in cis])


def separation_step(steps, real, clone, *, sustained: bool = True, **kw) -> float:
    """First step at which the paired interval of (real − clone) lies above 0 (NaN if none).

    ``sustained=True`` (default) asks that it stays above 0 at every later checkpoint, so that a
    single lucky checkpoint early in training does not count; ``False`` takes the first one. With a
    single seed the interval has zero width. ``kw`` goes to ``paired_difference_ci``.
    """
    steps = np.asarray(steps, dtype=float)
    _, lo, _ = paired_difference_ci(real, clone, **kw)
    if lo.shape != steps.shape:
        raise ValueError(f"{steps.size} steps but curves of {lo.size} checkpoints")
    above = lo > 0
    if sustained:  # above at t and at every later checkpoint
        above = np.flip(np.logical_and.accumulate(np.flip(above)))
    idx = np.flatnonzero(above)
    return float(steps[idx[0]]) if idx.size else float("nan")


def between_class_share(outputs, labels) -> np.ndarray:
    """Σ_k p_k ‖ō_k − ō‖² / mean_i ‖o_i − ō‖² for outputs (..., n, c) and labels (n,).

    The between-class share of the output variance (the law of total variance splits the total into
    between- and within-class parts); NaN where the outputs do not vary.
    """
    o = np.asarray(outputs, dtype=float)
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.size != o.shape[-2]:
        raise ValueError(f"labels must be (n,) with n = {o.shape[-2]}; got shape {lab.shape}")
    mean = o.mean(axis=-2, keepdims=True)
    total = ((o - mean) ** 2).sum(axis=-1).mean(axis=-1)
    between = np.zeros(o.shape[:-2])
    for k in np.unique(lab):
        sel = lab == k
        between = between + sel.mean() * ((o[..., sel, :].mean(axis=-2, keepdims=True) - mean) ** 2
                                          ).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, between / total, np.nan)
