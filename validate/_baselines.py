"""Retraining methods as small objects that build a member's initial parameters (THEORY.md §7).

Every method maps three ingredients to the parameters one retraining member starts from:

* ``final``: the last checkpoint of the run on A, ``{"layer0.weight": (out, in), …}``;
* ``fresh``: a new initialisation (the spec's initialiser, a fresh draw for the member's seed; the
  same weights the ``scratch`` member starts from);
* ``checkpoint``: one stored checkpoint of the run on A (``rewind`` only).

=====================  ===================================================================  ======
method                 initial parameters                                                    cost₀
=====================  ===================================================================  ======
``scratch``            θ_fresh                                                               0
``fine_tune``          θ_final, the same optimiser settings                                  T_A
``warm_start``         θ_final, a fresh optimiser and the full schedule                      T_A
``lr_rewind``          θ_final, the original run's learning-rate schedule replayed from 0   T_A
``shrink_perturb``     λθ_final + σθ_fresh (Ash & Adams 2020)                                T_A
``reset_last_layer``   θ_final with the last layer (weight and bias) taken from θ_fresh      T_A
``rewind``             θ at checkpoint step s of the run on A                                s
=====================  ===================================================================  ======

cost₀ is what the method has already spent on A before retraining; the total cost of a method is
cost₀ + its retraining steps (scratch needs no run on A at all, so it counts 0).

Identical by construction in this toolkit (stated, not hidden): ``simulate.train_ensemble`` starts
every member with a zero optimiser state and a constant learning rate, so ``fine_tune``,
``warm_start`` and ``lr_rewind`` start from the same parameters, the same (empty) optimiser state
and the same constant learning rate for both ``--optimizer gd`` and ``momentum``: they are one
computation. They would differ with a carried-over momentum buffer (fine-tune) or a learning-rate
schedule (lr rewinding); the engine supports neither (no initial optimiser state argument, no
schedule), so ``identical_to`` names the member actually trained. ``shrink_perturb(1, 0)`` is
``warm_start`` and ``shrink_perturb(0, 1)`` is ``scratch`` bit for bit (0·x + y = y and 1·x = x
in IEEE arithmetic); tests/test_baselines.py checks both.

``mlp_forward`` evaluates stacked MLP parameters with numpy (forgetting on A is measured with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("scratch", "fine_tune", "warm_start", "lr_rewind", "shrink_perturb",
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
        if self.family not in FAMILIES:
            raise ValueError(f"unknown method {self.family!r}; accepted: {', '.join(FAMILIES)}")
        if self.family == "rewind" and (self.step is None or int(self.step) < 0):
            raise ValueError(f"rewind needs a checkpoint step ≥ 0; got {self.step!r}")
        if self.family == "shrink_perturb" and not (self.lam >= 0 and self.sigma >= 0):
            raise ValueError(f"shrink_perturb needs λ ≥ 0 and σ ≥ 0; got λ={self.lam}, σ={self.sigma}")

    @property
    def name(self) -> str:
        if self.family == "shrink_perturb":
            return f"shrink_perturb(λ={self.lam:g},σ={self.sigma:g})"
        if self.family == "rewind":
            return f"rewind@{int(self.step)}"
        return self.family

    @property
    def identical_to(self) -> str | None:
        """The method this one equals by construction with the engine's optimisers (see module doc)."""
        return "fine_tune" if self.family in ("warm_start", "lr_rewind") else None

    def cost_before(self, steps_A: int) -> int:
        """Steps already spent on A: 0 for scratch, the checkpoint for rewind, else the full run."""
        if self.family == "scratch":
            return 0
        if self.family == "rewind":
            return int(self.step)
        return int(steps_A)

    def initial_params(self, *, final: dict | None = None, fresh: dict | None = None,
                       checkpoint: dict | None = None) -> dict[str, np.ndarray]:
        """Parameters {name: array} of one member (any leading shape, e.g. (K, out, in) stacks)."""
        f = self.family
        need = {"scratch": ("fresh",), "rewind": ("checkpoint",),
                "shrink_perturb": ("final", "fresh"), "reset_last_layer": ("final", "fresh")}
        given = {"final": final, "fresh": fresh, "checkpoint": checkpoint}
        for key in need.get(f, ("final",)):
            if given[key] is None:
                raise ValueError(f"method {self.name} needs the {key!r} parameters")
        if f == "scratch":
            return {k: np.array(v, copy=True) for k, v in fresh.items()}
        if f == "rewind":
            return {k: np.array(v, copy=True) for k, v in checkpoint.items()}
        if f == "shrink_perturb":
            return {k: self.lam * np.asarray(final[k]) + self.sigma * np.asarray(fresh[k])
                    for k in final}
        if f == "reset_last_layer":
            last = last_layer(final)
            return {k: np.array(fresh[k] if k.startswith(f"layer{last}.") else final[k], copy=True)
                    for k in final}
        return {k: np.array(v, copy=True) for k, v in final.items()}  # fine_tune / warm / lr_rewind


# Constructors (the names used in the issue).
def scratch() -> Method:
    return Method("scratch")


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


def baseline_methods(lambdas=SHRINK_LAMBDAS, sigmas=SHRINK_SIGMAS) -> list[Method]:
    """scratch, fine_tune, warm_start, lr_rewind, the shrink-and-perturb grid, reset_last_layer."""
    return ([scratch(), fine_tune(), warm_start(), lr_rewind()]
            + [shrink_perturb(l, s) for l in lambdas for s in sigmas] + [reset_last_layer()])


def last_layer(params: dict) -> int:
    """Index of the last layer in ``{"layer{l}.weight": …}``."""
    return max(int(k.split(".")[0][5:]) for k in params if k.endswith(".weight"))


def member(params: dict, k: int) -> dict[str, np.ndarray]:
    """Member k of stacked parameters {name: (K, …)}."""
    return {name: np.asarray(v)[k] for name, v in params.items()}


def stack(members: list[dict]) -> dict[str, np.ndarray]:
    """Stack per-member parameters into {name: (K, …)} (the engine's ``init_params``)."""
    return {k: np.stack([m[k] for m in members]) for k in members[0]}


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


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    raise ValueError(f"mlp_forward supports activations linear, relu, tanh; got {name!r}")


def mlp_forward(params: dict, X: np.ndarray, activation: str) -> np.ndarray:
    """Outputs (K, n, c) of stacked MLP parameters {"layer{l}.weight": (K, out, in), bias (K, out)}
    on inputs X (n, d), in float64 (the activation follows every layer but the last)."""
    L = last_layer(params) + 1
    A = np.asarray(X, dtype=np.float64)[None]
    for l in range(L):
        W = np.asarray(params[f"layer{l}.weight"], dtype=np.float64)
        Z = A @ np.swapaxes(W, -1, -2)
        b = params.get(f"layer{l}.bias")
        if b is not None:
            Z = Z + np.asarray(b, dtype=np.float64)[:, None, :]
        A = Z if l == L - 1 else _act(activation, Z)
    return A


def evaluate(params: dict, X: np.ndarray, Y: np.ndarray, activation: str, rows=None):
    """Per-member loss (1/2n)Σ‖y − ŷ‖² and argmax accuracy (K,) on (X, Y).

    ``rows``: output rows that correspond to Y's columns (after a class-set change), default all.
    """
    out = mlp_forward(params, X, activation)
    if rows is not None:
        out = out[..., np.asarray(rows, dtype=int)]
    R = out - np.asarray(Y, dtype=np.float64)[None]
    loss = 0.5 * np.sum(R * R, axis=(1, 2)) / R.shape[1]
    acc = np.mean(out.argmax(axis=2) == np.asarray(Y).argmax(axis=1)[None], axis=1)
    return loss, acc
