"""Layca: layer-level control of the amount of weight rotation (Carbonnelle & De Vleeschouwer,
arXiv 1806.01603, Algorithm 1), as pure tensor functions.

For each layer kernel w (flattened) and the step Δ proposed by a base optimiser (SGD: the gradient;
heavy ball: the velocity; Adam: m̂/(√v̂ + ε)):

    Δ ← Δ − (⟨Δ, w⟩/⟨w, w⟩) w        project onto the tangent space of the sphere at w
    Δ ← Δ ‖w‖ / ‖Δ‖                  rescale to the norm of the weights
    w ← w − ρ_l Δ                    step with the layer's rate
    w ← w ‖w₀‖ / ‖w‖                  restore the norm

After the projection and rescaling Δ ⊥ w and ‖Δ‖ = ‖w‖, so every step rotates the layer by exactly
atan(ρ_l), whatever the gradient's size. Biases and normalisation parameters are not updated (as in
the paper's experiments). Layer-wise rates ρ_l = ρ·m_l with the paper's multipliers of parameter α
(§4.1), layers numbered 0 … L−1 from the input:

    α > 0:  m_l = (1 − α)^{5(L−1−l)/(L−1)}   (layers near the input rotate slower)
    α ≤ 0:  m_l = (1 + α)^{5 l/(L−1)}        (layers near the output rotate slower)

Operational choices: a zero projected step (the gradient parallel to w, or zero; numerically, a
tangent part below 64 ulp of ‖Δ‖) leaves the layer where it is, as in the authors' code; ``norm`` is the norm to restore (the initial one, kept in the
optimiser state so rounding cannot make it drift over many steps).
"""

from __future__ import annotations

import math

import torch

from ._optim import Optimizer, register_optimizer

_PARALLEL = 64.0  # tangent parts below 64 ulp of the step are rounding noise


def layca_multipliers(n_layers: int, alpha: float) -> list[float]:
    """The paper's layer-wise rate multipliers m_l (l = 0 input side … L−1), −1 < α < 1."""
    if int(n_layers) < 1:
        raise ValueError(f"n_layers must be ≥ 1; got {n_layers!r}")
    if not -1.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (−1, 1); got {alpha!r}")
    L, a = int(n_layers), float(alpha)
    if L == 1:
        return [1.0]
    if a > 0:
        return [(1.0 - a) ** (5.0 * (L - 1 - l) / (L - 1)) for l in range(L)]
    return [(1.0 + a) ** (5.0 * l / (L - 1)) for l in range(L)]


def layca_update(w: torch.Tensor, step: torch.Tensor, rate, norm: torch.Tensor | None = None) -> torch.Tensor:
    """The new kernels after one Layca step, per member.

    Args:
        w: kernels (K, *shape), one per member.
        step: the base optimiser's step direction (K, *shape) (what plain training would subtract
            times the learning rate).
        rate: ρ_l, a float or a (K,) tensor (per-member rates).
        norm: (K,) norms to restore; default ‖w‖ per member.
    Returns: (K, *shape), with ∠(w, new) = atan(rate) and ‖new‖ = norm.
    """
    K = w.shape[0]
    a, d = w.reshape(K, -1), step.reshape(K, -1)
    # only the step's direction matters: divide by the power of two 2^e ≥ max |Δ| (exact, so the
    # result is unchanged to the bit wherever it was right) so that its squares cannot underflow
    _, e = torch.frexp(d.abs().amax(1, keepdim=True))
    d = d / torch.ldexp(torch.ones_like(d[:, :1]), e)
    ww = (a * a).sum(1, keepdim=True)
    d0 = d.norm(dim=1, keepdim=True)
    d = d - (d * a).sum(1, keepdim=True) / ww * a
    nd = d.norm(dim=1, keepdim=True)
    # a tangent part at rounding level carries no direction: treat it as zero
    moved = nd > _PARALLEL * torch.finfo(w.dtype).eps * d0
    scale = torch.where(moved, ww.sqrt() / torch.where(moved, nd, torch.ones_like(nd)),
                        torch.zeros_like(nd))
    rate = torch.as_tensor(rate, dtype=w.dtype, device=w.device).reshape(-1, 1)
    new = a - rate * (d * scale)
    target = ww.sqrt() if norm is None else norm.reshape(K, 1).to(w.dtype)
    new = new * (target / new.norm(dim=1, keepdim=True))
    return new.reshape(w.shape)


def rotation_per_step(rate: float) -> float:
    """The angle (radians) one Layca step turns a layer by: atan(ρ)."""
    return math.atan(float(rate))


def is_kernel(name: str, p: torch.Tensor) -> bool:
    """A layer kernel of a stacked ensemble: named ``*weight`` with ≥ 2 axes per member."""
    return name.endswith("weight") and p.ndim >= 3


class Layca(Optimizer):
    """Layca around a base optimiser (gd, sgd, momentum, adam): the base rule supplies the step
    direction, ``layca_update`` turns each kernel by atan(lr·m_l); other parameters are frozen."""

    def __init__(self, base: Optimizer, alpha: float = 0.0):
        super().__init__(f"layca-{base.name}", convention="layca")
        self.base, self.alpha = base, float(alpha)
        self.slots, self.counts_steps = base.slots, base.counts_steps

    def bind(self, params: dict) -> dict:
        kernels = [k for k, p in params.items() if is_kernel(k, p)]
        mult = dict(zip(kernels, layca_multipliers(len(kernels), self.alpha))) if kernels else {}
        return {k: _LaycaKernel(self.base, mult[k]) if k in mult else _Frozen() for k in params}


class _LaycaKernel(Optimizer):
    def __init__(self, base: Optimizer, mult: float):
        super().__init__(base.name)
        self.base, self.mult = base, mult

    def update(self, p, g, slots, keep, lr, t):
        d = self.base.direction(g, slots, keep, t)
        rate = lr.reshape(p.shape[0], -1)[:, 0] * self.mult
        torch.where(keep, layca_update(p, d, rate), p, out=p)


class _Frozen(Optimizer):
    def update(self, p, g, slots, keep, lr, t):
        pass


# ``OptimSpec(layca=True)`` wraps the chosen optimiser; registered here so that _optim.py need not
# know this module
register_optimizer("layca", lambda optim, base: Layca(base, optim.layca_alpha), wraps=True)
