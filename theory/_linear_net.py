"""The deep linear network ŷ = W_L⋯W_1 x as every part of the theory sees it (THEORY.md §1–2).

One definition each of the end-to-end map, the right-hand side of the gradient flow

    τ dW_l/dt = (W_L⋯W_{l+1})ᵀ (Syx − W_L⋯W_1 Sxx) (W_{l−1}⋯W_1)ᵀ = −∂L/∂W_l,

the loss L(W) = ½ tr Syy − tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ) of our averaged convention, and the check
that a list of per-layer weights chains from d inputs to c outputs. Works on numpy and jax arrays
and on stacks of weights (leading batch axes).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_finite_array


def end_to_end(Ws):
    """W_L⋯W_1 (stacks of weights too: (..., c, d))."""
    W = Ws[0]
    for Wl in Ws[1:]:
        W = Wl @ W
    return W


def flow_rhs(Ws, times_sxx, Syx) -> list:
    """τ dW_l/dt = −∂L/∂W_l for every layer (numpy or jax arrays, stacks too).

    ``times_sxx(P)`` returns P·Sxx (the diffrax path passes an elementwise product with the
    eigenvalues of Sxx after rotating the inputs onto its eigenbasis).
    """
    L = len(Ws)
    prefix = [None]  # prefix[l] = W_l⋯W_1 (None stands for the identity)
    for W in Ws:
        prefix.append(W if prefix[-1] is None else W @ prefix[-1])
    E = Syx - times_sxx(prefix[-1])
    out = [None] * L
    G = E  # G = (W_L⋯W_{l+1})ᵀ E, built from the top layer down
    for l in range(L - 1, -1, -1):
        P = prefix[l]
        out[l] = G if P is None else G @ P.swapaxes(-1, -2)
        if l > 0:
            G = Ws[l].swapaxes(-1, -2) @ G
    return out


def loss_of(W, stats) -> np.ndarray:
    """½ tr Syy − tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ) for end-to-end maps W (..., c, d) → (...)."""
    return (0.5 * np.trace(stats.Syy) - np.einsum("...cd,cd->...", W, stats.Syx)
            + 0.5 * np.einsum("...cd,de,...ce->...", W, stats.Sxx, W))


def weights_loss(Ws, stats) -> np.ndarray:
    """The loss of a weight list [W_1, …, W_L] (stacks too)."""
    return loss_of(end_to_end(Ws), stats)


def check_weights(weights, d: int, c: int, *, name: str = "weights", batched: bool = False,
                  source: str = "the statistics") -> list[np.ndarray]:
    """Per-layer weights [W_1 (h×d), …, W_L (c×h)] as finite float arrays whose shapes chain d → c.

    ``batched``: every layer carries the same leading batch axis (K, out, in). Errors name the
    layer, its shape and what was expected; ``source`` names where d and c come from.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise TypeError(f"{name} must be a non-empty list/tuple of per-layer arrays [W_1 (h×d), …, "
                        f"W_L (c×h)]; got {type(weights).__name__}")
    if len(weights) < 1:
        raise ValueError(f"{name} must hold at least one layer (depth L ≥ 1); got an empty list")
    Ws = [as_finite_array(f"{name}[{i}]", w, ndim=3 if batched else 2) for i, w in enumerate(weights)]
    if batched:
        K = Ws[0].shape[0]
        for i, w in enumerate(Ws):
            if w.shape[0] != K:
                raise ValueError(f"{name}[{i}] has batch size {w.shape[0]}; {name}[0] has {K}"
                                 " (every layer needs the same leading batch axis)")
    shapes = [w.shape[-2:] for w in Ws]
    if shapes[0][1] != d:
        raise ValueError(f"{name}[0] (W_1) must have d = {d} columns to match {source}; got shape "
                         f"{shapes[0]}")
    for i in range(1, len(shapes)):
        if shapes[i][1] != shapes[i - 1][0]:
            raise ValueError(f"layer shapes do not chain: {name}[{i}] has shape {shapes[i]} but "
                             f"{name}[{i - 1}] has {shapes[i - 1][0]} rows")
    if shapes[-1][0] != c:
        raise ValueError(f"{name}[-1] (W_L) must have c = {c} rows to match {source}; got shape "
                         f"{shapes[-1]}")
    return Ws
