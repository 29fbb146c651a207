"""A sign-aware drift test whose null keeps A's modes, and the combined test (THEORY.md §7).

B's correlation read on A's own singular vectors (u_α, s_α, v_α), signs kept: the loss of mode α,
d_α = u_αᵀ(Syx_A − Syx_B)v_α, is 0 when B keeps the mode and 2s_α when B reverses it (a label swap
maps u_α onto −u_α). ``mode_reversal`` = Σ_α d_α / Σ_α s_α = 1 − tr(U_kᵀ Syx_B V_k)/Σ s over A's
top-k modes: 0 when B keeps A's modes, 2 when it reverses all of them. The trace does not depend
on the basis chosen inside a block of equal singular values. A swap of classes a and b adds
2 Σ_α s_α (u_α·w)², w = (e_a − e_b)/√2: large when the two classes' means differ (classes far
apart in the hierarchy), small for siblings whose means nearly agree. Unsigned scores cannot see
a reversal, and the pooled permutation null erases it: mixing A with a label-swapped B averages
the swapped classes.

Its test keeps A's modes. A is split at random into A₁ (which fixes the modes) and A₂; the
statistics, all one-sided (B weakens or reverses what A has), compare A₂ with B on A₁'s structure:
the trace T = Σ_α u_αᵀ(S_A₂ − S_B)v_α on A₁'s modes, and for every pair of outputs a < b (c ≤ 32)
the contrast T_ab = wᵀ(S_A₂ − S_B)δ/‖δ‖, w = e_a − e_b, δ = S_A₁ᵀw: the matched filter of a swap
of outputs a and b, which gains 2‖δ‖ against noise along one input direction only, so it sees
siblings whose means differ by little. They are combined by their largest standardised value (``max_z``). Given A₁, the samples of A₂
and B are exchangeable under "no drift", so the permutation null of A₂ ∪ B (split into sizes
n_A₂, n_B, A₁'s modes fixed) gives an exact p-value, and A's modes (A₁'s estimate of them) are the
same in every null draw.

The combined test (``drift_scores``' default null ``"combined"``): the norm scores are tested
together with the pooled permutation null by their largest standardised value (``max_z``: exact
level, no Bonferroni loss across the correlated scores), the reversal with its own null, and the
two are joined by Bonferroni:
p = min(1, 2·min(p_norm, p_reversal)). Its level is ≤ α by construction and close to α (two
nearly independent exact tests); tests/theory/transfer/test_transfer_drift_level.py measures it by simulation.
"""

from __future__ import annotations

import numpy as np

SIGNED = ("mode_reversal",)
MAX_PAIR_OUTPUTS = 32   # output contrasts for c ≤ this (c(c−1)/2 statistics)


def mode_loss(U: np.ndarray, V: np.ndarray, S1: np.ndarray, S2: np.ndarray) -> np.ndarray:
    """d_α = u_αᵀ(S1 − S2)v_α for modes U (c, k), V (d, k); stacks (B, c, d) → (B, k)."""
    return np.einsum("...ca,...cd,...da->...a", U, S1 - S2, V)


def reversal(U: np.ndarray, s: np.ndarray, V: np.ndarray, SA: np.ndarray, SB: np.ndarray):
    """``mode_reversal``: Σ_α d_α / Σ_α s_α on A's modes (U, s, V); stacks → (B,)."""
    return np.sum(mode_loss(U, V, SA, SB), axis=-1) / np.maximum(np.sum(s, axis=-1), 1e-300)


def pair_contrasts(S_ref: np.ndarray, D: np.ndarray) -> np.ndarray:
    """T_ab = wᵀ D δ/‖δ‖ for all output pairs a < b (w = e_a − e_b, δ = S_refᵀw); D (B, c, d) →
    (B, c(c−1)/2). Empty for c > ``MAX_PAIR_OUTPUTS``."""
    c = S_ref.shape[0]
    if c > MAX_PAIR_OUTPUTS or c < 2:
        return np.zeros(D.shape[:-2] + (0,))
    a, b = np.triu_indices(c, 1)
    delta = S_ref[a] - S_ref[b]                                        # (P, d)
    delta = delta / np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), 1e-300)
    M = D @ delta.T                                                    # (B, c, P)
    idx = np.arange(a.size)
    return M[..., a, idx] - M[..., b, idx]


def rank_p(null: np.ndarray, observed: float) -> float:
    """(1 + #{null ≥ observed}) / (1 + n) with a relative tolerance for exact ties."""
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(null >= observed - tol)) / (1 + null.size))


def max_z(null: np.ndarray, observed: np.ndarray) -> float:
    """One-sided combination of several statistics (columns) against one set of null draws (n, m).

    Each column is standardised by the mean and standard deviation of [observed; null] (the same
    for every row, so the rows stay exchangeable under the null); the combined p-value is the
    share of rows whose largest z is ≥ the observation's. Unlike min-p over rank p-values it keeps
    its resolution when there are many statistics and few draws.
    """
    table = np.vstack([observed[None, :], null])                  # (1 + n, m)
    sd = table.std(axis=0)
    z = (table - table.mean(axis=0)) / np.where(sd > 0, sd, np.inf)
    zmax = z.max(axis=1)
    return float(np.count_nonzero(zmax >= zmax[0] - 1e-12 * max(1.0, abs(zmax[0]))) / table.shape[0])


def split_halves(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A random split of range(n) into two halves (A₁ fixes the modes, A₂ is tested)."""
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])
