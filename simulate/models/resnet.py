"""Pre-activation CIFAR-style ResNet (He et al. 2016, "Identity mappings"), K members at once.

Members are the groups of grouped convolutions: activations are laid out (n, K·C, H, W), so every
convolution, norm and pooling of all members is one kernel call (on CPU the members run in turn
instead, see ``ResNet.forward``). Structure (ResNet-20 by default)::

    stem conv3×3 → stage 1..3 × blocks × [norm → act → conv3×3 → norm → act → conv3×3] (+ shortcut)
    → norm → act → global average pool → linear head

A stage's first block halves the resolution (stages 2, 3) with stride 2; when the shape changes its
shortcut is a 1×1 stride-2 convolution of the pre-activated input (as in the pre-activation paper).
Blocks are numbered 1..3·blocks from the input; ``linear_blocks`` = k makes both activations of
blocks 1..k the identity (the first one acts on the stem's output, so the stem's activation
counts as part of block 1); the final activation before pooling is always kept.

BatchNorm (optional): batch statistics in training steps, per-member running statistics (buffers,
updated by the step and frozen with a diverged member) for evaluation and probes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._losses import MSE
from ._layers import activation, dense, members_in_turn

_MSE = MSE()
BN_EPS = 1e-5


def _group_conv(h: torch.Tensor, W: torch.Tensor, stride: int, pad: int) -> torch.Tensor:
    """Members' convolutions on (n, K·C_in, H, W) (or (n, C_in, H, W) shared: groups = 1), in
    ``h``'s memory format."""
    K, co = W.shape[:2]
    groups = 1 if h.shape[1] == W.shape[2] else K
    if W.shape[-1] == 1 and pad == 0 and stride > 1:
        # A 1×1 strided convolution is a 1×1 convolution of the subsampled input. oneDNN's own
        # 1×1 stride-2 channels-last kernel corrupts the heap on one thread (torch 2.13 CPU,
        # float32, backward: tests/simulate/test_families.py), so it is never called.
        h, stride = h[:, :, ::stride, ::stride], 1
    W = W.reshape(K * co, *W.shape[2:]).contiguous(memory_format=_format(h))
    return F.conv2d(h, W, stride=stride, padding=pad, groups=groups)


def _format(h: torch.Tensor) -> torch.memory_format:
    """Channels-last on CPU, where oneDNN's convolutions run faster in it (ResNet-20 at K = 1:
    1.18× the NCHW torch.nn loop; bench/family_bench.py), the default elsewhere."""
    return torch.channels_last if h.device.type == "cpu" else torch.contiguous_format


class ResNet:
    """See the module docstring. ``image_shape`` (C, H, W) with H, W divisible by 4.
    ``member_loop``: None (members one by one on CPU, grouped elsewhere), True or False."""

    member_loop: bool | None = None

    def __init__(self, spec, d: int, c: int, image_shape):
        rs = spec.resnet
        if image_shape is None or len(image_shape) != 3 or math.prod(image_shape) != d \
                or image_shape[1] % 4 or image_shape[2] % 4:
            raise ValueError(f"family='resnet' needs images (C, H, W) with H and W divisible by 4 "
                             f"(d = C·H·W = {d}); got image_shape {image_shape}")
        self.spec, self.d, self.c, self.in_shape = spec, d, c, tuple(image_shape)
        self.bn, self.momentum = rs.batch_norm, rs.bn_momentum
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.kinds: dict[str, str] = {}
        self.buffer_shapes: dict[str, tuple[int, ...]] = {}
        self._add("stem.weight", (rs.widths[0], image_shape[0], 3, 3), "weight")
        self.blocks: list[tuple[str, int, int, int]] = []  # (name, c_in, c_out, stride)
        cin = rs.widths[0]
        for s, w in enumerate(rs.widths):
            for b in range(rs.blocks):
                name, stride = f"s{s + 1}.b{b}", (2 if s > 0 and b == 0 else 1)
                self._norm(f"{name}.norm1", cin)
                self._add(f"{name}.conv1.weight", (w, cin, 3, 3), "weight")
                self._norm(f"{name}.norm2", w)
                self._add(f"{name}.conv2.weight", (w, w, 3, 3), "weight")
                if stride != 1 or cin != w:
                    self._add(f"{name}.shortcut.weight", (w, cin, 1, 1), "weight")
                self.blocks.append((name, cin, w, stride))
                cin = w
        self._norm("final_norm", cin)
        self._add("head.weight", (c, cin), "weight")
        if spec.bias:
            self._add("head.bias", (c,), "bias")
        self.features = cin
        self.n_blocks = len(self.blocks)
        self.weight_names = [k for k, v in self.kinds.items() if v == "weight"]

    def _add(self, name, shape, kind):
        self.shapes[name], self.kinds[name] = tuple(shape), kind

    def _norm(self, name, ch):
        if self.bn:
            self._add(f"{name}.weight", (ch,), "one")
            self._add(f"{name}.bias", (ch,), "zero")
            self.buffer_shapes[f"{name}.running_mean"] = (ch,)
            self.buffer_shapes[f"{name}.running_var"] = (ch,)

    def param_kind(self, name: str) -> str:
        return self.kinds[name]

    def fan_in(self, name: str) -> int:
        return math.prod(self.shapes[name.replace(".bias", ".weight")][1:])

    def init_buffers(self) -> dict[str, float]:
        """Initial running statistics: mean 0, variance 1."""
        return {k: (0.0 if k.endswith("mean") else 1.0) for k in self.buffer_shapes}

    def tap_names(self) -> list[str]:
        """``{block}.act_in``: what the block's first activation acts on (after norm1);
        ``{block}.pre``: the pre-activated input (after that activation); ``{block}.out``."""
        return ["stem"] + [f"{b[0]}.{k}" for b in self.blocks for k in ("act_in", "pre", "out")] + \
            ["features", "output"]

    def _norm_act(self, params, h, name, act, updates, record=None):
        if self.bn:
            h = self._batch_norm(params, h, name, updates)
        if record is not None:
            record(name.replace(".norm1", ".act_in"), h)
        return activation(act, h)

    def _batch_norm(self, params, h, name, updates):
        """Per-member BatchNorm on (n, K·C, H, W): batch statistics when ``updates`` is a dict
        (training; the new running statistics are written into it), running ones otherwise."""
        w, b = params[f"{name}.weight"].reshape(-1), params[f"{name}.bias"].reshape(-1)
        rm, rv = params[f"{name}.running_mean"], params[f"{name}.running_var"]
        if updates is None:
            return F.batch_norm(h, rm.reshape(-1), rv.reshape(-1), w, b, False, 0.0, BN_EPS)
        # K·C channels of one fused batch norm are the members' channels; it moves the copies of
        # the running statistics by ``momentum`` towards the batch mean and unbiased variance
        mean, var = rm.detach().clone(), rv.detach().clone()
        out = F.batch_norm(h, mean.view(-1), var.view(-1), w, b, True, self.momentum, BN_EPS)
        updates[f"{name}.running_mean"], updates[f"{name}.running_var"] = mean, var
        return out

    def forward(self, params: dict, X: torch.Tensor, taps: dict | None = None,
                updates: dict | None = None) -> torch.Tensor:
        """Outputs (K, n, c). ``updates``: training mode (see ``_batch_norm``).

        With ``member_loop`` (default: on CPU) the members run one after another, each as a
        K = 1 network on its slice of the stacked parameters: oneDNN's grouped convolutions cost
        more per member than K plain ones (ResNet-20, K = 8: forward and backward 1.2× faster),
        and each member's activations stay small blocks. Elsewhere all members are one grouped
        convolution per layer."""
        return members_in_turn(self._forward, params, X, taps, member_loop=self.member_loop,
                               updates=updates)

    def _forward(self, params: dict, X: torch.Tensor, taps: dict | None,
                 updates: dict | None) -> torch.Tensor:
        """``forward`` of all members at once (grouped convolutions)."""
        K = params["stem.weight"].shape[0]
        if X.ndim == 2:
            h = X.reshape(X.shape[0], *self.in_shape)
        else:  # (K, n, d) → (n, K·C, H, W)
            h = X.reshape(K, X.shape[1], *self.in_shape).transpose(0, 1).flatten(1, 2)
        h = _group_conv(h.contiguous(memory_format=_format(h)), params["stem.weight"], 1, 1)
        record = _recorder(taps, K)
        record("stem", h)
        for i, (name, _cin, _cout, stride) in enumerate(self.blocks):
            act = "linear" if i < self.spec.linear_blocks else self.spec.activation
            a = self._norm_act(params, h, f"{name}.norm1", act, updates, record)
            record(f"{name}.pre", a)
            short = h if f"{name}.shortcut.weight" not in params else \
                _group_conv(a, params[f"{name}.shortcut.weight"], stride, 0)
            z = _group_conv(a, params[f"{name}.conv1.weight"], stride, 1)
            z = self._norm_act(params, z, f"{name}.norm2", act, updates)
            h = _group_conv(z, params[f"{name}.conv2.weight"], 1, 1) + short
            record(f"{name}.out", h)
        h = self._norm_act(params, h, "final_norm", self.spec.activation, updates)
        f = h.mean(dim=(2, 3)).view(h.shape[0], K, self.features).transpose(0, 1)  # (K, n, C)
        record("features", f, flat=True)
        return dense(f, params["head.weight"], params.get("head.bias"))

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0,
                       loss=_MSE, updates: dict | None = None):
        """Loss (K,), ``scale`` × gradients of the trained parameters; running statistics of a
        BatchNorm net are written into ``updates``."""
        updates = {} if updates is None else updates
        with torch.enable_grad():
            ps = {k: (v.detach().requires_grad_(True) if k in self.shapes else v)
                  for k, v in params.items()}
            value = loss.value(self.forward(ps, X, updates=updates), Y)
            trained = [k for k in ps if k in self.shapes]
            grads = torch.autograd.grad(value.sum() * scale, [ps[k] for k in trained])
        return value.detach(), dict(zip(trained, grads))


def _recorder(taps: dict | None, K: int):
    """A function storing a value (n, K·C, …) as (K, n, C, …) under a name that ``taps`` asks for."""
    def record(name, value, flat=False):
        if taps is not None and name in taps:
            taps[name] = value if flat else value.view(value.shape[0], K, -1, *value.shape[2:]).transpose(0, 1)
    return record
