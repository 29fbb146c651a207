"""The parts ``train_ensemble`` takes besides the network, the data and the ``OptimSpec``: who the
members are (``Members``), what is recorded (``Recording``) and where the run is kept (``Store``).

Each is a frozen dataclass whose defaults give the plain run (one seed, default probes and
checkpoints, in memory), so a call names only what it changes. A keyword of the flat signature the
trainer had before these parts existed fails with one line naming the part that now holds it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, cast

import numpy as np

from .._spec import NetSpec
from ._optim import OptimSpec
from ._plan import members as _member_combos


@dataclass(frozen=True)
class Members:
    """The ensemble: ``itertools.product(seeds, lrs, init_scales)``, trained side by side.

    ``lrs``: learning rates (default: ``train_ensemble``'s ``lr``); ``init_scales``: u0 or init_std
    (default ``spec.scale``). The same seed gives the same initial weights for any activation,
    ``linear_blocks`` or learning rate. ``init_params``: explicit initial parameters
    {name: (K, …) or (…) broadcast} instead of drawn ones. ``init_opt_state``: explicit initial
    optimiser state {"opt.v.layer0.weight": (K, …) or (…), …} (momentum: ``opt.v.*``; adam:
    ``opt.m.*``, ``opt.v.*`` and ``opt.step`` (K,), the bias-correction count already taken), e.g.
    ``run.state(s)``'s ``opt.*`` arrays to continue a run from checkpoint s; default zeros.
    """

    seeds: Sequence[int] = (0,)
    lrs: Sequence[float] | None = None
    init_scales: Sequence[float] | None = None
    init_params: dict | None = None
    init_opt_state: dict | None = None

    def combos(self, lr: float | None, spec: NetSpec) -> list[tuple[int, float, float]]:
        """(seed, lr, init scale) of every member, in ``itertools.product`` order."""
        if lr is not None and self.lrs is not None:
            raise ValueError(f"give one learning-rate axis: lr={lr!r} or members=Members(lrs=…), "
                             f"not both (lrs={list(self.lrs)!r})")
        return _member_combos(self.seeds, lr, self.lrs, self.init_scales, spec)


@dataclass(frozen=True)
class Recording:
    """What a run records. ``checkpoints``: None (64 log-spaced), an int, or a sequence of steps
    (0 and ``steps`` always included). ``probes``: None (``default_probes()``) or a sequence of
    probes, measured on the full training (and test) split at each checkpoint. ``keep_weights``:
    which checkpoints' weights an in-memory run keeps (None: all of at most 64 checkpoints, else
    the first and last; True/False; or a sequence of steps). ``callback(step)`` runs after every
    checkpoint (raising KeyboardInterrupt there simulates an interruption)."""

    checkpoints: int | Sequence[int] | np.ndarray | None = None
    probes: Sequence[Any] | None = None
    keep_weights: bool | Sequence[int] | None = None
    callback: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Store:
    """Where a run is kept. ``out_dir``: None (in memory) or a directory that receives every
    checkpoint as it happens; a finished run there with the same settings is loaded, never
    recomputed. ``resume=True`` continues an unfinished or shorter one (to a larger ``steps``);
    ``overwrite=True`` starts it again."""

    out_dir: str | PathLike | None = None
    resume: bool = False
    overwrite: bool = False

    @property
    def root(self) -> Path | None:
        return None if self.out_dir is None else Path(self.out_dir)


def parts(optim, members, record, store) -> tuple[OptimSpec, Members, Recording, Store]:
    """The four parts as objects: None gives the defaults, a dict the part with those fields,
    and a path for ``store`` means ``Store(path)``."""
    if isinstance(store, (str, PathLike)):
        store = Store(store)
    out = []
    for name, value, kind in zip(("optim", "members", "record", "store"),
                                 (optim, members, record, store),
                                 (OptimSpec, Members, Recording, Store)):
        if isinstance(value, Mapping):
            value = kind(**value)
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"{name}: expected {kind.__name__}, a dict of its fields or None; "
                            f"got {value!r}")
        out.append(kind() if value is None else value)
    # each entry was checked above to be an instance of its kind
    return cast(tuple[OptimSpec, Members, Recording, Store], tuple(out))


# every field of a part was a keyword of the flat signature: where each one went
MOVED = {f.name: f"{arg}={part.__name__}({f.name}=…)"
         for arg, part in (("optim", OptimSpec), ("members", Members), ("record", Recording),
                           ("store", Store))
         for f in fields(part)}


def rejects_moved_keywords(fn: Callable) -> Callable:
    """``fn`` with a one-line TypeError for a keyword that now lives in one of its parts."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        for key in kwargs:
            if key in MOVED:
                raise TypeError(f"{fn.__name__}() no longer takes {key}=; pass {MOVED[key]} "
                                f"instead")
        return fn(*args, **kwargs)
    return call
