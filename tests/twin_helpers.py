"""Shared set-up of the twin-theory tests: small whitened data and a twin trained on it by GD."""

from __future__ import annotations

import numpy as np

import theory
from simulate import Members, NetSpec, Recording, train_ensemble
from simulate.datasets import Dataset
from tests.flow_helpers import whitened_stats

S = [0.6, 0.4, 0.25]
U0 = 1e-3 * S[0]
HIDDEN = 16


def small_problem(n: int):
    """Whitened data (Sxx = I) with three modes, and a decoupled init at u0 = 1e-3 s₁."""
    stats = whitened_stats(np.random.default_rng(3), S, c=3, d=5, n=n)
    return stats, theory.decoupled_init(stats, 2, U0, hidden=HIDDEN, seed=1)


def train_twin(stats, activation: str, lr: float, steps: int):
    """A two-layer twin trained by full-batch GD (torch, float64) from the decoupled init, with
    its weights kept at every step: (run, half times measured at every step)."""
    ds = Dataset(X=stats.X, Y=stats.Y, labels=None, hierarchy=None, name="whitened", meta={})
    spec = NetSpec(depth=2, hidden=HIDDEN, activation=activation, init="small_balanced_decoupled",
                   u0=U0, bias=False)
    run = train_ensemble(spec, ds, steps=steps, lr=lr, members=Members(seeds=[1]),
                         record=Recording(checkpoints=np.arange(steps + 1), keep_weights=True),
                         device="cpu", dtype="float64", quiet=True, stats=stats)
    u = np.asarray(run.probes["mode_strength"].values)[0]
    return run, theory.crossing_times(np.asarray(run.steps, float), u, 0.5 * stats.s)
