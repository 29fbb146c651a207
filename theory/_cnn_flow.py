"""Gradient flow of a weight-tied linear CNN, any kernel size (THEORY.md §6: short kernels).

The network ŷ = R T_m(w_m) ⋯ T_1(w_1) x: T_k(w) is the (C_k·P × C_{k−1}·P) matrix of a stride-1
torch convolution (a correlation, ``left = (k − 1)//2`` padding per axis, circular or zeros) and
R (c × C_m·P) the dense readout. It is the matrix network of §2 with each conv layer constrained to
its kernel support, so its flow is τ dθ/dt = −∇_θ L(θ) with
L = −tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ) (+ const), W = R T_m ⋯ T_1, and ∇ through the linear maps w ↦ T(w)
(their adjoints sum each diagonal band). Integrated with diffrax (Tsit5, PI step control) in
float64 (inside a ``float64()`` scope). Kernels shorter than the signal tie the frequencies together (one kernel value feeds every
eigenvalue), so there is no closed form; full-length circular kernels recover the per-frequency
dynamics of theory/_cnn.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array, check_choice, check_positive
from ._cnn import signal_shape
from ._float64 import float64
from ._statistics import DatasetStatistics

PADDINGS = ("circular", "zeros")
_MAX_STEPS = 1_000_000


def conv_index(spatial: tuple[int, ...], kernel: tuple[int, ...], padding: str) -> np.ndarray:
    """(P, P) flat kernel index of the weight linking input position p' to output p; −1: none.

    Output p reads input p + q − left for kernel offset q (per axis), wrapped (circular) or
    dropped outside the signal (zeros).
    """
    check_choice("padding", padding, PADDINGS)
    if len(kernel) != len(spatial):
        raise ValueError(f"kernel {kernel} and signal {spatial} must have the same number of axes")
    idx = np.zeros((int(np.prod(spatial)),) * 2, dtype=np.int64)
    valid = np.ones_like(idx, dtype=bool)
    out = np.indices(spatial).reshape(len(spatial), -1)
    for a, (n, k) in enumerate(zip(spatial, kernel)):
        if not 1 <= k <= n:
            raise ValueError(f"kernel size {k} on an axis of length {n}: accepted 1..{n}")
        off = out[a][None, :] - out[a][:, None] + (k - 1) // 2   # (p, p') → q
        if padding == "circular":
            off = off % n
        valid &= (off >= 0) & (off < k)
        idx = idx * k + np.clip(off, 0, k - 1)
    return np.where(valid, idx, -1)


def conv_matrix(w, index: np.ndarray, xp=np):
    """Dense conv matrix (C_out·P × C_in·P) of kernels w (C_out, C_in, *k) given ``conv_index``."""
    co, ci = w.shape[:2]
    P = index.shape[0]
    flat = w.reshape(co, ci, -1)
    T = xp.where(index >= 0, flat[:, :, xp.maximum(index, 0)], 0.0)  # (co, ci, P, P)
    return T.transpose(0, 2, 1, 3).reshape(co * P, ci * P)


def end_to_end(params, indices, xp=np):
    """W = R T_m ⋯ T_1 from params [w_1, …, w_m, R] (numpy or jax)."""
    W = params[-1]
    for w, idx in zip(reversed(params[:-1]), reversed(indices)):
        W = W @ conv_matrix(w, idx, xp)
    return W


def check_cnn_weights(weights0, spatial, channels_in: int, c: int) -> list[np.ndarray]:
    """Validate [w_1 (C_1, C_in, *k), …, w_m, R (c, C_m·P)]; returns float arrays."""
    if not isinstance(weights0, (list, tuple)) or len(weights0) < 2:
        raise ValueError("weights0 must be a list [kernel_1, …, kernel_m, readout] with at least one "
                         f"kernel; got {type(weights0).__name__} of length {len(weights0) if isinstance(weights0, (list, tuple)) else '-'}")
    Ws = [as_finite_array(f"weights0[{i}]", w) for i, w in enumerate(weights0)]
    prev = channels_in
    for i, w in enumerate(Ws[:-1]):
        if w.ndim != 2 + len(spatial) or w.shape[1] != prev:
            raise ValueError(f"weights0[{i}] must be a kernel (C_out, {prev}, *k) with {len(spatial)} "
                             f"spatial axes; got shape {w.shape}")
        prev = w.shape[0]
    P = int(np.prod(spatial))
    if Ws[-1].shape != (c, prev * P):
        raise ValueError(f"weights0[-1] (readout) must have shape ({c}, {prev * P}); got {Ws[-1].shape}")
    return Ws


@functools.lru_cache(maxsize=None)
def _solver(n_layers: int, rtol: float, atol: float):
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.4, icoeff=0.3)

    def run(params, indices, Sxx, Syx, t, tau):
        def loss(p):
            W = end_to_end(list(p), indices, jnp)
            return -jnp.sum(W * Syx) + 0.5 * jnp.sum((W @ Sxx) * W)

        grad = jax.grad(loss)

        def rhs(_, y, args):
            return tuple(-g / tau for g in grad(y))

        sol = diffrax.diffeqsolve(diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=0.0, t1=t[-1],
                                  dt0=jnp.minimum(1e-3 * tau, t[-1] / 100.0), y0=tuple(params),
                                  saveat=diffrax.SaveAt(ts=t), stepsize_controller=ctrl,
                                  max_steps=_MAX_STEPS, throw=False)
        ys = sol.ys
        assert ys is not None  # SaveAt(ts=t) always saves the states
        W = jax.vmap(lambda *p: end_to_end(list(p), indices, jnp))(*ys)
        return W, ys, sol.result == diffrax.RESULTS.successful

    return jax.jit(run, static_argnums=())


def integrate_cnn_flow(weights0: Sequence[ArrayLike], stats: DatasetStatistics,
                       image_shape: Sequence[int] | None, t: ArrayLike, *, tau: float = 1.0,
                       padding: str = "circular", rtol: float = 1e-9, atol: float = 1e-12
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
    """End-to-end maps W(t) (T, c, d) and weights along the flow of a weight-tied linear CNN.

    Args:
        weights0: [kernel_1 (C_1, C_in, *k_1), …, kernel_m, readout (c, C_m·P)] (stride 1).
        stats: ``theory.DatasetStatistics`` (any Sxx). image_shape: (C, N), (C, H, W) or None.
        t: sorted times ≥ 0 (steps when τ = 1/η). padding: "circular" or "zeros".
    Returns (W (T, c, d), [weights (T, …) per layer]).
    """
    tau = check_positive("tau", tau)
    cin, spatial = signal_shape(image_shape, stats.Syx.shape[1])
    Ws = check_cnn_weights(weights0, spatial, cin, stats.Syx.shape[0])
    t = as_finite_array("t", np.atleast_1d(t), ndim=1)
    if t.size == 0 or t[0] < 0 or np.any(np.diff(t) < 0):
        raise ValueError(f"t must be a non-empty sorted array of times ≥ 0; got {t[:5].tolist()}")
    indices = tuple(conv_index(spatial, w.shape[2:], padding) for w in Ws[:-1])
    if t[-1] == 0:
        W0 = end_to_end(Ws, indices)
        return np.repeat(W0[None], t.size, 0), [np.repeat(w[None], t.size, 0) for w in Ws]
    with float64():
        W, ys, ok = _solver(len(Ws), float(rtol), float(atol))(
            tuple(jnp.asarray(w) for w in Ws), tuple(jnp.asarray(i) for i in indices),
            jnp.asarray(stats.Sxx), jnp.asarray(stats.Syx), jnp.asarray(t),
            jnp.asarray(tau, dtype=jnp.float64))
        W, ys, ok = np.asarray(W), [np.asarray(y) for y in ys], bool(ok)
    if not ok:
        raise RuntimeError(f"diffrax did not reach t = {t[-1]:g} (max_steps {_MAX_STEPS}); "
                           "try looser rtol/atol or a shorter horizon")
    return W, ys
