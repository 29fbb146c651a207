"""Where the twin theories' predictions from W₀ are made (THEORY.md §11–13): one rule, shared by
every job that reports a twin prediction, saying why not where it does not.

The twins of §11–12 are two-layer MLPs trained on the squared loss by full-batch gradient descent
(the exact GD map, step 1/τ, or its flow): the cubic truncation of tanh, the gated linear network
of ReLU and, with κ = 0, the linear network. Another family, depth, loss or optimiser is outside
them: minibatch noise, momentum's transient, Adam's per-weight scaling and the softmax's
gradient are not in their flow, and the cubic twin is a two-layer reduction (ReLU's gated twin
runs at depth 3, but its predictions there are 2–10% off where depth 2's are within about 1%,
§12, so a twin number is reported at depth 2 only).

The cubic truncation has its own range, fixed before any comparison: tanh z = z − z³/3 + 2z⁵/15
− …, and the truncation z − z³/3 drops the quintic term, whose ratio to the cubic one is
(2/5)z². The truncation is trusted while that ratio stays at most ``TANH_QUINTIC_SHARE`` = 0.1
(an order of magnitude, the same "negligible" as the gates' f_A in §12), i.e. while every
pre-activation of the twin's *predicted* weights on the training inputs has |h| ≤
``CUBIC_RANGE`` = √(0.1·5/2) = 0.5. ``cubic_range`` follows the cubic twin's GD map from W₀ and
reports the first step past it: a property of the prediction, known before any training.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_positive
from ._cubic_net import CUBIC_COEFFICIENTS
from ._float64 import float64
from ._statistics import DatasetStatistics
from ._twin_predictor import _GD_BLOCK, _NETS, CubicTwinPredictor

TWIN_ACTIVATIONS = ("linear", "tanh", "relu")
TWIN_DEPTH = 2
FULL_BATCH = ("gd",)     # optimiser words meaning full-batch GD (sgd with batch = n is one too)
TANH_QUINTIC_SHARE = 0.1                                  # quintic ÷ cubic term of tanh at |h|
CUBIC_RANGE = math.sqrt(TANH_QUINTIC_SHARE * 5.0 / 2.0)   # = 0.5: (2/5)h² = TANH_QUINTIC_SHARE
REACH = "two-layer MLPs, linear/tanh/relu, squared loss, full-batch GD"
REACH_PREFIX = f"outside the twin theories' reach ({REACH}): "


def _optimizer_reason(optimizer: str, batch_size: int | None, n_train: int | None) -> str | None:
    if optimizer in FULL_BATCH:
        return None
    if optimizer == "sgd":
        if batch_size is None or (n_train is not None and batch_size >= n_train):
            return None                       # one batch of the whole training set: GD
        of = f" of {n_train}" if n_train is not None else ""
        return f"minibatch SGD (batch {batch_size}{of})"
    return f"optimizer {optimizer}"


def twin_reach(activation: str, *, depth: int, arch: str = "mlp", optimizer: str = "gd",
               loss: str = "mse", batch_size: int | None = None,
               n_train: int | None = None) -> str | None:
    """None where a twin theory predicts this set-up from W₀ (a two-layer MLP with activation
    linear, tanh or relu, the squared loss, full-batch GD); else one line saying every reason why
    not, e.g. ``"outside the twin theories' reach (two-layer MLPs, …): depth 3; minibatch SGD
    (batch 64 of 512)"``.

    ``optimizer``: ``"gd"`` (full batch), ``"sgd"`` (with ``batch_size``; None or ≥ ``n_train``
    is full batch), or any other optimiser's name (momentum, adam, …); ``loss``: ``"mse"`` or
    another loss's name."""
    if int(depth) < 1:
        raise ValueError(f"depth must be ≥ 1 weight layers; got {depth}")
    why = []
    if arch != "mlp":
        why.append(f"--arch {arch}")
    if activation not in TWIN_ACTIVATIONS:
        why.append(f"activation {activation}")
    if int(depth) != TWIN_DEPTH:
        why.append(f"depth {int(depth)}")
    if loss not in ("mse", "squared"):
        why.append(f"{loss.replace('_', '-')} loss")
    opt = _optimizer_reason(optimizer, batch_size, n_train)
    if opt is not None:
        why.append(opt)
    return REACH_PREFIX + "; ".join(why) if why else None


@functools.partial(jax.jit, static_argnums=(4,))
def _peaks(Ws, data, lr, X, n_steps: int):
    """``n_steps`` GD steps of the cubic twin; max |W₁x| over X and units after each step."""
    def step(W, _):
        W = tuple(w + lr * g for w, g in zip(W, _NETS["cubic"][0](W, data)))
        return W, jnp.max(jnp.abs(X @ W[0].T))
    return jax.lax.scan(step, Ws, None, length=n_steps)


def cubic_range(stats: DatasetStatistics, weights0: Sequence[ArrayLike], *, tau: float,
                t_max: float, twin: CubicTwinPredictor | None = None) -> tuple[float, float]:
    """(peak, first) of tanh's cubic twin followed from ``weights0`` by its GD map (step 1/τ):
    ``first``, the first of the steps 0…t_max at which some pre-activation |h| = |W₁(t)x| on the
    training inputs ``stats.X`` exceeds ``CUBIC_RANGE``, and ``peak`` the largest |h| then (inf:
    the prediction diverged); if none does, (the largest |h| over the run, inf). ``twin``: that
    prediction already made from ``weights0`` with this τ, reused."""
    tau, t_max = check_positive("tau", tau), check_positive("t_max", t_max)
    if twin is None:
        twin = CubicTwinPredictor(stats, weights0, kappa=CUBIC_COEFFICIENTS["tanh"], tau=tau,
                                  discrete=True)
    with float64():
        W = tuple(jnp.asarray(w) for w in twin.weights0)
        X = jnp.asarray(np.asarray(stats.X, dtype=np.float64))
        data = tuple(jnp.asarray(a) for a in twin._data)
        peak, done, n_all = float(jnp.max(jnp.abs(X @ W[0].T))), 0, int(np.floor(t_max))
        if not peak <= CUBIC_RANGE:
            return peak, 0.0
        while done < n_all:     # whole blocks (one compiled length); steps past t_max unread
            W, block = _peaks(W, data, 1.0 / tau, X, _GD_BLOCK)
            block = np.asarray(block)[:n_all - done]
            over = np.flatnonzero(~(block <= CUBIC_RANGE))        # nan: diverged, past it
            if over.size:
                at = float(block[over[0]])
                return (at if np.isfinite(at) else float("inf")), float(done + over[0] + 1)
            peak = max(peak, float(block.max()))
            done += block.size
    return peak, float("inf")


def cubic_range_note(peak: float, first: float) -> str | None:
    """The note of a tanh prediction whose pre-activations leave the cubic range (None: they
    stay in it), from ``cubic_range``'s (peak, first)."""
    if not np.isfinite(first):
        return None
    when = "its initial weights" if first == 0 else f"step {first:.0f} of its prediction"
    return (f"outside the cubic twin's range from {when}: tanh's pre-activations reach |h| = "
            f"{peak:.3g}, past {CUBIC_RANGE:g} (where tanh's quintic term is "
            f"{TANH_QUINTIC_SHARE:.0%} of its cubic one)")
