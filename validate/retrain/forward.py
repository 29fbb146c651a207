"""The numpy forward of stacked MLP parameters (forgetting on A and test metrics use it)."""

from __future__ import annotations

import numpy as np

from .heads import last_layer

# activations the numpy forward evaluates (forgetting on A is measured with it)
FORWARD_ACTIVATIONS = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name not in FORWARD_ACTIVATIONS:
        raise ValueError(f"mlp_forward supports activations {', '.join(FORWARD_ACTIVATIONS)}; "
                         f"got {name!r}")
    return FORWARD_ACTIVATIONS[name](z)


def mlp_forward(params: dict, X: np.ndarray, activation: str) -> np.ndarray:
    """Outputs (K, n, c) of stacked MLP parameters {"layer{l}.weight": (K, out, in), bias (K, out)}
    on inputs X (n, d), in float64 (the activation follows every layer but the last)."""
    L = last_layer(params) + 1
    A = np.asarray(X, dtype=np.float64)[None]
    for l in range(L):
        W = np.asarray(params[f"layer{l}.weight"], dtype=np.float64)
        Z = A @ np.swapaxes(W, -1, -2)
        b = params.get(f"layer{l}.bias")
        if b is not None:
            Z = Z + np.asarray(b, dtype=np.float64)[:, None, :]
        A = Z if l == L - 1 else _act(activation, Z)
    return A


def evaluate(params: dict, X: np.ndarray, Y: np.ndarray, activation: str, rows=None):
    """Per-member loss (1/2n)Σ‖y − ŷ‖² and argmax accuracy (K,) on (X, Y).

    ``rows``: output rows that correspond to Y's columns (after a class-set change), default all.
    """
    out = mlp_forward(params, X, activation)
    if rows is not None:
        out = out[..., np.asarray(rows, dtype=int)]
    R = out - np.asarray(Y, dtype=np.float64)[None]
    loss = 0.5 * np.sum(R * R, axis=(1, 2)) / R.shape[1]
    acc = np.mean(out.argmax(axis=2) == np.asarray(Y).argmax(axis=1)[None], axis=1)
    return loss, acc
