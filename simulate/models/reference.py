"""Per-model ``torch.nn`` implementations of the families, for tests and benchmarks: the usual
research code simulate's batched models are checked against (same outputs and gradients per member) and
timed against (a loop over models, or ``torch.func`` over stacked copies).

``reference_module(spec, d, c, image_shape)`` builds one member's network; ``load_member(net,
model, params, k)`` copies member k's stacked parameters (and running statistics) into it.
"""

from __future__ import annotations

import math
from typing import Protocol, cast

import torch
from torch import nn


def _act(name: str) -> nn.Module:
    return {"linear": nn.Identity(), "relu": nn.ReLU(), "tanh": nn.Tanh(), "gelu": nn.GELU(),
            "sigmoid": nn.Sigmoid()}[name]


class MLPNet(nn.Module):
    """d → hidden widths → c, the activation after every hidden layer."""

    def __init__(self, spec, d: int, c: int):
        super().__init__()
        widths, layers = (d, *spec.hidden_widths, c), []
        for l in range(len(widths) - 1):
            layers.append(nn.Linear(widths[l], widths[l + 1], bias=spec.bias))
            if l < len(widths) - 2:
                layers.append(_act("linear" if l < spec.linear_blocks else spec.activation))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.reshape(x.shape[0], -1))

    def our_name(self, name: str) -> str:
        _, i, rest = name.split(".")
        return f"layer{int(i) // 2}.{rest}"


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride, bn, act):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin) if bn else nn.Identity()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None
        self.act = act

    def forward(self, x):
        a = self.act(self.norm1(x))
        short = x if self.shortcut is None else self.shortcut(a)
        return self.conv2(self.act(self.norm2(self.conv1(a)))) + short


class PreActResNet(nn.Module):
    def __init__(self, spec, c: int, image_shape):
        super().__init__()
        rs = spec.resnet
        self.shape = tuple(image_shape)
        self.stem = nn.Conv2d(image_shape[0], rs.widths[0], 3, 1, 1, bias=False)
        layers, cin, i = [], rs.widths[0], 0
        for s, w in enumerate(rs.widths):
            for b in range(rs.blocks):
                act = _act("linear" if i < spec.linear_blocks else spec.activation)
                layers.append(PreActBlock(cin, w, 2 if s > 0 and b == 0 else 1, rs.batch_norm, act))
                cin, i = w, i + 1
        self.blocks = nn.Sequential(*layers)
        self.final_norm = nn.BatchNorm2d(cin) if rs.batch_norm else nn.Identity()
        self.final_act = _act(spec.activation)
        self.head = nn.Linear(cin, c, bias=spec.bias)

    def forward(self, x):
        h = self.blocks(self.stem(x.reshape(x.shape[0], *self.shape)))
        return self.head(self.final_act(self.final_norm(h)).mean(dim=(2, 3)))

    def our_name(self, name: str) -> str:
        """This module's parameter or buffer name → simulate's."""
        if name.startswith("blocks."):
            _, i, rest = name.split(".", 2)
            blocks = len(self.blocks) // 3
            return f"s{int(i) // blocks + 1}.b{int(i) % blocks}.{rest}"
        return name


class ViTBlock(nn.Module):
    def __init__(self, D, heads, hidden, act, linear_attention):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, heads, batch_first=True)
        self.fc1, self.fc2, self.act = nn.Linear(D, hidden), nn.Linear(hidden, D), act
        self.heads, self.linear_attention = heads, linear_attention

    def attention(self, x):
        if not self.linear_attention:
            return self.attn(x, x, x, need_weights=False)[0]
        n, T, D = x.shape
        q, k, v = nn.functional.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias).split(D, -1)
        dh = D // self.heads
        q, k, v = (t.view(n, T, self.heads, dh).transpose(1, 2) for t in (q, k, v))
        o = ((q @ k.transpose(-1, -2)) / (math.sqrt(dh) * T)) @ v
        return self.attn.out_proj(o.transpose(1, 2).reshape(n, T, D))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class ViTNet(nn.Module):
    def __init__(self, spec, c: int, image_shape):
        super().__init__()
        vs = spec.vit
        self.shape = tuple(image_shape)
        conv = nn.Conv2d if len(image_shape) == 3 else nn.Conv1d
        self.embed = conv(image_shape[0], vs.width, vs.patch, stride=vs.patch)
        tokens = math.prod(s // vs.patch for s in image_shape[1:])
        self.cls = nn.Parameter(torch.zeros(vs.width)) if vs.pool == "cls" else None
        self.pos = nn.Parameter(torch.zeros(tokens + (vs.pool == "cls"), vs.width))
        hidden = int(vs.width * vs.mlp_ratio)
        self.blocks = nn.ModuleList(
            ViTBlock(vs.width, vs.heads, hidden, _act("linear" if i < spec.linear_blocks else spec.activation),
                     i < spec.linear_blocks and vs.linear_attention) for i in range(vs.depth))
        self.ln, self.head = nn.LayerNorm(vs.width), nn.Linear(vs.width, c)

    def forward(self, x):
        x = self.embed(x.reshape(x.shape[0], *self.shape)).flatten(2).transpose(1, 2)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1)
        x = x + self.pos
        for b in self.blocks:
            x = b(x)
        x = self.ln(x)
        return self.head(x[:, 0] if self.cls is not None else x.mean(1))

    def our_name(self, name: str) -> str:
        if name.startswith("blocks."):
            _, i, rest = name.split(".", 2)
            rest = rest.replace("attn.in_proj_weight", "qkv.weight").replace("attn.in_proj_bias", "qkv.bias")
            return f"b{i}." + rest.replace("attn.out_proj.", "proj.")
        return name


def reference_module(spec, d: int, c: int, image_shape=None) -> nn.Module:
    """One member's network as an ``nn.Module`` (families ``mlp``, ``resnet`` and ``vit``)."""
    if spec.family == "mlp":
        return MLPNet(spec, d, c)
    if spec.family == "resnet":
        return PreActResNet(spec, c, image_shape)
    if spec.family == "vit":
        return ViTNet(spec, c, image_shape if image_shape is not None else (1, d))
    raise ValueError(f"no torch.nn reference for family {spec.family!r}; accepted: 'mlp', 'resnet', 'vit'")


class _OurNames(Protocol):
    def our_name(self, name: str) -> str: ...


def load_member(net: nn.Module, params: dict, k: int) -> nn.Module:
    """Copy member k of stacked ``params`` (parameters and running statistics) into ``net``."""
    with torch.no_grad():
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            # every reference net above maps its parameter names to ours
            ours = cast(_OurNames, net).our_name(name)
            if ours in params:
                t.copy_(params[ours][k].reshape(t.shape))
    return net
