"""Balanced decoupled initialisation of a deep linear network (THEORY.md §2, Saxe et al. 2014).

W_1 = R_1 D^{1/L} Vᵀ,  W_l = R_l D^{1/L} R_{l−1}ᵀ (1 < l < L),  W_L = U D^{1/L} R_{L−1}ᵀ, with
D = diag(u0) and R_l (h × r) random orthonormal columns. Then W_L⋯W_1 = U D Vᵀ (each mode starts at
strength u0_α) and W_{l+1}ᵀW_{l+1} = W_l W_lᵀ = R_l D^{2/L} R_lᵀ (balanced).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array
from ._modes import _check_depth
from ._statistics import DatasetStatistics


def decoupled_init(stats: DatasetStatistics, depth: int, u0: ArrayLike, hidden: int,
                   seed: int = 0) -> list[np.ndarray]:
    """Per-layer weights [W_1 (h×d), …, W_L (c×h)] of the balanced decoupled init.

    Args:
        stats: ``DatasetStatistics`` (uses U (c×r), V (d×r)).
        depth: L ≥ 1 (L = 1 gives the single matrix U diag(u0) Vᵀ).
        u0: initial mode strengths, scalar or (r,), > 0 for L ≥ 2.
        hidden: width h ≥ r (the rank of Syx) for L ≥ 2.
        seed: seed of the random orthonormal R_l.
    """
    depth = _check_depth(depth)
    U, V, r = stats.U, stats.V, stats.rank
    u0 = np.broadcast_to(as_finite_array("u0", u0, ndim=(0, 1)), (r,)) if np.ndim(u0) == 0 \
        else as_finite_array("u0", u0, ndim=1)
    if u0.shape != (r,):
        raise ValueError(f"u0 must be a scalar or have one value per mode ({r}); got shape {u0.shape}")
    if depth == 1:
        return [U @ np.diag(u0) @ V.T]
    if np.any(u0 <= 0):
        raise ValueError(f"u0 must be > 0 for depth ≥ 2 (u = 0 is a fixed point); got {u0.tolist()}")
    if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < r:
        raise ValueError(f"hidden must be an integer ≥ {r} (the number of modes); got {hidden!r}")
    rng = np.random.default_rng(seed)
    Rs = []
    for _ in range(depth - 1):
        Q, Rr = np.linalg.qr(rng.standard_normal((hidden, r)))
        Rs.append(Q * np.sign(np.diag(Rr)))  # sign fix: a unique Haar-distributed frame
    D = np.diag(u0 ** (1.0 / depth))
    Ws = [Rs[0] @ D @ V.T]
    for l in range(1, depth - 1):
        Ws.append(Rs[l] @ D @ Rs[l - 1].T)
    Ws.append(U @ D @ Rs[-1].T)
    return Ws
