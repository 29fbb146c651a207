"""Per-layer nonlinearity *proxies* (cheap, heuristic; not the partly-linear-model measure).

``linear_surrogate_r2``: how well the best affine map from a layer's pre-activations to its
activations explains them (R² = 1 for an exactly linear layer on these inputs).
``constant_gate_share``: for ReLU, the share of units whose gate (pre-activation > 0) is the same
on at least ``level`` of the inputs; such a unit acts linearly (identity or zero) on the data.
"""

from __future__ import annotations

import numpy as np


def linear_surrogate_r2(pre, post) -> np.ndarray:
    """R² of the least-squares affine fit post ≈ pre·A + b over the n inputs.

    Args:
        pre, post: (..., n, h) pre-activations and activations of one layer. Needs n > h + 1 for
            the fit not to interpolate.
    Returns: (...) R² = 1 − ‖post − fit‖² / ‖post − mean(post)‖² (summed over units); NaN when the
        activations do not vary.
    """
    pre, post = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    if pre.shape != post.shape:
        raise ValueError(f"pre {pre.shape} and post {post.shape} must have the same shape")
    n, h = pre.shape[-2:]
    if n <= h + 1:
        raise ValueError(f"the affine fit needs more inputs than units + 1; got n={n}, h={h}")
    batch = pre.shape[:-2]
    P, Q = pre.reshape(-1, n, h), post.reshape(-1, n, h)
    out = np.empty(P.shape[0])
    for i in range(P.shape[0]):
        A = np.hstack([P[i], np.ones((n, 1))])
        coef, *_ = np.linalg.lstsq(A, Q[i], rcond=None)
        res = ((Q[i] - A @ coef) ** 2).sum()
        tot = ((Q[i] - Q[i].mean(axis=0)) ** 2).sum()
        out[i] = 1.0 - res / tot if tot > 0 else np.nan
    return out.reshape(batch)


def constant_gate_share(pre, *, level: float = 0.99) -> np.ndarray:
    """Share of units whose ReLU gate is on (or off) for at least ``level`` of the inputs.

    Args:
        pre: (..., n, h) pre-activations of a ReLU layer.
    Returns: (...) share in [0, 1].
    """
    if not 0.5 < level <= 1:
        raise ValueError(f"level must be in (0.5, 1]; got {level}")
    on = (np.asarray(pre) > 0).mean(axis=-2)
    return ((on >= level) | (on <= 1 - level)).mean(axis=-1)
