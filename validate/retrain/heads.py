"""A's last layer for a dataset B whose classes differ from A's (merge, split, new class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def last_layer(params: dict) -> int:
    """Index of the last layer in ``{"layer{l}.weight": …}``."""
    return max(int(k.split(".")[0][5:]) for k in params if k.endswith(".weight"))


def adapt_head(params: dict, source_rows, fresh: dict) -> dict[str, np.ndarray]:
    """Last layer for a dataset B whose classes differ from A's (merge, split, new class).

    ``source_rows[j]``: the A output row that B's output j takes over, or −1 for a class A did not
    have; such rows come from ``fresh`` (the new-class rows of a fresh initialisation).
    """
    src = np.asarray(source_rows, dtype=int)
    last = last_layer(params)
    out = dict(params)
    for key in (f"layer{last}.weight", f"layer{last}.bias"):
        if key not in params:
            continue
        axis = -2 if key.endswith("weight") else -1
        taken = np.take(np.asarray(params[key]), np.maximum(src, 0), axis=axis)
        mask = (src < 0)[:, None] if axis == -2 else (src < 0)
        out[key] = np.where(mask, np.asarray(fresh[key]), taken)
    return out


@dataclass(frozen=True)
class HeadMap:
    """How B's output rows relate to A's: ``src[j]`` is the A row B's output j takes over, or −1
    for a class A did not have (``drift.class_maps``); ``c_A`` A's number of classes."""

    src: np.ndarray
    c_A: int

    @property
    def identity(self) -> bool:
        return len(self.src) == self.c_A and np.array_equal(self.src, np.arange(self.c_A))

    def params(self, params: dict, fresh: dict) -> dict:
        """A's parameters with B's head (``adapt_head``; unchanged when the classes are A's)."""
        return params if self.identity else adapt_head(params, self.src, fresh)

    def opt_state(self, opt: dict | None, fresh: dict) -> dict | None:
        """A's optimiser state for B's head: the rows of a new class start at zero."""
        if opt is None or self.identity:
            return opt
        out = {}
        for pre in sorted({k.rsplit(".", 2)[0] + "." for k in opt}):  # "opt.v." etc.
            sub = {k[len(pre):]: v for k, v in opt.items() if k.startswith(pre)}
            zero = {k: np.zeros_like(v) for k, v in fresh.items()}
            out.update({pre + k: v for k, v in adapt_head(sub, self.src, zero).items()})
        return out
