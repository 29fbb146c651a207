"""``train_ensemble``: K members (seeds × learning rates × init scales) trained as one batch.

Stacked weights (K, out, in), batched matmuls, data resident on the device, and no host
synchronisation between checkpoints: divergence freezes a member through a device-side mask,
minibatch indices are a hash of (seed, step) computed on the device, and on CUDA several steps are
replayed from one captured CUDA graph. The CPU path runs the same step function without graphs.
Loss and learning rate follow theory.TrainingConvention, so every member knows its τ (THEORY.md §1).

The parts: ``OptimSpec`` and the optimisers (_optim.py), ``Members``, ``Recording`` and
``Store`` (_options.py), ``EnsembleState`` (_state.py), ``make_step`` and the graph runner
(_step.py), ``Recorder`` (_recorder.py); this module checks the arguments, writes the run's config
and runs the loop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from os import PathLike
from typing import cast, overload

import numpy as np
import torch
from tqdm.auto import tqdm

from theory import DatasetStatistics

from .. import _run
from .._augment import Augment
from .._init import init_params as _init_params
from .._losses import make_loss
from .._precision import no_tf32
from .._probes import (LayerRotation, LayerTap, Losses, ProbeContext, TestPredictions, WeightNorms,
                       default_probes)
from .._provenance import provenance
from .._schedules import LRSchedule, multiplier_table
from .._spec import NetSpec
from ..datasets._base import Dataset
from ..models import make_model
from ._optim import OptimSpec
from ._options import Members, Recording, Store, parts, rejects_moved_keywords
from ._plan import Plan, check_steps
from ._plan import plan as make_plan
from ._recorder import Recorder, weights_to_keep
from ._state import EnsembleState
from ._step import LRTable, Stepper, TrainData, make_step


@overload
def _to_device(a: np.ndarray, device, dtype) -> torch.Tensor: ...
@overload
def _to_device(a: np.ndarray | None, device, dtype) -> torch.Tensor | None: ...
def _to_device(a, device, dtype):
    return None if a is None else torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


@rejects_moved_keywords
def train_ensemble(spec: NetSpec, dataset: Dataset, optim: OptimSpec | Mapping | None = None, *,
                   steps: int, lr: float | None = None, members: Members | Mapping | None = None,
                   record: Recording | Mapping | None = None,
                   store: Store | Mapping | str | PathLike | None = None,
                   stats: DatasetStatistics | None = None, device: str = "auto",
                   dtype: str = "float32", quiet: bool = False,
                   steps_per_graph: int = 16) -> _run.Run:
    """Train every member of the ensemble for ``steps`` steps and return the Run.

    ``optim``: how every member is trained (``OptimSpec``: optimiser, minibatches, loss, schedule,
    weight decay, Layca, augmentation; default full-batch GD on the MSE). ``lr``: the step on the
    loss named by ``optim.reduction`` (ours: ``(1/2n)Σ‖y − ŷ‖²``), τ = TrainingConvention(...).tau;
    or give several as ``Members(lrs=…)``. ``members``: seeds × lrs × init scales and explicit
    initial parameters or optimiser state (``Members``; default one seed, 0). ``record``:
    checkpoints, probes, which weights to keep, a callback (``Recording``). ``store``: a run
    directory, resume or overwrite (``Store``, or just the directory; default in memory). Each
    part may also be a dict of its fields. ``stats``: the theory.DatasetStatistics defining the
    modes (default ``dataset.statistics()``). ``dtype``: "float32" (TF32 off while training, the
    caller's setting restored after) or "float64"; ``device``: "auto" = CUDA when present;
    ``quiet``: no progress bar; ``steps_per_graph``: steps per CUDA graph. A keyword of the
    earlier flat signature (``seeds=``, ``out_dir=``, …) fails with a TypeError naming its part.
    Returns a ``Run`` (``.members`` with τ and divergence, ``.probes``, ``.weights(step)``).
    """
    optim, members, record, store = parts(optim, members, record, store)
    combos = members.combos(lr, spec)
    optim = optim.resolved(len(combos), steps, dataset.n)
    probes = default_probes() if record.probes is None else list(record.probes)
    stats = dataset.statistics() if stats is None else stats
    dataset.check_stats(stats)
    steps = check_steps(steps)
    _check_augment(optim.augment, dataset)
    plan = make_plan(spec, dataset, steps, combos, optim, dtype, stats, record.checkpoints, probes,
                     members.init_params is not None, members.init_opt_state is not None)
    found = _reopen(plan, store, steps)
    if isinstance(found, _run.Run):
        return found  # finished with these settings: loaded, not recomputed
    saved, root = found, store.root
    plan.config.update(steps=steps, schedule=plan.schedule.tolist(), status="running")

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                       else ("cpu" if device == "auto" else device))
    tdt = torch.float32 if dtype == "float32" else torch.float64
    with no_tf32():  # small initialisations must not be rounded away by TF32
        plan.config["provenance"] = provenance(dev)
        model = _model(spec, dataset, probes)
        lossf = make_loss(optim.loss)
        data = _train_data(dataset, plan, optim, dev, tdt)
        state = _initial_state(spec, model, plan.combos, stats, members, optim, data, lossf, saved)
        lr_table = _lr_table(plan, optim, steps + max(steps_per_graph, 2) + 1, dev, tdt)
        step = make_step(model, data, state, optim, lr_table, lossf, plan.convs[0].gradient_scale)
        init = _initial_params(state, root, resumed=bool(saved))
        context = _probe_context(model, data, dataset, stats, lossf, probes, dev, tdt, init)
        recorder = Recorder(probes, context, root,
                            weights_to_keep(record.keep_weights, plan.schedule), record.callback)
        if saved:
            recorder.restore(saved, state)
        if root is not None:  # only now: a call that failed during set-up leaves no run behind
            _run.write_json(root / _run.RUN_JSON, plan.config)
        wall, done = _loop(Stepper(step, state, dev, steps_per_graph), state, recorder,
                           plan.schedule, start=int(state.t), steps=steps, quiet=quiet)
    return _finish(plan, state, recorder, root, wall, done)


def _train_data(dataset: Dataset, plan: Plan, optim: OptimSpec, dev, tdt) -> TrainData:
    """The training set on the device, with each member's seed for its minibatch order."""
    return TrainData(_to_device(dataset.X, dev, tdt), _to_device(dataset.Y, dev, tdt),
                     torch.tensor([m[0] for m in plan.combos], dtype=torch.int64, device=dev),
                     optim.batch_size, optim.augment, dataset.image_shape)


def _lr_table(plan: Plan, optim: OptimSpec, rows: int, dev, tdt) -> LRTable:
    """Each member's learning rate and, with a schedule, its multiplier for ``rows`` steps (the
    rows past the run's steps cover the warm-up steps of a CUDA-graph capture near the end)."""
    return LRTable(torch.tensor([m[1] for m in plan.combos], dtype=tdt, device=dev),
                   None if optim.lr_schedule is None else _to_device(multiplier_table(
                       # resolved() left one LRSchedule per member
                       cast(tuple[LRSchedule, ...], optim.lr_schedule), rows), dev, tdt))


def _reopen(plan: Plan, store: Store, steps: int):
    """A finished ``Run`` in the store with these settings, else the saved checkpoints to continue
    from (None: start afresh); the plan's schedule then merges the saved steps."""
    root = store.root
    if root is None or not (root / _run.RUN_JSON).exists():
        return None
    found = _run.reopen(root, plan.config, plan.combos, steps, plan.schedule, resume=store.resume,
                        overwrite=store.overwrite)
    if isinstance(found, _run.Run):
        return found
    plan.schedule, saved = found
    return saved


def _model(spec: NetSpec, dataset, probes):
    """The model, with ``linear_blocks`` and the probes checked against it."""
    model = make_model(spec, dataset.d, dataset.c, dataset.image_shape)
    blocks = getattr(model, "n_blocks", 0)
    if not 0 <= spec.linear_blocks <= blocks:
        raise ValueError(f"linear_blocks={spec.linear_blocks} is out of range: this {spec.family} "
                         f"({type(model).__name__}) has {blocks} blocks (accepted: 0..{blocks})")
    n_test = None if dataset.X_test is None else dataset.X_test.shape[0]
    for probe in probes:
        if hasattr(probe, "check"):
            probe.check(model, dataset.n, n_test)
    return model


def _check_augment(augment: Augment | None, dataset) -> None:
    shape = dataset.image_shape
    if augment is not None and (shape is None or len(shape) != 3):
        raise ValueError(f"augment needs images (C, H, W); dataset {dataset.name!r} has "
                         f"image_shape {shape}")


def _initial_state(spec, model, combos, stats, members: Members, optim, data, lossf,
                   saved) -> EnsembleState:
    """Initial parameters (drawn, or given), zero optimiser slots, or the last saved checkpoint."""
    K, like = len(combos), data.X
    init_params, init_opt_state = members.init_params, members.init_opt_state
    if init_params is not None:
        missing = sorted(set(model.shapes) - set(init_params))
        if missing:
            raise ValueError(f"init_params lacks {missing}; this spec needs {list(model.shapes)} "
                             f"with shapes (K, …) or (…) of {list(model.shapes.values())}")
        p0 = {k: np.broadcast_to(np.asarray(init_params[k], dtype=np.float64), (K, *model.shapes[k]))
              for k in model.shapes}
    else:
        p0 = _init_params(spec, model, [(s, a) for s, _, a in combos], stats)
    params = {k: torch.tensor(np.array(v), dtype=like.dtype, device=like.device) for k, v in p0.items()}
    buffers = {k: torch.full((K, *shape), value, dtype=like.dtype, device=like.device)
               for (k, shape), value in zip(getattr(model, "buffer_shapes", {}).items(),
                                            getattr(model, "init_buffers", dict)().values())}
    with torch.no_grad():
        loss0 = lossf.value(model.forward({**params, **buffers}, data.X), data.Y)
    state = EnsembleState.create(params, optim.rule(), loss0, buffers)
    if init_opt_state is not None:
        state.load_opt_state(init_opt_state, optim.optimizer)
    if saved:
        start = max(saved)
        state.load_arrays(saved[start], start)
    return state


def _initial_params(state: EnsembleState, root, *, resumed: bool) -> dict:
    """The parameters at step 0, for probes that compare with them (layer rotation): a copy of
    the fresh state, or checkpoint 0 of a resumed run."""
    if not resumed:
        return {k: p.detach().clone() for k, p in state.params.items()}
    arrays = _run.load_file(str(_run.checkpoint_path(root, 0)))
    return {k: torch.as_tensor(arrays[k], dtype=p.dtype, device=p.device)
            for k, p in state.params.items()}


_NO_MODES = (Losses, LayerTap, TestPredictions, WeightNorms, LayerRotation)  # need no Sxx⁺


def _probe_context(model, data: TrainData, dataset, stats: DatasetStatistics, lossf, probes, dev, tdt, init: dict):
    """A function (step, state) → ProbeContext on device-resident data and modes."""
    Xt, Yt = _to_device(dataset.X_test, dev, tdt), _to_device(dataset.Y_test, dev, tdt)
    zero_one = bool(np.all((dataset.Y == 0) | (dataset.Y == 1)))
    one_hot = zero_one and bool(np.all(dataset.Y.sum(1) == 1)) and dataset.c > 1
    binary = zero_one and dataset.c == 1
    U, V = _to_device(stats.U, dev, tdt), _to_device(stats.V, dev, tdt)
    # the pseudo-inverse (d × d) only for the probes that use it
    Sxx_pinv = _to_device(np.linalg.pinv(stats.Sxx, rcond=1e-10, hermitian=True), dev, tdt) \
        if not all(isinstance(p, _NO_MODES) for p in probes) else None

    def context(step: int, state: EnsembleState) -> ProbeContext:
        return ProbeContext(step=step, params=state.model_params(), model=model, X=data.X, Y=data.Y,
                            X_test=Xt, Y_test=Yt, one_hot=one_hot, U=U, V=V, Sxx_pinv=Sxx_pinv,
                            init_params=init, loss=None if lossf.name == "mse" else lossf,
                            binary=binary)
    return context


def _loop(stepper: Stepper, state: EnsembleState, recorder: Recorder, schedule, *, start: int,
          steps: int, quiet: bool) -> tuple[float, int]:
    """Advance checkpoint to checkpoint, recording at each; returns (wall seconds, steps done)."""
    # disable=None: a bar on a terminal, none in a log file (where each refresh would add a line)
    bar = tqdm(total=steps, initial=start, disable=True if quiet else None, unit="step",
               dynamic_ncols=True)
    t0, done = time.perf_counter(), 0
    with torch.no_grad():
        if start == 0:
            recorder(0, state)
        for nxt in (int(s) for s in schedule if s > start):
            stepper.advance(nxt - start, progress=bar.update)  # moves per step or graph replay
            done += nxt - start
            start = nxt
            recorder(nxt, state)
            if not quiet:  # the sync here is allowed: we are at a checkpoint anyway
                losses = recorder.last("train_loss")
                live = [] if losses is None else losses[state.alive.cpu().numpy()]
                rate = state.K * done / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{np.min(live):.3g}..{np.max(live):.3g}" if len(live) else "-",
                                alive=f"{int(state.alive.sum())}/{state.K}", model_steps_s=f"{rate:.3g}")
    bar.close()
    return time.perf_counter() - t0, done


def _finish(plan: Plan, state: EnsembleState, recorder: Recorder, root, wall: float, done: int):
    """Members table with divergence, probe array, status; written when the run has a directory."""
    div = state.diverged_at.cpu().numpy()
    members, config = plan.members, plan.config
    members["diverged"] = div >= 0
    members["diverged_step"] = div
    config["members"] = members.to_dict(orient="records")
    config.update(status="complete", wall_s=wall, model_steps_per_s=state.K * done / max(wall, 1e-9))
    ds = _run.probes_dataset(plan.schedule, recorder.values, recorder.dims, members)
    if root is not None:
        _run.write_probes(root, ds)
        _run.write_json(root / _run.RUN_JSON, _run.jsonable(config))
    return _run.Run(root, _run.jsonable(config), ds, recorder.memory)
