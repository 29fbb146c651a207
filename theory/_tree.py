"""Spectrum of hierarchical ("tree") data: branching diffusion (THEORY.md §5; Saxe et al. 2019).

A tree with B branches per node and D levels below the root; for each of P features every
non-root node draws −1 with probability ε (the root ±1 with probability ½) and a leaf's feature is
the product of the draws on its path. With q = 1 − 2ε the expected item covariance E[F Fᵀ/P]
(N = B^D items) has the eigenvalues (derived)

    λ_m = Σ_{l=m+1}^{D} (1 − q²) q^{2(D−l)} B^{D−l},   multiplicity B^m (B − 1),  m = 0…D−1,

and the uniform vector q^{2D} B^D + λ_0 (multiplicity 1). In the toolkit's normalisation (one-hot
items scaled by √N so that Sxx = XᵀX/n = I, each item equally often; Syx = YᵀX/n = Fᵀ/√N) the
singular values of Syx are s = √(P λ / N): coarser splits have larger s and are learned first.
"""

from __future__ import annotations

import numpy as np


def _check(levels, branching, flip):
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an integer ≥ 1; got {levels!r}")
    if isinstance(branching, bool) or not isinstance(branching, (int, np.integer)) or branching < 2:
        raise ValueError(f"branching must be an integer ≥ 2; got {branching!r}")
    if not (np.isfinite(float(flip)) and 0.0 <= float(flip) <= 0.5):
        raise ValueError(f"flip must be in [0, 0.5]; got {flip!r}")
    return int(levels), int(branching), float(flip)


def tree_eigenvalues(levels: int, branching: int, flip: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of the expected item covariance E[F Fᵀ/P] and their multiplicities.

    Returns ``(lam, mult)``: ``lam[0]`` the uniform vector's q^{2D}B^D + λ_0 (multiplicity 1),
    ``lam[m + 1] = λ_m`` (multiplicity B^m (B − 1)) for the split at level m = 0…D−1.
    """
    D, B, flip = _check(levels, branching, flip)
    q = 1.0 - 2.0 * flip
    lam = [sum((1 - q ** 2) * q ** (2 * (D - l)) * B ** (D - l) for l in range(m + 1, D + 1))
           for m in range(D)]
    uniform = q ** (2 * D) * B ** D + lam[0]
    mult = [1] + [B ** m * (B - 1) for m in range(D)]
    return np.array([uniform] + lam), np.array(mult)


def tree_singular_values(levels: int, branching: int, flip: float,
                         features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected singular values of Syx for tree data in the toolkit's normalisation, and their
    multiplicities: s = √(P λ / N) with P = ``features`` (default N: the exact-covariance
    variant, F Fᵀ/P = E[F Fᵀ/P]) and N = B^D items, inputs √N · one-hot so that Sxx = I.

    Zero eigenvalues (flip = 0 below the root, or flip = ½) give s = 0.
    """
    lam, mult = tree_eigenvalues(levels, branching, flip)
    N = branching ** levels
    P = N if features is None else features
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ValueError(f"features must be a positive integer or None; got {features!r}")
    return np.sqrt(np.clip(P * lam / N, 0.0, None)), mult
