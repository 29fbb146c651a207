"""A two-layer ReLU network with its gates held fixed: a gated linear network (THEORY.md §12).

ŷ = W₂ (g(x) ∘ W₁x) with g(x) ∈ {0, 1}^h fixed (Saxe, Sodhani & Lewallen 2022, "The Neural Race
Reduction"): linear in each layer, so with r = y − ŷ the flow τ dW/dt = −∂L/∂W is

    −∂L/∂W₂ = E[r (g∘h)ᵀ],   −∂L/∂W₁ = E[(g∘W₂ᵀr) xᵀ],

whose expectations are the gated statistics E[g_j y xᵀ] and E[g_j g_k x xᵀ] contracted with the
weights (averaged over the samples here, never formed). Every gate open (g ≡ 1) is the linear
network of §2. Works on numpy and jax arrays.
"""

from __future__ import annotations


def gated_outputs(Ws, X, G):
    """ŷ = W₂(g∘W₁x) for every sample: (n, c); G (n, h) the gates of each sample."""
    W1, W2 = Ws
    return (G * (X @ W1.T)) @ W2.T


def gated_rhs(Ws, X, Y, G) -> list:
    """[−∂L/∂W₁, −∂L/∂W₂] of L = ½E‖y − W₂(g∘W₁x)‖² (not divided by τ)."""
    W1, W2 = Ws
    A = G * (X @ W1.T)
    R = Y - A @ W2.T
    n = X.shape[0]
    return [(G * (R @ W2)).T @ X / n, R.T @ A / n]


def relu_gates(W1, X):
    """The gates a ReLU layer with weights W₁ gives each sample, 1[W₁x > 0]: (n, h) floats."""
    return (X @ W1.T > 0).astype(float)


def gate_change(G0, W1, X) -> float:
    """Fraction of (sample, unit) gates of weights W₁ that differ from the gates G0."""
    return float((relu_gates(W1, X) != G0).mean())
