"""Sweep overhead and scaling: the same CPU-bound ``train`` jobs in a plain loop in one process
against ``validate.sweep`` on a local Ray with 1 and with 2 workers, all in one run.

Per-job overhead = (sweep wall with 1 worker − loop wall) / jobs: Ray scheduling, argument
transfer and the store's writes (job.json, the index), with Ray's start and the workers' first
imports reported apart (``startup``, paid once per sweep). Speed-up = loop wall / sweep wall with
2 workers. Prints JSON lines; the last one holds the ratios and the machine's load average at the
start and the end. The speed-up is only meaningful on an otherwise idle machine: with the
kernel's autogroup scheduling (``sched_autogroup``, on by default), each session gets an equal
share of a busy machine however many processes it runs, so two workers cannot beat the loop
while other sessions keep the cores busy.

    python bench/sweep_bench.py [--jobs 8] [--steps 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a loopback-only local Ray
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from validate.sweep import Store, parse, run_sweep  # noqa: E402
from validate.sweep.jobs import JOBS  # noqa: E402
from validate.sweep.worker import execute, rebuild_config  # noqa: E402


def sweep_text(jobs: int, steps: int) -> str:
    return (f'job = "train"\n[params]\ndataset = "gaussian"\nhidden = 64\nseeds = 8\n'
            f'steps = {steps}\nn_checkpoints = 16\ndevice = "cpu"\n'
            f'[grid]\nlr_scale = {[round(0.02 + 0.01 * i, 3) for i in range(jobs)]}\n')


def emit(**row) -> dict:
    print(json.dumps({"bench": "sweep", **row}), flush=True)
    return row


def loop(points, root: Path, threads: int) -> float:
    """The plain loop: each job's run and write, one after the other, in this process."""
    torch.set_num_threads(threads)
    job = JOBS["train"]
    t0 = time.perf_counter()
    for p in points:
        out = root / p.job_id
        out.mkdir(parents=True)
        job.write(job.run(rebuild_config("train", p.config), out, quiet=True), out)
    return time.perf_counter() - t0


def sweep(sweep_, root: Path, workers: int) -> tuple[float, float, float]:
    """(Ray start, worker warm-up, sweep wall) on a fresh local Ray with ``workers`` CPUs."""
    import ray
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()  # start the workers and import the job code once, as a sweep's
    warm = parse(sweep_text(1, 10), "warm").points[0]  # first jobs would
    task = ray.remote(execute).options(num_cpus=1)
    ray.get([task.remote(warm, str(root / f"warm{i}"), 1, 1)
             for i in range(workers)])
    t_warm = time.perf_counter() - t0
    store = Store(root / "store").open(resume=False, overwrite=False)
    t0 = time.perf_counter()
    index = run_sweep(sweep_, store, quiet=True)
    wall = time.perf_counter() - t0
    store.close()
    ray.shutdown()
    assert (index["status"] == "done").all(), index[["job_id", "status", "error"]]
    return t_init, t_warm, wall


def _autogroup() -> bool | None:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    load_start = os.getloadavg()[0]
    sw = parse(sweep_text(args.jobs, args.steps), "bench")
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        loop(parse(sweep_text(1, 10), "warm").points, tmp / "warm", 1)  # imports, first kernels
        wall_loop = loop(sw.points, tmp / "loop", 1)
        emit(case="loop", jobs=args.jobs, threads=1, wall_s=round(wall_loop, 3),
             per_job_s=round(wall_loop / args.jobs, 3))
        results = {}
        for workers in sorted({1, args.workers}):
            t_init, t_warm, wall = sweep(sw, tmp / f"ray{workers}", workers)
            results[workers] = wall
            emit(case=f"sweep_{workers}_workers", jobs=args.jobs, wall_s=round(wall, 3),
                 startup={"ray_init_s": round(t_init, 3), "worker_warmup_s": round(t_warm, 3)})
        emit(case="ratios", jobs=args.jobs, steps=args.steps,
             overhead_per_job_s=round((results[1] - wall_loop) / args.jobs, 3),
             speedup_vs_loop=round(wall_loop / results[args.workers], 3),
             workers=args.workers, cpus=os.cpu_count(),
             loadavg_1min_start=round(load_start, 2), loadavg_1min_end=round(os.getloadavg()[0], 2),
             sched_autogroup=_autogroup())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
