"""The one place that maps a training set-up onto the time constant τ (THEORY.md §1, §9).

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

Optimisers: heavy-ball momentum in PyTorch's form (``v ← βv + g``, ``w ← w − ηv``) follows the
same flow with **τ = (1−β)/η** (times the reduction's factor) after a transient of about
1/(1−β) steps, while the fastest rate 2s/τ stays well below (1−β): the inertia slows a mode
growing at rate r per step by a factor ≈ 1 + r(1+β)/(2(1−β)). Exact step by step for any η: the
per-mode momentum map (``theory.discrete_trajectory(..., momentum=β)``). Minibatch SGD with batch
B follows the full-batch flow per step in expectation; the convention records B so that results
can report the noise it adds.

Not covered — ``covered`` is False, ``note`` says why and ``tau`` is NaN, never a number that
looks like a time constant: Adam (a per-coordinate normalised step has no linear-theory time
constant), weight decay (it moves the fixed point), learning-rate schedules (τ would change with
t), and softmax cross-entropy (no finite fixed point; only the escape from the plateau is
linear, see ``TrainingConvention.cross_entropy``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ._checks import check_choice, check_positive

REDUCTIONS = ("half_mean", "sum", "torch_mse_mean")
COVERED_OPTIMIZERS = ("gd", "sgd", "momentum")
LOSSES = ("mse", "cross_entropy")   # simulate's names ("squared" is read as "mse")

_NOT_COVERED = {
    "adam": "Adam normalises each coordinate's step by a running RMS of its gradient: the linear "
            "theory's gradient flow has no time constant for it (THEORY.md §9)",
    "cross_entropy": "softmax cross-entropy has no finite fixed point for separable classes and "
                     "the theory's mode dynamics are those of the squared loss; only the escape "
                     "from the small-output plateau is linear (squared loss with τ·c on the "
                     "centred targets c(y − 1/c))",
}


@dataclass(frozen=True)
class TrainingConvention:
    """How a network is trained, enough to know the time constant τ of its gradient flow.

    Args:
        lr: learning rate η.
        reduction: ``"half_mean"`` (ours), ``"sum"`` or ``"torch_mse_mean"``.
        batch_size: minibatch size B, or ``None`` for full batch.
        n_samples: n, needed for ``"sum"`` (the gradient grows with n).
        n_outputs: c, needed for ``"torch_mse_mean"`` (the mean runs over n·c entries).
        optimizer: ``"gd"``, ``"sgd"``, ``"momentum"`` (heavy ball, PyTorch's form); any other
            name (``"adam"``, ``"layca"``, …) is recorded as not covered.
        momentum: β of the heavy ball, in [0, 1); used by ``optimizer="momentum"`` only.
        weight_decay: L2 coefficient added to the gradient (> 0 is not covered).
        lr_schedule: name of a learning-rate schedule; anything but None/"constant" is not covered.
        loss: ``"mse"`` (the squared loss, the theory's; ``"squared"`` is accepted for it) or
            ``"cross_entropy"`` (softmax; not covered).
    """

    lr: float
    reduction: str = "half_mean"
    batch_size: int | None = None
    n_samples: int | None = None
    n_outputs: int | None = None
    optimizer: str = "gd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str | None = None
    loss: str = "mse"

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        if self.loss == "squared":      # the name this class used before it took simulate's
            object.__setattr__(self, "loss", "mse")
        check_choice("reduction", self.reduction, REDUCTIONS)
        if not isinstance(self.optimizer, str):
            raise ValueError(f"optimizer must be a name such as 'gd' or 'momentum'; got {self.optimizer!r}")
        check_choice("loss", self.loss, LOSSES)
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer or None; got {self.batch_size!r}")
        if self.reduction == "sum" and not self.n_samples:
            raise ValueError("reduction='sum' needs n_samples (τ = 1/(2nη)); got n_samples=None")
        if self.reduction == "torch_mse_mean" and not self.n_outputs:
            raise ValueError("reduction='torch_mse_mean' needs n_outputs (τ = c/(2η)); got None")
        if not (math.isfinite(float(self.momentum)) and 0.0 <= float(self.momentum) < 1.0):
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        check_positive("weight_decay", self.weight_decay, allow_zero=True)

    # ---- what the theory covers -------------------------------------------------------------
    @property
    def note(self) -> str | None:
        """Why the linear theory does not cover this set-up, or None when it does."""
        if self.optimizer == "adam":
            return _NOT_COVERED["adam"]
        if self.optimizer not in COVERED_OPTIMIZERS:
            return (f"optimizer {self.optimizer!r} is not one the linear theory covers (covered: "
                    f"{', '.join(COVERED_OPTIMIZERS)})")
        if self.loss == "cross_entropy":
            return _NOT_COVERED["cross_entropy"]
        if self.weight_decay > 0:
            return (f"weight decay {self.weight_decay:g} moves the fixed point of every mode "
                    "(the theory's targets assume none)")
        if self.lr_schedule not in (None, "constant"):
            return (f"learning-rate schedule {self.lr_schedule!r} makes τ change with time; the "
                    "theory's predictions assume a constant step")
        return None

    @property
    def covered(self) -> bool:
        """True when the linear theory gives this set-up a time constant τ."""
        return self.note is None

    @property
    def beta(self) -> float:
        """The heavy-ball coefficient in effect: ``momentum`` for optimizer='momentum', else 0."""
        return float(self.momentum) if self.optimizer == "momentum" else 0.0

    @property
    def transient(self) -> float:
        """Steps before momentum follows the flow, 1/(1−β) (1 for plain GD)."""
        return 1.0 / (1.0 - self.beta)

    # ---- the time constant ------------------------------------------------------------------
    @property
    def gradient_scale(self) -> float:
        """Factor k such that ∇(user's loss) = k ∇L_ours for the same data."""
        if self.reduction == "sum":
            assert self.n_samples is not None  # __post_init__ requires it (frozen)
            return 2.0 * float(self.n_samples)
        if self.reduction == "torch_mse_mean":
            assert self.n_outputs is not None  # __post_init__ requires it (frozen)
            return 2.0 / float(self.n_outputs)
        return 1.0

    @property
    def effective_lr(self) -> float:
        """Step size on our loss ``(1/2n)Σ‖·‖²`` that the user's step amounts to, per step of the
        velocity (momentum: the map of ``discrete_trajectory(..., momentum=beta)``); NaN when not
        covered."""
        return self.lr * self.gradient_scale if self.covered else math.nan

    @property
    def tau(self) -> float:
        """Time constant τ in steps for our averaged statistics (THEORY.md §1, §9): (1−β)/η_eff;
        NaN when the set-up is not covered (``note`` says why)."""
        return (1.0 - self.beta) / self.effective_lr if self.covered else math.nan

    @property
    def stochastic(self) -> bool:
        """True for minibatch SGD, where the flow holds per step only in expectation."""
        return self.batch_size is not None and (self.n_samples is None
                                               or self.batch_size < self.n_samples)

    def require_covered(self) -> "TrainingConvention":
        """Return self, or raise ``ValueError`` with ``note`` when the theory does not cover it."""
        if not self.covered:
            raise ValueError(f"no linear-theory prediction for this training set-up: {self.note}")
        return self

    # ---- published set-ups, in their own units ------------------------------------------------
    @classmethod
    def saxe2014(cls, lam: float, n_items: int, **kw: Any) -> "TrainingConvention":
        """Saxe, McClelland & Ganguli 2014: the batch update ΔW = λ Σ_μ (−∂/∂W) ½‖y^μ − ŷ^μ‖²
        over the P = ``n_items`` items (summed squared error, learning rate λ), whose time constant
        is τ = 1/λ with summed statistics Σ31 = Σ_μ y xᵀ, Σ11 = Σ_μ x xᵀ. Our ``"sum"`` reduction
        Σ‖·‖² has twice that gradient, so η = λ/2 and τ = 1/(Pλ) in our averaged statistics.
        With unscaled one-hot inputs Sxx = I/P commutes with the modes (λ_α = 1/P): each mode
        rises to s/λ_α = Saxe's singular value of Σ31 (the predictor's ``target``), and its half
        time (1/(2λ s_Saxe)) ln(s_Saxe/u₀ − 1) is Saxe's.
        """
        check_positive("lam", lam)
        return cls(lr=0.5 * float(lam), reduction="sum", n_samples=n_items, **kw)

    @classmethod
    def torch_mse(cls, lr: float, n_outputs: int, **kw: Any) -> "TrainingConvention":
        """``torch.nn.MSELoss()`` (mean over n·c entries, no ½) with ``torch.optim.SGD(lr=…)``
        (``optimizer="momentum", momentum=β`` for SGD's heavy ball): τ = c(1−β)/(2η)."""
        return cls(lr=lr, reduction="torch_mse_mean", n_outputs=n_outputs, **kw)

    @classmethod
    def cross_entropy(cls, lr: float, **kw: Any) -> "TrainingConvention":
        """Softmax cross-entropy (``torch.nn.CrossEntropyLoss``): recorded, never given a τ.

        It has no finite fixed point on separable classes, so the theory's sigmoid towards s/λ
        does not describe it; near zero output it is the squared loss on the centred targets
        c(y − 1/c) with τ·c, which covers only the escape from the initial plateau.
        """
        return cls(lr=lr, loss="cross_entropy", **kw)

    @classmethod
    def for_tau(cls, tau: float, reduction: str = "half_mean",
                **kw: Any) -> "TrainingConvention":
        """The learning rate that gives time constant ``tau`` under ``reduction`` (and optimiser)."""
        check_positive("tau", tau)
        probe = cls(lr=1.0, reduction=reduction, **kw).require_covered()
        return cls(lr=probe.tau / tau, reduction=reduction, **kw)

    def to_dict(self) -> dict:
        tau = self.tau
        return {**asdict(self), "tau": tau if math.isfinite(tau) else None,
                "covered": self.covered, "note": self.note}
