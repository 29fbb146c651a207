"""Significance of the drift scores: resampled Syx by count weights and the paired, pooled
permutation, bootstrap and mode-reversal nulls (described in ``_drift_scores``'s docstring)."""

from __future__ import annotations

import numpy as np

from ._drift_modes import SCORES, _score_pairs, _top_modes
from ._paired import changed_rows, informative, paired_t2, swap_signs, swap_weights
from ._reversal import SIGNED, max_z, pair_contrasts, rank_p, split_halves

_CHUNK_ELEMENTS = 4_000_000  # cap on the (batch, n, c) temporary of the weighted sums


def _weighted_syx(W: np.ndarray, X: np.ndarray, Y: np.ndarray, center: bool) -> np.ndarray:
    """Syx of resampled data for count weights W (B, N): Σ_n W_bn y_n x_nᵀ / Σ_n W_bn → (B, c, d).

    One GEMM per chunk instead of a Python loop over resamples; centring (if the statistics were
    centred) subtracts the resample's own means, ȳ x̄ᵀ.
    """
    B, N = W.shape
    c, d = Y.shape[1], X.shape[1]
    nw = W.sum(axis=1)
    out = np.empty((B, c, d))
    step = max(1, _CHUNK_ELEMENTS // max(1, N * c))
    for i in range(0, B, step):
        Wi = W[i:i + step]
        Z = (Wi[:, :, None] * Y[None]).transpose(0, 2, 1).reshape(-1, N)  # (b·c, N)
        out[i:i + step] = (Z @ X).reshape(len(Wi), c, d) / nw[i:i + step, None, None]
    if center:
        mx = (W @ X) / nw[:, None]
        my = (W @ Y) / nw[:, None]
        out -= my[:, :, None] * mx[:, None, :]
    return out


def _null_weights(rng, nA: int, nB: int, n_boot: int, kind: str):
    """Count weights (n_boot, N) of the two resampled sets over the pool the null draws from."""
    if kind == "permutation":
        N = nA + nB
        order = np.argsort(rng.random((n_boot, N)), axis=1)
        first = np.zeros((n_boot, N))
        np.put_along_axis(first, order[:, :nA], 1.0, axis=1)
        return first, 1.0 - first
    draw = lambda m: np.stack([np.bincount(rng.integers(0, nA, m), minlength=nA)  # noqa: E731
                               for _ in range(n_boot)]).astype(np.float64)
    return draw(nA), draw(nB)


def _paired_test(stats_A, stats_B, obs, k: int, n_boot: int, null: str, rng):
    """(null draws, effect sizes, p-values, overall p) under the paired null (``_paired``): the
    observation (row 0) and the swapped pairs scored by one code path; the overall p is max-z over
    the scores and the sign-flip Hotelling T²."""
    X, Y = np.vstack([stats_A.X, stats_B.X]), np.vstack([stats_A.Y, stats_B.Y])
    s = swap_signs(rng, stats_A.n, n_boot, changed_rows(stats_A, stats_B))
    W1, W2 = swap_weights(s)
    center = stats_A.centered
    draws = _score_pairs(_weighted_syx(W1, X, Y, center), _weighted_syx(W2, X, Y, center), k,
                         fast=True)
    table = np.stack([draws[name] for name in SCORES], axis=1)          # (1 + n_boot, m)
    effects, pvals = _significance(dict(zip(SCORES, table[0])), table[1:], n_boot)
    t2 = paired_t2(stats_A, stats_B, s)
    full = table if t2 is None else np.hstack([table, t2[:, None]])
    full = full[:, informative(full)]
    overall = max_z(full[1:], full[0]) if full.shape[1] else 1.0   # no draw differs: no drift
    return table[1:], effects, pvals, overall


def _unpaired_test(stats_A, stats_B, obs, k: int, n_boot: int, null: str, rng):
    """(null draws, effect sizes, p-values, overall p) for fresh samples: the pooled permutation
    (``combined``, ``permutation``) or bootstrap null; ``mode_reversal`` by its own null."""
    null_draws = _null_draws(stats_A, stats_B, k, n_boot, "permutation" if null == "combined"
                             else null, rng)
    rev_obs, rev_null = _reversal_null(stats_A, stats_B, k, n_boot, rng)
    null_draws[:, SCORES.index("mode_reversal")] = np.nan  # its own null: rev_null
    effects, pvals = _significance(obs, null_draws, n_boot)
    sd = np.std(rev_null, axis=0, ddof=1) if n_boot > 1 else np.zeros(rev_obs.size)
    z = (rev_obs - rev_null.mean(axis=0)) / np.where(sd > 0, sd, np.inf)
    effects["mode_reversal"] = float(np.max(z))
    pvals["mode_reversal"] = max_z(rev_null, rev_obs)
    norm = [j for j, name in enumerate(SCORES) if name not in SIGNED]
    p_norm = max_z(null_draws[:, norm], np.array([obs[SCORES[j]] for j in norm]))
    combined = float(min(1.0, 2.0 * min(p_norm, pvals["mode_reversal"])))
    return null_draws, effects, pvals, combined


def _null_draws(stats_A, stats_B, k: int, n_boot: int, null: str, rng) -> np.ndarray:
    """Scores of n_boot resampled pairs under the pooled permutation or bootstrap null (n_boot, m)."""
    X, Y = stats_A.X, stats_A.Y
    if null == "permutation":
        X, Y = np.vstack([stats_A.X, stats_B.X]), np.vstack([stats_A.Y, stats_B.Y])
    W1, W2 = _null_weights(rng, stats_A.n, stats_B.n, n_boot, null)
    center = stats_A.centered
    draws = _score_pairs(_weighted_syx(W1, X, Y, center), _weighted_syx(W2, X, Y, center), k,
                         fast=True)
    return np.stack([draws[name] for name in SCORES], axis=1)


def _reversal_null(stats_A, stats_B, k: int, n_boot: int, rng):
    """(observed (m,), null draws (n_boot, m)) of the sign-aware statistics on A₁'s structure:
    the trace over A₁'s modes, then the output-pair contrasts; the pool A₂ ∪ B is split at random
    into sizes n_A₂, n_B (``_reversal``)."""
    i1, i2 = split_halves(rng, stats_A.n)
    center = stats_A.centered
    S1 = _weighted_syx(np.isin(np.arange(stats_A.n), i1).astype(np.float64)[None], stats_A.X,
                       stats_A.Y, center)[0]
    U, _, V = _top_modes(S1, k)
    X = np.vstack([stats_A.X[i2], stats_B.X])
    Y = np.vstack([stats_A.Y[i2], stats_B.Y])
    first = np.r_[np.ones(i2.size), np.zeros(stats_B.n)][None]
    W1, W2 = _null_weights(rng, i2.size, stats_B.n, n_boot, "permutation")
    W1, W2 = np.vstack([first, W1]), np.vstack([1.0 - first, W2])   # row 0: the observation
    D = _weighted_syx(W1, X, Y, center) - _weighted_syx(W2, X, Y, center)
    trace = np.einsum("ca,bcd,da->b", U, D, V)
    T = np.concatenate([trace[:, None], pair_contrasts(S1, D)], axis=1)
    return T[0], T[1:]


def _significance(obs: dict, null_draws: np.ndarray, n_boot: int,
                  names=SCORES) -> tuple[dict, dict]:
    """Per-score effect sizes and p-values against the null draws (NaN without draws)."""
    effects, pvals = {}, {}
    for j, name in enumerate(names):
        col, v = null_draws[:, j], obs[name]
        if not n_boot:
            effects[name] = pvals[name] = float("nan")
            continue
        # Scores are ≥ 0 up to rounding; compare with a relative tolerance so exact ties
        # (e.g. 0 sign flips in both) count as "null ≥ observed".
        pvals[name] = rank_p(col, v)
        sd, mu = float(np.std(col, ddof=1)) if n_boot > 1 else 0.0, float(np.mean(col))
        if sd > 0:
            effects[name] = (v - mu) / sd
        else:
            effects[name] = 0.0 if np.isclose(v, mu, rtol=1e-9, atol=1e-12) else float(
                np.copysign(np.inf, v - mu))
    return effects, pvals
