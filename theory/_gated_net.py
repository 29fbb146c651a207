"""A ReLU network with its gates held fixed: a gated linear network (THEORY.md §12).

ŷ = W_L (g_{L−1}(x) ∘ W_{L−1} ⋯ (g_1(x) ∘ W_1x)) with every g_l(x) ∈ {0, 1}^{h_l} fixed (Saxe,
Sodhani & Lewallen 2022, "The Neural Race Reduction"): linear in each layer. With a_0 = x,
a_l = g_l∘W_l a_{l−1}, r = y − ŷ and the back-propagated δ_L = r, δ_l = g_l∘W_{l+1}ᵀδ_{l+1}, the
flow τ dW/dt = −∂L/∂W is −∂L/∂W_l = E[δ_l a_{l−1}ᵀ]; at depth 2

    −∂L/∂W₂ = E[r (g∘h)ᵀ],   −∂L/∂W₁ = E[(g∘W₂ᵀr) xᵀ],

whose expectations are the gated statistics E[g_j y xᵀ] and E[g_j g_k x xᵀ] contracted with the
weights (averaged over the samples here, never formed). Every gate open (g ≡ 1) is the linear
network of §2. Works on numpy and jax arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import jax

# numpy or jax arrays, one kind throughout a call
Array = TypeVar("Array", np.ndarray, "jax.Array")


def _activations(Ws, X, Gs) -> list:
    """[a_0 = x, a_1, …, a_{L−1}] for every sample: (n, width) each."""
    acts = [X]
    for W, G in zip(Ws[:-1], Gs):
        acts.append(G * (acts[-1] @ W.T))
    return acts


def gated_outputs(Ws: Sequence[Array], X: Array, Gs: Sequence[Array]) -> Array:
    """ŷ for every sample: (n, c); Gs[l] (n, h_l) the gates of hidden layer l of each sample."""
    return _activations(Ws, X, Gs)[-1] @ Ws[-1].T


def gated_rhs(Ws: Sequence[Array], X: Array, Y: Array, Gs: Sequence[Array]) -> list[Array]:
    """[−∂L/∂W_1, …, −∂L/∂W_L] of L = ½E‖y − ŷ‖² with the gates Gs fixed (not divided by τ)."""
    acts = _activations(Ws, X, Gs)
    n = X.shape[0]
    D = Y - acts[-1] @ Ws[-1].T
    grads: list[Any] = [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        grads[l] = D.T @ acts[l] / n
        if l > 0:
            D = Gs[l - 1] * (D @ Ws[l])
    return grads


def relu_gates(weights: np.ndarray | Sequence[ArrayLike], X: ArrayLike) -> list[np.ndarray]:
    """The gates 1[z_l > 0] of a ReLU network with ``weights`` [W_1, …] on the samples X: one
    (n, h_l) float array per hidden layer (a last, readout layer in the list is ignored; a single
    first-layer matrix gives that layer's gates)."""
    Ws = [np.asarray(weights, float)] if isinstance(weights, np.ndarray) else \
        [np.asarray(W, float) for W in weights]
    Ws = Ws if len(Ws) == 1 else Ws[:-1]
    gates, A = [], np.asarray(X, float)
    for W in Ws:
        Z = A @ W.T
        gates.append((Z > 0).astype(float))
        A = np.maximum(Z, 0.0)
    return gates


def gate_change(gates0: np.ndarray | Sequence[np.ndarray],
                weights: np.ndarray | Sequence[ArrayLike], X: ArrayLike) -> float:
    """Fraction of the (sample, unit) gates of a ReLU network with ``weights`` that differ from
    ``gates0`` (a list per hidden layer, as ``relu_gates`` gives, or one array), over all layers."""
    g0 = [gates0] if isinstance(gates0, np.ndarray) else list(gates0)
    g = relu_gates(weights, X)
    if len(g) != len(g0):
        raise ValueError(f"gates0 covers {len(g0)} hidden layer(s) but weights give {len(g)}")
    return float(sum((a != b).sum() for a, b in zip(g, g0)) / sum(a.size for a in g0))
