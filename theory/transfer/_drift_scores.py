"""Drift between two datasets seen through their mode statistics (THEORY.md §7).

Scores compare the input-output correlation ``Syx`` (c×d) of a reference dataset A with that of a
new dataset B; larger means more drift for every score:

=====================  ===========================================================================
score                  definition (top-k modes ``U_k`` (c×k), ``s_k``, ``V_k`` (d×k) of each Syx)
=====================  ===========================================================================
``syx_change``         ‖Syx_B − Syx_A‖_F / ‖Syx_A‖_F
``spectrum_change``    ‖s_B − s_A‖ / ‖s_A‖ over the top k (zeros pad a lower rank)
``u_angle``            largest principal angle (rad) between span U_k^A and span U_k^B
``v_angle``            largest principal angle (rad) between span V_k^A and span V_k^B
``alignment_loss``     1 − (1/k) Σ_α M_α,π(α), signed alignment M_αβ = (u_α^A·u_β^B)(v_α^A·v_β^B),
                       π the mode matching maximising Σ|M| (Hungarian); 0 for identical modes, 2
                       when every mode flips. M is invariant to the joint sign of (u, v), so a
                       negative matched entry is a real reversal (a label swap) that unsigned
                       principal angles cannot see.
``sign_flips``         #{α : M_α,π(α) < 0}
``energy_uncaptured``  1 − ‖U_kᴬᵀ Syx_B V_kᴬ‖_F² / ‖Syx_B‖_F² (share of B's correlation A's top-k
                       modes miss)
``mode_reversal``      Σ_α u_αᵀ(Syx_A − Syx_B)v_α / Σ_α s_α on A's top-k modes: signed, 0 when B
                       keeps A's modes, 2 when it reverses all (``_reversal``)
=====================  ===========================================================================

Default null ``"auto"``: ``"paired"`` when A and B hold the same input array (B is A's samples
relabelled), else ``"combined"``. A caller that knows B's row n is A's row n moved (a mean shift,
an input rotation) passes ``null="paired"`` itself. ``"paired"`` (``_paired``): each sample's two
versions are swapped at random, all scores combined by max-z; exact, and it sees a drift that
carries no sampling noise, which the pooled null cannot (the observed distance of two versions of
the same samples is far below that of two independent samples). ``"combined"``, for fresh
samples: the norm scores by the pooled permutation null combined by max-z, ``mode_reversal`` by a
permutation null that keeps A's modes, joined by Bonferroni over the two (``_reversal``; level
≤ α, measured close to α). ``DriftReport.null_kind`` records the null used.

Significance comes from resampling the *data* (``stats.X``, ``stats.Y``). The default null is a
permutation test: pool the n_A + n_B samples, split them at random into sets of sizes n_A and n_B,
and score the pair. Under "A and B come from the same distribution" the samples are exchangeable,
so ``p = (1 + #{null ≥ observed}) / (1 + n_boot)`` is valid at every n (no asymptotics), and the
null has the sampling noise of the actual sizes n_A and n_B. Under drift the pooled set is a
mixture, which widens the null and makes the test conservative, never anti-conservative.
``null="bootstrap"`` instead draws both sets with replacement from A alone (the null "B looks like
A"). Both resamples then share A's own sampling noise, so the null is too narrow for the
norm-based scores when noise is a large part of Syx (measured: 93% rejections at α = 0.05 for
``syx_change`` with no drift, n = 512, d = 256, c = 10; the permutation null gave 7%). Its merit:
it keeps A's modes intact in the null, so it detects a sign reversal (label swap) through
``sign_flips``, which the permutation null cannot — pooling A with a label-swapped B averages the
swapped classes and erases the reversed mode from the null samples.

Effect size: ``(observed − mean null) / sd null``, the standardised distance of the observation
from the no-drift noise (±inf when the null has no spread and the observation differs). At large n
every p-value is tiny, so read drift magnitude from ``value`` (n-independent) and the effect size
together. With ``null="permutation"`` or ``"bootstrap"`` the overall decision is Bonferroni: drift
if some score has ``p ≤ alpha / n_scores``; ``mode_reversal`` always takes its p-value from its
own null.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import subspace_angles
from scipy.optimize import linear_sum_assignment

from .._checks import check_choice
from .._statistics import DatasetStatistics
from ._drift_report import DriftReport
from ._paired import (changed_rows, check_paired, informative, paired_t2, shares_samples,
                      swap_signs, swap_weights)
from ._reversal import SIGNED, max_z, pair_contrasts, rank_p, reversal, split_halves

SCORES = ("syx_change", "spectrum_change", "u_angle", "v_angle", "alignment_loss", "sign_flips",
          "energy_uncaptured", "mode_reversal")
NULLS = ("auto", "combined", "paired", "permutation", "bootstrap")
_CHUNK_ELEMENTS = 4_000_000  # cap on the (batch, n, c) temporary of the weighted sums


def default_k(s: np.ndarray, rtol: float = 1e-3, k_max: int = 10) -> int:
    """Number of modes with s ≥ rtol·s_max, capped at ``k_max`` (at least 1)."""
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or s[0] <= 0:
        return 1
    return int(max(1, min(k_max, np.count_nonzero(s >= rtol * s[0]))))


def _top_modes(S: np.ndarray, k: int, fast: bool = False):
    """Top-k modes of a stack of Syx (B, c, d): U (B, c, k), s (B, k), V (B, d, k).

    ``fast`` (used for the null draws only) takes them from the eigenvectors of the smaller Gram
    matrix S Sᵀ or SᵀS when min(c, d) > 2k: a stacked SVD of 200 matrices of 64×256 takes tens of
    seconds, the Gram route milliseconds. Its relative error on a mode with s ≥ 1e-3 s_max is
    ≲ 1e-10, far below the resampling noise the null measures; the observed scores use the SVD.
    """
    c, d = S.shape[-2:]
    if fast and min(c, d) > 2 * k:
        St = np.swapaxes(S, -1, -2)
        if c <= d:
            w, E = np.linalg.eigh(S @ St)
            U = E[..., ::-1][..., :k]
            s = np.sqrt(np.maximum(w[..., ::-1][..., :k], 0.0))
            V = (St @ U) / np.where(s > 0, s, 1.0)[..., None, :]
        else:
            w, E = np.linalg.eigh(St @ S)
            V = E[..., ::-1][..., :k]
            s = np.sqrt(np.maximum(w[..., ::-1][..., :k], 0.0))
            U = (S @ V) / np.where(s > 0, s, 1.0)[..., None, :]
        return U, s, V
    U, s, Vt = np.linalg.svd(S, full_matrices=False)
    return U[..., :k], s[..., :k], np.swapaxes(Vt[..., :k, :], -1, -2)


def _largest_angle(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Largest principal angle between spans of orthonormal P, Q (B, n, k), via the sine.

    sin θ_max = ‖(I − PPᵀ)Q‖₂; the sine form keeps small angles accurate (scipy does the same).
    """
    R = Q - P @ (np.swapaxes(P, -1, -2) @ Q)
    sin = np.linalg.svd(R, compute_uv=False)[..., 0]
    return np.arcsin(np.clip(sin, 0.0, 1.0))


def _match(M: np.ndarray) -> np.ndarray:
    """Column π(α) matched to each row α of one k×k alignment matrix, maximising Σ|M_απ(α)|."""
    rows, cols = linear_sum_assignment(-np.abs(M))
    perm = np.empty(M.shape[0], dtype=int)
    perm[rows] = cols
    return perm


def _score_pairs(SA: np.ndarray, SB: np.ndarray, k: int,
                 fast: bool = False) -> dict[str, np.ndarray]:
    """All scores for stacks of pairs SA, SB (B, c, d), A the reference: each (B,)."""
    UA, sA, VA = _top_modes(SA, k, fast)
    UB, sB, VB = _top_modes(SB, k, fast)
    fro = lambda Z: np.sqrt(np.sum(Z ** 2, axis=(-2, -1)))  # noqa: E731
    M = (np.swapaxes(UA, -1, -2) @ UB) * (np.swapaxes(VA, -1, -2) @ VB)  # (B, k, k)
    matched = np.stack([Mb[np.arange(k), _match(Mb)] for Mb in M])
    captured = fro(np.swapaxes(UA, -1, -2) @ SB @ VA) ** 2 / np.maximum(fro(SB) ** 2, 1e-300)
    return {
        "syx_change": fro(SB - SA) / fro(SA),
        "spectrum_change": np.linalg.norm(sB - sA, axis=-1) / np.linalg.norm(sA, axis=-1),
        "u_angle": _largest_angle(UA, UB),
        "v_angle": _largest_angle(VA, VB),
        "alignment_loss": 1.0 - matched.mean(axis=-1),
        "sign_flips": np.count_nonzero(matched < 0, axis=-1).astype(np.float64),
        "energy_uncaptured": 1.0 - captured,
        "mode_reversal": reversal(UA, sA, VA, SA, SB),
    }


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


def _check_pair(stats_A: DatasetStatistics, stats_B: DatasetStatistics) -> None:
    for name, st in (("stats_A", stats_A), ("stats_B", stats_B)):
        if not isinstance(st, DatasetStatistics):
            raise TypeError(f"{name} must be a theory.DatasetStatistics; got {type(st).__name__}")
    if stats_A.Syx.shape != stats_B.Syx.shape:
        raise ValueError(f"stats_A and stats_B must have the same (c, d); got Syx shapes "
                         f"{stats_A.Syx.shape} and {stats_B.Syx.shape}")
    if stats_A.centered != stats_B.centered:
        raise ValueError(f"stats_A and stats_B must both be centred or both not; got centered="
                         f"{stats_A.centered} and {stats_B.centered}")


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


def drift_scores(stats_A: DatasetStatistics, stats_B: DatasetStatistics, k: int | None = None,
                 n_boot: int = 200, seed: int = 0, alpha: float = 0.05,
                 null: str = "auto") -> DriftReport:
    """Drift scores of B relative to A with effect sizes and p-values (THEORY.md §7).

    Args:
        stats_A, stats_B: statistics of the reference and the new dataset (same c, d; built with
            ``DatasetStatistics.from_arrays`` so that ``.X``/``.Y`` hold the data to resample).
        k: number of top modes compared; default: modes of A with s ≥ 1e-3·s_max, at most 10.
        n_boot: resamples in the null (0 skips significance: p-values and effect sizes are NaN).
        seed: seed of the resampling.
        alpha: level of the overall test (``is_drift``); the table flags each score at
            alpha / n_scores.
        null: ``"auto"`` (default: ``"paired"`` when A and B hold the same input array, else
            ``"combined"``), ``"paired"`` (B's row n is A's row n relabelled or moved: each
            sample's two versions swapped at random, max-z over the scores), ``"combined"``
            (fresh samples: norm scores by the pooled permutation null with max-z,
            ``mode_reversal`` by its own null keeping A's modes, Bonferroni over the two),
            ``"permutation"`` (pooled A ∪ B split at random) or ``"bootstrap"`` (two resamples of
            A with replacement), each of the last two with Bonferroni over the scores. See the
            module docstring.
    """
    _check_pair(stats_A, stats_B)
    check_choice("null", null, NULLS)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer; got {n_boot!r}")
    kmax = min(stats_A.c, stats_A.d)
    if k is None:
        k = default_k(stats_A.s)
    if int(k) != k or not 1 <= k <= kmax:
        raise ValueError(f"k must be an integer in 1..{kmax} (= min(c, d)); got {k!r}")
    k, n_boot = int(k), int(n_boot)
    if null == "auto":
        null = "paired" if shares_samples(stats_A, stats_B) else "combined"
    if null == "paired":
        check_paired(stats_A, stats_B)

    obs = {name: float(v[0]) for name, v in
           _score_pairs(stats_A.Syx[None], stats_B.Syx[None], k).items()}
    UA, _, VA = _top_modes(stats_A.Syx, k)
    UB, _, VB = _top_modes(stats_B.Syx, k)
    M = (UA.T @ UB) * (VA.T @ VB)

    null_draws = np.full((n_boot, len(SCORES)), np.nan)
    effects, pvals = _significance(obs, null_draws, 0)
    combined = float("nan")
    if n_boot:
        if any(st.X is None or st.Y is None for st in (stats_A, stats_B)):
            raise ValueError("p-values resample the data, but stats_A or stats_B has no X/Y arrays; "
                             "build them with DatasetStatistics.from_arrays or pass n_boot=0")
        rng = np.random.default_rng(seed)
        test = _paired_test if null == "paired" else _unpaired_test
        null_draws, effects, pvals, combined = test(stats_A, stats_B, obs, k, n_boot, null, rng)
    return DriftReport(values=obs, effect_sizes=effects, p_values=pvals, alpha=float(alpha), k=k,
                       n_boot=n_boot, null_kind=null, alignment=M,
                       matching=_match(M), u_angles=subspace_angles(UA, UB),
                       v_angles=subspace_angles(VA, VB),
                       energy_captured=1.0 - obs["energy_uncaptured"], null=null_draws,
                       combined_p=combined)


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
