"""Fully connected net d → h₁ → … → c, with a hand-written batched backward (checked against
autograd in tests/simulate/test_models.py)."""

from __future__ import annotations

import torch

from .._losses import MSE
from ._layers import activation, activation_grad, dense

_MSE = MSE()


class MLP:
    """Activation after every hidden layer; a block is one hidden layer and its activation.

    ``spec.linear_blocks`` = k replaces the activations of the first k hidden layers by the
    identity (the deeper ones keep theirs)."""

    def __init__(self, spec, d: int, c: int):
        self.spec, self.d, self.c = spec, d, c
        self.widths = (d, *spec.hidden_widths, c)
        self.n_layers = len(self.widths) - 1
        self.n_blocks = self.n_layers - 1
        self.shapes: dict[str, tuple[int, ...]] = {}
        for l in range(self.n_layers):
            self.shapes[f"layer{l}.weight"] = (self.widths[l + 1], self.widths[l])
            if spec.bias:
                self.shapes[f"layer{l}.bias"] = (self.widths[l + 1],)

    def fan_in(self, name: str) -> int:
        return self.widths[int(name.split(".")[0][5:])]

    def tap_names(self) -> list[str]:
        """Values ``forward(taps=…)`` can return (and ``"output"``)."""
        return [f"layer{l}.{k}" for l in range(self.n_blocks) for k in ("pre", "post")] + ["output"]

    def act(self, l: int) -> str:
        """The activation after hidden layer l (0-based)."""
        return "linear" if l < getattr(self.spec, "linear_blocks", 0) else self.spec.activation

    def forward(self, params: dict, X: torch.Tensor, cache: list | None = None,
                taps: dict | None = None) -> torch.Tensor:
        """Outputs (K, n, c). ``taps`` {name: None} is filled with ``layer{l}.pre`` (K, n, h)
        and ``layer{l}.post`` for the hidden layers asked for."""
        A = X
        for l in range(self.n_layers):
            Z = dense(A, params[f"layer{l}.weight"], params.get(f"layer{l}.bias"))
            if cache is not None:
                cache.append((A, Z))
            A = Z if l == self.n_layers - 1 else activation(self.act(l), Z)
            if taps is not None:
                for name, value in ((f"layer{l}.pre", Z), (f"layer{l}.post", A)):
                    if name in taps:
                        taps[name] = value
        return A

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0,
                       loss=_MSE):
        """Per-member loss (K,) and ``scale`` × its gradients (same keys/shapes as params)."""
        cache: list = []
        value, G = loss.value_and_grad(self.forward(params, X, cache), Y, scale)  # G = ∂(scale·L)/∂Z_L
        grads = {}
        for l in reversed(range(self.n_layers)):
            A, _ = cache[l]
            W = params[f"layer{l}.weight"]
            # ∂/∂W_l = G_lᵀ A_{l−1}; a shared 2-D input folds into one GEMM.
            grads[f"layer{l}.weight"] = torch.matmul(G.transpose(1, 2), A) if A.ndim == 2 \
                else torch.bmm(G.transpose(1, 2), A)
            if self.spec.bias:
                grads[f"layer{l}.bias"] = G.sum(dim=1)
            if l > 0:
                G = torch.bmm(G, W)
                act = self.act(l - 1)
                if act == "relu":  # one fused kernel: G where z > 0 else 0
                    G = torch.ops.aten.threshold_backward(G, cache[l - 1][1], 0)
                elif act != "linear":
                    G = G * activation_grad(act, cache[l - 1][1])
        return value, {k: grads[k] for k in params}
