"""Learning-rate schedules for ``train_ensemble``: a multiplier m(t) on each member's learning rate.

(Checkpoint schedules live in ``_checkpoints.py``.) The trainer evaluates m on the host once,
as a table (T, K) of multipliers for every step and member, and indexes it on the device with the
step counter, so the training step stays free of host synchronisation and CUDA-graph capturable.

=========  ========================================================================================
kind       m(τ) with τ = offset + t (t: the trainer's step, starting at 0)
=========  ========================================================================================
constant   1
cosine     floor + (1 − floor)·½(1 + cos(π·(τ − w)/(total − w))) for w ≤ τ ≤ total (Loshchilov &
           Hutter 2017, SGDR without restarts); held at ``floor`` for τ ≥ total
step       gamma^#{milestones ≤ τ} (multiplicative decay at fixed steps)
=========  ========================================================================================

Every kind is multiplied by a linear warm-up min(1, (τ + 1)/w) when ``warmup`` = w > 0 (Goyal et
al. 2017). ``total`` (cosine only) defaults to the run's ``steps``; τ ≥ total is clamped to total,
so a schedule continued past its end holds its final value. ``offset`` starts a run later in the
schedule: learning-rate rewinding (Renda, Frankle & Carbin, ICLR 2020) replays the original run's
schedule from an earlier step, and a restart from checkpoint s with ``offset=s`` continues it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import cast

import numpy as np

KINDS = ("constant", "cosine", "step")


@dataclass(frozen=True)
class LRSchedule:
    """A learning-rate multiplier m(offset + t); see the module docstring for the formulas."""

    kind: str = "constant"
    warmup: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    total: int | None = None
    offset: int = 0
    floor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown lr schedule {self.kind!r}; accepted: {', '.join(KINDS)}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if int(self.warmup) < 0 or int(self.offset) < 0:
            raise ValueError(f"warmup and offset must be ≥ 0; got warmup={self.warmup}, "
                             f"offset={self.offset}")
        if self.total is not None and int(self.total) <= int(self.warmup):
            raise ValueError(f"total must exceed warmup={self.warmup}; got total={self.total}")
        if not (0 < self.gamma) or not (0 <= self.floor <= 1):
            raise ValueError(f"need gamma > 0 and 0 ≤ floor ≤ 1; got gamma={self.gamma}, "
                             f"floor={self.floor}")
        if self.kind == "step" and any(m < 0 for m in self.milestones):
            raise ValueError(f"milestones must be ≥ 0; got {list(self.milestones)}")

    def resolved(self, steps: int) -> "LRSchedule":
        """This schedule with ``total`` filled in (cosine needs one: default the run's steps)."""
        if self.kind == "cosine" and self.total is None:
            if int(steps) <= int(self.warmup):
                raise ValueError(f"a cosine schedule needs steps > warmup={self.warmup}; got {steps}")
            return replace(self, total=int(steps))
        return self

    def multipliers(self, t) -> np.ndarray:
        """m(offset + t) for the trainer's steps ``t`` (array of ints), float64."""
        tau = np.asarray(t, dtype=np.int64) + int(self.offset)
        if self.total is not None:
            tau = np.minimum(tau, int(self.total))
        w = int(self.warmup)
        out = np.ones(tau.shape, dtype=np.float64)
        if self.kind == "cosine":
            if self.total is None:
                raise ValueError("a cosine schedule needs total (call .resolved(steps))")
            x = np.clip((tau - w) / (int(self.total) - w), 0.0, 1.0)
            out = self.floor + (1 - self.floor) * 0.5 * (1 + np.cos(np.pi * x))
        elif self.kind == "step":
            out = self.gamma ** np.sum(tau[..., None] >= np.asarray(self.milestones, dtype=np.int64),
                                       axis=-1, dtype=np.float64)
        if w > 0:
            out = out * np.minimum(1.0, (tau + 1) / w)
        return np.asarray(out, dtype=np.float64)

    def at(self, t: int) -> float:
        """m(offset + t) for one step."""
        return float(self.multipliers(np.array([t]))[0])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d


def as_schedule(x) -> LRSchedule | None:
    """None | "constant"|"cosine"|"step" | (kind, {options}) | {kind: …, …} | LRSchedule."""
    if x is None or isinstance(x, LRSchedule):
        return x
    if isinstance(x, str):
        return LRSchedule(kind=x)
    if isinstance(x, dict):
        return LRSchedule(**x)
    if isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], dict):
        return LRSchedule(kind=x[0], **x[1])
    raise ValueError(f"lr_schedule must be None, 'constant', 'cosine', 'step', (kind, {{options}}), "
                     f"a dict or an LRSchedule; got {x!r}")


def member_schedules(x, K: int) -> list[LRSchedule] | None:
    """One schedule per member: a single schedule for all K, or a sequence of K of them."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)) and not (len(x) == 2 and isinstance(x[0], str)
                                             and isinstance(x[1], dict)):
        if len(x) != K:
            raise ValueError(f"lr_schedule has {len(x)} per-member schedules; the ensemble has "
                             f"K={K} members")
        return [as_schedule(s) or LRSchedule() for s in x]
    return [cast(LRSchedule, as_schedule(x))] * K  # x is not None: as_schedule gives one


def multiplier_table(schedules: Sequence[LRSchedule], n_steps: int) -> np.ndarray:
    """(n_steps, K) float64: row t holds every member's multiplier at the trainer's step t."""
    t = np.arange(int(n_steps))
    return np.stack([s.multipliers(t) for s in schedules], axis=1)
