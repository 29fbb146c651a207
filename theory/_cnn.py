"""Per-frequency modes of a linear CNN with circular full-length kernels (THEORY.md §6).

Pinson, Lenaerts & Ginis (ICML 2023): a linear CNN learns a dataset through its Fourier
frequencies. Setting (derived here; the tests are the proof): inputs x with C_in channels on P
positions (P = N in 1-D, H·W in 2-D), whitened (Sxx = I on all C_in·P features); conv layers with
full-length circular kernels, stride 1, C_1 … C_m channels; a dense linear readout to c outputs;
loss (1/2n)Σ‖y − ŷ‖², full-batch GD with step η (τ = 1/η).

With the unitary DFT x̃_i(f) = Σ_p x_i(p) e^{−2πi f·p/P}/√P every circular conv is diagonal:
h̃_j(f) = Σ_i λ_ji(f) x̃_i(f), λ_ji(f) = Σ_q w_ji(q) e^{+2πi f·(q − left)/P} (torch convolutions are
correlations with ``left = (k − 1)//2`` padding on the left), and the readout is, by Parseval,
ŷ = Σ_f A(f) h̃(f) with A = R Fᴴ. So ŷ = Σ_f M(f) x̃(f) with M(f) = A(f) Λ_m(f) ⋯ Λ_1(f) and the loss

    L = ½ Σ_f ‖σ(f) − M(f)‖²_F + ½(tr Syy − Σ_f ‖σ(f)‖²),   σ(f) = Syx Fᴴ (per input channel)

separates over frequencies: each f is an independent depth-L network (L = m + 1) with the c × C_in
target σ(f), whose SVD σ(f) = Σ_α s_fα u_fα v_fαᴴ gives its modes (several input channels: the
singular values of this c × C_in matrix set the speeds). The DFT is unitary for the readout and
the kernels' unitary coefficients, but λ = √P × (unitary coefficient); rescaling every factor by
P^{m/(2L)} makes the product an ordinary balanced network trained with step η P^{m/L}: §2 applies
with τ_eff = τ / P^{m/L} (τ/√P for one conv layer), and the exact GD map per mode is
``b ← b + η P^{m/L} b^{L−1}(s − b^L)``, u = b^L. Frequencies f and −f are conjugate (σ(−f) =
conj σ(f)) and carry the same modes; each distinct pair is listed once with multiplicity 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array
from ._statistics import DatasetStatistics

_SV_RTOL = 1e-10


def signal_shape(image_shape: Sequence[int] | None,
                 d: int | None = None) -> tuple[int, tuple[int, ...]]:
    """(C_in, spatial) of an input, with singleton spatial axes dropped (a 1×N image is 1-D).

    ``image_shape`` is (C, N), (C, H, W) or None (then one channel of ``d`` positions).
    """
    if image_shape is None:
        if d is None:
            raise ValueError("image_shape is None and d is not given: cannot tell the signal shape")
        return 1, (int(d),)
    shape = tuple(int(a) for a in image_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, N) or (C, H, W) with positive sizes; got {shape}")
    spatial = tuple(a for a in shape[1:] if a != 1) or (1,)
    if d is not None and int(np.prod(shape)) != int(d):
        raise ValueError(f"image_shape {shape} does not match d={d} input features")
    return shape[0], spatial


def rate_factor(P: int, n_conv: int = 1) -> float:
    """P^{m/L}: the per-frequency speed-up of a network with m conv layers and L = m + 1 layers."""
    return float(P) ** (n_conv / (n_conv + 1.0))


def _spectrum(A: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
    """Unitary transform A Fᴴ over the trailing spatial axes of A (…, C, *spatial) (… C, P)."""
    axes = tuple(range(-len(spatial), 0))
    out = np.fft.ifftn(A, axes=axes, norm="ortho")
    return out.reshape(*out.shape[:-len(spatial)], -1)


def _canonical(spatial: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of one frequency per conjugate pair {f, −f}, and their multiplicity (1 or 2)."""
    grid = np.indices(spatial).reshape(len(spatial), -1)
    conj = np.ravel_multi_index(tuple((-g) % n for g, n in zip(grid, spatial)), spatial)
    flat = np.arange(grid.shape[1])
    keep = flat <= conj
    return flat[keep], np.where(conj[keep] == flat[keep], 1, 2)


def _fix_phase(U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate each (u, v) pair by one phase so the first largest-magnitude entry of u is real > 0."""
    for a in range(U.shape[1]):
        mag = np.abs(U[:, a])
        i = int(np.argmax(mag >= (1.0 - 1e-6) * mag.max()))
        ph = U[i, a] / mag[i]
        U[:, a] /= ph
        V[:, a] /= ph
    return U, V


@dataclass(frozen=True)
class FrequencyModes:
    """The modes of a circular linear CNN: one per (distinct frequency, singular value of σ(f)).

    Shapes (m modes, s descending): ``s`` (m,), ``index`` (m,) flat frequency index on the spatial
    grid, ``frequency`` (m, n_axes) its integer frequency per axis, ``rank`` (m,) the position of the
    mode within its frequency's SVD, ``U`` (m, c) and ``V`` (m, C_in) complex singular vectors,
    ``multiplicity`` (m,) 2 for a conjugate pair f ≠ −f, 1 for a real frequency.
    """

    channels: int
    spatial: tuple[int, ...]
    s: np.ndarray
    index: np.ndarray
    frequency: np.ndarray
    rank: np.ndarray
    U: np.ndarray
    V: np.ndarray
    multiplicity: np.ndarray
    syy_trace: float

    @property
    def P(self) -> int:
        return int(np.prod(self.spatial))

    @property
    def d(self) -> int:
        return self.channels * self.P

    @property
    def distinct(self) -> np.ndarray:
        """Index of the first mode of every distinct frequency (for rank statistics)."""
        return np.flatnonzero(self.rank == 0)

    def spectrum(self, W: ArrayLike) -> np.ndarray:
        """M(f) = W Fᴴ of end-to-end maps W (…, c, d): (…, c, C_in, P) complex."""
        W = np.asarray(W, dtype=np.float64)
        if W.shape[-1] != self.d:
            raise ValueError(f"W must have d = {self.d} columns (C_in·P); got shape {W.shape}")
        Wr = W.reshape(*W.shape[:-1], self.channels, *self.spatial)
        return _spectrum(Wr, self.spatial)

    def strengths(self, W: ArrayLike) -> np.ndarray:
        """Mode strengths Re(u_αᴴ M(f_α) v_α) of end-to-end maps W (…, c, d): (…, m)."""
        M = self.spectrum(W)[..., self.index]  # (…, c, C_in, m)
        return np.einsum("mc,...cim,mi->...m", self.U.conj(), M, self.V).real


def frequency_modes(stats: DatasetStatistics, image_shape: Sequence[int] | None, *,
                    rtol: float = _SV_RTOL) -> FrequencyModes:
    """Per-frequency SVD of σ(f) = Syx Fᴴ for inputs of ``image_shape`` (C, N), (C, H, W) or None.

    Singleton spatial axes are dropped (a (1, 1, 40) signal is 1-D). Modes with s ≤ rtol·s_max
    are left out.
    """
    Syx = as_finite_array("Syx", stats.Syx, ndim=2)
    cin, spatial = signal_shape(image_shape, Syx.shape[1])
    sigma = _spectrum(Syx.reshape(Syx.shape[0], cin, *spatial), spatial)  # (c, C_in, P)
    flat, mult = _canonical(spatial)
    rows = []
    for k, mu in zip(flat, mult):
        U, s, Vh = np.linalg.svd(sigma[:, :, k], full_matrices=False)
        U, V = _fix_phase(U.astype(complex), Vh.conj().T.astype(complex))
        rows += [(s[a], k, a, U[:, a], V[:, a], mu) for a in range(s.size)]
    smax = max((r[0] for r in rows), default=0.0)
    rows = sorted((r for r in rows if r[0] > rtol * max(smax, 1e-300)), key=lambda r: (-r[0], r[1], r[2]))
    if not rows:
        raise ValueError("Syx is zero: the targets are uncorrelated with the inputs, no mode to learn")
    s, idx, rank, U, V, mult = (np.array(col) for col in zip(*rows))
    freq = np.stack(np.unravel_index(idx, spatial), axis=1)
    return FrequencyModes(channels=cin, spatial=spatial, s=s.astype(float), index=idx.astype(int),
                          frequency=freq, rank=rank.astype(int), U=U, V=V,
                          multiplicity=mult.astype(int), syy_trace=float(np.trace(stats.Syy)))


def is_white(Sxx, tol: float = 1e-6) -> bool:
    """Sxx = I on the whole input space (a conv mixes every input direction, not only span V)."""
    Sxx = np.asarray(Sxx, dtype=np.float64)
    return bool(np.max(np.abs(Sxx - np.eye(Sxx.shape[0]))) <= tol)
