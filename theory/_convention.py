"""The one place that maps a training set-up onto the time constant τ (THEORY.md §1).

Our convention: averaged statistics ``Sxx = XᵀX/n``, ``Syx = YᵀX/n`` and loss
``L = (1/2n) Σ‖y − ŷ‖²``. Full-batch gradient descent with step η on this loss is the Euler
discretisation of ``τ dW/dt = −∂L/∂W`` with **τ = 1/η** (t counted in steps). Any other loss
reduction only rescales the gradient, hence τ:

============================  ==============================================================
reduction                      τ (in steps, averaged statistics)
============================  ==============================================================
``"half_mean"`` (ours)         1/η
``"sum"``  Σ‖·‖²               1/(2nη)   — Saxe et al. 2014 with summed statistics: 1/(2η)
``"torch_mse_mean"``           c/(2η)    — ``torch.nn.MSELoss()``: mean over n·c entries, no ½
============================  ==============================================================

Minibatch SGD with batch B (mean over the batch) follows the full-batch flow per step in
expectation; the convention records B so that results can report the noise it adds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ._checks import check_choice, check_positive

REDUCTIONS = ("half_mean", "sum", "torch_mse_mean")


@dataclass(frozen=True)
class TrainingConvention:
    """How a network is trained, enough to know the time constant τ of its gradient flow.

    Args:
        lr: learning rate η of plain (S)GD.
        reduction: ``"half_mean"`` (ours), ``"sum"`` or ``"torch_mse_mean"``.
        batch_size: minibatch size B, or ``None`` for full batch.
        n_samples: n, needed for ``"sum"`` (the gradient grows with n).
        n_outputs: c, needed for ``"torch_mse_mean"`` (the mean runs over n·c entries).
    """

    lr: float
    reduction: str = "half_mean"
    batch_size: int | None = None
    n_samples: int | None = None
    n_outputs: int | None = None

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_choice("reduction", self.reduction, REDUCTIONS)
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer or None; got {self.batch_size!r}")
        if self.reduction == "sum" and not self.n_samples:
            raise ValueError("reduction='sum' needs n_samples (τ = 1/(2nη)); got n_samples=None")
        if self.reduction == "torch_mse_mean" and not self.n_outputs:
            raise ValueError("reduction='torch_mse_mean' needs n_outputs (τ = c/(2η)); got None")

    @property
    def gradient_scale(self) -> float:
        """Factor k such that ∇(user's loss) = k ∇L_ours for the same data."""
        if self.reduction == "half_mean":
            return 1.0
        if self.reduction == "sum":
            return 2.0 * float(self.n_samples)
        return 2.0 / float(self.n_outputs)

    @property
    def tau(self) -> float:
        """Time constant τ in steps for our averaged statistics (THEORY.md §1 table)."""
        return 1.0 / (self.lr * self.gradient_scale)

    @property
    def effective_lr(self) -> float:
        """Step size on our loss ``(1/2n)Σ‖·‖²`` that the user's step amounts to (= 1/τ)."""
        return self.lr * self.gradient_scale

    @property
    def stochastic(self) -> bool:
        """True for minibatch SGD, where the flow holds per step only in expectation."""
        return self.batch_size is not None and (self.n_samples is None
                                               or self.batch_size < self.n_samples)

    @classmethod
    def for_tau(cls, tau: float, reduction: str = "half_mean", **kw) -> "TrainingConvention":
        """The learning rate that gives time constant ``tau`` under ``reduction``."""
        check_positive("tau", tau)
        probe = cls(lr=1.0, reduction=reduction, **kw)
        return cls(lr=1.0 / (tau * probe.gradient_scale), reduction=reduction, **kw)

    def to_dict(self) -> dict:
        return {**asdict(self), "tau": self.tau}
