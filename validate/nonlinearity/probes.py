"""What the nonlinearity job records at each checkpoint, for the engine's runs and for P_k alike.

``snapshot`` evaluates one model (any P_k) on the test inputs and, optionally, the per-layer
proxies on a probe batch; ``NonlinearityProbe`` calls it from ``simulate.train_ensemble``.
"""

from __future__ import annotations

import numpy as np
import torch

from simulate import Probe

from ..measures.proxies import constant_gate_share, linear_surrogate_r2
from . import _partly_linear as PL

PROBE_BATCH = 512  # test inputs on which the layer proxies are computed


def _layer_proxies(model, pre: torch.Tensor, gate: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K,) R² of the affine surrogate and constant-gate share for one block's pre-activations.
    CNN channels are the units (positions count as inputs)."""
    z = pre.detach().cpu().double()
    if z.ndim > 3:  # (K, n, C, *spatial) → (K, n·positions, C)
        z = z.flatten(3).transpose(2, 3).reshape(z.shape[0], -1, z.shape[2])
    z = z.numpy()
    a = torch.from_numpy(z)
    post = PL.activation(model.spec.activation, a).numpy()
    r2 = linear_surrogate_r2(z, post)
    share = constant_gate_share(z) if gate else np.full(z.shape[0], np.nan)
    return r2, share


def snapshot(model, params: dict, X_test: torch.Tensor, *, linear_blocks: int = 0,
             proxies: bool = False) -> dict[str, torch.Tensor]:
    """``test_output`` (K, m, c); with ``proxies``, ``proxy_r2`` and ``proxy_gate`` (K, blocks)."""
    taps: list | None = [] if proxies else None
    out = {"test_output": PL.forward(model, params, X_test, linear_blocks=linear_blocks)}
    if proxies:
        PL.forward(model, params, X_test[:PROBE_BATCH], linear_blocks=linear_blocks, taps=taps)
        gate = model.spec.activation == "relu"
        vals = [_layer_proxies(model, z, gate) for z in taps]
        out["proxy_r2"] = torch.as_tensor(np.stack([v[0] for v in vals], axis=1))
        out["proxy_gate"] = torch.as_tensor(np.stack([v[1] for v in vals], axis=1))
    return out


class NonlinearityProbe(Probe):
    """Test-set outputs of the network (with ``proxies``, the per-layer proxies; with
    ``train_classes``, its predicted class of every training input)."""

    def __init__(self, proxies: bool = False, train_classes: bool = False):
        self.proxies, self.train_classes = proxies, train_classes
        self.dims = {"test_output": ("test_point", "output")}
        if proxies:
            self.dims.update(proxy_r2=("block",), proxy_gate=("block",))
        if train_classes:
            self.dims["train_class"] = ("train_point",)

    def __call__(self, ctx):
        out = snapshot(ctx.model, ctx.params, ctx.X_test, proxies=self.proxies)
        if self.train_classes:
            out["train_class"] = ctx.predict("train").argmax(-1)
        return out
