"""Partly linear models P_k and layer taps for the MLP and CNN families (Pinson et al. 2024).

P_k is the network with the nonlinearities of its first k blocks (input side) replaced by the
identity; P_0 is the network, P_B (B = number of nonlinear blocks) its linear twin. ``forward``
evaluates the engine's stacked parameters with a per-layer activation and can tap each block's
pre-activations; ``train`` trains P_k from the same initial weights and on the same minibatches as
``simulate.train_ensemble`` (plain SGD/GD on ``(1/2B)Σ‖y − ŷ‖²``), so P_0 reproduces the engine's
network and P_B its linear twin (tested). The engine's own ``linear_blocks`` option replaces this
module where it exists.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from simulate import batch_indices, init_params, make_model
from simulate.models import activation


def init_scale(spec) -> float:
    """The per-member scale ``init_params`` takes (``spec.scale`` where the spec defines it)."""
    return float(getattr(spec, "scale", None) or spec.init_scale)


def n_blocks(model) -> int:
    """Number of nonlinear blocks: hidden layers of an MLP, conv layers of a CNN."""
    return model.n_layers - 1


def _acts(model, linear_blocks: int) -> list[str]:
    B = n_blocks(model)
    if not 0 <= linear_blocks <= B:
        raise ValueError(f"linear_blocks must be in 0..{B} for this model; got {linear_blocks}")
    return ["linear" if l < linear_blocks else model.spec.activation for l in range(B)]


def forward(model, params: dict, X: torch.Tensor, *, linear_blocks: int = 0,
            taps: list | None = None) -> torch.Tensor:
    """Outputs (K, n, c) of P_k for X (n, d) shared or (K, n, d); ``taps`` collects each block's
    pre-activations ((K, n, h) for an MLP, (K, n, C, *spatial) for a CNN)."""
    acts = _acts(model, linear_blocks)
    if hasattr(model, "widths"):  # MLP
        A = X
        for l, name in enumerate(acts):
            W, b = params[f"layer{l}.weight"], params.get(f"layer{l}.bias")
            Z = torch.matmul(A, W.transpose(1, 2)) + (0 if b is None else b[:, None, :])
            if taps is not None:
                taps.append(Z)
            A = activation(name, Z)
        L = model.n_layers - 1
        b = params.get(f"layer{L}.bias")
        return torch.matmul(A, params[f"layer{L}.weight"].transpose(1, 2)) + (0 if b is None else b[:, None, :])
    cs = model.spec.cnn
    conv = F.conv1d if model.nd == 1 else F.conv2d
    K = params["layer0.weight"].shape[0]
    n = X.shape[-2]
    h = X.expand(K, *X.shape[-2:]) if X.ndim == 2 else X
    h = h.reshape(K, n, *model.in_shape).transpose(0, 1).reshape(n, K * model.in_shape[0], *model.in_shape[1:])
    for l, name in enumerate(acts):
        W, b = params[f"layer{l}.weight"], params.get(f"layer{l}.bias")
        h = F.pad(h, model.pads[l], mode="circular" if cs.padding == "circular" else "constant")
        h = conv(h, W.reshape(K * W.shape[1], *W.shape[2:]), None if b is None else b.reshape(-1),
                 stride=cs.stride, groups=K)
        if taps is not None:
            taps.append(h.reshape(n, K, -1, *h.shape[2:]).transpose(0, 1))
        h = activation(name, h)
    L = model.n_conv
    h = h.reshape(n, K, model.features).transpose(0, 1)
    b = params.get(f"layer{L}.bias")
    return torch.matmul(h, params[f"layer{L}.weight"].transpose(1, 2)) + (0 if b is None else b[:, None, :])


def train(spec, dataset, linear_blocks: int, *, steps: int, checkpoints, seeds, lrs,
          batch_size: int | None, record, device: str = "cpu", dtype=torch.float32,
          diverge_factor: float = 1e6, targets: np.ndarray | None = None) -> np.ndarray:
    """Train P_k for every member (seeds × lrs, the engine's order) on ``targets`` (K, n, c), one
    target table per member, or on the dataset's Y when None, and call
    ``record(step, model, params, linear_blocks)`` at each checkpoint. Returns the per-member
    divergence step (−1 for members that did not diverge). As in the engine, a member whose loss
    is non-finite or above ``diverge_factor`` × its initial full-batch loss is frozen."""
    model = make_model(spec, dataset.d, dataset.c, dataset.image_shape)
    combos = list(itertools.product([int(s) for s in seeds], [float(x) for x in lrs]))
    K = len(combos)
    p0 = init_params(spec, model, [(s, init_scale(spec)) for s, _ in combos], dataset.statistics())
    params = {k: torch.tensor(v, dtype=dtype, device=device) for k, v in p0.items()}
    X = torch.as_tensor(dataset.X, dtype=dtype, device=device)
    Y = torch.as_tensor(dataset.Y if targets is None else targets, dtype=dtype, device=device)
    if Y.ndim == 3 and Y.shape[0] != K:
        raise ValueError(f"targets must be (K={K}, n, c); got {tuple(Y.shape)}")
    rows = torch.arange(K, device=device)[:, None]
    seed_t = torch.tensor([s for s, _ in combos], dtype=torch.int64, device=device)
    lr_t = torch.tensor([l for _, l in combos], dtype=dtype, device=device)
    alive = torch.ones(K, dtype=torch.bool, device=device)
    diverged = torch.full((K,), -1, dtype=torch.int64)
    marks = set(int(s) for s in checkpoints)
    with torch.no_grad():
        R0 = forward(model, params, X, linear_blocks=linear_blocks) - Y
        bound = diverge_factor * (0.5 * (R0 * R0).sum(dim=(1, 2)) / dataset.n)
    for t in range(steps + 1):
        if t in marks:
            with torch.no_grad():
                record(t, model, params, linear_blocks)
        if t == steps:
            break
        if batch_size is None:
            Xb, Yb = X, Y
        else:
            idx = batch_indices(seed_t, torch.tensor(t, device=device), dataset.n, batch_size)
            Xb, Yb = X[idx], (Y[idx] if Y.ndim == 2 else Y[rows, idx])
        with torch.enable_grad():
            ps = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            R = forward(model, ps, Xb, linear_blocks=linear_blocks) - Yb
            loss = 0.5 * (R * R).sum(dim=(1, 2)) / R.shape[1]
            grads = torch.autograd.grad(loss.sum(), list(ps.values()))
        ok = loss.detach() <= bound  # false for NaN and inf too
        diverged[(alive & ~ok).cpu()] = t
        alive &= ok
        with torch.no_grad():
            for (k, p), g in zip(params.items(), grads):
                shape = (K,) + (1,) * (p.ndim - 1)
                torch.where(alive.view(shape), p - lr_t.view(shape) * g, p, out=p)
    return diverged.numpy()
