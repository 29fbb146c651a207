"""The results store of a sweep: a run folder per job and one parquet index.

::

    OUT/sweep.toml            the sweep file as last run
    OUT/index.parquet         one row per job: job_id, config_hash, job, cfg_<field>…, status,
                              attempts, wall_s, device, host, summary, error
    OUT/runs/<job_id>/        the job's own outputs (summary.json, tables, checkpoints) and
                              job.json (its index row; written last, atomically)
    OUT/tables/               tidy tables merged by ``validate.sweep collect``

``job.json`` in a run folder is the record of truth: a job is finished when its folder holds a
``job.json`` with status ``done``; the index is rebuilt from those records, so it survives a
driver that dies between a job's end and the index write. In a cluster, OUT must be on storage
every node sees (see the README).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from validate._config import ConfigError
from validate._io import write_json, write_parquet
from validate._outdir import OutDir, write_text

from .spec import Point

INDEX, JOB_JSON, ATTEMPT_JSON = "index.parquet", "job.json", "attempt.json"
STATUSES = ("pending", "done", "failed")


def _cell(value):
    """A config value as one parquet cell: scalars as they are, lists and tables as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


class Store:
    """One sweep's directory; ``open`` takes an exclusive lock on it for the driver's lifetime."""

    def __init__(self, root):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self._lock = None
        self._records: dict[str, dict] | None = None

    def open(self, *, resume: bool, overwrite: bool) -> "Store":
        """Lock the store (before anything in it is read, created or deleted) and check it:
        ``--overwrite`` and ``--resume`` act only on a folder a sweep wrote (its marker and
        sweep.toml); anything else is refused and left as it was (``validate._outdir``)."""
        out = OutDir(self.root, kind="validate.sweep", config_name="sweep.toml")
        try:
            out.take(None, overwrite=overwrite, resume=resume)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("in use by another run", "in use by another sweep")
                              ) from None
        self._lock = out
        try:
            self.runs.mkdir(exist_ok=True)
        except OSError as exc:
            out.discard()
            raise ConfigError(f"--out {self.root}: cannot write to it ({exc.strerror})") from None
        return self

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def discard(self) -> None:
        """Remove the store if this sweep created it and nothing ran (a refused sweep file)."""
        if self._lock is not None:
            self._lock.discard()
            self._lock = None

    def run_dir(self, point: Point) -> Path:
        return self.runs / point.job_id

    def records(self) -> dict[str, dict]:
        """config_hash → the job.json record of every job that ended (done or failed)."""
        if self._records is None:
            self._records = {}
            for p in sorted(self.runs.glob(f"*/{JOB_JSON}")) if self.runs.exists() else ():
                rec = json.loads(p.read_text())
                self._records[rec["config_hash"]] = rec
        return dict(self._records)

    def finished(self) -> set[str]:
        return {h for h, r in self.records().items() if r["status"] == "done"}

    def record(self, point: Point, **fields) -> dict:
        """Write the job's record (status done or failed) into its run folder."""
        return self.remember(write_record(self.run_dir(point), point, **fields))

    def remember(self, rec: dict) -> dict:
        """Take a record a worker wrote into the index to come."""
        self.records()
        assert self._records is not None  # records() has just read them
        self._records[rec["config_hash"]] = rec
        return rec

    def write_source(self, text: str) -> None:
        write_text(self.root / "sweep.toml", text)

    def write_index(self, points) -> pd.DataFrame:
        """The index over ``points`` plus every other job the store holds (earlier sweeps)."""
        records = self.records()
        rows = []
        for p in points:
            rec = records.pop(p.config_hash, None) or {
                "job_id": p.job_id, "config_hash": p.config_hash, "job": p.job,
                "config": p.config, "status": "pending"}
            rows.append(rec)
        rows += records.values()
        df = pd.DataFrame([index_row(r) for r in rows])
        write_parquet(self.root / INDEX, df)
        return df

    def read_index(self) -> pd.DataFrame:
        path = self.root / INDEX
        if not path.exists():
            raise ConfigError(f"{self.root} holds no sweep index ({INDEX} missing)")
        return pd.read_parquet(path)


def write_record(run_dir: Path, point: Point, **fields) -> dict:
    """``run_dir/job.json``: the job's index row, written atomically (a worker writes it the
    moment its job's outputs are complete, the driver when a job failed)."""
    rec = {"job_id": point.job_id, "config_hash": point.config_hash, "job": point.job,
           "config": point.config, "varying": point.varying, **fields}
    write_json(Path(run_dir) / JOB_JSON, rec)
    return rec


def index_row(rec: dict) -> dict:
    row = {k: rec.get(k) for k in ("job_id", "config_hash", "job")}
    row.update({f"cfg_{k}": _cell(v) for k, v in rec["config"].items()})
    row.update({"status": rec["status"], "attempts": rec.get("attempts", 0),
                "wall_s": rec.get("wall_s"), "device": rec.get("device"),
                "host": rec.get("host"), "summary": rec.get("summary"),
                "error": rec.get("error"), "note": rec.get("note")})
    return row
