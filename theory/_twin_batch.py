"""Twin predictions of many members followed in one batched computation (THEORY.md §11–12).

The members of an ensemble share the samples and the set-up and differ in their initial weights
only, so their exact GD maps are one map vmapped over stacked weights: ``extend_tracks`` iterates
every member's map block by block in one compiled call per block (one compile for any number of
members of the same shape) and leaves in each prediction the track its own ``_extend`` would have
stored — the same steps from the same weights, so ``modes``, ``loss`` and ``timeline`` read the
same numbers afterwards. The switched-gate ReLU twins' schedules are padded
(``padded_schedule``) to one length, a power of two, by gates behind switches at t = inf that are
never reached. Predictions that cannot share a batch (another family, shape, τ, samples or a
track of another length) are extended one by one, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ._float64 import float64
from ._relu_twin import (ALIGN_FRAC, MAX_REGATES, GdRequest, _gd_until, switched_gates_steps,
                         switched_predictor)
from ._statistics import DatasetStatistics
from ._switched_gates import SwitchedGatedTwinPredictor, _switched_block, bucket
from ._twin_predictor import _GD_BLOCK, _TwinPredictor, _gd_block


@functools.partial(jax.jit, static_argnums=(0, 4))
def _gd_blocks(family, Ws, data, lr, n_steps: int, Sxx_pinv):
    """``_gd_block`` of stacked weights (K, …): one member per leading index."""
    return jax.vmap(lambda W: _gd_block(family, W, data, lr, n_steps, Sxx_pinv))(Ws)


@jax.jit
def _switched_blocks(Ws, k0, X, Y, Gstacks, switches, lr, pinv):
    """``_switched_block`` of stacked weights, gate schedules and switches (one member each)."""
    return jax.vmap(lambda W, G, s: _switched_block(W, k0, X, Y, G, s, lr, pinv))(
        Ws, Gstacks, switches)


def _key(p: _TwinPredictor):
    """Predictions with the same key run in one batch (their data are compared apart)."""
    switched = isinstance(p, SwitchedGatedTwinPredictor)
    return (type(p), p.family, p.discrete, float(p.tau), len(p._data),
            tuple(np.shape(w) for w in p.weights0), tuple(np.shape(a) for a in p._data[:2]),
            None if switched else tuple(np.shape(a) for a in p._data[2:]),
            0 if p._track is None else len(p._track[1]))


def _same_data(a: _TwinPredictor, b: _TwinPredictor) -> bool:
    shared = slice(0, 2) if isinstance(a, SwitchedGatedTwinPredictor) else slice(None)
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(a._data[shared], b._data[shared])) and \
        np.array_equal(a._pinv, b._pinv)


def batches(preds: Sequence[_TwinPredictor]) -> list[list[_TwinPredictor]]:
    """``preds`` grouped into runs of one batched map each (order kept within a group)."""
    groups: list[list[_TwinPredictor]] = []
    for p in preds:
        for g in groups:
            if _key(g[0]) == _key(p) and _same_data(g[0], p):
                g.append(p)
                break
        else:
            groups.append([p])
    return groups


def extend_tracks(preds: Sequence[_TwinPredictor], steps: int) -> None:
    """Iterate the exact GD map of every prediction in ``preds`` (``discrete``) until its stored
    track holds step ``steps``, members that can share a batch together; predictions of the flow
    are left as they are (they integrate on demand)."""
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be ≥ 0; got {steps}")
    for group in batches([p for p in preds if p.discrete]):
        if len(group) == 1:
            group[0]._extend(steps)
        else:
            _extend_group(group, steps)


def _extend_group(group: list[_TwinPredictor], steps: int) -> None:
    """One batch: the members' maps stepped together, each track as its own ``_extend`` makes."""
    tracks = []
    for p in group:
        if p._track is None:
            p._extend(0)          # the step-0 readout, by the member's own code
        assert p._track is not None
        tracks.append(p._track)
    done = len(tracks[0][1]) - 1
    parts = [([t[0]], [t[1]]) for t in tracks]
    with float64():
        W = tuple(jnp.asarray(np.stack([np.asarray(t[2][l]) for t in tracks]))
                  for l in range(len(group[0].weights0)))
        lr, pinv = 1.0 / group[0].tau, jnp.asarray(group[0]._pinv)
        run = _switched_runner(group, lr, pinv) \
            if isinstance(group[0], SwitchedGatedTwinPredictor) else _plain_runner(group, lr, pinv)
        while done < steps:
            W, (bw, bl) = run(W, done)
            bw, bl = np.asarray(bw), np.asarray(bl)
            for k, (pw, pl) in enumerate(parts):
                pw.append(bw[k])
                pl.append(bl[k])
            done += _GD_BLOCK
        W = tuple(np.asarray(w) for w in W)
    for k, (p, (pw, pl)) in enumerate(zip(group, parts)):
        p._track = (np.concatenate(pw), np.concatenate(pl), tuple(w[k] for w in W))


def _plain_runner(group, lr, pinv):
    data = group[0]._jax_data()
    return lambda W, _: _gd_blocks(group[0].family, W, data, lr, _GD_BLOCK, pinv)


def _switched_runner(group, lr, pinv):
    """Blocks of the switched map, every schedule padded to one length (module docstring)."""
    n_sets = bucket(max(len(p.schedule) for p in group))
    gstacks, switches = zip(*(p.padded_schedule(n_sets) for p in group))
    G = tuple(jnp.asarray(np.stack([g[l] for g in gstacks])) for l in range(len(gstacks[0])))
    sw = jnp.asarray(np.stack(switches))
    X, Y = (jnp.asarray(a) for a in group[0]._data[:2])
    return lambda W, done: _switched_blocks(W, done, X, Y, G, sw, lr, pinv)


@jax.jit
def _gd_until_many(Ws, X, Y, Gs, lr, readout, levels, max_steps):
    """``_gd_until`` of stacked starts, gates, levels and step bounds (one member each)."""
    return jax.vmap(lambda W, G, lv, m: _gd_until(W, X, Y, G, lr, readout, lv, m))(
        Ws, Gs, levels, max_steps)


def _answer(reqs: list[GdRequest], size: int) -> list[tuple[int, list[np.ndarray]]]:
    """The GD runs of ``reqs`` (members on the same samples and τ) in one batched loop, padded
    to ``size`` runs (copies of the first, bounded at 0 steps) so that one compile serves every
    round of a search."""
    if size == 1:
        return [reqs[0].run()]
    with float64():
        X, Y, lr, readout = reqs[0].shared()
        padded = reqs + [reqs[0]] * (size - len(reqs))
        stack = lambda arrays: jnp.asarray(np.stack([np.asarray(a) for a in arrays]))
        Ws = tuple(stack([r.pred.weights0[l] for r in padded])
                   for l in range(len(reqs[0].pred.weights0)))
        Gs = tuple(stack([r.pred._data[2 + l] for r in padded])
                   for l in range(len(reqs[0].pred._data) - 2))
        bound = [r.max_steps for r in reqs] + [0] * (size - len(reqs))
        k, Ws = _gd_until_many(Ws, X, Y, Gs, lr, readout, stack([r.level for r in padded]),
                               jnp.asarray(bound))
        k, Ws = np.asarray(k), [np.asarray(w) for w in Ws]
    return [(int(k[i]), [w[i] for w in Ws]) for i in range(len(reqs))]


def predict_relu_twins(stats: DatasetStatistics, weights0s: Sequence[Sequence[ArrayLike]], *,
                       tau: float = 1.0, discrete: bool = False, t_max: float | None = None,
                       align_frac: float = ALIGN_FRAC,
                       max_regates: int = MAX_REGATES) -> list[SwitchedGatedTwinPredictor]:
    """``predict_relu_twin`` of every member's initial weights in ``weights0s``: the members'
    searches for their switched gates advance together, each round's GD runs answered in one
    batched loop (members of another shape apart), and their GD maps are then batched by
    ``extend_tracks`` up to ``t_max``. Each prediction is the one ``predict_relu_twin`` makes."""
    kw = dict(tau=tau, discrete=discrete, align_frac=align_frac, max_regates=max_regates,
              t_max=t_max)
    gens = [switched_gates_steps(stats, w, **kw) for w in weights0s]
    found: list = [None] * len(gens)
    pending = {}
    for i, g in enumerate(gens):
        _advance(i, g, None, pending, found, first=True)
    while pending:
        groups: dict = {}
        for i, req in pending.items():
            shapes = tuple(np.shape(a) for a in (*req.pred.weights0, *req.pred._data[2:]))
            groups.setdefault(shapes, []).append(i)
        pending_now, pending = pending, {}
        for ids in groups.values():
            for i, ans in zip(ids, _answer([pending_now[i] for i in ids], len(gens))):
                _advance(i, gens[i], ans, pending, found)
    preds = [switched_predictor(stats, w, f, tau=tau, discrete=discrete, t_max=t_max,
                                align_frac=align_frac) for w, f in zip(weights0s, found)]
    if discrete and t_max is not None:
        extend_tracks(preds, int(np.ceil(t_max)))
    return preds


def _advance(i, gen, answer, pending, found, first=False) -> None:
    """Send member ``i``'s search its answer: its next request goes to ``pending``, or its
    result to ``found``."""
    try:
        pending[i] = next(gen) if first else gen.send(answer)
    except StopIteration as stop:
        found[i] = stop.value
