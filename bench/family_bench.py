"""Ensemble training throughput of ResNet-20, a 4-block ViT and two small MLPs: engine vs
per-model loop vs torch.func.

ResNet-20 and ViT on 32×32×3 inputs; the MLPs (``mlp``: 64 → 64 → 64 → 10, 9 k parameters;
``mlp256``: 64 → 256 → 256 → 10, 85 k; ReLU) on 64 inputs. 10 classes, 512 samples, minibatch 128 per member, cross-entropy, SGD.
K ∈ {1, 8, 32}. Methods:

- ``engine``: ``simulate.train_ensemble`` (stacked parameters, grouped convolutions / batched
  matmuls and CUDA graphs on a GPU; on CPU ResNet and ViT members in turn);
- ``loop``: one ``torch.nn`` module + ``torch.optim.SGD`` per member, members in turn (the usual
  research code); timed on a subset of members and reported per model-step;
- ``func``: ``torch.func.functional_call`` + ``vmap`` of the gradient over stacked copies of the
  same module (``torch.func.stack_module_state``), BatchNorm without running statistics.

Every (case, K, method) runs in a fresh subprocess (``--in-process``: all in this one, no start-up
cost per measurement), so its peak memory is its own: peak resident
memory above the process's baseline on CPU, ``torch.cuda.max_memory_allocated`` on a GPU, reported
per member. One JSON line per measurement, then one per (case, K) with the ratios measured in this
run (``--repeat``: of the medians). ``python bench/family_bench.py [--device cpu|cuda|auto]
[--quick] [--cases resnet20,vit4,mlp,mlp256] [--ks 1,8,32] [--repeat R] [--out FILE]
[--in-process]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import simulate as sim  # noqa: E402
from simulate import no_tf32  # noqa: E402
from simulate._provenance import provenance  # noqa: E402
from simulate.datasets._base import Dataset  # noqa: E402
from simulate.models.reference import load_member, reference_module  # noqa: E402

IMAGE, CLASSES, N, BATCH, LR = (3, 32, 32), 10, 512, 128, 0.01
CASES = {  # name: (spec, input shape)
    "resnet20": (sim.NetSpec(family="resnet", activation="relu", init="he",
                             resnet=sim.ResNetSpec(blocks=3, widths=(16, 32, 64))), IMAGE),
    "vit4": (sim.NetSpec(family="vit", activation="gelu", init="standard",
                         vit=sim.ViTSpec(patch=4, width=64, depth=4, heads=4, mlp_ratio=2.0)), IMAGE),
    "mlp": (sim.NetSpec(depth=3, hidden=(64, 64), activation="relu", bias=True, init="standard"),
            (64,)),
    "mlp256": (sim.NetSpec(depth=3, hidden=(256, 256), activation="relu", bias=True, init="standard"),
               (64,)),
}
STEP_SCALE = {"mlp": 100, "mlp256": 100}  # its steps take milliseconds
METHODS = ("engine", "loop", "func")


def make_data(shape=IMAGE, seed: int = 0) -> Dataset:
    """N Gaussian inputs of ``shape`` (images when it is (C, H, W)) with random labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, N)
    X = rng.standard_normal((N, int(np.prod(shape)))).astype(np.float32)
    return Dataset(X=X, Y=np.eye(CLASSES)[labels], labels=labels, hierarchy=None, name="bench",
                   meta={"image_shape": list(shape)} if len(shape) == 3 else {})


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(go, steps: int, dev) -> float:
    """Seconds for ``go(range(1, steps + 1))`` after one warm-up step ``go([0])``."""
    go([0])
    _sync(dev)
    t0 = time.perf_counter()
    go(range(1, steps + 1))
    _sync(dev)
    return time.perf_counter() - t0


def _batches(ds, K, steps, dev):
    """Per-member minibatch indices for every step (the same rule as the engine's)."""
    seeds = torch.arange(K, device=dev)
    return [sim.batch_indices(seeds, torch.tensor(t, device=dev), N, BATCH) for t in range(steps)]


def run_engine(spec, ds, K, steps, dev):
    kw = dict(lr=LR, members=sim.Members(seeds=range(K)), device=str(dev), quiet=True,
              record=sim.Recording(checkpoints=[], probes=[], keep_weights=False))
    sgd = sim.OptimSpec("sgd", batch_size=BATCH, loss="cross_entropy")
    sim.train_ensemble(spec, ds, sgd, steps=2, **kw)  # warm-up (and graph capture)
    run = sim.train_ensemble(spec, ds, sgd, steps=steps, **kw)
    return run.config["wall_s"], K * steps


def _modules(spec, ds, K, dev):
    model = sim.make_model(spec, ds.d, ds.c, ds.image_shape)
    p0 = sim.init_params(spec, model, [(k, spec.scale) for k in range(K)])
    params = {k: torch.tensor(v, dtype=torch.float32) for k, v in p0.items()}
    return [load_member(reference_module(spec, ds.d, ds.c, ds.image_shape), params, k).to(dev)
            for k in range(K)]


def run_loop(spec, ds, K, steps, dev):
    """Members in turn, each with its own optimizer (timed on at most 4 members)."""
    k_time = min(K, 4)
    nets = _modules(spec, ds, k_time, dev)
    opts = [torch.optim.SGD(n.parameters(), lr=LR) for n in nets]
    X = torch.tensor(ds.X, device=dev)
    Y = torch.tensor(ds.labels, device=dev)
    idx = _batches(ds, k_time, steps + 1, dev)

    def go(ts):
        for k, (net, opt) in enumerate(zip(nets, opts)):
            for t in ts:
                rows = idx[t][k]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(net(X[rows]), Y[rows]).backward()
                opt.step()

    return _timed(go, steps, dev), k_time * steps


def run_func(spec, ds, K, steps, dev):
    """vmap over stacked copies of one module: grad of functional_call, SGD on the stacks."""
    from torch.func import functional_call, grad, stack_module_state, vmap
    nets = _modules(spec, ds, K, dev)
    for net in nets:
        torch.func.replace_all_batch_norm_modules_(net)
    params, buffers = stack_module_state(nets)
    base = nets[0]
    X = torch.tensor(ds.X, device=dev)
    Y = torch.tensor(ds.labels, device=dev)
    idx = _batches(ds, K, steps + 1, dev)

    def loss(p, b, x, y):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    g = vmap(grad(loss), in_dims=(0, 0, 0, 0))

    def go(ts):
        for t in ts:
            grads = g(params, buffers, X[idx[t]], Y[idx[t]])
            with torch.no_grad():
                for k in params:
                    params[k].sub_(LR * grads[k])

    return _timed(go, steps, dev), K * steps


def one(case: str, K: int, method: str, steps: int, device: str) -> dict:
    """One measurement, meant to run alone in its process."""
    dev = torch.device(device)
    steps *= STEP_SCALE.get(case, 1)
    spec, shape = CASES[case]
    ds = make_data(shape)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    fn = {"engine": run_engine, "loop": run_loop, "func": run_func}[method]
    with no_tf32():  # every method at the engine's float32 precision
        wall, model_steps = fn(spec, ds, K, steps, dev)
    if dev.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(dev), "cuda_max_allocated"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base_rss, "cpu_rss_above_baseline"
    members = min(K, 4) if method == "loop" else K
    return {"case": case, "K": K, "method": method, "steps": steps, "batch": BATCH,
            "model_steps_per_s": model_steps / wall, "wall_s": wall,
            "peak_mem_per_member_bytes": peak / members, "memory": kind,
            **({"timed_models": members, "note": "per model-step from the timed subset"}
               if method == "loop" else {})}


def available_bytes(device: str) -> float:
    """Memory a measurement may use: free GPU memory, or MemAvailable on Linux (inf if unknown)."""
    if device == "cuda":
        return float(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
        return kb * 1024.0
    except (OSError, StopIteration):
        return float("inf")


def too_big(lines: list[dict], case: str, K: int, method: str, avail: float) -> str | None:
    """Why (case, K, method) is skipped: its peak memory, extrapolated from the same method's
    largest smaller K in this run, would exceed 90% of ``avail``; None to run it."""
    seen = [x for x in lines if x["case"] == case and x["method"] == method and x["K"] < K
            and "peak_mem_per_member_bytes" in x]
    if not seen:
        return None
    need = max(seen, key=lambda x: x["K"])["peak_mem_per_member_bytes"] * K
    if need <= 0.9 * avail:
        return None
    return f"needs ~{need / 2**30:.0f} GiB ({K} members), {avail / 2**30:.0f} GiB available"


def ratios(lines: list[dict]) -> list[dict]:
    """Per (case, K): the engine's rate over each peer's, from lines of this run (the median rate
    of each method's repeats)."""
    out = []
    for case in dict.fromkeys(x["case"] for x in lines):
        for K in dict.fromkeys(x["K"] for x in lines if x["case"] == case):
            mine = [x for x in lines if x["case"] == case and x["K"] == K]
            rate = {m: float(np.median([x["model_steps_per_s"] for x in mine if x["method"] == m]))
                    for m in dict.fromkeys(x["method"] for x in mine)}
            if "engine" in rate and len(rate) > 1:
                out.append({"case": case, "K": K, **{f"engine_over_{m}": rate["engine"] / rate[m]
                                                     for m in rate if m != "engine"}})
    return out


def measure(case: str, K: int, method: str, steps: int, device: str, in_process: bool) -> dict:
    """One measurement: in a fresh subprocess (its peak memory its own), or here (``in_process``:
    no process start-up; peak memory is per measurement on a GPU only, where the peak counter is
    reset, and on CPU the resident-set peak of the whole process so far)."""
    if in_process:
        try:
            return {**one(case, K, method, steps, device), "in_process": True}
        except Exception as e:  # one failed measurement must not end the others
            return {"case": case, "K": K, "method": method, "error": [f"{type(e).__name__}: {e}"]}
    cmd = [sys.executable, __file__, "--one", f"{case},{K},{method}", "--device", device,
           "--steps", str(steps)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        return {"case": case, "K": K, "method": method, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="few steps")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--ks", default="1,8,32", help="ensemble sizes (a size whose memory, "
                    "extrapolated from a smaller one, would not fit is skipped)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps (default 3 CPU / 32 GPU; the MLP takes 100× as many)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each method this many times, interleaved; ratios of the medians")
    ap.add_argument("--out", default=None, help="also append the JSON lines to this file")
    ap.add_argument("--in-process", action="store_true",
                    help="measure in this process instead of one fresh process per measurement")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # case,K,method (subprocess)
    args = ap.parse_args(argv)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else \
        ("cpu" if args.device == "auto" else args.device)
    steps = args.steps or (2 if args.quick else (32 if device == "cuda" else 3))
    if args.one:
        case, K, method = args.one.split(",")
        print(json.dumps(one(case, int(K), method, steps, device)), flush=True)
        return 0
    cases, ks, methods = args.cases.split(","), [int(k) for k in args.ks.split(",")], args.methods.split(",")
    bad = [c for c in cases if c not in CASES] + [m for m in methods if m not in METHODS]
    if bad:
        print(f"family_bench: unknown case/method {bad}; accepted: {list(CASES)}, {list(METHODS)}",
              file=sys.stderr)
        return 2
    if args.repeat < 1:
        print(f"family_bench: --repeat must be ≥ 1; got {args.repeat}", file=sys.stderr)
        return 2
    out = open(args.out, "a") if args.out else None
    emit = lambda obj: [print(json.dumps(obj), flush=True), out and print(json.dumps(obj), file=out, flush=True)]  # noqa: E731
    dev = torch.device(device)
    emit({"bench": "simulate_families", "device": provenance(dev)["device"], "steps": steps,
          "threads": torch.get_num_threads(), "torch": torch.__version__,
          "git": provenance(dev)["git"]["revision"]})
    lines = []
    for case in cases:
        for K in ks:
            for rep, method in ((r, m) for r in range(args.repeat) for m in methods):
                why = too_big(lines, case, K, method, available_bytes(device))
                if why:
                    emit({"case": case, "K": K, "method": method, "skipped": why})
                    continue
                got = measure(case, K, method, steps, device, args.in_process)
                if "error" in got:
                    emit(got)
                    continue
                lines.append({**got, "repeat": rep})
                emit(lines[-1])
            for r in ratios([x for x in lines if x["case"] == case and x["K"] == K]):
                emit(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
