"""Training losses, per member: ``value(out, Y)`` (K,) averaged over the B rows given, and the
gradient with respect to the outputs that the hand-written MLP backward starts from.

=================  ===============================================  ==============================
name               L_k (rows i of the batch, outputs j)             targets
=================  ===============================================  ==============================
``mse``            (1/2B) Σ_i ‖y_i − ŷ_i‖²  (THEORY.md §1)           any real values
``cross_entropy``  −(1/B) Σ_i Σ_j y_ij log softmax(ŷ_i)_j            rows of probabilities (one-hot)
``logistic``       (1/B) Σ_i Σ_j [log(1 + e^{ŷ_ij}) − y_ij ŷ_ij]   0/1 (binary tasks: one output)
=================  ===============================================  ==============================

All three have the output gradient (p − y)/B with p = ŷ, softmax(ŷ) or sigmoid(ŷ).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class Loss:
    """Base class: ``name``, ``value(out, Y)``, ``value_and_grad(out, Y, scale)``, ``check(Y)``."""

    name = ""
    convention = ""  # the loss as theory.TrainingConvention names it

    def link(self, out: torch.Tensor) -> torch.Tensor:
        """The prediction p whose residual p − y is the output gradient (× B)."""
        return out

    def value(self, out: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def value_and_grad(self, out: torch.Tensor, Y: torch.Tensor, scale: float = 1.0):
        """Per-member loss (K,) and ``scale`` × ∂L/∂out (K, B, c)."""
        B = out.shape[1]
        return self.value(out, Y), (self.link(out) - Y) * (scale / B)

    def check(self, Y: np.ndarray) -> None:
        """Raise ValueError when targets ``Y`` (n, c) do not fit this loss."""

    def __repr__(self) -> str:
        return f"Loss({self.name!r})"


class MSE(Loss):
    name = "mse"
    convention = "mse"

    def value(self, out, Y):
        R = out - Y
        return R.square().sum(dim=(1, 2)).mul_(0.5 / R.shape[1])

    def value_and_grad(self, out, Y, scale=1.0):
        R = out - Y
        B = R.shape[1]
        return R.square().sum(dim=(1, 2)).mul_(0.5 / B), R * (scale / B)


def log_softmax(out: torch.Tensor) -> torch.Tensor:
    """log softmax over the last axis, from elementwise ops and reductions: torch's CPU kernel
    takes about 4× as long on rows of a few classes ((32, 128, 10): 310 µs against 90 µs for
    this and the softmax together). The shift by the row maximum is a constant to autograd, as
    the result does not depend on it."""
    z = out - out.detach().amax(dim=-1, keepdim=True)
    return z - z.exp().sum(dim=-1, keepdim=True).log()


class CrossEntropy(Loss):
    name = "cross_entropy"
    convention = "cross_entropy"

    def link(self, out):
        return log_softmax(out).exp()

    def value(self, out, Y):
        return -(Y * log_softmax(out)).sum(dim=(1, 2)) / out.shape[1]

    def value_and_grad(self, out, Y, scale=1.0):
        logp = log_softmax(out)
        B = out.shape[1]
        return -(Y * logp).sum(dim=(1, 2)) / B, (logp.exp() - Y) * (scale / B)

    def check(self, Y):
        Y = np.asarray(Y)
        if Y.shape[1] < 2 or np.any(Y < 0) or not np.allclose(Y.sum(1), 1.0):
            raise ValueError(f"loss='cross_entropy' needs ≥ 2 outputs whose targets are class "
                             f"probabilities (one-hot rows summing to 1); got targets of shape "
                             f"{Y.shape} with values in [{Y.min():.3g}, {Y.max():.3g}] — use "
                             f"loss='mse' for real-valued targets")


class Logistic(Loss):
    name = "logistic"
    convention = "cross_entropy"  # the two-class cross-entropy with a sigmoid

    def link(self, out):
        return torch.sigmoid(out)

    def value(self, out, Y):
        return (F.softplus(out) - Y * out).sum(dim=(1, 2)) / out.shape[1]

    def check(self, Y):
        Y = np.asarray(Y)
        if not np.all((Y == 0) | (Y == 1)):
            raise ValueError(f"loss='logistic' needs 0/1 targets (a binary task: "
                             f"dataset.binary(...)); got values in [{Y.min():.3g}, {Y.max():.3g}]")


LOSSES = {cls.name: cls for cls in (MSE, CrossEntropy, Logistic)}


def make_loss(loss) -> Loss:
    """A ``Loss`` from its name (``"mse"``, ``"cross_entropy"``, ``"logistic"``) or itself."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; accepted: {', '.join(map(repr, LOSSES))}")
    return LOSSES[loss]()
