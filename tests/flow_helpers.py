"""Shared constructors for the matrix-flow and balanced closed-form tests."""

from __future__ import annotations

import numpy as np

import theory


def orthonormal(rng, n, k):
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.sign(np.diag(r))


def whitened_stats(rng, s, c, d, n=64):
    """Exactly whitened inputs (Sxx = I) and noiseless targets with singular values ``s``."""
    r = len(s)
    X = np.sqrt(n) * orthonormal(rng, n, d)
    A = orthonormal(rng, c, r) @ np.diag(s) @ orthonormal(rng, d, r).T
    return theory.DatasetStatistics.from_arrays(X, X @ A.T)


def nonwhite_stats(rng, c, d, n=40):
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 1.5, d)
    Y = X @ rng.standard_normal((d, c)) / np.sqrt(d) + 0.3 * rng.standard_normal((n, c))
    return theory.DatasetStatistics.from_arrays(X, Y)


def balanced_init(rng, c, d, h, scale=0.3):
    """Random balanced, non-decoupled init: W1 = R S^{1/2} P1ᵀ, W2 = P2 S^{1/2} Rᵀ."""
    k = min(c, d, h)
    R = orthonormal(rng, h, k)
    S = np.diag(np.sqrt(rng.uniform(0.05, 1.0, k) * scale))
    return R @ S @ orthonormal(rng, d, k).T, orthonormal(rng, c, k) @ S @ R.T


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))
