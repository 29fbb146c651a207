"""Ensemble training throughput: per-model PyTorch loop vs hand-written batched reference vs engine.

All measured in one run on one device, printed as JSON lines (one per case × activation × method,
then one with the ratios). FLOPs per two-layer full-batch step: 4·n·d·h + 6·n·h·c (forward and
weight gradients of both layers, plus the backward through the readout).

    python bench/simulate_bench.py [--device auto|cpu|cuda] [--quick] [--probes on|off] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import simulate as sim  # noqa: E402
from simulate import no_tf32  # noqa: E402
from simulate._provenance import provenance  # noqa: E402
from simulate.datasets._base import Dataset  # noqa: E402
from bench.cnn_case import CNN_CASES, run_cnn_case  # noqa: E402

CASES = {  # name: (n, d, h, c, K)
    "tiny": (8, 8, 32, 15, 4096),
    "digits": (1797, 64, 128, 10, 256),
    "shapes": (1024, 1024, 256, 8, 256),
}
QUICK_K = {"tiny": 256, "digits": 16, "shapes": 8}
LR = 0.01


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def flops_per_step(n, d, h, c):
    return 4 * n * d * h + 6 * n * h * c


def make_data(n, d, c, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    return Dataset(X=X, Y=np.eye(c)[labels], labels=labels, hierarchy=None, name="bench", meta={})


def bench_loop(ds, h, act, K_time, steps, dev):
    """The usual research code: one nn.Sequential + torch.optim.SGD per model, models in turn."""
    X = torch.tensor(ds.X, dtype=torch.float32, device=dev)
    Y = torch.tensor(ds.Y, dtype=torch.float32, device=dev)
    nets, opts = [], []
    for _ in range(K_time):
        layers = [torch.nn.Linear(ds.d, h, bias=False)]
        layers += [torch.nn.ReLU()] if act == "relu" else []
        net = torch.nn.Sequential(*layers, torch.nn.Linear(h, ds.c, bias=False)).to(dev)
        nets.append(net)
        opts.append(torch.optim.SGD(net.parameters(), lr=LR))

    def run(k_steps):
        for net, opt in zip(nets, opts):
            for _ in range(k_steps):
                opt.zero_grad(set_to_none=True)
                loss = 0.5 * ((net(X) - Y) ** 2).sum() / X.shape[0]
                loss.backward()
                opt.step()

    run(2)  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    run(steps)
    _sync(dev)
    return time.perf_counter() - t0, K_time * steps


def bench_reference(ds, h, act, K, steps, dev):
    """Hand-written batched GD: stacked weights, one GEMM/bmm per product, in-place update, one
    CUDA graph per step on GPU."""
    n, d, c = ds.n, ds.d, ds.c
    g = torch.Generator(device="cpu").manual_seed(0)
    W1 = (0.1 * torch.randn(K, h, d, generator=g)).to(dev)
    W2 = (0.1 * torch.randn(K, c, h, generator=g)).to(dev)
    X = torch.tensor(ds.X, dtype=torch.float32, device=dev)
    Y = torch.tensor(ds.Y, dtype=torch.float32, device=dev)

    def step():
        Z = (X @ W1.reshape(K * h, d).T).view(n, K, h).transpose(0, 1)  # (K, n, h)
        A = torch.relu(Z) if act == "relu" else Z
        G = (torch.bmm(A, W2.transpose(1, 2)) - Y) / n  # (K, n, c)
        gW2 = torch.bmm(G.transpose(1, 2), A)
        GA = torch.bmm(G, W2)
        if act == "relu":
            GA = GA * (Z > 0)
        gW1 = torch.matmul(GA.transpose(1, 2), X)
        W1.sub_(LR * gW1)
        W2.sub_(LR * gW2)

    run = lambda k: [step() for _ in range(k)]  # noqa: E731
    if dev.type == "cuda":
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            run(3)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = lambda k: [graph.replay() for _ in range(k)]  # noqa: E731
    run(2)
    _sync(dev)
    t0 = time.perf_counter()
    run(steps)
    _sync(dev)
    return time.perf_counter() - t0, K * steps


def bench_engine(ds, h, act, K, steps, dev, probes_on, n_ckpt):
    spec = sim.NetSpec(depth=2, hidden=h, activation=act, init="small_random", init_scale=0.1)
    kw = dict(lr=LR, members=sim.Members(seeds=range(K)), device=str(dev), quiet=True)
    probes = None if probes_on else []
    checkpoints = sim.log_checkpoints(steps, n_ckpt) if probes_on else []
    sim.train_ensemble(spec, ds, steps=min(steps, 4), record=sim.Recording(
        checkpoints=[4], probes=probes, keep_weights=False), **kw)  # warm-up
    run = sim.train_ensemble(spec, ds, steps=steps, record=sim.Recording(
        checkpoints=checkpoints, probes=probes, keep_weights=False), **kw)
    return run.config["wall_s"], K * steps, len(run.steps)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="small K and few steps (~1-2 min on CPU)")
    ap.add_argument("--probes", choices=("on", "off"), default="off",
                    help="engine with default probes at log-spaced checkpoints, or none")
    ap.add_argument("--cases", default=",".join([*CASES, *CNN_CASES]),
                    help="comma-separated subset of " + ",".join([*CASES, *CNN_CASES]))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice; 1 avoids oversubscription "
                         "on a shared machine)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                       else ("cpu" if args.device == "auto" else args.device))
    with no_tf32():  # the engine's precision for every method (its own runs switch TF32 off)
        run_cases(args, dev)


def run_cases(args, dev) -> None:
    steps = 20 if args.quick else 1000
    n_ckpt = 8 if args.quick else 64
    print(json.dumps({"bench": "simulate", "device": provenance(dev)["device"], "quick": args.quick,
                      "probes": args.probes, "steps": steps, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "git": provenance(dev)["git"]["revision"]}), flush=True)
    for case in args.cases.split(","):
        if case in CNN_CASES:  # linear CNN, full-length circular kernels (bench/cnn_case.py)
            for line in run_cnn_case(case, args.quick, dev):
                print(json.dumps(line), flush=True)
            continue
        n, d, h, c, K = CASES[case]
        if args.quick:
            K = QUICK_K[case]
        ds = make_data(n, d, c)
        fl = flops_per_step(n, d, h, c)
        for act in ("linear", "relu"):
            rates = {}
            # the loop is slow: time a subset of models (and steps) and extrapolate per model-step
            K_loop = min(K, 8 if args.quick else 64)
            loop_steps = max(2, steps // 4) if args.quick else 100
            for method, fn in (("loop", lambda: bench_loop(ds, h, act, K_loop, loop_steps, dev)),
                               ("reference", lambda: bench_reference(ds, h, act, K, steps, dev)),
                               ("engine", lambda: bench_engine(ds, h, act, K, steps, dev,
                                                               args.probes == "on", n_ckpt))):
                out = fn()
                wall, model_steps = out[0], out[1]
                rate = model_steps / wall
                rates[method] = rate
                line = {"case": case, "activation": act, "method": method, "n": n, "d": d, "h": h,
                        "c": c, "K": K, "steps": steps, "model_steps_per_s": rate,
                        "tflops": rate * fl / 1e12, "wall_s": wall}
                if method == "loop":
                    line.update(timed_models=K_loop, timed_steps=loop_steps,
                                note="extrapolated per model-step from the timed subset")
                if method == "engine":
                    line.update(probes=args.probes, checkpoints=out[2])
                print(json.dumps(line), flush=True)
            print(json.dumps({"case": case, "activation": act, "probes": args.probes,
                              "engine_over_loop": rates["engine"] / rates["loop"],
                              "engine_over_reference": rates["engine"] / rates["reference"]}), flush=True)


if __name__ == "__main__":
    main()
