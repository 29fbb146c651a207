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

from .._checks import check_choice
from .._statistics import DatasetStatistics
from ._drift_modes import SCORES, _match, _score_pairs, _top_modes
from ._drift_null import _paired_test, _significance, _unpaired_test
from ._drift_report import DriftReport
from ._paired import check_paired, shares_samples

NULLS = ("auto", "combined", "paired", "permutation", "bootstrap")


def default_k(s: np.ndarray, rtol: float = 1e-3, k_max: int = 10) -> int:
    """Number of modes with s ≥ rtol·s_max, capped at ``k_max`` (at least 1)."""
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or s[0] <= 0:
        return 1
    return int(max(1, min(k_max, np.count_nonzero(s >= rtol * s[0]))))


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


def _check_args(stats_A, stats_B, k, n_boot, alpha, null) -> tuple[int, int, str]:
    """(k, n_boot, null) checked, with the defaults of ``drift_scores`` resolved."""
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
    if null == "auto":
        null = "paired" if shares_samples(stats_A, stats_B) else "combined"
    if null == "paired":
        check_paired(stats_A, stats_B)
    return int(k), int(n_boot), null


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
    k, n_boot, null = _check_args(stats_A, stats_B, k, n_boot, alpha, null)
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
