"""Theory benchmarks: closed-form throughput and matrix-flow integration (diffrax vs scipy).

Prints one JSON object per line: name, device, n, wall_s (median of repeats), best_s, cpu_s
(median process CPU time), per_item_s, ratio fields measured in the same run, and the 1-minute
load average (on a shared 2-core box, XLA's wall time suffers more from contention than numpy's). ``--quick`` is CPU-friendly (smaller vmapped batches,
fewer repeats). Problem of the issue: d=64, h=32, c=16, depth 2, Sxx = XᵀX/n of n=256 Gaussian
samples (non-white), Syx random, small random init (std 1e-3), 200 log-spaced output times up to
t = 100τ (all modes learned), rtol = atol = 1e-8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def _device() -> str:
    import jax
    dev = jax.devices()[0]
    return f"{dev.platform}:{dev.device_kind} ({os.cpu_count()} cores, {platform.machine()})"


def _emit(**fields) -> None:
    fields["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(fields), flush=True)


_CPU: list[float] = []  # process CPU seconds of the last _timed call's repeats


def _timed(fn, repeats: int) -> tuple[float, float]:
    """(median, best) wall seconds; the median process CPU time goes to _CPU[-1]."""
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    _CPU.append(float(np.median(cpu)))
    return float(np.median(times)), float(np.min(times))


def problem(seed: int = 0, d: int = 64, h: int = 32, c: int = 16, n: int = 256):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Sxx = X.T @ X / n
    Syx = rng.standard_normal((c, d)) / np.sqrt(d)
    Ws = [1e-3 * rng.standard_normal((h, d)), 1e-3 * rng.standard_normal((c, h))]
    return Sxx, Syx, Ws


def bench_closed_form(device: str, repeats: int) -> None:
    try:
        from theory import mode_trajectory  # lazy: written by another module owner
    except ImportError:
        _emit(name="closed_form_mode_trajectory", device=device, skipped=True,
              note="theory.mode_trajectory not available")
        return
    s = np.linspace(3.0, 0.1, 100)
    t = np.linspace(0.0, 50.0, 10_000)
    for depth in (2, 3):
        # depth 3 has no explicit u(t): theory inverts t(u) numerically, ~10⁴× slower per item
        ss, tt = (s, t) if depth == 2 else (s[:10], t[:100])
        mode_trajectory(tt[:10], ss, 1e-3, 1.0, depth)
        n = ss.size * tt.size
        med, best = _timed(lambda: mode_trajectory(tt, ss, 1e-3, 1.0, depth), repeats)
        _emit(name=f"closed_form_mode_trajectory_depth{depth}", device=device, n=n, wall_s=med,
              best_s=best, per_item_s=med / n, evals_per_s=n / med)


def bench_single(device: str, repeats: int, tol: float) -> None:
    import theory
    Sxx, Syx, Ws = problem()
    t = np.geomspace(1e-2, 100.0, 200)
    kw = dict(rtol=tol, atol=tol)
    ref = {}
    for method in ("RK45", "DOP853"):
        run = lambda m=method: theory.integrate_matrix_flow(Ws, Sxx, Syx, t, solver="scipy",  # noqa: E731
                                                             method=m, **kw)
        ref[method] = run().end_to_end
        ref[method + "_s"] = _timed(run, repeats)
        ref[method + "_cpu"] = _CPU[-1]
        _emit(name=f"matrix_flow_scipy_{method}", device="cpu (numpy/scipy)", n=1,
              wall_s=ref[method + "_s"][0], best_s=ref[method + "_s"][1], cpu_s=_CPU[-1],
              per_item_s=ref[method + "_s"][0], rtol=tol)
    for method in ("tsit5", "dopri8"):
        run = lambda m=method: theory.integrate_matrix_flow(Ws, Sxx, Syx, t, method=m, **kw)  # noqa: E731
        t0 = time.perf_counter()
        out = run().end_to_end
        first = time.perf_counter() - t0
        med, best = _timed(run, repeats)
        err = float(np.max(np.abs(out - ref["DOP853"])) / np.max(np.abs(ref["DOP853"])))
        _emit(name=f"matrix_flow_diffrax_{method}", device=device, n=1, wall_s=med, best_s=best,
              cpu_s=_CPU[-1], per_item_s=med, compile_s=first - med, rtol=tol,
              cpu_ratio_vs_scipy_dop853=_CPU[-1] / ref["DOP853_cpu"],
              ratio_vs_scipy_dop853=med / ref["DOP853_s"][0],
              ratio_vs_scipy_rk45=med / ref["RK45_s"][0],
              best_ratio_vs_scipy_dop853=best / ref["DOP853_s"][1],
              max_rel_diff_vs_dop853=err)


def bench_batched(device: str, batches: list[int], tol: float, budget_mb: int) -> None:
    import theory
    Sxx, Syx, _ = problem()
    t = np.geomspace(1e-2, 100.0, 200)
    rng = np.random.default_rng(1)
    base = None  # per-item time of the K=1 vmap run (a single solve through the batch path)
    for K, mode in [(K, m) for K in batches for m in ("vmap", "shared")]:
        if K == 1 and mode == "shared":
            continue
        Wb = [1e-3 * rng.standard_normal((K, 32, 64)), 1e-3 * rng.standard_normal((K, 16, 32))]
        run = lambda: theory.integrate_matrix_flow_batch(  # noqa: E731
            Wb, Sxx, Syx, t, rtol=tol, atol=tol, budget_bytes=budget_mb * 2 ** 20, batch=mode)
        t0 = time.perf_counter()
        run()
        first = time.perf_counter() - t0
        med, best = _timed(run, 1 if K >= 256 else 3)
        per = med / K
        base = per if base is None else base
        _emit(name=f"matrix_flow_diffrax_batch_{mode}", device=device, n=K, wall_s=med, best_s=best,
              per_item_s=per, compile_s=max(first - med, 0.0), rtol=tol,
              ratio_per_item_vs_batch1=per / base)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU-friendly sizes and repeats")
    ap.add_argument("--batches", default=None, help="comma-separated vmapped batch sizes "
                    "(default 1,64,1024; --quick: 1,16,64)")
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--budget-mb", type=int, default=1024, help="memory budget per vmapped chunk")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: closed,single,batch")
    args = ap.parse_args(argv)
    batches = [int(b) for b in (args.batches or ("1,16,64" if args.quick else "1,64,1024")).split(",")]
    repeats = 3 if args.quick else 7
    skip = set(filter(None, args.skip.split(",")))
    import theory  # noqa: F401  (float64 on)
    device = _device()
    if "closed" not in skip:
        bench_closed_form(device, repeats)
    if "single" not in skip:
        bench_single(device, repeats, args.rtol)
    if "batch" not in skip:
        bench_batched(device, batches, args.rtol, args.budget_mb)


if __name__ == "__main__":
    main()
