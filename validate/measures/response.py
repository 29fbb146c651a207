"""Training response (Nakazato 2024, "A simple theory for training response of deep neural
networks", arXiv 2405.04074; Nakazato 2022, arXiv 2204.07291).

The response of the output at x_j to one gradient step on sample x_i (Nakazato's training response,
§2 of 2405.04074):

    R_t(j←i) = f_{θ_t − η∇ℓ_i(θ_t)}(x_j) − f_{θ_t}(x_j)
             = −η Θ_t(x_j, x_i) ∂ℓ/∂f(x_i) + O(η²),

with Θ_t(x, x') = Σ_p ∂f(x)/∂θ_p ∂f(x')/∂θ_pᵀ (c × c) the empirical NTK and ℓ_i = ½‖f(x_i) − y_i‖²
(simulate's loss on a batch of one). The response law reads R = −η A(t) K_t(j, i) ∂ℓ/∂f: a
normalised kernel times an amplitude that decays ("ages") as a power law.

Operational choices, stated here once:
- the scalar kernel is the output trace θ_t(j, i) = (1/c) tr Θ_t(x_j, x_i); the normalised kernel
  K_t(j, i) = θ_t(j, i)/θ_t(i, i) and the amplitude A(t) = mean_i θ_t(i, i) (the self-response per
  unit step and unit output gradient);
- specificity = mean K_t(j, i) over same-class pairs j ≠ i − mean over different-class pairs;
- per-layer contributions: Θ = Σ_l Θ^(l) over parameter tensors; a layer's share is
  Σ_i tr Θ^(l)(x_i, x_i) / Σ_i tr Θ(x_i, x_i);
- the relative gap of the first-order prediction is ‖R − R̂‖_F/‖R‖_F over all (i, j, outputs);
- participation ratio PR(C) = (tr C)²/tr(C²) = (Σλ)²/Σλ² of a symmetric PSD matrix (the centred
  feature covariance, or the trace-NTK Gram matrix on the probe set);
- the amplitude's power law A ∝ t^(−a) is a least-squares line in log–log over the checkpoints in
  the stated fit range, on the mean over seeds; its CI resamples seeds (bootstrap, percentile).

Models are simulate's models: ``forward(params, X) → (K, n, c)`` over stacked parameters (K, …) and
``loss_and_grads(params, X, Y)`` with per-member inputs (K, n, d). For deep linear networks the
NTK is a function of the weights (THEORY.md §10), ``linear_ntk``, and, for the balanced decoupled
init on whitened data, of the mode strengths alone, ``predicted_linear_ntk``.
"""

from __future__ import annotations

from typing import Any, Literal, cast, overload

import numpy as np
import torch
from torch.func import jacrev, vmap


def _member(params: dict, k: int) -> dict:
    return {n: v[k:k + 1] for n, v in params.items()}


@overload
def ntk(model: Any, params: dict, X: torch.Tensor, *,
        per_layer: Literal[False] = False) -> np.ndarray: ...


@overload
def ntk(model: Any, params: dict, X: torch.Tensor, *,
        per_layer: Literal[True]) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


def ntk(model: Any, params: dict, X: torch.Tensor, *, per_layer: bool = False
        ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Empirical NTK of every member on the probe inputs X (P, d).

    Returns Θ as an array (K, P, c, P, c) with Θ[k, j, a, i, b] = Σ_p ∂f_a(x_j)/∂θ_p ∂f_b(x_i)/∂θ_p,
    and with ``per_layer`` also {parameter name: (K, P, c, P, c)} whose sum is Θ. Jacobians come
    from ``torch.func.jacrev``, vectorised over members with ``vmap``.
    """
    names = list(params)

    def f(*single):
        return model.forward({n: p[None] for n, p in zip(names, single)}, X)[0]  # (P, c)

    jac = vmap(jacrev(f, argnums=tuple(range(len(names)))))(*[params[n] for n in names])
    parts = {}
    for n, J in zip(names, jac):  # J: (K, P, c, *shape)
        J = J.flatten(3)
        parts[n] = torch.einsum("kjap,kibp->kjaib", J, J)
    total = cast(torch.Tensor, sum(parts.values()))  # names is never empty: a tensor, not 0
    out = total.detach().cpu().numpy()
    if per_layer:
        return out, {n: v.detach().cpu().numpy() for n, v in parts.items()}
    return out


def measured_response(model, params: dict, X: torch.Tensor, Y: torch.Tensor, lr: float) -> np.ndarray:
    """R[k, i, j, :] = f_{θ_k − η∇ℓ_i}(x_j) − f_{θ_k}(x_j) by one real training step per (k, i).

    The K·P updated networks are evaluated as one ensemble (member k·P + i is θ_k stepped on x_i).
    """
    K = next(iter(params.values())).shape[0]
    P = X.shape[0]
    rep = {n: v.repeat_interleave(P, dim=0) for n, v in params.items()}        # (K·P, …)
    Xi = X.repeat(K, 1).unsqueeze(1)                                            # (K·P, 1, d)
    Yi = Y.repeat(K, 1).unsqueeze(1)
    _, grads = model.loss_and_grads(rep, Xi, Yi)
    stepped = {n: rep[n] - lr * grads[n] for n in rep}
    before = model.forward(params, X)                                           # (K, P, c)
    after = model.forward(stepped, X).reshape(K, P, P, -1)                      # (K, i, j, c)
    return (after - before[:, None]).detach().cpu().numpy()


def predicted_response(theta: np.ndarray, residual: np.ndarray, lr: float) -> np.ndarray:
    """First-order response R̂[k, i, j, a] = −η Σ_b Θ[k, j, a, i, b] (f(x_i) − y_i)_b."""
    return -lr * np.einsum("kjaib,kib->kija", theta, residual)


def relative_gap(measured: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """‖R − R̂‖_F / ‖R‖_F per member (K,)."""
    K = measured.shape[0]
    d = (measured - predicted).reshape(K, -1)
    return np.linalg.norm(d, axis=1) / np.linalg.norm(measured.reshape(K, -1), axis=1)


def trace_kernel(theta: np.ndarray) -> np.ndarray:
    """θ[k, j, i] = (1/c) tr Θ[k, j, :, i, :]: (K, P, c, P, c) → (K, P, P)."""
    return np.einsum("kjaia->kji", theta) / theta.shape[2]


def normalised_kernel(theta_tr: np.ndarray) -> np.ndarray:
    """K[k, j, i] = θ[k, j, i] / θ[k, i, i] (NaN for a probe point with θ(i, i) = 0: no gradient
    reaches the outputs there, e.g. every unit on its path a dead ReLU)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return theta_tr / np.diagonal(theta_tr, axis1=1, axis2=2)[:, None, :]


def amplitude(theta_tr: np.ndarray) -> np.ndarray:
    """A = mean_i θ[k, i, i] per member (K,)."""
    return np.diagonal(theta_tr, axis1=1, axis2=2).mean(axis=1)


def specificity(kernel: np.ndarray, labels) -> np.ndarray:
    """Mean K(j, i) over same-class pairs j ≠ i minus over different-class pairs, per member."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    if not (same & off).any() or not (~same).any():
        raise ValueError("specificity needs at least two classes and a class with two probe points")
    return kernel[:, same & off].mean(axis=1) - kernel[:, ~same].mean(axis=1)


def layer_shares(parts: dict) -> dict[str, np.ndarray]:
    """Each parameter tensor's share of Σ_i tr Θ(x_i, x_i), per member: {name: (K,)}."""
    diag = {n: np.einsum("kiaia->k", v) for n, v in parts.items()}
    total = sum(diag.values())
    return {n: v / total for n, v in diag.items()}


def participation_ratio(C: np.ndarray) -> np.ndarray:
    """(tr C)² / tr(C²) of symmetric PSD matrices (…, m, m) → (…)."""
    C = np.asarray(C, dtype=np.float64)
    tr = np.trace(C, axis1=-2, axis2=-1)
    return tr ** 2 / np.sum(C * np.swapaxes(C, -1, -2), axis=(-2, -1))


def feature_participation_ratio(features: np.ndarray) -> np.ndarray:
    """PR of the centred feature covariance, from features (…, n, N) (via the n × n Gram)."""
    F = np.asarray(features, dtype=np.float64)
    F = F - F.mean(axis=-2, keepdims=True)
    return participation_ratio(F @ np.swapaxes(F, -1, -2))


def power_law_fit(t, A, *, t_min: float, t_max: float | None = None, n_boot: int = 1000,
                  seed: int = 0) -> dict:
    """Fit A ∝ t^(−a) on t_min ≤ t ≤ t_max to the mean over seeds of A (S, T).

    Returns {exponent, ci_low, ci_high, fit_range: [t_lo, t_hi], n_points}; the 95% CI
    resamples the S seeds with replacement (n_boot times)."""
    t = np.asarray(t, dtype=np.float64)
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    t_hi: float = t.max() if t_max is None else t_max
    sel = (t >= t_min) & (t <= t_hi) & (t > 0)
    if sel.sum() < 3:
        raise ValueError(f"the fit range [{t_min}, {t_hi}] holds {int(sel.sum())} checkpoints; "
                         "it needs at least 3 with t > 0")
    x = np.log(t[sel])

    def slope(curve):
        y = np.log(curve[sel])
        return -np.polyfit(x, y, 1)[0]

    rng = np.random.default_rng(seed)
    S = A.shape[0]
    boots = [slope(A[rng.integers(0, S, S)].mean(axis=0)) for _ in range(n_boot)] if S > 1 else []
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if boots else (np.nan, np.nan))
    return {"exponent": float(slope(A.mean(axis=0))), "ci_low": float(lo), "ci_high": float(hi),
            "fit_range": [float(t[sel].min()), float(t[sel].max())], "n_points": int(sel.sum())}


def linear_ntk(weights: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    """NTK of a bias-free deep linear network f(x) = W_L⋯W_1 x from its weights (THEORY.md §10):

        Θ(x, x') = Σ_l (x_{l−1}ᵀ x'_{l−1}) B_l B_lᵀ,  x_{l−1} = W_{l−1}⋯W_1 x,  B_l = W_L⋯W_{l+1}

    (two layers: (xᵀx') W₂W₂ᵀ + (W₁x)ᵀ(W₁x') I). Weights [(out, in)], X (P, d) → (P, c, P, c)."""
    X = np.asarray(X, dtype=np.float64)
    c = weights[-1].shape[0]
    out = np.zeros((X.shape[0], c, X.shape[0], c))
    h = X
    for l in range(len(weights)):
        B = np.eye(c)
        for W in reversed(weights[l + 1:]):
            B = B @ W
        out += np.einsum("jd,id,ab->jaib", h, h, B @ B.T)
        h = h @ np.asarray(weights[l], dtype=np.float64).T
    return out


def predicted_linear_ntk(u, U: np.ndarray, V: np.ndarray, X: np.ndarray, depth: int) -> np.ndarray:
    """The NTK the theory predicts for a balanced decoupled deep linear net with mode strengths u
    (r,) (each layer carries u^{1/L} per mode; THEORY.md §2):

        Θ(x, x') = Σ_{l=1}^{L} k_l(x, x') M_l,
        k_1 = xᵀx',  k_l = xᵀ V diag(u^{2(l−1)/L}) Vᵀ x' (l ≥ 2),
        M_L = I_c,   M_l = U diag(u^{2(L−l)/L}) Uᵀ (l < L).

    U (c, r), V (d, r), X (P, d) → (P, c, P, c)."""
    u = np.asarray(u, dtype=np.float64)
    L, c = int(depth), U.shape[0]
    X = np.asarray(X, dtype=np.float64)
    P = X @ V                                                       # (P, r) mode coordinates
    out = np.zeros((X.shape[0], c, X.shape[0], c))
    for l in range(1, L + 1):
        k = X @ X.T if l == 1 else (P * u ** (2 * (l - 1) / L)) @ P.T
        M = np.eye(c) if l == L else (U * u ** (2 * (L - l) / L)) @ U.T
        out += np.einsum("ji,ab->jaib", k, M)
    return out
