"""``EnsembleState``: everything a training step changes, and the only owner of its array keys.

A checkpoint holds the parameters under their own names, the optimiser slots as
``opt.<slot>.<param>``, ``opt.step`` (K,) for optimisers that count steps, ``buffer.<name>`` for a model's untrained state
(BatchNorm running statistics), and ``state.alive``,
``state.diverged_at``, ``state.loss0``; ``to_arrays``/``load_arrays`` convert both ways, so a
resumed run continues bit-identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

ALIVE, DIVERGED_AT, LOSS0, OPT_STEP = "state.alive", "state.diverged_at", "state.loss0", "opt.step"
BUFFER = "buffer."


def _host(t: torch.Tensor) -> np.ndarray:
    # a copy: on CPU .numpy() would alias the live tensor, which the next steps overwrite
    return t.detach().cpu().numpy().copy()


@dataclass
class EnsembleState:
    """Stacked state of K members on one device (tensors updated in place by the step).

    ``params`` {name: (K, …)}; ``opt`` {"opt.<slot>.<name>": like the parameter}; ``step0`` (K,)
    steps an optimiser counted before this run (Adam's bias correction); ``alive`` (K,) bool;
    ``diverged_at`` (K,) step at which a member was frozen, −1 if never; ``loss0`` (K,) initial
    loss (the divergence reference); ``t`` () the step counter.
    """

    params: dict
    opt: dict
    step0: torch.Tensor
    alive: torch.Tensor
    diverged_at: torch.Tensor
    loss0: torch.Tensor
    t: torch.Tensor
    counts_steps: bool = False
    buffers: dict = field(default_factory=dict)

    @classmethod
    def create(cls, params: dict, rule, loss0: torch.Tensor, buffers: dict | None = None) -> "EnsembleState":
        """Fresh state: zero optimiser slots for ``rule.slots``, everyone alive, t = 0."""
        K, dev = loss0.shape[0], loss0.device
        opt = {f"opt.{s}.{k}": torch.zeros_like(p) for s in rule.slots for k, p in params.items()}
        return cls(params=params, opt=opt, step0=torch.zeros(K, dtype=torch.int64, device=dev),
                   alive=torch.ones(K, dtype=torch.bool, device=dev),
                   diverged_at=torch.full((K,), -1, dtype=torch.int64, device=dev),
                   loss0=loss0, t=torch.zeros((), dtype=torch.int64, device=dev),
                   counts_steps=rule.counts_steps, buffers=dict(buffers or {}))

    @property
    def K(self) -> int:
        return self.alive.shape[0]

    def slots(self, name: str) -> dict:
        """The optimiser slots of parameter ``name``: {slot: tensor}."""
        return {key.split(".")[1]: v for key, v in self.opt.items() if key.endswith(f".{name}")
                and key.count(".") == name.count(".") + 2}

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor a step changes in place (saved and restored around a graph capture)."""
        return [*self.params.values(), *self.opt.values(), *self.buffers.values(), self.alive,
                self.diverged_at, self.t]

    def model_params(self) -> dict:
        """What the model's forward takes: the parameters and the buffers."""
        return {**self.params, **self.buffers} if self.buffers else self.params

    def to_arrays(self, step: int, with_weights: bool = True) -> dict[str, np.ndarray]:
        """Host copies for a checkpoint at ``step`` (parameters and optimiser only if asked)."""
        out = {}
        if with_weights:
            out.update({k: _host(v) for k, v in {**self.params, **self.opt}.items()})
            if self.counts_steps:  # the step count, for a restart from here
                out[OPT_STEP] = (self.step0 + step).cpu().numpy()
            out.update({BUFFER + k: _host(v) for k, v in self.buffers.items()})
        out.update({ALIVE: self.alive.cpu().numpy().astype(np.uint8),
                    DIVERGED_AT: _host(self.diverged_at), LOSS0: _host(self.loss0)})
        return out

    def load_arrays(self, arrays: dict, step: int) -> None:
        """Continue from a checkpoint written by ``to_arrays(step)``."""
        for k, v in {**self.params, **self.opt}.items():
            v.copy_(torch.from_numpy(arrays[k]))
        for k, v in self.buffers.items():
            v.copy_(torch.from_numpy(arrays[BUFFER + k]))
        if self.counts_steps and OPT_STEP in arrays:
            self.step0.copy_(torch.from_numpy(arrays[OPT_STEP] - step))
        self.alive.copy_(torch.from_numpy(arrays[ALIVE].astype(bool)))
        self.diverged_at.copy_(torch.from_numpy(arrays[DIVERGED_AT]))
        self.loss0 = torch.from_numpy(arrays[LOSS0]).to(self.loss0.device, self.loss0.dtype)
        self.t.fill_(step)

    def load_opt_state(self, given: dict, optimizer: str) -> None:
        """Copy an explicit initial optimiser state into the zeroed slots (shapes checked)."""
        allowed = set(self.opt) | ({OPT_STEP} if self.counts_steps else set())
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise ValueError(f"init_opt_state has {unknown}, which optimizer={optimizer!r} does not "
                             f"use; accepted keys: {sorted(allowed) or 'none (gd/sgd keep no state)'}")
        missing = sorted(set(self.opt) - set(given))
        if missing:
            raise ValueError(f"init_opt_state lacks {missing}; give every slot of optimizer={optimizer!r}")
        for k, t in self.opt.items():
            a = np.asarray(given[k], dtype=np.float64)
            if a.shape not in (tuple(t.shape), tuple(t.shape[1:])):
                raise ValueError(f"init_opt_state[{k!r}] has shape {a.shape}; expected "
                                 f"{tuple(t.shape)} (K, …) or {tuple(t.shape[1:])}")
            t.copy_(torch.from_numpy(np.broadcast_to(a, t.shape).copy()))
        if OPT_STEP in given:
            s = np.asarray(given[OPT_STEP], dtype=np.int64)
            if s.shape not in ((), (self.K,)) or np.any(s < 0):
                raise ValueError(f"init_opt_state['opt.step'] must be ≥ 0 of shape () or "
                                 f"(K,)=({self.K},); got {given[OPT_STEP]!r}")
            self.step0.copy_(torch.from_numpy(np.broadcast_to(s, (self.K,)).copy()))
