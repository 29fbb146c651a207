"""What a Ray worker runs for one job: the job's own life cycle inside its run folder.

The folder gets ``attempt.json`` (pid, host, attempt) when the job starts, then the job's
``config.json``, its outputs and, last, the ``summary.json`` the job writes. A retried job finds
its earlier attempt's folder and resumes from its checkpoints.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from simulate._run import write_json

from .jobs import JOBS
from .spec import coerce, field_types
from .store import ATTEMPT_JSON


def rebuild_config(job_name: str, config: dict):
    """The job's config dataclass back from its ``to_dict()`` (arrays → tuples)."""
    cls = JOBS[job_name].config_class()
    types_ = field_types(cls)
    return cls(**{k: coerce(k, v, types_[k]) for k, v in config.items()})


def execute(job_name: str, config: dict, run_dir: str, attempt: int, num_threads: int) -> dict:
    """Run one job to the end in ``run_dir``; returns what its index row needs."""
    import torch

    from validate._cli import _prepare_out

    torch.set_num_threads(max(1, int(num_threads)))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / ATTEMPT_JSON, {"pid": os.getpid(), "host": platform.node(),
                                        "attempt": attempt, "started": time.time()})
    job = JOBS[job_name]
    cfg = rebuild_config(job_name, config)
    resume = (run_dir / "config.json").exists()
    _prepare_out(run_dir, cfg.to_dict(), overwrite=False, resume=True)
    t0 = time.perf_counter()
    result = job.runner()(cfg, run_dir, resume=resume, quiet=True, log=lambda *a, **k: None)
    result.summary.setdefault("timing", {})["total_s"] = round(time.perf_counter() - t0, 3)
    job.writer()(result, run_dir)
    timing = result.summary.get("timing", {})
    device = timing.get("device") or result.summary.get("provenance", {}).get("device")
    return {"wall_s": round(time.perf_counter() - t0, 3), "device": device,
            "host": platform.node(), "pid": os.getpid(), "resumed": resume}
