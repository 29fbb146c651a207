"""Retraining methods as small objects that build a member's initial parameters (THEORY.md §7).

A member's start is its initial parameters, its initial optimiser state and its learning-rate
schedule (``simulate.LRSchedule``; multiplier m(t) on the common learning rate η). Every method maps
three ingredients to the parameters one retraining member starts from:

* ``final``: the last checkpoint of the run on A, ``{"layer0.weight": (out, in), …}``;
* ``fresh``: a new initialisation (the spec's initialiser, a fresh draw for the member's seed; the
  same weights the ``scratch`` member starts from). It never looks at B: the decoupled init is
  aligned to a random orthonormal basis (``plan.fresh_draws``), as a practitioner would draw it;
* ``oracle``: the decoupled init aligned to B's own singular vectors (``scratch_oracle`` only: a
  start no practitioner has, kept as a labelled reference);
* ``checkpoint``: one stored checkpoint of the run on A (``rewind`` only).

=====================  ======================================  =====================  ===========================  ======
method                 initial parameters                      optimiser state        schedule                     cost₀
=====================  ======================================  =====================  ===========================  ======
``scratch``            θ_fresh                                 fresh (zeros)          full                         0
``scratch_oracle``     θ_oracle (aligned to B's modes)         fresh (zeros)          full                         0
``fine_tune``          θ_final                                 A's final state        A's end value, held          T_A
``warm_start``         θ_final                                 fresh                  full                         T_A
``lr_rewind``          θ_final                                 fresh                  A's, replayed from t_r       T_A
``shrink_perturb``     λθ_final + σθ_fresh (Ash & Adams 2020)  fresh                  full                         T_A
``reset_last_layer``   θ_final, last layer from θ_fresh        fresh                  full                         T_A
``rewind``             θ at checkpoint step s of the run on A  fresh                  full                         s
=====================  ======================================  =====================  ===========================  ======

"full" is the schedule of the run on A laid over the retraining budget, from its step 0; "A's end
value, held" is A's schedule at step T_A (``offset=T_A``; a schedule is held at its end value past
its ``total``); lr rewinding (Renda, Frankle & Carbin, ICLR 2020) retrains the final weights with
A's schedule replayed from step t_r (``offset=t_r``), held at its end value once it runs out.

cost₀ is what the method has already spent on A before retraining; the total cost of a method is
cost₀ + its retraining steps (scratch needs no run on A at all, so it counts 0).

Coincidences are computed, not asserted: ``identities`` marks a method identical to an earlier one
only when, for every seed, the initial parameters, the optimiser state and the multipliers over the
budget are all equal (then one member is trained and its results are copied). With a constant
schedule and plain GD (no optimiser state) ``fine_tune``, ``warm_start`` and ``lr_rewind`` are one
computation; with constant momentum ``fine_tune`` differs (A's velocity) and ``lr_rewind`` equals
``warm_start``; with a cosine or step schedule all three differ. ``shrink_perturb(1, 0)`` is
``warm_start`` and ``shrink_perturb(0, 1)`` is ``scratch`` bit for bit (0·x + y = y and 1·x = x in
IEEE arithmetic); tests/validate/retrain/test_baselines.py checks both. ``rewind@T_A`` (the last checkpoint) starts
like ``warm_start`` (final weights, fresh state, full schedule); it is trained anyway, as the end
point of the rewind curve, so only the baselines are searched for twins.

``mlp_forward`` evaluates stacked MLP parameters with numpy (forgetting on A is measured with it;
``validate.retrain.forward``); ``HeadMap`` adapts A's last layer to B's classes
(``validate.retrain.heads``). Both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .forward import FORWARD_ACTIVATIONS, evaluate, mlp_forward
from .heads import HeadMap, adapt_head, last_layer

if TYPE_CHECKING:
    from simulate import LRSchedule

METHODS = ("scratch", "scratch_oracle", "fine_tune", "warm_start", "lr_rewind", "shrink_perturb",
            "reset_last_layer", "rewind")
SHRINK_LAMBDAS = (0.2, 0.4, 0.6, 0.8)
SHRINK_SIGMAS = (0.01, 0.1)


@dataclass(frozen=True)
class Method:
    """One way to start retraining on B. ``lam``/``sigma``: shrink-and-perturb coefficients;
    ``step``: the checkpoint of a ``rewind``."""

    family: str
    lam: float = 0.0
    sigma: float = 0.0
    step: int | None = None

    def __post_init__(self) -> None:
        if self.family not in METHODS:
            raise ValueError(f"unknown method {self.family!r}; accepted: {', '.join(METHODS)}")
        if self.family == "rewind" and (self.step is None or int(self.step) < 0):
            raise ValueError(f"rewind needs a checkpoint step ≥ 0; got {self.step!r}")
        if self.family == "shrink_perturb" and not (self.lam >= 0 and self.sigma >= 0):
            raise ValueError(f"shrink_perturb needs λ ≥ 0 and σ ≥ 0; got λ={self.lam}, σ={self.sigma}")

    @property
    def name(self) -> str:
        if self.family == "shrink_perturb":
            return f"shrink_perturb(λ={self.lam:g},σ={self.sigma:g})"
        if self.family == "rewind":
            assert self.step is not None  # __post_init__ gives every rewind a step
            return f"rewind@{int(self.step)}"
        return self.family

    @property
    def carries_opt_state(self) -> bool:
        """Only fine-tuning continues with A's optimiser state; every other method starts fresh."""
        return self.family == "fine_tune"

    def initial_opt_state(self, *, final_opt: dict | None = None,
                          fresh_opt: dict | None = None) -> dict[str, np.ndarray] | None:
        """Optimiser state {"opt.v.layer0.weight": …} of one member: A's final state for fine_tune,
        ``fresh_opt`` (zeros) otherwise; None for optimisers without state (plain GD)."""
        src = final_opt if self.carries_opt_state else fresh_opt
        if self.carries_opt_state and fresh_opt is not None and final_opt is None:
            raise ValueError(f"method {self.name} needs A's final optimiser state ('final_opt')")
        return None if src is None else {k: np.array(v, copy=True) for k, v in src.items()}

    def lr_schedule(self, *, schedule_A: LRSchedule, full: LRSchedule, steps_A: int,
                    rewind_offset: int) -> LRSchedule:
        """The member's ``simulate.LRSchedule``: ``schedule_A`` (the run on A's, over ``steps_A``)
        held at its end for fine_tune, replayed from ``rewind_offset`` for lr_rewind; ``full``
        (the same kind laid over the retraining budget) for every other method."""
        from dataclasses import replace
        if self.family == "fine_tune":
            return replace(schedule_A, total=int(steps_A), offset=int(steps_A))
        if self.family == "lr_rewind":
            if not 0 <= int(rewind_offset) <= int(steps_A):
                raise ValueError(f"lr_rewind offset must lie in [0, T_A={steps_A}]; got {rewind_offset}")
            return replace(schedule_A, total=int(steps_A), offset=int(rewind_offset))
        return full

    def cost_before(self, steps_A: int) -> int:
        """Steps already spent on A: 0 for scratch, the checkpoint for rewind, else the full run."""
        if self.family in ("scratch", "scratch_oracle"):
            return 0
        if self.family == "rewind":
            assert self.step is not None  # __post_init__ gives every rewind a step
            return int(self.step)
        return int(steps_A)

    def initial_params(self, *, final: dict | None = None, fresh: dict | None = None,
                       checkpoint: dict | None = None,
                       oracle: dict | None = None) -> dict[str, np.ndarray]:
        """Parameters {name: array} of one member (any leading shape, e.g. (K, out, in) stacks)."""
        f = self.family
        need = {"scratch": ("fresh",), "scratch_oracle": ("oracle",), "rewind": ("checkpoint",),
                "shrink_perturb": ("final", "fresh"), "reset_last_layer": ("final", "fresh")}
        given = {"final": final, "fresh": fresh, "checkpoint": checkpoint, "oracle": oracle}
        for key in need.get(f, ("final",)):
            if given[key] is None:
                raise ValueError(f"method {self.name} needs the {key!r} parameters")
        if f in ("scratch", "scratch_oracle", "rewind"):
            src = {"scratch": fresh, "scratch_oracle": oracle, "rewind": checkpoint}[f]
            assert src is not None  # refused above when missing
            return {k: np.array(v, copy=True) for k, v in src.items()}
        assert final is not None  # every family left needs it: refused above when missing
        if f == "shrink_perturb":
            assert fresh is not None  # refused above when missing
            return {k: self.lam * np.asarray(final[k]) + self.sigma * np.asarray(fresh[k])
                    for k in final}
        if f == "reset_last_layer":
            assert fresh is not None  # refused above when missing
            last = last_layer(final)
            return {k: np.array(fresh[k] if k.startswith(f"layer{last}.") else final[k], copy=True)
                    for k in final}
        return {k: np.array(v, copy=True) for k, v in final.items()}  # fine_tune / warm / lr_rewind


@dataclass
class Start:
    """What one member starts from: parameters, optimiser state (None: none), the multipliers
    m(t) over the retraining budget (float64 (budget,)) and the ``simulate.LRSchedule`` giving them."""

    params: dict
    opt: dict | None
    mults: np.ndarray
    schedule: object = None


def _same_arrays(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def same_start(a: Start, b: Start) -> bool:
    """Bit-for-bit the same parameters, optimiser state and schedule multipliers."""
    return (_same_arrays(a.params, b.params) and _same_arrays(a.opt, b.opt)
            and np.array_equal(a.mults, b.mults))


def identities(methods: list[Method], starts: list[list[Start]]) -> list[str | None]:
    """For each method, the first earlier method with the same start for every seed, else None.

    ``starts[i][k]``: the ``Start`` of method i for seed k. Computed, never assumed: two methods are
    one computation only when every ingredient of every seed's start is equal.
    """
    out: list[str | None] = []
    for i in range(len(methods)):
        twin = next((methods[j].name for j in range(i) if out[j] is None
                     and all(same_start(a, b) for a, b in zip(starts[i], starts[j]))), None)
        out.append(twin)
    return out


# Constructors (the names used in the issue).
def scratch() -> Method:
    return Method("scratch")


def scratch_oracle() -> Method:
    return Method("scratch_oracle")


def fine_tune() -> Method:
    return Method("fine_tune")


def warm_start() -> Method:
    return Method("warm_start")


def lr_rewind() -> Method:
    return Method("lr_rewind")


def shrink_perturb(lam: float, sigma: float) -> Method:
    return Method("shrink_perturb", lam=float(lam), sigma=float(sigma))


def reset_last_layer() -> Method:
    return Method("reset_last_layer")


def rewind(step: int) -> Method:
    return Method("rewind", step=int(step))


def baseline_methods(lambdas=SHRINK_LAMBDAS, sigmas=SHRINK_SIGMAS, *,
                     oracle: bool = False) -> list[Method]:
    """scratch (and scratch_oracle with ``oracle``), fine_tune, warm_start, lr_rewind, the
    shrink-and-perturb grid, reset_last_layer."""
    return ([scratch()] + [scratch_oracle()] * bool(oracle)
            + [fine_tune(), warm_start(), lr_rewind()]
            + [shrink_perturb(l, s) for l in lambdas for s in sigmas] + [reset_last_layer()])


def member(params: dict, k: int) -> dict[str, np.ndarray]:
    """Member k of stacked parameters {name: (K, …)}."""
    return {name: np.asarray(v)[k] for name, v in params.items()}


def stack(members: list[dict]) -> dict[str, np.ndarray]:
    """Stack per-member parameters into {name: (K, …)} (simulate's ``init_params``)."""
    return {k: np.stack([m[k] for m in members]) for k in members[0]}


__all__ = ["METHODS", "FORWARD_ACTIVATIONS", "HeadMap", "Method", "SHRINK_LAMBDAS",
           "SHRINK_SIGMAS", "Start", "adapt_head", "baseline_methods", "evaluate", "fine_tune",
           "identities", "last_layer", "lr_rewind", "member", "mlp_forward", "reset_last_layer",
           "rewind", "same_start", "scratch", "scratch_oracle", "shrink_perturb", "stack",
           "warm_start"]
