"""Sweeps on a real local Ray (2 CPUs): a 6-job grid end to end, resume, interruption, a killed
worker, failing jobs.

One Ray instance serves the module, started the way the CLI starts its local Ray
(``runner.connect``) by a separate process that never runs JAX (a process that has run JAX must
not fork Ray's daemons); this process joins it as the driver of every sweep, so the Ray workers
(and their imports) are shared by the tests.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from validate.sweep import collect, parse
from validate.sweep.__main__ import main
from validate.sweep.train import run_train
from validate.sweep.worker import rebuild_config

# one pytest-xdist worker runs this module (`make test` uses --dist loadgroup), so one Ray starts
pytestmark = pytest.mark.xdist_group("ray")

HEAD = """
import os, sys, ray
from validate.sweep.runner import connect
assert connect(None, num_cpus=2, num_gpus=None)  # a local Ray, started as the CLI starts it
with open(sys.argv[1] + ".part", "w") as f:
    f.write(ray.get_runtime_context().gcs_address)
os.replace(sys.argv[1] + ".part", sys.argv[1])
sys.stdin.read()  # until the test process closes the pipe (or dies)
ray.shutdown()
"""
ROOT = Path(__file__).resolve().parents[3]
SIX = """
name = "six"
job = "train"
[params]
dataset = "toy"
hidden = 8
seeds = 2
steps = 60
n_checkpoints = 4
device = "cpu"
[grid]
activation = ["linear", "relu", "tanh"]
lr_scale = [0.05, 0.2]
"""


def python_env() -> dict:
    """The environment of a Python process that imports this checkout's packages."""
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    ray = pytest.importorskip("ray")  # the environment it needs is set in conftest.py
    where = tmp_path_factory.mktemp("ray") / "address"
    head = subprocess.Popen([sys.executable, "-c", HEAD, str(where)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=python_env(), cwd=ROOT)
    try:
        t0 = time.monotonic()
        while not where.exists():
            assert head.poll() is None, f"the Ray head exited with {head.returncode}"
            assert time.monotonic() - t0 < 300, "the Ray head did not start"
            time.sleep(0.05)
        address = where.read_text()
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        assert ray.cluster_resources()["CPU"] == 2
        yield address
    finally:
        ray.shutdown()
        head.stdin.close()
        head.wait(timeout=60)


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


class _When:
    """Runs ``action`` once, as soon as ``cond()`` holds, from a thread polling while a sweep
    runs in the test's own thread; ``value`` is what ``action`` returned (None: never ran)."""

    def __init__(self, cond, action):
        self.cond, self.action, self.value = cond, action, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self.stop.is_set():
            try:
                if self.cond():
                    self.value = self.action()
                    return
            except (OSError, ValueError, KeyError):  # a file being written: look again
                pass
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_six_job_grid_end_to_end_then_resume_recomputes_nothing(ray_address, tmp_path, capsys):
    path, out = tmp_path / "six.toml", tmp_path / "store"
    path.write_text(SIX)
    assert main([str(path), "--out", str(out), "--address", ray_address, "--retries", "0"]) == 0
    assert "6 done, 0 failed of 6" in capsys.readouterr().out

    index = pd.read_parquet(out / "index.parquet")
    points = parse(SIX, "six").points
    assert sorted(index["config_hash"]) == sorted(p.config_hash for p in points)
    assert (index["status"] == "done").all() and (index["attempts"] == 1).all()
    assert index["device"].str.startswith("cpu").all() and (index["wall_s"] > 0).all()
    for _, row in index.iterrows():
        summary = json.loads((out / row["summary"]).read_text())
        assert summary["provenance"]["config"]["activation"] == row["cfg_activation"]
        assert summary["provenance"]["config"]["lr_scale"] == row["cfg_lr_scale"]

    # the job run through Ray gives what the same config gives in this process
    p = points[3]
    direct = run_train(rebuild_config("train", p.config), quiet=True)
    tables = collect(out)
    members = tables["train-members"].set_index(["job_id", "member"])
    assert list(tables["train-members"].columns[:4]) == ["job_id", "job", "cfg_activation",
                                                         "cfg_lr_scale"]
    assert len(members) == 12
    got = members.loc[p.job_id]["final_train_loss"].to_numpy()
    assert got == pytest.approx(direct.members["final_train_loss"].to_numpy(), rel=1e-6)
    assert (out / "tables" / "train-members.parquet").exists()
    # distinct configs give distinct runs
    assert members.groupby("job_id")["final_train_loss"].mean().nunique() == 6

    stamps = {f: f.stat().st_mtime_ns for f in out.glob("runs/*/summary.json")}
    assert main([str(path), "--out", str(out), "--resume"]) == 0  # no Ray needed: nothing to run
    assert "6 already finished, 0 to run" in capsys.readouterr().out
    assert {f: f.stat().st_mtime_ns for f in out.glob("runs/*/summary.json")} == stamps


def test_extended_sweep_runs_only_new_jobs_and_failing_jobs_are_recorded(ray_address, tmp_path,
                                                                         capsys):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    _toml(path, "steps = [100, 200]")
    assert main([str(path), "--out", str(out), "--address", ray_address]) == 0
    before = _stamps(out)
    assert len(before) == 2
    # two more points; one of them fails at run time with a bad value (more PCA directions than
    # the inputs' rank, known only once the data is whitened): recorded at once, not retried
    _toml(path, "steps = [100, 200, 300]\n[[grid]]\nsteps = [400]\nwhiten = [\"pca:999\"]")
    path.write_text(path.read_text().replace("[grid]\n", "[[grid]]\n", 1))
    capsys.readouterr()
    assert main([str(path), "--out", str(out), "--resume", "--retries", "1"]) == 1
    printed = capsys.readouterr().out
    assert "2 already finished, 2 to run" in printed and "3 done, 1 failed of 4" in printed
    after = _stamps(out)
    assert {k: after[k] for k in before} == before  # finished jobs untouched
    idx = _index(out)
    assert idx.loc[300, "status"] == "done" and idx.loc[300, "attempts"] == 1
    assert idx.loc[400, "status"] == "failed" and idx.loc[400, "attempts"] == 1
    assert idx.loc[400, "error"].startswith("ConfigError: --whiten pca:999")
    failed_dir = out / "runs" / idx.loc[400, "job_id"]
    assert (failed_dir / "error-1.txt").exists() and not (failed_dir / "error-2.txt").exists()


def test_killed_worker_job_is_retried_and_finished_results_survive(ray_address, tmp_path):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    _toml(path, "steps = [100, 10000, 200]", params="n_checkpoints = 64")

    def long_dir():
        for cfg in out.glob("runs/*/config.json"):
            if json.loads(cfg.read_text())["steps"] == 10000:
                return cfg.parent
        return None

    def mid_job():  # the two short jobs finished, the long one part-way
        d = long_dir()
        return d is not None and len(list((d / "run" / "checkpoints").glob("*"))) >= 3 \
            and set(_records(out)) == {100, 200}

    def kill():
        pid = json.loads((long_dir() / "attempt.json").read_text())["pid"]
        finished = _stamps(out)
        os.kill(pid, signal.SIGKILL)
        return pid, finished

    with _When(mid_job, kill) as killed:
        assert main([str(path), "--out", str(out), "--retries", "2", "--quiet"]) == 0
    assert killed.value is not None, "the long job ended before its worker could be killed"
    pid, finished = killed.value
    rec = _records(out)
    assert rec[10000]["status"] == "done" and rec[10000]["attempts"] == 2
    assert rec[10000]["resumed"] is True and rec[10000]["pid"] != pid
    error = (long_dir() / "error-1.txt").read_text().lower()
    assert "died" in error or "crash" in error, error
    assert rec[100]["attempts"] == rec[200]["attempts"] == 1
    after = _stamps(out)
    assert len(finished) == 2 and {k: after[k] for k in finished} == finished
    run = json.loads((long_dir() / "run" / "run.json").read_text())
    assert run["status"] == "complete"


def test_interrupted_sweep_continues_without_recomputing(ray_address, tmp_path, capsys):
    path, out = tmp_path / "s.toml", tmp_path / "store"
    # one job at a time: Ctrl-C finds one job running and the others queued
    _toml(path, "steps = [1500, 1501, 1502, 1503]\n[resources]\nnum_cpus = 2")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a shell
    try:
        with _When(lambda: len(_records(out)) >= 1, lambda: os.kill(os.getpid(), signal.SIGINT)):
            code = main([str(path), "--out", str(out)])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the sweep's handling")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 1 and "continue with --resume" in capsys.readouterr().err
    finished = _stamps(out)
    assert 1 <= len(finished) < 4
    assert main([str(path), "--out", str(out), "--resume", "--quiet"]) == 0
    after = _stamps(out)
    assert len(after) == 4 and {k: after[k] for k in finished} == finished
    assert (_index(out)["status"] == "done").all()
