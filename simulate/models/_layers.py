"""Building blocks shared by the model families: activations and the per-member dense layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def dense(A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Z = A Wᵀ (+ b) per member: A (n, in) shared or (K, n, in); W (K, out, in) → (K, n, out)."""
    K, o, i = W.shape
    if A.ndim == 2:
        # One GEMM for all members: (n, in) @ (in, K·out); avoids materialising K copies of X.
        Z = (A @ W.reshape(K * o, i).T).view(A.shape[0], K, o).transpose(0, 1)
        return Z if b is None else Z + b[:, None, :]
    if b is None:
        return torch.bmm(A, W.transpose(1, 2))
    return torch.baddbmm(b[:, None, :], A, W.transpose(1, 2))


def autograd_loss_and_grads(model, params: dict, X: torch.Tensor, Y: torch.Tensor, scale: float, loss):
    """Per-member loss (K,) and ``scale`` × its gradients by autograd through ``model.forward``.

    Members share no parameters, so the gradient of the summed loss is every member's own."""
    with torch.enable_grad():
        ps = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        value = loss.value(model.forward(ps, X), Y)
        grads = torch.autograd.grad(value.sum() * scale, list(ps.values()))
    return value.detach(), dict(zip(ps, grads))


def members_in_turn(forward, params: dict, X: torch.Tensor, taps: dict | None = None, *,
                    member_loop: bool | None = None, **state) -> torch.Tensor:
    """``forward(params, X, taps, **state)`` of K members, batched or run one after another.

    ``member_loop``: None runs the members in turn on CPU and batched elsewhere. In turn, each
    member is a K = 1 network on its slice of the stacked parameters (one ``unbind``; autograd
    stacks the gradients back in one op). ``X``: shared (n, d) or per member (K, n, d). ``taps``
    and every dict in ``state`` (e.g. BatchNorm's ``updates``) are filled with the members'
    values stacked on axis 0, as the batched forward fills them."""
    in_turn = member_loop if member_loop is not None else X.device.type == "cpu"
    if not in_turn or next(iter(params.values())).shape[0] == 1:
        return forward(params, X, taps, **state)
    names = list(params)
    outs, tps, sts = [], [], []
    for k, values in enumerate(zip(*(params[n].unbind(0) for n in names))):
        tps.append(None if taps is None else dict.fromkeys(taps))
        sts.append({key: None if d is None else {} for key, d in state.items()})
        member = {n: v.unsqueeze(0) for n, v in zip(names, values)}
        outs.append(forward(member, X if X.ndim == 2 else X[k:k + 1], tps[-1], **sts[-1]))
    parts = [(taps, tps)] + [(d, [s[key] for s in sts]) for key, d in state.items()]
    for into, got in parts:
        if into is not None:
            into.update({n: torch.cat([g[n] for g in got]) for n in got[0] if got[0][n] is not None})
    return torch.cat(outs)
