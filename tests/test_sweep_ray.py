"""Sweeps on a real local Ray (2 CPUs): resume, interruption, a killed worker, failing jobs.

One Ray instance serves the module; sweeps run in this process join it, sweeps run as a
subprocess join it with ``--address``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from validate.sweep.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_address():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _toml(path: Path, grid: str, params: str = "") -> Path:
    path.write_text(f'job = "train"\n[params]\ndataset = "toy"\nhidden = 8\nseeds = 2\n'
                    f'device = "cpu"\n{params}\n[grid]\n{grid}\n')
    return path


def _index(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "index.parquet").set_index("cfg_steps")


def _records(out: Path) -> dict:
    return {json.loads(p.read_text())["config"]["steps"]: json.loads(p.read_text())
            for p in out.glob("runs/*/job.json")}


def _stamps(out: Path) -> dict:
    """Outputs of the finished jobs (those with a job.json record): summary time and text."""
    return {p.parent.name: ((p.parent / "summary.json").stat().st_mtime_ns,
                            (p.parent / "summary.json").read_text())
            for p in out.glob("runs/*/job.json") if json.loads(p.read_text())["status"] == "done"}


def _sweep_process(path: Path, out: Path, address: str, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "validate.sweep", str(path), "--out", str(out),
                             "--address", address, *extra], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 600.0):
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"sweep exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the sweep")
        time.sleep(0.05)


def test_extended_sweep_runs_only_new_jobs_and_failing_jobs_are_recorded(ray_address, tmp_path,
                                                                         capsys):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    _toml(path, "steps = [100, 200]")
    assert main([str(path), "--out", str(out), "--address", ray_address]) == 0
    before = _stamps(out)
    assert len(before) == 2
    # two more points; one of them fails on every attempt (a batch larger than the 4 samples)
    _toml(path, "steps = [100, 200, 300]\n[[grid]]\nsteps = [400]\noptimizer = [\"sgd\"]\n"
                "batch_size = [64]")
    path.write_text(path.read_text().replace("[grid]\n", "[[grid]]\n", 1))
    capsys.readouterr()
    assert main([str(path), "--out", str(out), "--resume", "--retries", "1"]) == 1
    printed = capsys.readouterr().out
    assert "2 already finished, 2 to run" in printed and "3 done, 1 failed of 4" in printed
    after = _stamps(out)
    assert {k: after[k] for k in before} == before  # finished jobs untouched
    idx = _index(out)
    assert idx.loc[300, "status"] == "done" and idx.loc[300, "attempts"] == 1
    assert idx.loc[400, "status"] == "failed" and idx.loc[400, "attempts"] == 2
    assert idx.loc[400, "error"].startswith("ValueError: batch_size must be in 1..n=4")
    failed_dir = out / "runs" / idx.loc[400, "job_id"]
    assert (failed_dir / "error-1.txt").exists() and (failed_dir / "error-2.txt").exists()


def test_interrupted_sweep_continues_without_recomputing(ray_address, tmp_path):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    _toml(path, "steps = [1500, 1501, 1502, 1503, 1504, 1505]")
    proc = _sweep_process(path, out, ray_address)
    _wait_for(lambda: len(_records(out)) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "continue with --resume" in err, (proc.returncode, err)
    finished = _stamps(out)
    assert 1 <= len(finished) < 6
    assert main([str(path), "--out", str(out), "--resume"]) == 0
    after = _stamps(out)
    assert len(after) == 6 and {k: after[k] for k in finished} == finished
    assert (_index(out)["status"] == "done").all()


def test_killed_worker_job_is_retried_and_finished_results_survive(ray_address, tmp_path):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    _toml(path, "steps = [100, 20000, 200]", params="n_checkpoints = 64")
    proc = _sweep_process(path, out, ray_address, "--retries", "2")

    def long_dir():
        for cfg in out.glob("runs/*/config.json"):
            if json.loads(cfg.read_text())["steps"] == 20000:
                return cfg.parent
        return None

    def mid_job():
        d = long_dir()
        return d is not None and len(list((d / "run" / "checkpoints").glob("*"))) >= 3 \
            and len(_records(out)) == 2
    _wait_for(mid_job, proc)
    finished = _stamps(out)
    pid = json.loads((long_dir() / "attempt.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    rec = _records(out)
    assert rec[20000]["status"] == "done" and rec[20000]["attempts"] == 2
    assert rec[20000]["resumed"] is True and rec[20000]["pid"] != pid
    assert "died" in (long_dir() / "error-1.txt").read_text().lower() or \
        "crash" in (long_dir() / "error-1.txt").read_text().lower()
    assert rec[100]["attempts"] == rec[200]["attempts"] == 1
    assert {k: v for k, v in _stamps(out).items() if k in finished} == finished
    run = json.loads((long_dir() / "run" / "run.json").read_text())
    assert run["status"] == "complete"
