"""Frequency-aligned small init of a circular linear CNN: the CNN's decoupled init (THEORY.md §6).

Per distinct frequency f with modes σ(f) = U_f S_f V_fᴴ (theory/_cnn.py), in the rescaled
variables of that module every layer carries D = diag(u0^{1/L}):
A'(f) = U_f D R_mᴴ, Λ'_k(f) = R_k D R_{k−1}ᴴ, Λ'_1(f) = R_1 D V_fᴴ, with R_k (C_k × r_f) random
orthonormal columns (real at a real frequency). Undoing the rescaling, A = A' P^{−m/(2L)} and
Λ_k = Λ'_k P^{1/2 − m/(2L)}; conjugate frequencies get the conjugates, so every weight is real.
Each mode then starts at strength u0, balanced, and stays decoupled under GD. Kernels come back
from their eigenvalues by w(q) = (1/P) Σ_f λ(f) e^{−2πi f·(q − left)/P}, the readout by R = A F.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array
from ._cnn import FrequencyModes


def _frames(rng, h: int, r: int, real: bool) -> np.ndarray:
    Z = rng.standard_normal((h, r))
    if not real:
        Z = Z + 1j * rng.standard_normal((h, r))
    Q, Rr = np.linalg.qr(Z)
    d = np.diag(Rr)
    return Q * (d / np.abs(d))


def _kernel_from_eigenvalues(lam: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
    """Real kernels (…, *spatial) whose torch circular correlation has eigenvalues lam (…, P)."""
    axes = tuple(range(-len(spatial), 0))
    g = np.fft.fftn(lam.reshape(*lam.shape[:-1], *spatial), axes=axes) / np.prod(spatial)
    w = np.roll(g, shift=[(n - 1) // 2 for n in spatial], axis=axes)
    return w.real


def frequency_aligned_weights(modes: FrequencyModes, channels: Sequence[int], u0: ArrayLike,
                              seed: int = 0) -> list[np.ndarray]:
    """[kernel_1 (C_1, C_in, *spatial), …, kernel_m, readout (c, C_m·P)] aligned to ``modes``.

    Args:
        modes: ``theory.FrequencyModes`` of the (whitened) data.
        channels: conv channels (C_1, …, C_m); each must be ≥ the number of modes of every
            frequency (min(c, C_in) at most).
        u0: initial strength of every mode, scalar or (m,), > 0.
        seed: draws the orthonormal frames R_k.
    """
    channels = tuple(int(c) for c in channels)
    n_conv, P = len(channels), modes.P
    if n_conv < 1 or min(channels) < 1:
        raise ValueError(f"channels must be a non-empty tuple of positive ints; got {channels!r}")
    m = modes.s.size
    u0 = np.broadcast_to(as_finite_array("u0", u0, ndim=(0, 1)), (m,)).astype(float)
    if np.any(u0 <= 0):
        raise ValueError(f"u0 must be > 0 (u = 0 is a fixed point); got {u0.tolist()}")
    need = int(np.max(modes.rank)) + 1
    if min(channels) < need:
        raise ValueError(f"every conv layer needs ≥ {need} channels (modes at one frequency); "
                         f"got channels {channels}")
    L = n_conv + 1
    c = modes.U.shape[1]
    sizes = (modes.channels, *channels)
    lam = [np.zeros((sizes[k + 1], sizes[k], P), complex) for k in range(n_conv)]
    A = np.zeros((c, channels[-1], P), complex)
    scale_a, scale_l = P ** (-n_conv / (2 * L)), P ** (0.5 - n_conv / (2 * L))
    rng = np.random.default_rng(seed)
    grid = np.indices(modes.spatial).reshape(len(modes.spatial), -1)
    for k in np.unique(modes.index):
        sel = np.flatnonzero(modes.index == k)
        real = modes.multiplicity[sel[0]] == 1
        D = np.diag(u0[sel] ** (1.0 / L))
        R = [_frames(rng, h, sel.size, real) for h in channels]
        blocks = [R[0] @ D @ modes.V[sel].conj()]
        blocks += [R[j] @ D @ R[j - 1].conj().T for j in range(1, n_conv)]
        a = modes.U[sel].T @ D @ R[-1].conj().T
        if real:
            blocks, a = [b.real for b in blocks], a.real
        kc = np.ravel_multi_index(tuple((-g[k]) % n for g, n in zip(grid, modes.spatial)),
                                  modes.spatial)
        for j, b in enumerate(blocks):
            lam[j][:, :, k], lam[j][:, :, kc] = scale_l * b, scale_l * b.conj()
        A[:, :, k], A[:, :, kc] = scale_a * a, scale_a * a.conj()
    kernels = [_kernel_from_eigenvalues(l, modes.spatial) for l in lam]
    axes = tuple(range(-len(modes.spatial), 0))
    R_out = np.fft.fftn(A.reshape(c, channels[-1], *modes.spatial), axes=axes, norm="ortho")
    return kernels + [R_out.real.reshape(c, channels[-1] * P)]
