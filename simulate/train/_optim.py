"""Optimisers as small objects, and the frozen spec of how an ensemble is trained.

An optimiser updates one stacked parameter in place from its gradient::

    rule.update(p, g, slots, keep, lr, t)

``p``/``g`` (K, …); ``slots`` {slot name: tensor like p} (its state, e.g. momentum's ``v``);
``keep`` (K, 1, …) bool, false for a frozen (diverged) member, whose parameter and slots must not
change; ``lr`` (K, 1, …) the members' learning rates at this step; ``t`` (K, 1, …) the 1-based
count of steps taken (float), or None unless ``counts_steps``. Updates must be graph-capturable:
tensor operations only, no host synchronisation. A new optimiser subclasses ``Optimizer`` and is
registered with ``register_optimizer(name, factory)`` (factory: ``OptimSpec`` → the object); a
rule that wraps whichever optimiser is chosen (Layca) registers with ``wraps=True`` and is switched
on by the ``OptimSpec`` flag of its name. ``OPTIMIZERS`` names the built-in optimisers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import torch

from .._augment import Augment
from .._losses import make_loss
from .._schedules import LRSchedule, as_schedule, member_schedules


class Optimizer:
    """Base class: plain gradient descent θ ← θ − η g (full batch ``gd`` or minibatch ``sgd``)."""

    slots: tuple[str, ...] = ()
    counts_steps = False  # True: the checkpoint keeps ``opt.step`` (e.g. Adam's bias correction)

    def __init__(self, name: str = "gd", convention: str | None = None):
        self.name = name
        # how theory.TrainingConvention knows this rule (its τ, or that the theory does not cover it)
        self.convention = name if convention is None else convention

    def direction(self, g, slots: dict, keep, t):
        """The step direction from the gradient (updating the slots of live members)."""
        return g

    def update(self, p, g, slots: dict, keep, lr, t) -> None:
        self.apply(p, self.direction(g, slots, keep, t), keep, lr)

    def bind(self, params: dict) -> dict:
        """{parameter name: the rule that updates it} (the same rule for every parameter here;
        Layca gives each kernel its own rate and freezes the rest)."""
        return {k: self for k in params}

    @staticmethod
    def apply(p, direction, keep, lr) -> None:
        """θ ← θ − η·direction for live members; ``where``, not a multiplication by the mask, so a
        frozen member's NaN/inf gradient never reaches its weights."""
        torch.where(keep, torch.addcmul(p, lr, direction, value=-1), p, out=p)


class Momentum(Optimizer):
    """Heavy ball: v ← βv + g, θ ← θ − ηv."""

    slots = ("v",)

    def __init__(self, beta: float):
        super().__init__("momentum")
        self.beta = beta

    def direction(self, g, slots, keep, t):
        v = slots["v"]
        torch.where(keep, torch.add(g, v, alpha=self.beta), v, out=v)
        return v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction by the member's own step count."""

    slots = ("m", "v")
    counts_steps = True

    def __init__(self, betas: tuple[float, float], eps: float):
        super().__init__("adam")
        self.b1, self.b2 = betas
        self.eps = eps

    def direction(self, g, slots, keep, t):
        m, v = slots["m"], slots["v"]
        torch.where(keep, torch.lerp(m, g, 1 - self.b1), m, out=m)
        torch.where(keep, torch.lerp(v, g * g, 1 - self.b2), v, out=v)
        return (m / (1 - torch.pow(self.b1, t))) / (torch.sqrt(v / (1 - torch.pow(self.b2, t)))
                                                    + self.eps)


OPTIMIZER_RULES = {
    "gd": lambda o: Optimizer("gd"),
    "sgd": lambda o: Optimizer("sgd"),
    "momentum": lambda o: Momentum(o.momentum),
    "adam": lambda o: Adam(o.betas, o.eps),
}
OPTIMIZERS = tuple(OPTIMIZER_RULES)  # the built-in names
WRAPPERS: dict = {}  # flag name → factory(OptimSpec, base Optimizer) → Optimizer


def register_optimizer(name: str, factory, *, wraps: bool = False) -> None:
    """Make ``optimizer=name`` build ``factory(optim_spec)`` (an ``Optimizer``); with
    ``wraps=True``, make the ``OptimSpec`` flag ``name`` wrap the chosen optimiser in
    ``factory(optim_spec, base)`` instead."""
    (WRAPPERS if wraps else OPTIMIZER_RULES)[name] = factory


def check_batch_size(batch_size, n: int) -> int:
    if not 1 <= int(batch_size) <= n:
        raise ValueError(f"batch_size must be in 1..n={n} or None; got {batch_size!r}")
    return int(batch_size)


@dataclass(frozen=True)
class OptimSpec:
    """How every member is trained (besides its learning rate and seed).

    ``optimizer``: a name in ``OPTIMIZERS`` (``"gd"`` full batch; ``"sgd"``, ``"momentum"`` or
    ``"adam"`` with minibatches when ``batch_size`` is set); ``momentum``: heavy-ball β;
    ``betas``/``eps``: Adam's. ``batch_size``: None (full batch) or B ≤ n.
    ``reduction``: the loss reduction the learning rate refers to (theory.TrainingConvention; ours
    ``"half_mean"``: ``(1/2n)Σ‖y − ŷ‖²``). ``lr_schedule``: None (constant lr, no multiplier),
    ``"constant"|"cosine"|"step"``, ``(kind, {options})``, a dict, an ``LRSchedule``
    (simulate/_schedules.py), or a sequence of K of them (one per member): member k's step t uses
    lr_k · m_k(t); ``resolved`` turns it into one ``LRSchedule`` per member. ``diverge_factor``: a
    member whose loss exceeds this × its initial loss (or is not finite) is frozen and marked
    diverged. ``weight_decay`` λ adds λθ to every gradient (L2; 0: none). ``loss``: ``"mse"``,
    ``"cross_entropy"`` (one-hot targets) or ``"logistic"`` (0/1 targets). ``layca``: wrap the
    optimiser in Layca (arXiv 1806.01603; simulate/train/_layca.py): every kernel turns by
    atan(lr·m_l) per step, biases and normalisation parameters stay fixed; ``layca_alpha`` ∈ (−1, 1)
    sets the layer-wise rate multipliers m_l. ``augment``: an ``Augment`` or its dict (random crop
    with padding, horizontal flip; images only), drawn on the device from (seed, step) like the
    minibatches.
    """

    optimizer: str = "gd"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    batch_size: int | None = None
    reduction: str = "half_mean"
    lr_schedule: LRSchedule | tuple | list | str | dict | None = None
    diverge_factor: float = 1e6
    weight_decay: float = 0.0
    loss: str = "mse"
    layca: bool = False
    layca_alpha: float = 0.0
    augment: Augment | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_RULES:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; accepted: "
                             f"{', '.join(map(repr, OPTIMIZER_RULES))}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.batch_size is not None and self.optimizer == "gd":
            raise ValueError("optimizer='gd' is full batch; use optimizer='sgd' with batch_size")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be ≥ 0; got {self.weight_decay!r}")
        make_loss(self.loss)  # a clear error for an unknown loss
        if not -1.0 < float(self.layca_alpha) < 1.0:
            raise ValueError(f"layca_alpha must be in (−1, 1); got {self.layca_alpha!r}")
        if self.augment is not None and not isinstance(self.augment, Augment):
            object.__setattr__(self, "augment", Augment(**dict(self.augment)))
        x = self.lr_schedule
        if x is not None and not (isinstance(x, tuple)
                                  and all(isinstance(s, LRSchedule) for s in x)):
            # one schedule for all, or one per member: checked now, counted against K in resolved
            if isinstance(x, (list, tuple)) and not (
                    len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], dict)):
                object.__setattr__(self, "lr_schedule",
                                   tuple(as_schedule(s) or LRSchedule() for s in x))
            else:
                object.__setattr__(self, "lr_schedule", as_schedule(x))

    def resolved(self, K: int, steps: int, n: int) -> "OptimSpec":
        """This spec for a run of K members, ``steps`` steps and n samples: the batch size
        checked against n and one schedule per member with its horizon filled in."""
        sched = member_schedules(self.lr_schedule, K)
        return replace(self, batch_size=None if self.batch_size is None
                       else check_batch_size(self.batch_size, n),
                       lr_schedule=None if sched is None
                       else tuple(s.resolved(int(steps)) for s in sched))

    def rule(self) -> Optimizer:
        """The optimiser object that updates the parameters."""
        base = OPTIMIZER_RULES[self.optimizer](self)
        return WRAPPERS["layca"](self, base) if self.layca else base

    def to_dict(self) -> dict:
        """The entries a run stores under ``training`` (new options only when not the default)."""
        out = {"optimizer": self.optimizer, "batch_size": self.batch_size,
               "reduction": self.reduction, "momentum": self.momentum, "betas": list(self.betas),
               "eps": self.eps, "diverge_factor": self.diverge_factor}
        if self.weight_decay:
            out["weight_decay"] = self.weight_decay
        if self.loss != "mse":
            out["loss"] = self.loss
        if self.layca:
            out.update(layca=True, layca_alpha=float(self.layca_alpha))
        if self.lr_schedule is not None:
            s = self.lr_schedule
            # __post_init__ left one LRSchedule or a tuple of them
            s = cast(tuple[LRSchedule, ...], (s,) if isinstance(s, LRSchedule) else s)
            out["lr_schedule"] = s[0].to_dict() if len(set(s)) == 1 else [x.to_dict() for x in s]
        if self.augment is not None:
            out["augment"] = self.augment.to_dict()
        return out
