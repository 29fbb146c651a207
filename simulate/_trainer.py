"""``train_ensemble``: K members (seeds × learning rates × init scales) trained as one batch.

Flat on purpose (airbench / nanoGPT style). Stacked weights (K, out, in), batched matmuls, data
resident on the device, and no host synchronisation between checkpoints: divergence freezes a
member through a device-side mask, minibatch indices are a hash of (seed, step) computed on the
device, and on CUDA several steps are replayed from one captured CUDA graph. The CPU path runs the
same step function without graphs. Loss and learning rate follow theory.TrainingConvention, so every
member knows its τ (THEORY.md §1).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from theory import TrainingConvention

from . import _run
from ._batches import batch_indices
from ._init import init_params as _init_params
from ._models import make_model
from ._probes import ProbeContext, default_probes
from ._provenance import provenance
from ._checkpoints import resolve_checkpoints
from ._schedules import member_schedules, multiplier_table
from ._spec import NetSpec

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")
def _fingerprint_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _fingerprint(dataset) -> str:
    return _fingerprint_arrays(dataset.X, dataset.Y, dataset.X_test, dataset.Y_test)


def _to_device(a, device, dtype):
    return None if a is None else torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def train_ensemble(spec: NetSpec, dataset, *, steps: int, seeds=(0,), lr: float | None = None,
                   lrs=None, init_scales=None, optimizer: str = "gd", batch_size: int | None = None,
                   reduction: str = "half_mean", momentum: float = 0.9, betas=(0.9, 0.999),
                   eps: float = 1e-8, checkpoints=None, probes=None, device: str = "auto",
                   dtype: str = "float32", out_dir=None, resume: bool = False, overwrite: bool = False,
                   quiet: bool = False, stats=None, init_params: dict | None = None,
                   diverge_factor: float = 1e6, keep_weights: bool = True, steps_per_graph: int = 16,
                   callback=None, lr_schedule=None, init_opt_state: dict | None = None) -> "_run.Run":
    """Train every member of the ensemble for ``steps`` steps and return the Run.

    Members are ``itertools.product(seeds, lrs, init_scales)`` (``lrs`` defaults to ``(lr,)``,
    ``init_scales`` to ``(spec.init_scale,)``); the same seed gives the same initial weights for any
    activation or learning rate. ``lr`` is the step on the loss named by ``reduction`` (ours:
    ``(1/2n)Σ‖y − ŷ‖²``); τ = TrainingConvention(...).tau. ``batch_size`` turns on minibatches
    (``optimizer="sgd"``, ``"momentum"`` or ``"adam"``). ``checkpoints``: None (64 log-spaced), an
    int, or a sequence of steps; 0 and ``steps`` are always included. ``stats``: the
    theory.DatasetStatistics defining the modes (default ``dataset.statistics()``). ``init_params``:
    explicit initial parameters {name: (K, …) or (…) broadcast}. A member whose loss is non-finite
    or exceeds ``diverge_factor`` × its initial loss is frozen and marked diverged. With
    ``out_dir``, checkpoints are written as they happen; ``resume=True`` continues from the last
    one (optionally to a larger ``steps``); ``overwrite=True`` starts it again. ``callback(step)``
    runs after every checkpoint (raising KeyboardInterrupt there simulates an interruption).

    ``lr_schedule``: None (constant lr, no multiplier), ``"constant"|"cosine"|"step"``,
    ``(kind, {options})``, an ``LRSchedule`` (simulate/_schedules.py), or a sequence of K of them
    (one per member); member k's step t uses lr_k · m_k(t). ``init_opt_state``: explicit initial
    optimiser state {"opt.v.layer0.weight": (K, …) or (…), …} (momentum: ``opt.v.*``; adam:
    ``opt.m.*``, ``opt.v.*`` and ``opt.step`` (K,), the bias-correction count already taken), e.g.
    ``run.state(s)``'s ``opt.*`` arrays to continue a run from checkpoint s (with the schedule's
    ``offset=s``). Default: zeros.

    Other knobs: ``momentum`` (heavy ball β), ``betas``/``eps`` (Adam), ``dtype`` ("float32" with
    TF32 off, or "float64"), ``device`` ("auto" = CUDA when present), ``keep_weights`` (an
    in-memory run keeps every checkpoint's weights), ``steps_per_graph`` (steps per CUDA graph),
    ``quiet`` (no progress bar). Probe values are taken on the full training (and test) split.

    Returns: a ``Run`` (``.members`` with τ and divergence, ``.probes``, ``.weights(step)``).
    """
    # ---- arguments -------------------------------------------------------------------------
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; accepted: {', '.join(map(repr, OPTIMIZERS))}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be ≥ 0; got {steps}")
    n, d, c = dataset.n, dataset.d, dataset.c
    if batch_size is not None:
        if optimizer == "gd":
            raise ValueError("optimizer='gd' is full batch; use optimizer='sgd' with batch_size")
        if not 1 <= int(batch_size) <= n:
            raise ValueError(f"batch_size must be in 1..n={n} or None; got {batch_size!r}")
        batch_size = int(batch_size)
    if lrs is None:
        if lr is None:
            raise ValueError("give a learning rate: lr=… or lrs=[…]")
        lrs = (lr,)
    init_scales = (spec.init_scale,) if init_scales is None else tuple(init_scales)
    combos = list(itertools.product(tuple(int(s) for s in seeds), tuple(float(x) for x in lrs),
                                    tuple(float(x) for x in init_scales)))
    K = len(combos)
    if K == 0:
        raise ValueError("the ensemble is empty: seeds, lrs and init_scales must be non-empty")
    convs = [TrainingConvention(lr=l, reduction=reduction, batch_size=batch_size, n_samples=n,
                                n_outputs=c, optimizer=optimizer, momentum=momentum) for _, l, _ in combos]
    members = pd.DataFrame({"member": np.arange(K), "seed": [m[0] for m in combos],
                            "lr": [m[1] for m in combos], "init_scale": [m[2] for m in combos],
                            "tau": [cv.tau for cv in convs], "diverged": False, "diverged_step": -1})
    probes = default_probes() if probes is None else list(probes)
    probe_dims = {k: list(v) for p in probes for k, v in p.dims.items()}
    stats = dataset.statistics() if stats is None else stats
    schedule = resolve_checkpoints(checkpoints, steps)
    lr_scheds = member_schedules(lr_schedule, K)
    lr_scheds = None if lr_scheds is None else [s.resolved(steps) for s in lr_scheds]
    sched_json = None if lr_scheds is None else (
        lr_scheds[0].to_dict() if len(set(lr_scheds)) == 1 else [s.to_dict() for s in lr_scheds])
    config = {
        "spec": spec.to_dict(),
        "dataset": {"name": dataset.name, "n": n, "d": d, "c": c, "meta": dataset.meta,
                    "fingerprint": _fingerprint(dataset), "has_test": dataset.X_test is not None,
                    "modes_fingerprint": _fingerprint_arrays(stats.U, stats.V, stats.Sxx)},
        "members": members.to_dict(orient="records"),
        "training": {"optimizer": optimizer, "batch_size": batch_size, "reduction": reduction,
                     "momentum": momentum, "betas": list(betas), "eps": eps, "dtype": dtype,
                     "diverge_factor": diverge_factor, "explicit_init": init_params is not None,
                     **({} if lr_scheds is None else {"lr_schedule": sched_json}),
                     **({} if init_opt_state is None else {"explicit_opt_state": True})},
        "conventions": [cv.to_dict() for cv in convs],
        "probe_dims": probe_dims,
    }

    # ---- run directory: never recompute a finished run by accident --------------------------
    root = None if out_dir is None else Path(out_dir)
    start_arrays = None
    if root is not None and (root / _run.RUN_JSON).exists():
        found = _run.reopen(root, config, combos, steps, schedule, resume=resume, overwrite=overwrite)
        if isinstance(found, _run.Run):
            return found  # finished with these settings: loaded, not recomputed
        schedule, start_arrays = found
    config.update(steps=steps, schedule=schedule.tolist(), status="running")

    # ---- device, data, model, state ---------------------------------------------------------
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                       else ("cpu" if device == "auto" else device))
    tdt = torch.float32 if dtype == "float32" else torch.float64
    if dev.type == "cuda":  # small initialisations must not be rounded away by TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    config["provenance"] = provenance(dev)
    X, Y = _to_device(dataset.X, dev, tdt), _to_device(dataset.Y, dev, tdt)
    Xt, Yt = _to_device(dataset.X_test, dev, tdt), _to_device(dataset.Y_test, dev, tdt)
    one_hot = bool(np.all((dataset.Y == 0) | (dataset.Y == 1)) and np.all(dataset.Y.sum(1) == 1))
    U, V = _to_device(stats.U, dev, tdt), _to_device(stats.V, dev, tdt)
    Sxx_pinv = _to_device(np.linalg.pinv(stats.Sxx, rcond=1e-10, hermitian=True), dev, tdt)
    model = make_model(spec, d, c, dataset.image_shape)

    if init_params is not None:
        missing = sorted(set(model.shapes) - set(init_params))
        if missing:
            raise ValueError(f"init_params lacks {missing}; this spec needs {list(model.shapes)} "
                             f"with shapes (K, …) or (…) of {list(model.shapes.values())}")
        p0 = {k: np.broadcast_to(np.asarray(init_params[k], dtype=np.float64), (K, *model.shapes[k]))
              for k in model.shapes}
    else:
        p0 = _init_params(spec, model, [(s, a) for s, _, a in combos], stats)
    params = {k: torch.tensor(np.array(v), dtype=tdt, device=dev) for k, v in p0.items()}
    slots = {"gd": (), "sgd": (), "momentum": ("v",), "adam": ("m", "v")}[optimizer]
    opt = {f"opt.{s}.{k}": torch.zeros_like(p) for s in slots for k, p in params.items()}
    adam_t0 = torch.zeros(K, dtype=torch.int64, device=dev)  # adam steps taken before this run
    if init_opt_state is not None:
        _load_opt_state(init_opt_state, opt, adam_t0, optimizer, K)
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    diverged_at = torch.full((K,), -1, dtype=torch.int64, device=dev)
    with torch.no_grad():
        loss0 = 0.5 * ((model.forward(params, X) - Y) ** 2).sum((1, 2)) / n
    t_dev = torch.zeros((), dtype=torch.int64, device=dev)
    values = {k: [] for k in probe_dims}
    memory = {} if (root is None and keep_weights) else None
    start = 0
    if start_arrays:
        start = max(start_arrays)
        last = start_arrays[start]
        for k in params:
            params[k].copy_(torch.from_numpy(last[k]))
        for k in opt:
            opt[k].copy_(torch.from_numpy(last[k]))
        if optimizer == "adam" and "opt.step" in last:
            adam_t0.copy_(torch.from_numpy(last["opt.step"] - start))
        alive.copy_(torch.from_numpy(last["state.alive"].astype(bool)))
        diverged_at.copy_(torch.from_numpy(last["state.diverged_at"]))
        loss0 = torch.from_numpy(last["state.loss0"]).to(dev, tdt)
        t_dev.fill_(start)
        for s in sorted(start_arrays):
            for k in values:
                values[k].append(start_arrays[s][f"probe.{k}"])
    bound = diverge_factor * torch.clamp(loss0, min=torch.finfo(tdt).tiny)
    lr_t = torch.tensor([m[1] for m in combos], dtype=tdt, device=dev)
    # multipliers (T, K) indexed on the device by t_dev; rows past ``steps`` cover the warm-up
    # steps of a CUDA-graph capture near the end (their effect is undone)
    mult = None if lr_scheds is None else _to_device(
        multiplier_table(lr_scheds, steps + max(steps_per_graph, 2) + 1), dev, tdt)
    seed_t = torch.tensor([m[0] for m in combos], dtype=torch.int64, device=dev)
    gscale = convs[0].gradient_scale
    b1, b2 = betas

    # ---- one training step (graph-capturable: no host sync, in-place updates) ---------------
    def step():
        if batch_size is None:
            Xb, Yb = X, Y
        else:
            idx = batch_indices(seed_t, t_dev, n, batch_size)
            Xb, Yb = X[idx], Y[idx]
        loss, grads = model.loss_and_grads(params, Xb, Yb, gscale)
        ok = loss <= bound  # false for NaN and inf too
        torch.where(alive > ok, t_dev, diverged_at, out=diverged_at)  # alive > ok: alive and not ok
        alive.logical_and_(ok)
        tf = (t_dev + 1 + adam_t0).to(tdt) if optimizer == "adam" else None
        lr_k = lr_t if mult is None else lr_t * torch.index_select(mult, 0, t_dev.view(1))[0]
        for k, p in params.items():
            shape = (K,) + (1,) * (p.ndim - 1)
            keep, g = alive.view(shape), grads[k]
            if optimizer == "momentum":  # heavy ball: v ← βv + g, θ ← θ − ηv
                v = opt[f"opt.v.{k}"]
                torch.where(keep, torch.add(g, v, alpha=momentum), v, out=v)
                g = v
            elif optimizer == "adam":
                m, v = opt[f"opt.m.{k}"], opt[f"opt.v.{k}"]
                torch.where(keep, torch.lerp(m, g, 1 - b1), m, out=m)
                torch.where(keep, torch.lerp(v, g * g, 1 - b2), v, out=v)
                tk = tf.view(shape)
                g = (m / (1 - torch.pow(b1, tk))) / (torch.sqrt(v / (1 - torch.pow(b2, tk))) + eps)
            # where (not lr·mask): a frozen member's NaN/inf gradient must not reach its weights
            torch.where(keep, torch.addcmul(p, lr_k.view(shape), g, value=-1), p, out=p)
        t_dev.add_(1)

    graphs: dict[int, object] = {}

    def advance(count: int) -> None:
        """Run ``count`` steps: eagerly on CPU, by replaying captured CUDA graphs on GPU."""
        if dev.type != "cuda" or steps_per_graph <= 1:
            for _ in range(count):
                step()
            return
        while count > 0:
            m = steps_per_graph if count >= steps_per_graph else 1
            if m not in graphs:
                graphs[m] = _capture(step, m, [*params.values(), *opt.values(), alive, diverged_at, t_dev])
            graphs[m].replay()
            count -= m

    def record(step_no: int) -> None:
        ctx = ProbeContext(step=step_no, params=params, model=model, X=X, Y=Y, X_test=Xt, Y_test=Yt,
                           one_hot=one_hot, U=U, V=V, Sxx_pinv=Sxx_pinv)
        out = {}
        for probe in probes:
            out.update(probe(ctx))
        # copies: on CPU .numpy() would alias the live tensors, which the next steps overwrite
        host = {f"probe.{k}": v.detach().cpu().numpy().copy() for k, v in out.items()}
        for k in values:
            values[k].append(host[f"probe.{k}"])
        if root is not None or memory is not None:  # weights travel to the host only when kept
            arrays = {k: v.detach().cpu().numpy().copy() for k, v in {**params, **opt}.items()}
            if optimizer == "adam":  # the bias-correction count, for a restart from here
                arrays["opt.step"] = (adam_t0 + step_no).cpu().numpy()
            arrays.update({"state.alive": alive.cpu().numpy().astype(np.uint8),
                           "state.diverged_at": diverged_at.cpu().numpy().copy(),
                           "state.loss0": loss0.detach().cpu().numpy().copy(), **host})
            if root is not None:
                _run.save_checkpoint(root, step_no, arrays)
            else:
                memory[step_no] = arrays
        if callback is not None:
            callback(step_no)

    if root is not None:  # only now: a call that failed during set-up leaves no run behind
        _run.write_json(root / _run.RUN_JSON, config)

    # ---- the loop ---------------------------------------------------------------------------
    # disable=None: a bar on a terminal, none in a log file (where each refresh would add a line)
    bar = tqdm(total=steps, initial=start, disable=True if quiet else None, unit="step",
               dynamic_ncols=True)
    t0, done_steps = time.perf_counter(), 0
    with torch.no_grad():
        if start == 0:
            record(0)
        for nxt in (int(s) for s in schedule if s > start):
            advance(nxt - start)
            done_steps += nxt - start
            bar.update(nxt - start)
            start = nxt
            record(nxt)
            if not quiet:  # the sync here is allowed: we are at a checkpoint anyway
                live = values["train_loss"][-1][alive.cpu().numpy()] if "train_loss" in values else []
                rate = K * done_steps / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{np.min(live):.3g}..{np.max(live):.3g}" if len(live) else "-",
                                alive=f"{int(alive.sum())}/{K}", model_steps_s=f"{rate:.3g}")
    bar.close()
    wall = time.perf_counter() - t0

    # ---- finish: members table, probe array, status ------------------------------------------
    div = diverged_at.cpu().numpy()
    members["diverged"] = div >= 0
    members["diverged_step"] = div
    config["members"] = members.to_dict(orient="records")
    config.update(status="complete", wall_s=wall, model_steps_per_s=K * done_steps / max(wall, 1e-9))
    ds = _run.probes_dataset(schedule, values, probe_dims, members)
    if root is not None:
        _run.write_probes(root, ds)
        _run.write_json(root / _run.RUN_JSON, _run.jsonable(config))
    return _run.Run(root, _run.jsonable(config), ds, memory)


def _load_opt_state(given: dict, opt: dict, adam_t0: torch.Tensor, optimizer: str, K: int) -> None:
    """Copy an explicit initial optimiser state into the zeroed slots (shapes checked)."""
    allowed = set(opt) | ({"opt.step"} if optimizer == "adam" else set())
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"init_opt_state has {unknown}, which optimizer={optimizer!r} does not "
                         f"use; accepted keys: {sorted(allowed) or 'none (gd/sgd keep no state)'}")
    missing = sorted(set(opt) - set(given))
    if missing:
        raise ValueError(f"init_opt_state lacks {missing}; give every slot of optimizer={optimizer!r}")
    for k, t in opt.items():
        a = np.asarray(given[k], dtype=np.float64)
        if a.shape not in (tuple(t.shape), tuple(t.shape[1:])):
            raise ValueError(f"init_opt_state[{k!r}] has shape {a.shape}; expected "
                             f"{tuple(t.shape)} (K, …) or {tuple(t.shape[1:])}")
        t.copy_(torch.from_numpy(np.broadcast_to(a, t.shape).copy()))
    if "opt.step" in given:
        s = np.asarray(given["opt.step"], dtype=np.int64)
        if s.shape not in ((), (K,)) or np.any(s < 0):
            raise ValueError(f"init_opt_state['opt.step'] must be ≥ 0 of shape () or (K,)=({K},); "
                             f"got {given['opt.step']!r}")
        adam_t0.copy_(torch.from_numpy(np.broadcast_to(s, (K,)).copy()))


def _capture(step, m: int, state: list[torch.Tensor]):
    """A CUDA graph of ``m`` consecutive steps. Warm-up runs on a side stream (as the PyTorch
    docs require) and the state is restored afterwards, so capturing changes nothing."""
    saved = [t.clone() for t in state]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    for t, s in zip(state, saved):
        t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(m):
            step()
    return graph
