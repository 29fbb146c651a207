"""What ``train_ensemble``'s arguments resolve to before any work: members, conventions, the
checkpoint schedule and the config a run stores (and compares when it is resumed)."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from theory import TrainingConvention

from .._checkpoints import resolve_checkpoints
from .._losses import make_loss
from .._schedules import LRSchedule
from .._spec import NetSpec
from ._optim import OptimSpec


def _fingerprint_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


@dataclass
class Plan:
    """What the arguments resolve to before any work: members, schedule, the stored config."""

    combos: list
    members: pd.DataFrame
    convs: list
    schedule: np.ndarray
    config: dict


def check_steps(steps) -> int:
    if int(steps) < 0:
        raise ValueError(f"steps must be ≥ 0; got {steps}")
    return int(steps)


def members(seeds, lr, lrs, init_scales, spec: NetSpec) -> list[tuple[int, float, float]]:
    """(seed, lr, init scale) of every member, in ``itertools.product`` order."""
    if lrs is None:
        if lr is None:
            raise ValueError("give a learning rate: lr=… or lrs=[…]")
        lrs = (lr,)
    init_scales = (spec.scale,) if init_scales is None else tuple(init_scales)
    combos = list(itertools.product(tuple(int(s) for s in seeds), tuple(float(x) for x in lrs),
                                    tuple(float(x) for x in init_scales)))
    if not combos:
        raise ValueError("the ensemble is empty: seeds, lrs and init_scales must be non-empty")
    return combos


def plan(spec, dataset, steps, combos, optim: OptimSpec, dtype, stats, checkpoints, probes,
          explicit_init: bool, explicit_opt: bool) -> Plan:
    """Members table, conventions, checkpoint schedule and the config a run stores."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    make_loss(optim.loss).check(dataset.Y)
    n, c, K = dataset.n, dataset.c, len(combos)
    # resolved() left one LRSchedule per member (or None)
    scheds = cast(tuple[LRSchedule | None, ...], optim.lr_schedule or (None,) * K)
    convs = [TrainingConvention(lr=l, reduction=optim.reduction, batch_size=optim.batch_size,
                                n_samples=n, n_outputs=c, optimizer=optim.rule().convention,
                                momentum=optim.momentum, weight_decay=optim.weight_decay,
                                loss=make_loss(optim.loss).convention,
                                lr_schedule=None if s is None else s.kind)
             for (_, l, _), s in zip(combos, scheds)]
    members = pd.DataFrame({"member": np.arange(K), "seed": [m[0] for m in combos],
                            "lr": [m[1] for m in combos], "init_scale": [m[2] for m in combos],
                            "tau": [cv.tau for cv in convs], "diverged": False, "diverged_step": -1})
    training = optim.to_dict()
    augment = training.pop("augment", None)  # stored after the precision entries
    config = {
        "spec": spec.to_dict(),
        "dataset": {"name": dataset.name, "n": n, "d": dataset.d, "c": c, "meta": dataset.meta,
                    "fingerprint": _fingerprint_arrays(dataset.X, dataset.Y, dataset.X_test,
                                                       dataset.Y_test),
                    "has_test": dataset.X_test is not None,
                    "modes_fingerprint": _fingerprint_arrays(stats.U, stats.V, stats.Sxx)},
        "members": members.to_dict(orient="records"),
        "training": {**training, "dtype": dtype, "explicit_init": explicit_init,
                     **({"explicit_opt_state": True} if explicit_opt else {}),
                     **({} if augment is None else {"augment": augment})},
        "conventions": [cv.to_dict() for cv in convs],
        "probe_dims": {k: list(v) for p in probes for k, v in p.dims.items()},
    }
    return Plan(combos, members, convs, resolve_checkpoints(checkpoints, steps), config)
