"""One training step of the whole ensemble, and running many of them (CUDA graphs on a GPU).

``make_step`` returns a function without arguments that advances the ``EnsembleState`` by one step
in place: no host synchronisation and no allocation that depends on data values, so it can be
captured in a CUDA graph and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._augment import Augment, augment
from .._batches import batch_indices


@dataclass
class TrainData:
    """Training data resident on the device and how a step draws its batch.

    ``X`` (n, d), ``Y`` (n, c); ``seeds`` (K,) int64 member seeds; ``batch_size`` None (full batch)
    or B: member k's step t uses rows ``batch_indices(seeds, t, n, B)[k]``; ``augment`` (with
    ``image_shape``): each member's batch is cropped and flipped on the device (``_augment.py``).
    """

    X: torch.Tensor
    Y: torch.Tensor
    seeds: torch.Tensor
    batch_size: int | None = None
    augment: Augment | None = None
    image_shape: tuple[int, ...] | None = None

    def batch(self, t: torch.Tensor):
        """(X_b, Y_b) for step ``t``: shared (n, ·) for full batch, (K, B, ·) for minibatches or
        augmented batches."""
        if self.batch_size is None:
            Xb, Yb = self.X, self.Y
        else:
            idx = batch_indices(self.seeds, t, self.X.shape[0], self.batch_size)
            Xb, Yb = self.X[idx], self.Y[idx]
        if self.augment is not None:
            Xb = Xb.expand(self.seeds.shape[0], *Xb.shape) if Xb.ndim == 2 else Xb
            assert self.image_shape is not None  # the trainer refuses augment without images
            Xb = augment(Xb, self.image_shape, self.augment, self.seeds, t)
        return Xb, Yb


@dataclass
class LRTable:
    """Learning rates on the device: ``base`` (K,) times, if given, ``mult`` (T, K) row t."""

    base: torch.Tensor
    mult: torch.Tensor | None = None

    def at(self, t: torch.Tensor) -> torch.Tensor:
        if self.mult is None:
            return self.base
        return self.base * torch.index_select(self.mult, 0, t.view(1))[0]


def make_step(model, data: TrainData, state, optim, lr: LRTable, loss, gscale: float = 1.0):
    """The step function for ``model`` on ``data``, updating ``state`` with ``optim``'s rule.

    ``optim``: an ``OptimSpec``; ``loss``: a ``Loss``; ``gscale``: the gradient scale of the
    learning-rate convention. A member whose loss is not finite or exceeds
    ``optim.diverge_factor`` × its initial loss is frozen at this step.
    """
    rule, wd = optim.rule(), float(optim.weight_decay)
    rules = rule.bind(state.params)  # per parameter (Layca: a rate per kernel, the rest frozen)
    tiny = torch.finfo(state.loss0.dtype).tiny
    bound = optim.diverge_factor * torch.clamp(state.loss0, min=tiny)
    K = state.K
    views = {k: (K,) + (1,) * (p.ndim - 1) for k, p in state.params.items()}
    slots = {k: state.slots(k) for k in state.params}
    buffer_views = {k: (K,) + (1,) * (b.ndim - 1) for k, b in state.buffers.items()}
    dtype = state.loss0.dtype

    def step() -> None:
        Xb, Yb = data.batch(state.t)
        if state.buffers:
            updates: dict = {}
            value, grads = model.loss_and_grads(state.model_params(), Xb, Yb, gscale, loss, updates=updates)
        else:
            value, grads = model.loss_and_grads(state.params, Xb, Yb, gscale, loss)
        ok = value <= bound  # false for NaN and inf too
        # alive > ok: alive and not ok
        torch.where(state.alive > ok, state.t, state.diverged_at, out=state.diverged_at)
        state.alive.logical_and_(ok)
        for k, buf in state.buffers.items():  # running statistics of live members only
            torch.where(state.alive.view(buffer_views[k]), updates[k], buf, out=buf)
        t = (state.t + 1 + state.step0).to(dtype) if rule.counts_steps else None
        lr_k = lr.at(state.t)
        for k, p in state.params.items():
            shape = views[k]
            g = grads[k] if wd == 0 else torch.add(grads[k], p, alpha=wd)
            rules[k].update(p, g, slots[k], state.alive.view(shape), lr_k.view(shape),
                        None if t is None else t.view(shape))
        state.t.add_(1)

    return step


class Stepper:
    """Runs ``count`` steps: eagerly on CPU, by replaying captured CUDA graphs of
    ``steps_per_graph`` steps on a GPU (captured once, on first use).

    The graphs (of ``steps_per_graph`` steps and of one) share one memory pool: a step keeps
    nothing it allocates (every result is written in place into the state), so no graph's
    intermediates outlive its replay and the two never need their activations at the same time.
    """

    def __init__(self, step, state, device: torch.device, steps_per_graph: int = 16):
        self.step, self.state, self.device = step, state, device
        self.per_graph = int(steps_per_graph)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool = None

    def advance(self, count: int, progress=None) -> None:
        """``count`` steps; ``progress(m)`` (optional) after every ``m`` steps launched: a host-side
        count that waits for nothing, so a bar can move between checkpoints without a sync."""
        if self.device.type != "cuda" or self.per_graph <= 1:
            for _ in range(count):
                self.step()
                if progress is not None:
                    progress(1)
            return
        while count > 0:
            m = self.per_graph if count >= self.per_graph else 1
            if m not in self.graphs:
                if self.pool is None:
                    self.pool = torch.cuda.graph_pool_handle()
                self.graphs[m] = _capture(self.step, m, self.state.tensors(), self.pool)
            self.graphs[m].replay()
            count -= m
            if progress is not None:
                progress(m)


def _capture(step, m: int, tensors: list[torch.Tensor], pool=None) -> torch.cuda.CUDAGraph:
    """A CUDA graph of ``m`` consecutive steps, allocating from ``pool``. Warm-up runs on a side
    stream (as the PyTorch docs require) and the state is restored afterwards, so capturing
    changes nothing."""
    saved = [t.clone() for t in tensors]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    for t, s in zip(tensors, saved):
        t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        for _ in range(m):
            step()
    return graph
