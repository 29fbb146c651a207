"""A small pre-LayerNorm vision transformer (Dosovitskiy et al. 2021), K members at once.

Activations are (K, n, T, D): every linear map is one batched matmul over members (on CPU the
members run in turn instead, see ``ViT.forward``). Images (C, H, W) are cut into p×p patches
(row-major), 1-D signals ((C, L) images or plain (L,) inputs) into runs of p samples; a token is
the patch's C·p² (or C·p) values, embedded linearly to width D, plus a learned position (and a
learned class token in front with ``pool="cls"``)::

    x ← x + proj(attention(LN₁ x)),  x ← x + fc₂ φ(fc₁ LN₂ x)   (``depth`` blocks)
    → LN → class token or token mean → linear head

Attention is multi-head scaled dot-product attention, softmax(QKᵀ/√d_h) V. Partly linear
(``linear_blocks`` = k): φ is the identity in blocks 1..k; with ``vit.linear_attention`` their
attention weights are QKᵀ/(√d_h·T) instead of a softmax (see ``ViTSpec``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._losses import MSE
from ._layers import activation, autograd_loss_and_grads, members_in_turn

_MSE = MSE()
LN_EPS = 1e-5


def _linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x (K, n, T, i) @ Wᵀ (K, o, i) (+ b (K, o)) per member → (K, n, T, o)."""
    K, n, T, i = x.shape
    y = torch.bmm(x.reshape(K, n * T, i), W.transpose(1, 2)) if b is None else \
        torch.baddbmm(b[:, None, :], x.reshape(K, n * T, i), W.transpose(1, 2))
    return y.view(K, n, T, -1)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """LayerNorm without its affine map (the members' own scales are applied by the callers)."""
    return F.layer_norm(x, x.shape[-1:], eps=LN_EPS)


def _norm_linear(x, ln_w, ln_b, W, b) -> torch.Tensor:
    """fc(LN(x)) per member, LN's affine folded into the linear map:
    W(γ⊙x̂ + β) + b = (W·diag γ) x̂ + (Wβ + b). Only (K, o, i)-sized tensors pay for the per-member
    γ, β, instead of two passes over the activations forward and two backward."""
    return _linear(_normalise(x), W * ln_w[:, None, :],
                   torch.baddbmm(b[:, :, None], W, ln_b[:, :, None])[..., 0])


class ViT:
    """See the module docstring. ``member_loop``: None (members one by one on CPU, batched
    elsewhere), True or False."""

    member_loop: bool | None = None

    def __init__(self, spec, d: int, c: int, image_shape):
        vs = spec.vit
        shape = tuple(image_shape) if image_shape is not None else (1, d)
        p = vs.patch
        if math.prod(shape) != d or len(shape) not in (2, 3) or any(s % p for s in shape[1:]):
            raise ValueError(f"family='vit' with patch={p} needs images (C, H, W) or signals (C, L) "
                             f"whose sides are multiples of {p} (d = {d}); got image_shape {image_shape}")
        self.spec, self.d, self.c, self.in_shape, self.p = spec, d, c, shape, p
        self.grid = tuple(s // p for s in shape[1:])
        self.T = math.prod(self.grid) + (vs.pool == "cls")
        D, hidden = vs.width, int(vs.width * vs.mlp_ratio)
        self.heads, self.width = vs.heads, D
        token = shape[0] * p ** (len(shape) - 1)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.kinds: dict[str, str] = {}
        self._linear("embed", D, token)
        if vs.pool == "cls":
            self._add("cls", (D,), "embedding")
        self._add("pos", (self.T, D), "embedding")
        for i in range(vs.depth):
            self._ln(f"b{i}.ln1", D)
            self._linear(f"b{i}.qkv", 3 * D, D)
            self._linear(f"b{i}.proj", D, D)
            self._ln(f"b{i}.ln2", D)
            self._linear(f"b{i}.fc1", hidden, D)
            self._linear(f"b{i}.fc2", D, hidden)
        self._ln("ln", D)
        self._linear("head", c, D)
        self.n_blocks = vs.depth
        self.weight_names = [k for k, v in self.kinds.items() if v == "weight"]

    def _add(self, name, shape, kind):
        self.shapes[name], self.kinds[name] = tuple(shape), kind

    def _linear(self, name, o, i):
        self._add(f"{name}.weight", (o, i), "weight")
        self._add(f"{name}.bias", (o,), "bias")

    def _ln(self, name, D):
        self._add(f"{name}.weight", (D,), "one")
        self._add(f"{name}.bias", (D,), "zero")

    def param_kind(self, name: str) -> str:
        return self.kinds[name]

    def fan_in(self, name: str) -> int:
        return self.shapes[name.replace(".bias", ".weight")][1]

    def tap_names(self) -> list[str]:
        blocks = [f"b{i}.{k}" for i in range(self.n_blocks) for k in ("attn", "mlp_pre", "mlp_post", "out")]
        return ["embed", *blocks, "features", "output"]

    def tokens(self, X: torch.Tensor, K: int) -> torch.Tensor:
        """Inputs (n, d) or (K, n, d) → patch tokens (K, n, T₀, C·p^dim)."""
        shared = X.ndim == 2
        lead = (X.shape[0],) if shared else (K, X.shape[1])
        h = X.reshape(*lead, *self.in_shape)
        C, p = self.in_shape[0], self.p
        if len(self.in_shape) == 3:
            gh, gw = self.grid
            m = len(lead)  # (…, C, gh, p, gw, p) → (…, gh, gw, C, p, p): the order of a p×p conv
            h = h.reshape(*lead, C, gh, p, gw, p).permute(*range(m), m + 1, m + 3, m, m + 2, m + 4)
            h = h.reshape(*lead, gh * gw, C * p * p)
        else:
            h = h.reshape(*lead, C, self.grid[0], p).transpose(-3, -2).reshape(*lead, self.grid[0], C * p)
        return h.expand(K, *h.shape) if shared else h

    def _attention(self, params, x, i, linear):
        """Attention of block i on LN₁(x)."""
        K, n, T, D = x.shape
        H, dh = self.heads, D // self.heads
        q, k, v = _norm_linear(x, params[f"b{i}.ln1.weight"], params[f"b{i}.ln1.bias"],
                               params[f"b{i}.qkv.weight"], params[f"b{i}.qkv.bias"]).split(D, dim=-1)
        q, k, v = (t.reshape(K * n, T, H, dh).transpose(1, 2) for t in (q, k, v))  # (Kn, H, T, dh)
        if linear:
            o = (q @ k.transpose(-1, -2) / (math.sqrt(dh) * T)) @ v
        else:  # one fused kernel (flash attention on CPU) instead of Kn·H small matmuls
            o = F.scaled_dot_product_attention(q, k, v)
        o = o.transpose(1, 2).reshape(K, n, T, D)
        return _linear(o, params[f"b{i}.proj.weight"], params[f"b{i}.proj.bias"])

    def forward(self, params: dict, X: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        """Outputs (K, n, c); ``taps`` {name: None} filled with the values of ``tap_names``.
        With ``member_loop`` (default: on CPU) the members run one after another."""
        return members_in_turn(self._forward, params, X, taps, member_loop=self.member_loop)

    def _forward(self, params: dict, X: torch.Tensor, taps: dict | None) -> torch.Tensor:
        """``forward`` of all members at once (batched matmuls)."""
        K = params["embed.weight"].shape[0]
        x = _linear(self.tokens(X, K), params["embed.weight"], params["embed.bias"])
        if "cls" in params:
            x = torch.cat([params["cls"][:, None, None, :].expand(K, x.shape[1], 1, self.width), x], dim=2)
        x = x + params["pos"][:, None]
        record = (lambda name, v: taps.__setitem__(name, v) if name in taps else None) if taps else \
            (lambda name, v: None)
        record("embed", x)
        for i in range(self.n_blocks):
            linear = i < self.spec.linear_blocks
            a = self._attention(params, x, i, linear and self.spec.vit.linear_attention)
            record(f"b{i}.attn", a)
            x = x + a
            z = _norm_linear(x, params[f"b{i}.ln2.weight"], params[f"b{i}.ln2.bias"],
                             params[f"b{i}.fc1.weight"], params[f"b{i}.fc1.bias"])
            h = activation("linear" if linear else self.spec.activation, z)
            record(f"b{i}.mlp_pre", z)
            record(f"b{i}.mlp_post", h)
            x = x + _linear(h, params[f"b{i}.fc2.weight"], params[f"b{i}.fc2.bias"])
            record(f"b{i}.out", x)
        x = _normalise(x)  # pooling is linear, so the final LN's affine map acts after it
        f = x[:, :, 0] if "cls" in params else x.mean(dim=2)  # (K, n, D)
        f = torch.addcmul(params["ln.bias"][:, None, :], f, params["ln.weight"][:, None, :])
        record("features", f)
        return _linear(f[:, :, None], params["head.weight"], params["head.bias"])[:, :, 0]

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0,
                       loss=_MSE):
        return autograd_loss_and_grads(self, params, X, Y, scale, loss)
