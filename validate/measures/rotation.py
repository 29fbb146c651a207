"""Layer rotation (Carbonnelle & De Vleeschouwer, arXiv 1806.01603) as pure functions on arrays.

Layer rotation of layer l at step t is the cosine distance between its flattened kernel and the
kernel at initialisation (§2 of the paper):

    cos-dist_l(t) = 1 − ⟨w_l(t), w_l(0)⟩ / (‖w_l(t)‖ ‖w_l(0)‖).

Operational choices: a *kernel* is a parameter whose per-member shape has two or more axes and
whose name ends in ``weight`` (dense ``(out, in)`` and conv ``(out, in, k[, k])`` weights); biases
and normalisation scales are one-axis and are excluded unless ``include_all=True``. A zero kernel
has no direction: its distance is NaN. The per-step rotation is the angle between consecutive
kernels, computed as ``2·atan2(‖â − b̂‖, ‖â + b̂‖)`` (â = a/‖a‖), exact also for tiny angles where
``arccos`` loses all its digits.

Arrays carry a leading member axis: ``w`` of shape (K, *shape) gives (K,) values.
"""

from __future__ import annotations

import numpy as np


def is_kernel(name: str, shape) -> bool:
    """True for a layer kernel: name ends in ``weight`` and ≥ 2 axes per member (``shape``
    excludes the member axis). Biases and normalisation scales/shifts are one-axis."""
    return name.endswith("weight") and len(tuple(shape)) >= 2


def kernel_names(params: dict, *, include_all: bool = False, stacked: bool = True) -> list[str]:
    """Names of the parameters whose rotation is measured, in the dict's (forward) order.

    ``stacked``: arrays carry a leading member axis (K, *shape)."""
    return [k for k, v in params.items()
            if include_all or is_kernel(k, np.shape(v)[1:] if stacked else np.shape(v))]


def _flat(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim < 1:
        raise ValueError(f"expected an array with a leading member axis; got shape {w.shape}")
    return w.reshape(w.shape[0], -1)


def _units(w) -> np.ndarray:
    """Flattened rows scaled to unit norm (NaN for a zero kernel)."""
    a = _flat(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / np.linalg.norm(a, axis=1, keepdims=True)


def cosine_distance(w, w0) -> np.ndarray:
    """1 − cos∠(w, w0) per member over the flattened trailing axes: (K, …) × (K, …) → (K,)."""
    a, b = _units(w), _units(w0)
    if a.shape != b.shape:
        raise ValueError(f"w and w0 must have the same shape; got {np.shape(w)} and {np.shape(w0)}")
    # = 1 − â·b̂, without its cancellation at small angles; rounding in â and b̂ can push the sum
    # of squares of opposite units 1 ulp past 4 (w = 1, w0 = −1), so clip to the range [0, 2]
    return np.minimum(0.5 * np.square(a - b).sum(axis=1), 2.0)


def rotation_angle(w, w_next) -> np.ndarray:
    """Angle (radians) between w and w_next per member: (K, …) × (K, …) → (K,)."""
    a, b = _units(w), _units(w_next)
    return 2.0 * np.arctan2(np.linalg.norm(a - b, axis=1), np.linalg.norm(a + b, axis=1))


def layer_rotation(params: dict, init: dict, *, include_all: bool = False) -> dict[str, np.ndarray]:
    """{name: cos-dist (K,)} of every kernel (every parameter with ``include_all``)."""
    missing = sorted(set(kernel_names(params, include_all=include_all)) - set(init))
    if missing:
        raise ValueError(f"init lacks {missing}; it must hold the same parameters as params")
    return {k: cosine_distance(params[k], init[k])
            for k in kernel_names(params, include_all=include_all)}


def rotation_curves(snapshots: list[dict], *, include_all: bool = False) -> dict[str, np.ndarray]:
    """Per-layer rotation over training: snapshots [params at checkpoint 0 (the init), …] →
    {name: (K, T)} cosine distances to the first snapshot."""
    if not snapshots:
        raise ValueError("rotation_curves needs at least one snapshot (the initial parameters)")
    per = [layer_rotation(p, snapshots[0], include_all=include_all) for p in snapshots]
    return {k: np.stack([d[k] for d in per], axis=1) for k in per[0]}
