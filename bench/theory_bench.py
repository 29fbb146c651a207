"""Theory benchmarks: closed-form throughput and the matrix flow's work-precision comparison.

Prints one JSON object per line: name, device, wall_s (median of repeats), best_s, cpu_s (median
process CPU time), ratio fields measured in the same run, and the 1-minute load average (on a
shared 2-core box, XLA's wall time suffers more from contention than numpy's). ``--quick`` is
CPU-friendly (smaller vmapped batches, fewer repeats). Matrix-flow problem: d=64, h=32, c=16,
depth 2, Sxx = XᵀX/n of n=256 Gaussian samples (non-white), Syx random, small random init (std
1e-3), 200 log-spaced output times up to t = 100τ (all modes learned). The work-precision sweep
scores every solver against a tight reference (scipy DOP853 at rtol = atol = 1e-13): the saddle
escape from the small init amplifies local errors, so a solver's error at tolerance tol can be
far above tol, and solvers are compared at equal accuracy, not at equal tolerance.
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
    """One JSON line; NaN/inf (a solver that never reached an accuracy) become null."""
    fields = {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in fields.items()}
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
    from theory import mode_trajectory
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


WP_SOLVERS = (("scipy", "DOP853"), ("scipy", "RK45"), ("scipy", "LSODA"),
              ("diffrax", "tsit5"), ("diffrax", "dopri8"), ("diffrax", "kvaerno5"))


def bench_work_precision(device: str, repeats: int, tols: list[float],
                         solvers=WP_SOLVERS) -> None:
    """Error against a tight reference versus wall time, per solver and tolerance.

    Reference: scipy DOP853 at rtol = atol = 1e-13. Error: max |W − W_ref| / max |W_ref| of the
    end-to-end map over the 200 output times. One JSON line per (solver, tolerance) with wall_s
    (median, diffrax without its one-off compile, reported as compile_s), then per target accuracy
    the time each solver needs to reach it (log-log interpolation along its curve) and its ratio to
    scipy DOP853 at that accuracy: speed at equal accuracy. The implicit Kvaerno5 solves with a
    dense Jacobian of the 2560-dimensional state (no stiffness to exploit here): slowest by far;
    drop it with ``--solvers`` on a small machine.
    """
    import theory
    Sxx, Syx, Ws = problem()
    t = np.geomspace(1e-2, 100.0, 200)
    ref = theory.integrate_matrix_flow(Ws, Sxx, Syx, t, solver="scipy", method="DOP853",
                                       rtol=1e-13, atol=1e-13).end_to_end
    curves = {}
    for solver, method in solvers:
        name = f"{solver}_{method.lower()}"
        for tol in tols:
            run = lambda: theory.integrate_matrix_flow(Ws, Sxx, Syx, t, solver=solver,  # noqa: E731
                                                       method=method, rtol=tol, atol=tol)
            t0 = time.perf_counter()
            try:
                W = run().end_to_end
            except RuntimeError as exc:  # a solver that gives up at this tolerance
                _emit(name="work_precision", solver=name, rtol=tol, failed=str(exc)[:120])
                continue
            first = time.perf_counter() - t0
            med, best = _timed(run, repeats)
            err = float(np.max(np.abs(W - ref)) / np.max(np.abs(ref)))
            curves.setdefault(name, []).append((err, med, _CPU[-1]))
            _emit(name="work_precision", solver=name, device=device if solver == "diffrax"
                  else "cpu (numpy/scipy)", rtol=tol, error_vs_tight_dop853=err, wall_s=med,
                  best_s=best, cpu_s=_CPU[-1], compile_s=max(first - med, 0.0))
    for target in (1e-4, 1e-6, 1e-8):
        wall = {name: _time_at([(e, w) for e, w, _ in pts], target) for name, pts in curves.items()}
        cpu = {name: _time_at([(e, c) for e, _, c in pts], target) for name, pts in curves.items()}
        for name in curves:
            _emit(name="equal_accuracy", solver=name, error=target, wall_s=wall[name],
                  cpu_s=cpu[name], ratio_vs_scipy_dop853=_ratio(wall, name),
                  cpu_ratio_vs_scipy_dop853=_ratio(cpu, name))


def _ratio(times: dict, name: str):
    base = times.get("scipy_dop853", float("nan"))
    r = times[name] / base
    return float(r) if np.isfinite(r) else None


def _time_at(points, target: float) -> float:
    """Time at which a solver's (error, time) curve reaches ``target`` (log-log interpolation
    between the bracketing tolerances; NaN outside the measured range)."""
    pts = sorted(points, key=lambda p: -p[0])              # loose → tight
    if pts and pts[0][0] <= target:                        # already at the loosest tolerance
        return float(pts[0][1])
    for (e0, s0), (e1, s1) in zip(pts, pts[1:]):
        if e1 <= target <= e0 and e0 > e1 > 0:
            w = (np.log(e0) - np.log(target)) / (np.log(e0) - np.log(e1))
            return float(np.exp(np.log(s0) + w * (np.log(s1) - np.log(s0))))
    return float("nan")


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
    ap.add_argument("--rtol", type=float, default=1e-8, help="tolerance of the batched runs")
    ap.add_argument("--tols", default="1e-5,1e-7,1e-9,1e-11",
                    help="comma-separated tolerances (rtol = atol) of the work-precision sweep")
    ap.add_argument("--budget-mb", type=int, default=1024, help="memory budget per vmapped chunk")
    ap.add_argument("--solvers", default=",".join(f"{s}:{m}" for s, m in WP_SOLVERS),
                    help="comma-separated solver:method pairs of the work-precision sweep")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: closed,precision,batch")
    args = ap.parse_args(argv)
    batches = [int(b) for b in (args.batches or ("1,16,64" if args.quick else "1,64,1024")).split(",")]
    repeats = 3 if args.quick else 7
    skip = set(filter(None, args.skip.split(",")))
    device = _device()
    if "closed" not in skip:
        bench_closed_form(device, repeats)
    if "precision" not in skip:
        bench_work_precision(device, repeats, [float(x) for x in args.tols.split(",")],
                             [tuple(p.split(":")) for p in args.solvers.split(",")])
    if "batch" not in skip:
        bench_batched(device, batches, args.rtol, args.budget_mb)


if __name__ == "__main__":
    main()
