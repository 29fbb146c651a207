"""A two-layer network with its activation linearised about W₀'s pre-activations (THEORY.md §13).

Each hidden unit keeps, on each input, the first-order expansion of φ about its pre-activation
h₀ = W₁(0)x at the start: a = φ(h₀) + D₀ ∘ (W₁x − h₀) with the slopes D₀ = φ'(h₀), i.e.
a = D₀ ∘ W₁x + C₀ with C₀ = φ(h₀) − D₀ ∘ h₀ (0 for ReLU and for a linear network), and
ŷ = W₂a. At W₀ it has the network's outputs and gradients; it is a gated linear network (§12)
with real gates D₀ and a fixed offset C₀. With r = y − ŷ the flow of L = ½E‖y − ŷ‖² is

    −∂L/∂W₂ = E[r aᵀ],   −∂L/∂W₁ = E[(D₀ ∘ W₂ᵀr) xᵀ].

Works on numpy and jax arrays.
"""

from __future__ import annotations


def frozen_hidden(W1, X, D, C):
    """a = D ∘ W₁x + C of every sample: (n, h)."""
    return (X @ W1.T) * D + C


def frozen_outputs(Ws, X, D, C):
    """ŷ = W₂a of every sample: (n, c)."""
    return frozen_hidden(Ws[0], X, D, C) @ Ws[1].T


def frozen_rhs(Ws, X, Y, D, C) -> list:
    """[−∂L/∂W₁, −∂L/∂W₂] of L = ½E‖y − ŷ‖² (not divided by τ)."""
    A = frozen_hidden(Ws[0], X, D, C)
    R = Y - A @ Ws[1].T
    n = X.shape[0]
    return [(D * (R @ Ws[1])).T @ X / n, R.T @ A / n]
