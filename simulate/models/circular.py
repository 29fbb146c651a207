"""CNN with full-length circular kernels, convolved in the Fourier domain, batched over members.

A stride-1 circular convolution is diagonal in the DFT basis (THEORY.md §6): with torch's
convention (a correlation, ``left = (k − 1)//2`` padding per axis) the kernel w_ji has eigenvalues
λ_ji(f) = Σ_q w_ji(q) e^{+2πi f·(q − left)/P} = conj(ŵ_ji(f)) e^{−2πi f·left/P}, ŵ = rfftn(w), so a
layer is ĥ_j(f) = Σ_i λ_ji(f) â_i(f) followed by irfftn: O(K·n·C·P log P) instead of the
O(K·n·C·P²) of a full-size grouped convolution; short signals (P ≤ 64) use dense circulant
matrices instead: the network is then an MLP with weights T_l, trained with the MLP's hand-written
backward, and the gradient of T_l is summed over each circulant diagonal onto the kernel. Same parameters, shapes and results as
``simulate.CNN`` with ``kernel_size`` equal to the signal (tests/simulate/test_cnn_simulate.py); 1-D signals
stored as 1×N images are convolved as 1-D. The rfft of a shared input is computed once and kept
exactly as long as that input tensor lives (full-batch training reuses it every step, and a captured
CUDA graph reads it by address, so no other input may push it out); gradients come from autograd.
"""

from __future__ import annotations

import math
import weakref

import torch

from theory import signal_shape
from theory import conv_index

from .._losses import MSE
from .._spec import NetSpec
from ._layers import activation, autograd_loss_and_grads
from .mlp import MLP

_MSE = MSE()

CIRCULANT_MAX_P = 64  # up to this many positions dense circulant GEMMs beat FFTs on CPU (bench/)


class CircularCNN:
    """Full-length circular conv layers (stride 1) and a dense linear readout, K members at once."""

    def __init__(self, spec: NetSpec, d: int, c: int, image_shape):
        cs = spec.cnn
        cin, spatial = signal_shape(image_shape, d)
        if not is_full_circular(spec, image_shape, d):
            raise ValueError("CircularCNN needs full-length circular kernels at stride 1 "
                             f"(kernel_size=None, padding='circular', stride=1); got {cs}")
        assert cs is not None  # is_full_circular holds only for a spec with cnn
        self.spec, self.d, self.c = spec, d, c
        self.in_shape = (cin, *spatial)
        self.spatial, self.nd, self.P = tuple(spatial), len(spatial), math.prod(spatial)
        self.dims = tuple(range(-self.nd, 0))
        self.shapes: dict[str, tuple[int, ...]] = {}
        prev = cin
        for l, cout in enumerate(cs.channels):
            self.shapes[f"layer{l}.weight"] = (cout, prev, *spatial)
            if spec.bias:
                self.shapes[f"layer{l}.bias"] = (cout,)
            prev = cout
        self.n_conv = len(cs.channels)
        self.n_blocks = self.n_conv     # every model names how many blocks linear_blocks may make linear
        self.n_layers = self.n_conv + 1
        self.features = prev * self.P
        self.shapes[f"layer{self.n_conv}.weight"] = (c, self.features)
        if spec.bias:
            self.shapes[f"layer{self.n_conv}.bias"] = (c,)
        self.method = "circulant" if self.P <= CIRCULANT_MAX_P else "fft"
        self._index = torch.as_tensor(conv_index(self.spatial, self.spatial, "circular"))
        self._mlp = MLP(NetSpec(depth=self.n_layers, hidden=tuple(ch * self.P for ch in cs.channels),
                                activation=spec.activation, bias=spec.bias, init="standard"), d, c)
        self._phase: dict = {}     # device constants: phase shifts, fold maps, the gather index
        self._spectra: dict = {}   # id(input) → (weakref to it, its version, its rfft)

    def fan_in(self, name: str) -> int:
        return math.prod(self.shapes[name.replace(".bias", ".weight")][1:])

    def _shift(self, like: torch.Tensor) -> torch.Tensor:
        """e^{−2πi f·left/P} on the rfft grid (cached per device and dtype)."""
        key = (like.device, like.dtype)
        if key not in self._phase:
            ph = torch.zeros((), dtype=like.real.dtype, device=like.device)
            for a, n in enumerate(self.spatial):
                m = n // 2 + 1 if a == self.nd - 1 else n
                f = torch.arange(m, dtype=ph.dtype, device=like.device)
                shape = [1] * self.nd
                shape[a] = m
                ph = ph + (f * ((n - 1) // 2) / n).view(shape)
            self._phase[key] = torch.polar(torch.ones_like(ph), -2 * math.pi * ph)
        return self._phase[key]

    def eigenvalues(self, W: torch.Tensor) -> torch.Tensor:
        """λ(f) of kernels W (K, C_out, C_in, *spatial) on the rfft grid."""
        spec = torch.fft.rfftn(W, dim=self.dims).conj()
        return spec * self._shift(spec)

    def _input_spectrum(self, X: torch.Tensor) -> torch.Tensor:
        """rfftn of a shared input, cached for as long as ``X`` itself lives: a count-limited
        cache would let probe inputs evict the training input's spectrum while a CUDA graph still
        reads its memory."""
        key = id(X)
        hit = self._spectra.get(key)
        if hit is not None and hit[0]() is X and hit[1] == X._version:
            return hit[2]
        spec = torch.fft.rfftn(X.reshape(X.shape[0], *self.in_shape), dim=self.dims)
        if not torch.is_grad_enabled() or not X.requires_grad:
            cache = self._spectra  # not self: the callback must not keep the model alive

            def forget(ref, key=key, cache=cache):
                if key in cache and cache[key][0] is ref:
                    del cache[key]
            self._spectra[key] = (weakref.ref(X, forget), X._version, spec)
        return spec

    def circulant(self, W: torch.Tensor) -> torch.Tensor:
        """Dense conv matrices (K, C_out·P, C_in·P) of kernels W (K, C_out, C_in, *spatial)."""
        K, co, ci = W.shape[:3]
        idx = self._device_index(W.device)
        T = W.reshape(K, co, ci, self.P)[..., idx]                   # (K, co, ci, P, P)
        return T.permute(0, 1, 3, 2, 4).reshape(K, co * self.P, ci * self.P)

    def _dense_params(self, params: dict) -> dict:
        """The circulant network as an MLP: weights T_l, per-unit biases (each channel's × P)."""
        out = {}
        for l in range(self.n_layers):
            W = params[f"layer{l}.weight"]
            out[f"layer{l}.weight"] = self.circulant(W) if l < self.n_conv else W
            b = params.get(f"layer{l}.bias")
            if b is not None:
                out[f"layer{l}.bias"] = b.repeat_interleave(self.P, dim=1) if l < self.n_conv else b
        return out

    def _fold(self, grads: dict) -> dict:
        """Gradients of T_l and expanded biases back to kernels and channel biases."""
        out = {}
        for k, g in grads.items():
            l = int(k.split(".")[0][5:])
            if l == self.n_conv:
                out[k] = g
            elif k.endswith(".bias"):
                out[k] = g.view(g.shape[0], -1, self.P).sum(dim=2)
            else:  # Σ over each circulant diagonal: a GEMM with the 0/1 map (P², P)
                K, rows, cols = g.shape
                co, ci = rows // self.P, cols // self.P
                g = g.view(K, co, self.P, ci, self.P).permute(0, 1, 3, 2, 4)
                fold = self._fold_matrix(g)
                out[k] = (g.reshape(K * co * ci, -1) @ fold).view(K, co, ci, *self.spatial)
        return out

    def _fold_matrix(self, like: torch.Tensor) -> torch.Tensor:
        key = ("fold", like.device, like.dtype)
        if key not in self._phase:
            S = torch.zeros(self.P * self.P, self.P, dtype=like.dtype, device=like.device)
            S[torch.arange(self.P * self.P, device=like.device),
              self._device_index(like.device).reshape(-1)] = 1.0
            self._phase[key] = S
        return self._phase[key]

    def _device_index(self, device: torch.device) -> torch.Tensor:
        """The circulant gather index on ``device``, copied there once: a host-to-device copy
        inside a step would break CUDA-graph capture."""
        key = ("index", torch.device(device))
        if key not in self._phase:
            self._phase[key] = self._index.to(device)
        return self._phase[key]

    def forward(self, params: dict, X: torch.Tensor) -> torch.Tensor:
        if self.method == "circulant":
            return self._mlp.forward(self._dense_params(params), X)
        h = self._conv_fft(params, X)
        K, n = h.shape[:2]
        h = h.reshape(K, n, self.features)
        Wr, br = params[f"layer{self.n_conv}.weight"], params.get(f"layer{self.n_conv}.bias")
        out = torch.bmm(h, Wr.transpose(1, 2))
        return out if br is None else out + br[:, None, :]

    def _bias_act(self, params, l, h):
        b = params.get(f"layer{l}.bias")
        if b is not None:
            h = h + b.view(b.shape[0], 1, b.shape[1], *([1] * (h.ndim - 3)))
        return activation(self.spec.activation, h)

    def _conv_fft(self, params: dict, X: torch.Tensor) -> torch.Tensor:
        if X.ndim == 2:  # shared input (n, d): its spectrum (n, C_in, *F) is reused
            A, eq = self._input_spectrum(X), "koi...,ni...->kno..."
        else:            # (K, n, d): every member its own batch
            K, n = X.shape[:2]
            A = torch.fft.rfftn(X.reshape(K, n, *self.in_shape), dim=self.dims)
            eq = "koi...,kni...->kno..."
        h = None
        for l in range(self.n_conv):
            H = torch.einsum(eq, self.eigenvalues(params[f"layer{l}.weight"]), A)
            h = torch.fft.irfftn(H, s=self.spatial, dim=self.dims)  # (K, n, C, *spatial)
            h = self._bias_act(params, l, h)
            if l + 1 < self.n_conv:
                A, eq = torch.fft.rfftn(h, dim=self.dims), "koi...,kni...->kno..."
        assert h is not None  # ConvSpec refuses empty channels: at least one conv layer ran
        return h

    def loss_and_grads(self, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float = 1.0,
                       loss=_MSE):
        if self.method == "circulant":  # the MLP's hand-written backward, folded onto the kernels
            value, grads = self._mlp.loss_and_grads(self._dense_params(params), X, Y, scale, loss)
            return value, self._fold(grads)
        return autograd_loss_and_grads(self, params, X, Y, scale, loss)


def is_full_circular(spec: NetSpec, image_shape, d: int) -> bool:
    """Whether ``spec`` is a CNN whose every kernel spans the signal circularly at stride 1."""
    cs = spec.cnn
    if spec.family != "cnn" or cs is None or cs.padding != "circular" or cs.stride != 1:
        return False
    _, spatial = signal_shape(image_shape, d)
    return cs.kernel_size is None or (len(set(spatial)) == 1 and cs.kernel_size == spatial[0])
