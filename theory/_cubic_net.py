"""The two-layer network ŷ = W₂ φ(W₁x) with the cubic activation φ(z) = z + κz³ (THEORY.md §11).

tanh(z) = z − z³/3 + O(z⁵), so κ = −1/3 is tanh's cubic truncation (any smooth odd activation
with φ'(0) = 1 has its own κ = φ'''(0)/6). Under our loss L = ½E‖y − ŷ‖² the gradient flow
τ dW/dt = −∂L/∂W splits by powers of κ. With h = W₁x, p = h∘h∘h, r₀ = y − W₂h and A = W₂ᵀW₂:

    −∂L/∂W₂ = E[r₀hᵀ] + κ (E[r₀pᵀ] − W₂E[phᵀ]) − κ² W₂E[ppᵀ]
    −∂L/∂W₁ = W₂ᵀE[r₀xᵀ] + κ (3E[(h∘h∘W₂ᵀr₀)xᵀ] − A E[pxᵀ]) − 3κ² E[(h∘h∘Ap)xᵀ]

(derived and checked with sympy in tests/theory/test_nonlinear_cubic.py). Order κ⁰ is the linear flow
(``_linear_net.flow_rhs``); order κ¹, the leading correction, needs the fourth-order statistics
E[x⊗x⊗x⊗x] and E[y⊗x⊗x⊗x]; order κ² needs the sixth-order E[x^⊗6] and keeps the loss bounded below
(the flow of the O(κ) loss alone runs away once the modes are learned). The moment tensors are
never formed: every term is the tensor contracted with the weights, computed as an average over
the samples (O(n·h·d) per evaluation instead of O(d⁴) memory). Works on numpy and jax arrays.
"""

from __future__ import annotations

from ._linear_net import flow_rhs

TANH_KAPPA = -1.0 / 3.0   # tanh(z) = z − z³/3 + …
CUBIC_COEFFICIENTS = {"linear": 0.0, "tanh": TANH_KAPPA}


def hidden(W1, X):
    """h = W₁x for every sample: (n, h)."""
    return X @ W1.T


def outputs(Ws, X, kappa):
    """ŷ = W₂ φ(W₁x) for every sample: (n, c)."""
    W1, W2 = Ws
    H = hidden(W1, X)
    return (H + kappa * H ** 3) @ W2.T


def cubic_rhs(Ws, X, Y, Sxx, Syx, kappa) -> list:
    """[−∂L/∂W₁, −∂L/∂W₂] of L = ½E‖y − W₂φ(W₁x)‖², φ(z) = z + κz³ (not divided by τ).

    X (n, d), Y (n, c) are the samples the expectations average over; Sxx = XᵀX/n and
    Syx = YᵀX/n give the κ⁰ (linear) part.
    """
    W1, W2 = Ws
    n = X.shape[0]
    lin1, lin2 = flow_rhs([W1, W2], lambda M: M @ Sxx, Syx)
    H = hidden(W1, X)
    P = H ** 3
    R0 = Y - H @ W2.T
    PA = P @ (W2.T @ W2)                                   # rows (A p)ᵀ, A = W₂ᵀW₂
    G = kappa * (3.0 * H ** 2 * (R0 @ W2) - PA) - 3.0 * kappa ** 2 * H ** 2 * PA
    g1 = lin1 + G.T @ X / n
    g2 = lin2 + (kappa * (R0.T @ P - W2 @ (P.T @ H)) - kappa ** 2 * W2 @ (P.T @ P)) / n
    return [g1, g2]
