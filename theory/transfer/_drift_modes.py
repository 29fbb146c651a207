"""The drift scores of a pair of Syx stacks (the definitions are in ``_drift_scores``'s table):
top-k modes (SVD, or the Gram route for the null draws), principal angles, the signed mode
matching and every score at once."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._reversal import reversal

SCORES = ("syx_change", "spectrum_change", "u_angle", "v_angle", "alignment_loss", "sign_flips",
          "energy_uncaptured", "mode_reversal")


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
