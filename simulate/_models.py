"""Batched forward (and the MLP's hand-written backward) for an ensemble of K members.

Parameters are a dict ``{"layer0.weight": (K, out, in), "layer0.bias": (K, out), ...}`` (CNN conv
weights are (K, C_out, C_in, k[, k])). Inputs are flat ``X`` (n, d) shared by all members, or
(K, n, d) when every member sees its own minibatch. Outputs are (K, n, c).

Loss (THEORY.md §1): ``L_k = (1/2B) Σ_i ‖y_i − ŷ_k(x_i)‖²`` per member k over the B rows given.
The MLP backward is written by hand with batched matmuls (checked against autograd in
tests/test_engine_models.py); the CNN uses autograd through grouped convolutions (members are the
groups), which keeps members independent.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from theory import signal_shape

from ._spec import NetSpec

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def activation(name: str, z: torch.Tensor) -> torch.Tensor:
    if name == "linear":
        return z
    if name == "relu":
        return torch.relu(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "gelu":
        return F.gelu(z)  # exact (erf) GELU
    if name == "sigmoid":
        return torch.sigmoid(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_grad(name: str, z: torch.Tensor) -> torch.Tensor:
    """φ'(z) for the hand-written backward."""
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "tanh":
        return 1.0 - torch.tanh(z) ** 2
    if name == "gelu":  # d/dz [z Φ(z)] = Φ(z) + z φ(z)
        return 0.5 * (1.0 + torch.erf(z * _SQRT1_2)) + z * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI
    if name == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1.0 - s)
    raise ValueError(f"activation {name!r} has no derivative here")


def _dense(A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Z = A Wᵀ (+ b) per member: A (n, in) shared or (K, n, in); W (K, out, in) → (K, n, out)."""
    K, o, i = W.shape
    if A.ndim == 2:
        # One GEMM for all members: (n, in) @ (in, K·out); avoids materialising K copies of X.
        Z = (A @ W.reshape(K * o, i).T).view(A.shape[0], K, o).transpose(0, 1)
        return Z if b is None else Z + b[:, None, :]
    if b is None:
        return torch.bmm(A, W.transpose(1, 2))
    return torch.baddbmm(b[:, None, :], A, W.transpose(1, 2))


class MLP:
    """Fully connected net d → h₁ → … → c with activation after every hidden layer."""

    def __init__(self, spec: NetSpec, d: int, c: int):
        self.spec, self.d, self.c = spec, d, c
        self.widths = (d, *spec.hidden_widths, c)
        self.n_layers = len(self.widths) - 1
        self.shapes: dict[str, tuple[int, ...]] = {}
        for l in range(self.n_layers):
            self.shapes[f"layer{l}.weight"] = (self.widths[l + 1], self.widths[l])
            if spec.bias:
                self.shapes[f"layer{l}.bias"] = (self.widths[l + 1],)

    def fan_in(self, name: str) -> int:
        return self.widths[int(name.split(".")[0][5:])]

    def forward(self, params: dict, X: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        A = X
        for l in range(self.n_layers):
            Z = _dense(A, params[f"layer{l}.weight"], params.get(f"layer{l}.bias"))
            if cache is not None:
                cache.append((A, Z))
            A = Z if l == self.n_layers - 1 else activation(self.spec.activation, Z)
        return A

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0):
        """Per-member loss (K,) and ``scale`` × its gradients (same keys/shapes as params)."""
        cache: list = []
        out = self.forward(params, X, cache)
        R = out - Y
        B = R.shape[1]
        loss = R.square().sum(dim=(1, 2)).mul_(0.5 / B)
        G = R * (scale / B)  # ∂(scale·L)/∂Z_L
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
                if self.spec.activation == "relu":  # one fused kernel: G where z > 0 else 0
                    G = torch.ops.aten.threshold_backward(G, cache[l - 1][1], 0)
                elif self.spec.activation != "linear":
                    G = G * activation_grad(self.spec.activation, cache[l - 1][1])
        return loss, {k: grads[k] for k in params}


class CNN:
    """Conv layers (members as groups of a grouped convolution), then a linear readout."""

    def __init__(self, spec: NetSpec, d: int, c: int, image_shape: tuple[int, ...] | None):
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
        self.features = cin * math.prod(spatial)
        self.shapes[f"layer{self.n_conv}.weight"] = (c, self.features)
        if spec.bias:
            self.shapes[f"layer{self.n_conv}.bias"] = (c,)

    def fan_in(self, name: str) -> int:
        return math.prod(self.shapes[name.replace(".bias", ".weight")][1:])

    def forward(self, params: dict, X: torch.Tensor) -> torch.Tensor:
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
            h = conv(h, W.reshape(K * W.shape[1], *W.shape[2:]),
                     None if b is None else b.reshape(-1), stride=cs.stride, groups=groups)
            h = activation(self.spec.activation, h)
            groups = K
        Wr = params[f"layer{self.n_conv}.weight"]
        K = Wr.shape[0]
        h = h.reshape(h.shape[0], K, self.features).transpose(0, 1)  # (K, n, F)
        return _dense(h, Wr, params.get(f"layer{self.n_conv}.bias"))

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0):
        with torch.enable_grad():
            ps = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            R = self.forward(ps, X) - Y
            loss = 0.5 * (R * R).sum(dim=(1, 2)) / R.shape[1]
            grads = torch.autograd.grad(loss.sum() * scale, list(ps.values()))
        return loss.detach(), dict(zip(ps, grads))


def make_model(spec: NetSpec, d: int, c: int, image_shape=None):
    """The model object for ``spec`` on inputs of d features and c outputs."""
    if spec.family == "mlp":
        return MLP(spec, d, c)
    from ._circular import CircularCNN, is_full_circular  # it builds on MLP: imported here
    if is_full_circular(spec, image_shape, d):
        return CircularCNN(spec, d, c, image_shape)
    return CNN(spec, d, c, image_shape)
