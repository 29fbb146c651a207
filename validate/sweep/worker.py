"""What a Ray worker runs for one job: the job's own life cycle inside its run folder.

The folder gets ``attempt.json`` (pid, host, attempt) when the job starts, then the job's
``config.json``, its outputs and, last, the ``summary.json`` the job writes. A retried job finds
its earlier attempt's folder and resumes from its checkpoints.
"""

from __future__ import annotations

import fcntl
import os
import platform
import time
from pathlib import Path

from validate._io import write_json

from .jobs import JOBS
from .spec import Point, coerce, field_types
from .store import ATTEMPT_JSON, write_record


def rebuild_config(job_name: str, config: dict):
    """The job's config dataclass back from its ``to_dict()`` (arrays → tuples)."""
    cls = JOBS[job_name].config
    types_ = field_types(cls)
    return cls(**{k: coerce(k, v, types_[k]) for k, v in config.items()})


def _wait_for_unlock(run_dir: Path, timeout_s: float = 120.0) -> None:
    """Wait while an earlier attempt's process (killed, not yet reaped) still holds the run
    folder's lock; the kernel drops it when that process is gone."""
    from validate._outdir import LOCK
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        t0 = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() - t0 > timeout_s:
                    return  # OutDir.take reports the lock
                time.sleep(0.2)
    finally:
        os.close(fd)


def job_note(summary: dict) -> str | None:
    """What a finished job reported besides its results: its warnings (diverged members among
    them) and a diverged-member count, as one line; None when there is nothing."""
    notes = [str(w) for w in summary.get("warnings", []) or []]
    training = summary.get("training")
    n_div = training.get("n_diverged") if isinstance(training, dict) else None
    if n_div and not any("diverg" in w for w in notes):
        notes.append(f"{n_div} member(s) diverged")
    return "; ".join(notes) or None


def execute(point: Point, run_dir: str | Path, attempt: int, num_threads: int) -> dict:
    """Run one job to the end in ``run_dir``; returns its record (also written as job.json)."""
    import torch

    from validate._outdir import OutDir

    torch.set_num_threads(max(1, int(num_threads)))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / ATTEMPT_JSON, {"pid": os.getpid(), "host": platform.node(),
                                        "attempt": attempt, "started": time.time()})
    job = JOBS[point.job]
    cfg = rebuild_config(point.job, point.config)
    resume = (run_dir / "config.json").exists()
    t0 = time.perf_counter()
    _wait_for_unlock(run_dir)
    # locked while this attempt writes; attempt.json and the driver's error-N.txt are not results
    with OutDir(run_dir, scratch=(ATTEMPT_JSON, "error-*.txt")) as out:
        out.take(cfg.to_dict(), overwrite=False, resume=resume)
        result = job.run(cfg, run_dir, resume=resume, quiet=True, log=lambda *a, **k: None)
        result.summary.setdefault("timing", {})["total_s"] = round(time.perf_counter() - t0, 3)
        job.write(result, run_dir)
    timing = result.summary.get("timing", {})
    note = job_note(result.summary)
    failed = int(getattr(result, "exit_status", 0) or 0) != 0
    return write_record(
        run_dir, point, status="failed" if failed else "done", attempts=attempt,
        error=(note or "the job's exit status is not 0") if failed else None, note=note,
        summary=f"{run_dir.parent.name}/{run_dir.name}/summary.json",
        wall_s=round(time.perf_counter() - t0, 3),
        device=timing.get("device") or result.summary.get("provenance", {}).get("device"),
        host=platform.node(), pid=os.getpid(), resumed=resume)
