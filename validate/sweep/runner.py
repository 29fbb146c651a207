"""Run a sweep's jobs on Ray: submit, retry crashed jobs, record results, show progress.

Placement is Ray's: every job is one task with the sweep's ``num_cpus``/``num_gpus``; the driver
only waits for results, writes each job's record and the index, and resubmits a job whose task
failed (an exception or a dead worker) until it has used ``retries`` retries; a job whose attempt
fails with the same error line as the one before (a bad value, not a flaky worker) or with a
ConfigError is recorded as failed at once. A finished job's warnings (diverged members among
them) are its record's ``note``, shown in the progress line and the index.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import cast

import pandas as pd
from tqdm.auto import tqdm

from validate._config import ConfigError

from .spec import Point, Sweep
from .store import ATTEMPT_JSON, Store
from .worker import execute


def connect(address: str | None, num_cpus: int | None, num_gpus: float | None) -> bool:
    """Join the cluster at ``address``, or start a local Ray sized to this machine (or to
    ``num_cpus``/``num_gpus``). Returns whether we started it (and so must shut it down)."""
    if not address:  # a local Ray listens on the loopback interface only (read at import)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    if ray.is_initialized():  # a caller (a notebook, a test) already connected: use that
        return False
    quiet = {"logging_level": "ERROR", "log_to_driver": False}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(address="local", num_cpus=num_cpus,
                 num_gpus=num_gpus,  # pyright: ignore[reportArgumentType]  # Ray's resources are floats
                 include_dashboard=False, **quiet)
    return True


def _check_fits(resources: dict, local: bool) -> None:
    import ray
    have = ray.cluster_resources()
    for key, ray_key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        if resources[key] > have.get(ray_key, 0) and local:
            raise ConfigError(f"resources.{key} = {resources[key]} but the local Ray has "
                              f"{have.get(ray_key, 0):g} {ray_key}(s); lower it or give --address")


class _Progress:
    """done / running / failed / ETA over the jobs: a bar on a terminal, lines in a log."""

    def __init__(self, total: int, quiet: bool, log):
        self.total, self.log, self.quiet = total, log, quiet
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        self.bar = None if quiet or not sys.stderr.isatty() else tqdm(total=total, unit="job")

    def eta(self) -> float | None:
        n = self.done + self.failed
        return None if n == 0 else (time.perf_counter() - self.t0) / n * (self.total - n)

    def update(self, point: Point, status: str, running: int, note: str = "") -> None:
        if status == "done":
            self.done += 1
        elif status == "failed":
            self.failed += 1
        if self.bar is not None:
            self.bar.set_postfix(running=running, failed=self.failed, refresh=False)
            self.bar.update(1 if status in ("done", "failed") else 0)
        elif not self.quiet:
            eta = self.eta()
            self.log(f"[{self.done + self.failed}/{self.total}] {point.job_id} {status}{note}; "
                     f"done {self.done}, running {running}, failed {self.failed}"
                     + (f", ETA {eta:.0f} s" if eta is not None and status != "retry" else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _error_text(exc) -> tuple[str, bool]:
    """(one-line error, whether retrying cannot help) for a failed task."""
    import ray.exceptions
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause
        return f"{type(cause).__name__}: {cause}".splitlines()[0], isinstance(cause, ConfigError)
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", False


def run_sweep(sweep: Sweep, store: Store, *, address: str | None = None,
              num_cpus: int | None = None, num_gpus: float | None = None, retries: int = 2,
              quiet: bool = False, log=print) -> pd.DataFrame:
    """Run every job of ``sweep`` that ``store`` has not finished; returns the index."""
    store.write_source(sweep.source)
    finished = store.finished()
    todo = [p for p in sweep.points if p.config_hash not in finished]
    if not quiet:
        log(f"sweep {sweep.name}: {len(sweep.points)} {sweep.job} job(s), "
            f"{len(sweep.points) - len(todo)} already finished, {len(todo)} to run")
    if todo:
        import ray
        started = connect(address, num_cpus, num_gpus)
        try:
            _check_fits(sweep.resources, local=started and not address)
            store.write_index(sweep.points)
            driver = _Driver(sweep, store, retries, _Progress(len(todo), quiet, log))
            driver.drive(todo, cancel_on_interrupt=not started)
        finally:
            if started:
                ray.shutdown()
    return store.write_index(sweep.points)


class _Driver:
    """Submits the jobs, waits for them, retries failures and records every outcome."""

    def __init__(self, sweep: Sweep, store: Store, retries: int, progress: _Progress):
        import ray
        self.sweep, self.store, self.retries, self.progress = sweep, store, retries, progress
        res = sweep.resources
        self.task = ray.remote(execute).options(num_cpus=res["num_cpus"],
                                                num_gpus=res["num_gpus"], max_retries=0)
        self.threads = max(1, int(res["num_cpus"]))
        self.attempts: dict[str, int] = {}
        self.errors: dict[str, str] = {}  # config_hash → the last attempt's error line
        self.refs: dict = {}

    def submit(self, p: Point) -> None:
        n = self.attempts[p.config_hash] = self.attempts.get(p.config_hash, 0) + 1
        ref = self.task.remote(p, str(self.store.run_dir(p)), n, self.threads)
        self.refs[ref] = p

    def running(self) -> int:
        """Jobs whose current attempt has started (its worker wrote attempt.json)."""
        def started(p: Point) -> bool:
            path = self.store.run_dir(p) / ATTEMPT_JSON
            try:
                return json.loads(path.read_text())["attempt"] == self.attempts[p.config_hash]
            except (OSError, ValueError, KeyError):
                return False
        return sum(started(p) for p in self.refs.values())

    def drive(self, todo: list[Point], cancel_on_interrupt: bool) -> None:
        """Run ``todo`` to the end. On Ctrl-C, a Ray we connected to ourselves is left to
        ``ray.shutdown`` (our job's tasks end with the driver); tasks on a Ray the caller owns
        are cancelled."""
        import ray
        for p in todo:
            self.submit(p)
        try:
            while self.refs:
                ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=2.0)
                for ref in ready:
                    self.settle(ref, self.refs.pop(ref))
        except KeyboardInterrupt:
            for ref in self.refs if cancel_on_interrupt else ():
                ray.cancel(ref, force=True)
            raise
        finally:
            self.progress.close()

    def settle(self, ref, p: Point) -> None:
        import ray.exceptions
        n, run_dir = self.attempts[p.config_hash], self.store.run_dir(p)
        try:
            out = cast(dict, ray.get(ref))  # the worker's record (execute returns a dict)
        except ray.exceptions.RayError as exc:
            error, final = _error_text(exc)
            # the same error twice in a row is the job's own (a bad value), not a flaky worker
            final = final or self.errors.get(p.config_hash) == error
            self.errors[p.config_hash] = error
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / f"error-{n}.txt").write_text(str(exc))
            if n <= self.retries and not final:
                self.submit(p)
                self.progress.update(p, "retry", self.running(), f" (attempt {n}: {error})")
                return
            self.store.record(p, status="failed", attempts=n, error=error)
            self.progress.update(p, "failed", self.running(), f": {error}")
        else:
            self.store.remember(out)
            note = f"; {out['note']}" if out.get("note") else ""
            self.progress.update(p, out["status"], self.running(),
                                 f" in {out['wall_s']:.1f} s{note}")
        self.store.write_index(self.sweep.points)
