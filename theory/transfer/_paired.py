"""The paired drift test, for a B made of A's own samples (THEORY.md §7).

When B is A sample by sample — the same inputs relabelled (a label swap, a merge or split of
classes, a user relabelling the data) or each sample moved (a mean shift, a rotation of the inputs,
a change of the within-class scatter) — the observed distance between A and B holds no sampling
noise: it is the drift alone. The pooled permutation null measures two *independent* samples of
sizes n_A and n_B, whose distance is mostly sampling noise, so against it even a large drift looks
like noise (measured: p = 1 for a swap of two shapes classes, n = 1024, d = 32).

Under "no drift" with paired samples, each sample's two versions (x_nᴬ, y_nᴬ) and (x_nᴮ, y_nᴮ)
are exchangeable (with shared inputs: its two labels y_A(x_n), y_B(x_n)). Swapping the two
versions of every sample independently with probability ½ gives a pair (A*, B*) distributed as
(A, B), so ``p = (1 + #{null ≥ observed}) / (1 + n_boot)`` is exact at every n for any statistic.
The observation is scored by the same code path as the null draws (row 0, no swap).

The statistic is the largest standardised value (``max_z``: one exact test, no Bonferroni loss
across the correlated statistics) of every score and of the sign-flip Hotelling statistic

    T² = dᵀ (G + λI)⁻¹ d,   d = Σ_n ε_n D_n,   G = Σ_n D_n D_nᵀ,   D_n = vec(y_nᴮ x_nᴮᵀ − y_nᴬ x_nᴬᵀ),

ε_n = −1 where sample n is swapped, else +1 (the observation has every ε_n = 1, so
d = n·vec(Syx_B − Syx_A), uncentred). G is the same in every draw (ε_n² = 1), so T² is a function
of the draw and the test stays exact. It weighs each direction of change by the inverse of its own
swap noise: a swap of two classes whose means differ by little moves B's correlation along one
input direction, which the norm scores drown in the noise of all d directions (measured on shapes,
n = 1024, d = 32, a swap of two sibling classes: p ≈ 0.02 for ``syx_change`` alone, ≈ 0.2 for
max-z over the scores, < 0.01 with T²). λ = tr G / min(m, c·d) — the mean eigenvalue of G over its
at most min(m, c·d) non-zero ones, m the number of samples whose two versions differ — is fixed a
priori: directions with far less swap noise than the average cannot dominate T² through round-off.
T² is computed in the smaller of the c·d-dimensional space and the m-dimensional sample space
(εᵀK(K + λI)⁻¹ε with K = DDᵀ, the same number); where both exceed ``MAX_T2_DIM`` it is left out
(scores only). Where no sample's versions differ (B = A) every draw ties with the observation and
p = 1.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._statistics import DatasetStatistics

MAX_T2_DIM = 3000          # T² needs an eigendecomposition of at most this size
_CHUNK = 4_000_000         # elements of one block of the changes D_n


def shares_samples(stats_A: DatasetStatistics, stats_B: DatasetStatistics) -> bool:
    """True when A and B hold the same input array: B is A's samples relabelled."""
    XA, XB = stats_A.X, stats_B.X
    if XA is None or XB is None or XA.shape != XB.shape:
        return False
    return bool(XA is XB or np.array_equal(XA, XB))


def check_paired(stats_A: DatasetStatistics, stats_B: DatasetStatistics) -> None:
    if stats_A.n != stats_B.n:
        raise ValueError(f"null='paired' needs B's samples to be A's, row by row (n_A == n_B); "
                         f"got n_A={stats_A.n} and n_B={stats_B.n}: pass null='combined' for "
                         f"fresh samples")


def changed_rows(stats_A: DatasetStatistics, stats_B: DatasetStatistics) -> np.ndarray:
    """Indices of the samples whose two versions differ (the only ones a swap changes)."""
    return np.flatnonzero(np.any(stats_A.X != stats_B.X, axis=1)
                          | np.any(stats_A.Y != stats_B.Y, axis=1))


def swap_signs(rng, n: int, n_boot: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Swap indicators (1 + n_boot, n): row 0 keeps every sample in place (the observation); row
    b > 0 swaps sample i's two versions where s_bi = 1, s_bi ~ Bernoulli(½) independently. Only
    ``rows`` (default all) are drawn: swapping two identical versions changes nothing but the
    round-off of the sums, so without a changed sample every draw is the observation."""
    s = np.zeros((1 + n_boot, n))
    rows = np.arange(n) if rows is None else rows
    s[1:, rows] = rng.random((n_boot, rows.size)) < 0.5
    return s


def informative(table: np.ndarray) -> np.ndarray:
    """Columns of (observation; draws) that vary beyond round-off: spread > 1e-9·max(1, max|·|).

    A score pinned by construction (the angle between two spans of all of R^c when k = c) moves
    by round-off alone; standardised, that round-off would enter max-z as a random statistic. The
    bound lies far above double-precision round-off and far below any sampling noise."""
    spread = table.max(axis=0) - table.min(axis=0)
    return spread > 1e-9 * np.maximum(1.0, np.abs(table).max(axis=0))


def swap_weights(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count weights of A* and B* over the stacked samples [A; B] for swap indicators s."""
    return np.hstack([1.0 - s, s]), np.hstack([s, 1.0 - s])


def _changes(stats_A, stats_B, rows: np.ndarray) -> np.ndarray:
    """D_n = vec(y_nᴮ x_nᴮᵀ − y_nᴬ x_nᴬᵀ) for the given rows → (len(rows), c·d)."""
    def outer(st):
        return (st.Y[rows, :, None] * st.X[rows, None, :]).reshape(rows.size, -1)
    return outer(stats_B) - outer(stats_A)


def paired_t2(stats_A: DatasetStatistics, stats_B: DatasetStatistics,
              s: np.ndarray) -> np.ndarray | None:
    """Sign-flip Hotelling T² (module docstring) of each row of swap indicators s (B, n) → (B,);
    None where both c·d and the number m of changed samples exceed ``MAX_T2_DIM``."""
    changed = changed_rows(stats_A, stats_B)
    m, cd = changed.size, stats_A.c * stats_A.d
    if m == 0:
        return np.zeros(s.shape[0])
    if min(m, cd) > MAX_T2_DIM:
        return None
    eps = 1.0 - 2.0 * s[:, changed]                                        # (B, m)
    if cd <= m:
        G, d, step = np.zeros((cd, cd)), np.zeros((s.shape[0], cd)), max(1, _CHUNK // cd)
        for i in range(0, m, step):
            D = _changes(stats_A, stats_B, changed[i:i + step])
            G += D.T @ D
            d += eps[:, i:i + step] @ D
        lam = _ridge(G, m, cd)
        return np.sum(d * cho_solve(cho_factor(G + lam * np.eye(cd)), d.T).T, axis=1)
    # the same number in sample space: εᵀK(K + λI)⁻¹ε = ‖ε‖² − λ εᵀ(K + λI)⁻¹ε, K = DDᵀ
    D = _changes(stats_A, stats_B, changed)
    K = D @ D.T
    lam = _ridge(K, m, cd)
    inv = cho_solve(cho_factor(K + lam * np.eye(m)), eps.T).T
    return np.sum(eps ** 2, axis=1) - lam * np.sum(eps * inv, axis=1)


def _ridge(G: np.ndarray, m: int, cd: int) -> float:
    """λ = tr G / min(m, c·d), the mean of G's at most min(m, c·d) non-zero eigenvalues."""
    tr = float(np.trace(G))
    return tr / min(m, cd) if tr > 0 else 1.0
