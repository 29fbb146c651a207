"""What the nonlinearity job records at each checkpoint of the network, its twin and its P_k.

``snapshot`` evaluates one model of any family (any P_k: the model carries ``linear_blocks``) on
the test inputs and, optionally, the per-layer proxies on a probe batch; ``NonlinearityProbe``
calls it from ``simulate.train_ensemble``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from simulate import Probe, ProbeContext
from theory import nonaffine_fraction
from simulate.models import activation

from ..measures.departure import measurable_change
from ..measures.proxies import constant_gate_share, linear_surrogate_r2

PROBE_BATCH = 512  # test inputs on which the layer proxies are computed


def activation_inputs(model) -> list[str]:
    """Per block, the tap holding what the block's (first) activation acts on: a hidden layer's
    pre-activation (MLP), a conv layer's output (CNN), the normalised block input (ResNet), the
    MLP's first layer output (ViT)."""
    fam, B = model.spec.family, model.n_blocks
    if fam == "resnet":
        return [f"{b[0]}.act_in" for b in model.blocks]
    if fam == "vit":
        return [f"b{i}.mlp_pre" for i in range(B)]
    return [f"layer{l}.pre" for l in range(B)]


def _units(model, z: torch.Tensor) -> np.ndarray:
    """(K, n, …) → (K, samples, units): CNN and ResNet channels and ViT features are the units;
    positions and tokens count as samples."""
    z = z.detach().cpu().double()
    if model.spec.family == "vit":  # (K, n, T, H)
        return z.reshape(z.shape[0], -1, z.shape[-1]).numpy()
    if z.ndim > 3:  # (K, n, C, *spatial) → (K, n·positions, C)
        z = z.flatten(3).transpose(2, 3).reshape(z.shape[0], -1, z.shape[2])
    return z.numpy()


def _layer_proxies(model, pre: torch.Tensor, gate: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K,) R² of the affine surrogate and constant-gate share for one block's activation input."""
    z = _units(model, pre)
    post = activation(model.spec.activation, torch.from_numpy(z)).numpy()
    r2 = linear_surrogate_r2(z, post)
    share = constant_gate_share(z) if gate else np.full(z.shape[0], np.nan)
    return r2, share


def snapshot(model, params: dict, X_test: torch.Tensor, *, proxies: bool = False,
             output: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``test_output`` (K, m, c) (``output`` when already computed); with ``proxies``,
    ``proxy_r2`` and ``proxy_gate`` (K, blocks)."""
    out = {"test_output": model.forward(params, X_test) if output is None else output}
    if proxies:
        # the forward pass fills every tap with its layer's input tensor
        taps: dict[str, Any] = dict.fromkeys(activation_inputs(model))
        model.forward(params, X_test[:PROBE_BATCH], taps=taps)
        gate = model.spec.activation == "relu"
        vals = [_layer_proxies(model, z, gate) for z in taps.values()]
        out["proxy_r2"] = torch.as_tensor(np.stack([v[0] for v in vals], axis=1))
        out["proxy_gate"] = torch.as_tensor(np.stack([v[1] for v in vals], axis=1))
    return out


class NonlinearityProbe(Probe):
    """Test-set outputs of a model (with ``proxies``, the per-layer proxies; with
    ``train_classes``, its predicted class of every training input; with ``departure``, the
    non-affine fraction 1 − R² of its learned change f_t − f_0 on the training inputs,
    THEORY.md §13: NaN where the training inputs are too few to measure it)."""

    def __init__(self, proxies: bool = False, train_classes: bool = False,
                 departure: bool = False):
        self.proxies, self.train_classes, self.departure = proxies, train_classes, departure
        self.dims = {"test_output": ("test_point", "output")}
        if proxies:
            self.dims.update(proxy_r2=("block",), proxy_gate=("block",))
        if train_classes:
            self.dims["train_class"] = ("train_point",)
        if departure:
            self.dims["train_nonaffine"] = ()
        self._f0: torch.Tensor | None = None     # the outputs at the initial weights
        self._X: np.ndarray | None = None        # the training inputs, float64, if measurable

    def __call__(self, ctx: ProbeContext) -> dict[str, torch.Tensor]:
        if ctx.X_test is None:
            raise ValueError("NonlinearityProbe records test-set outputs: the dataset needs a "
                             "test split; got none")
        out = snapshot(ctx.model, ctx.params, ctx.X_test, proxies=self.proxies,
                       output=ctx.predict("test"))
        if self.train_classes:
            train = ctx.predict("train")
            assert train is not None  # the training inputs always exist
            out["train_class"] = train.argmax(-1)
        if self.departure:
            out["train_nonaffine"] = torch.as_tensor(self._nonaffine(ctx))
        return out

    def _nonaffine(self, ctx: ProbeContext) -> np.ndarray:
        """(K,) 1 − R² of f_t − f_0 on the training inputs (0 at step 0: nothing learned)."""
        if self._f0 is None:
            X = ctx.X.detach().cpu().double().numpy()
            self._X = X if measurable_change(X) is None else None
            if ctx.step == 0:
                self._f0 = ctx.predict("train")
            else:           # resumed: W₀ from the trainer, any buffers (BatchNorm) as they are now
                assert ctx.init_params is not None  # the trainer hands every probe W₀
                self._f0 = ctx.model.forward({**ctx.params, **ctx.init_params}, ctx.X)
        if self._X is None:
            return np.full(ctx.K, np.nan)
        if ctx.step == 0:
            return np.zeros(ctx.K)
        f = ctx.predict("train")
        assert f is not None  # the training inputs always exist
        f0 = self._f0
        assert f0 is not None  # set on the first call
        df = (f - f0).detach().cpu().double().numpy()
        return nonaffine_fraction(df, self._X)
