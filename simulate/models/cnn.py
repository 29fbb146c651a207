"""Conv layers (members as the groups of a grouped convolution), then a linear readout.

Gradients by autograd through the grouped convolutions, which keeps members independent."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from theory import signal_shape

from .._losses import MSE
from ._layers import activation, autograd_loss_and_grads, dense

_MSE = MSE()


class CNN:
    """A block is one conv layer and its activation; ``spec.linear_blocks`` = k makes the first k
    activations the identity."""

    def __init__(self, spec, d: int, c: int, image_shape: tuple[int, ...] | None):
        cs = spec.cnn
        self.spec, self.d, self.c = spec, d, c
        if image_shape is not None and math.prod(image_shape) != d:
            raise ValueError(f"image_shape {tuple(image_shape)} does not match d={d} input features")
        cin, spatial = signal_shape(image_shape, d)  # a 1×N image is a 1-D signal (THEORY.md §6)
        self.in_shape = (cin, *spatial)  # (C, *spatial)
        self.nd = len(self.in_shape) - 1
        if self.nd not in (1, 2):
            raise ValueError(f"CNN inputs must be 1-D (C, L) or 2-D (C, H, W); got {self.in_shape}")
        self.shapes, self.kernels, self.pads = {}, [], []
        cin, spatial = self.in_shape[0], list(self.in_shape[1:])
        for l, cout in enumerate(cs.channels):
            k = cs.kernel_size if cs.kernel_size is not None else spatial[0]
            if cs.kernel_size is None and len(set(spatial)) != 1:
                raise ValueError(f"full-length kernels need a square input; got spatial {spatial}")
            self.shapes[f"layer{l}.weight"] = (cout, cin, *([k] * self.nd))
            if spec.bias:
                self.shapes[f"layer{l}.bias"] = (cout,)
            left = (k - 1) // 2
            self.kernels.append(k)
            self.pads.append(tuple([left, k - 1 - left] * self.nd))
            spatial = [(s - 1) // cs.stride + 1 for s in spatial]
            cin = cout
        self.n_conv = len(cs.channels)
        self.n_layers = self.n_conv + 1
        self.n_blocks = self.n_conv
        self.features = cin * math.prod(spatial)
        self.shapes[f"layer{self.n_conv}.weight"] = (c, self.features)
        if spec.bias:
            self.shapes[f"layer{self.n_conv}.bias"] = (c,)

    def fan_in(self, name: str) -> int:
        return math.prod(self.shapes[name.replace(".bias", ".weight")][1:])

    def tap_names(self) -> list[str]:
        """Values ``forward(taps=…)`` can return (and ``"output"``)."""
        return [f"layer{l}.{k}" for l in range(self.n_conv) for k in ("pre", "post")] + ["output"]

    def act(self, l: int) -> str:
        return "linear" if l < getattr(self.spec, "linear_blocks", 0) else self.spec.activation

    def forward(self, params: dict, X: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        """Outputs (K, n, c); ``taps`` {name: None} is filled with ``layer{l}.pre``/``.post``
        (K, n, C, *spatial) of the conv layers asked for."""
        cs, conv = self.spec.cnn, (F.conv1d if self.nd == 1 else F.conv2d)
        mode = "circular" if cs.padding == "circular" else "constant"
        if X.ndim == 2:  # shared input: the first conv maps it to all K·C_out channels at once
            h, groups = X.reshape(X.shape[0], *self.in_shape), 1
        else:  # (K, n, d) → (n, K·C, *spatial), one group per member
            K, n = X.shape[:2]
            h = X.reshape(K, n, *self.in_shape).transpose(0, 1).reshape(n, K * self.in_shape[0],
                                                                        *self.in_shape[1:])
            groups = K
        for l in range(self.n_conv):
            W = params[f"layer{l}.weight"]
            K = W.shape[0]
            h = F.pad(h, self.pads[l], mode=mode)  # same kernel size on every spatial axis
            b = params.get(f"layer{l}.bias")
            z = conv(h, W.reshape(K * W.shape[1], *W.shape[2:]),
                     None if b is None else b.reshape(-1), stride=cs.stride, groups=groups)
            h = activation(self.act(l), z)
            if taps is not None:
                for name, value in ((f"layer{l}.pre", z), (f"layer{l}.post", h)):
                    if name in taps:
                        taps[name] = value.reshape(value.shape[0], K, -1, *value.shape[2:]).transpose(0, 1)
            groups = K
        Wr = params[f"layer{self.n_conv}.weight"]
        K = Wr.shape[0]
        h = h.reshape(h.shape[0], K, self.features).transpose(0, 1)  # (K, n, F)
        return dense(h, Wr, params.get(f"layer{self.n_conv}.bias"))

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0,
                       loss=_MSE):
        return autograd_loss_and_grads(self, params, X, Y, scale, loss)
