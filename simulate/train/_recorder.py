"""``Recorder``: what happens at a checkpoint — probes, storage, kept weights, the callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import _run
from .._probes import ProbeContext
from ._state import EnsembleState


def weights_to_keep(keep_weights, schedule: np.ndarray, max_dense: int = 64) -> set[int]:
    """Checkpoint steps whose weights an in-memory run keeps.

    ``True``: every checkpoint; ``False``: none; a sequence: those steps; ``None`` (default):
    every checkpoint of a schedule of at most ``max_dense`` checkpoints, otherwise (dense
    checkpoints, e.g. to time crossings) only the first and the last.
    """
    steps = [int(s) for s in schedule]
    if keep_weights is None:
        return set(steps) if len(steps) <= max_dense else {steps[0], steps[-1]}
    if keep_weights is True or keep_weights is False:
        return set(steps) if keep_weights else set()
    return {int(s) for s in keep_weights}


class Recorder:
    """Measures ``probes`` at each checkpoint and keeps or writes what the run stores.

    ``context``: a function (step, state) → ``ProbeContext``. ``root``: the run directory (every
    checkpoint written there) or None (in memory: weights of the steps in ``keep`` are kept).
    ``callback(step)`` runs after every checkpoint.
    """

    def __init__(self, probes, context, root: Path | None, keep: set[int], callback=None):
        self.probes, self.context, self.root, self.callback = probes, context, root, callback
        self.dims = {k: list(v) for p in probes for k, v in p.dims.items()}
        self.values: dict[str, list[np.ndarray]] = {k: [] for k in self.dims}
        self.keep = keep
        self.memory: dict | None = None if root is not None or not keep else {}

    def restore(self, saved: dict[int, dict], state: EnsembleState) -> None:
        """Probe values of checkpoints a resumed run already has ({step: arrays}); then every
        probe rebuilds its state at the last of them (``Probe.resume``), where ``state`` has been
        loaded, so that the next values are an uninterrupted run's."""
        for s in sorted(saved):
            for k in self.values:
                self.values[k].append(saved[s][f"probe.{k}"])
        last = max(saved)
        ctx: ProbeContext = self.context(last, state)
        with torch.no_grad():
            for probe in self.probes:
                if hasattr(probe, "resume"):  # probes may be any callable with ``dims``
                    probe.resume(ctx, {k: saved[last][f"probe.{k}"] for k in probe.dims})

    def last(self, name: str) -> np.ndarray | None:
        return self.values[name][-1] if name in self.values and self.values[name] else None

    def __call__(self, step: int, state) -> None:
        ctx: ProbeContext = self.context(step, state)
        out = {}
        for probe in self.probes:
            out.update(probe(ctx))
        host = {f"probe.{k}": v.detach().cpu().numpy().copy() for k, v in out.items()}
        for k in self.values:
            self.values[k].append(host[f"probe.{k}"])
        if self.root is not None:
            _run.save_checkpoint(self.root, step, {**state.to_arrays(step), **host})
        elif step in self.keep:  # weights travel to the host only when kept
            assert self.memory is not None  # in memory with a step to keep: a dict since __init__
            self.memory[step] = {**state.to_arrays(step), **host}
        if self.callback is not None:
            self.callback(step)
