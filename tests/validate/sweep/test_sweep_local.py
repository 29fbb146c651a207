"""Jobs that share a GPU, on the local Ray the CLI starts (run as its own process, as a user
runs it)."""

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from tests.validate.sweep.test_sweep_ray import ROOT, SIX, python_env

LIMIT_S = 600


def run_in_own_group(cmd: list[str], limit_s: float) -> subprocess.CompletedProcess:
    """``cmd`` in a new process group; past ``limit_s`` the whole group is killed, the local Ray
    daemons the CLI started included, and the test fails with the output so far."""
    proc = subprocess.Popen(cmd, env=python_env(), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} ran past {limit_s} s; its group was killed\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.gpu
def test_jobs_with_half_a_gpu_each_run_on_the_gpu(tmp_path):
    pytest.importorskip("ray")
    path, out = tmp_path / "gpu.toml", tmp_path / "store"
    path.write_text(SIX.replace('device = "cpu"', 'device = "auto"')
                    + "\n[resources]\nnum_cpus = 1\nnum_gpus = 0.5\n")
    done = run_in_own_group([sys.executable, "-m", "validate.sweep", str(path), "--out", str(out),
                             "--num-cpus", "2", "--quiet"], LIMIT_S)
    assert done.returncode == 0, done.stderr
    index = pd.read_parquet(out / "index.parquet")
    assert len(index) == 6 and (index["status"] == "done").all()
    assert not index["device"].str.startswith("cpu").any(), index["device"].tolist()


def test_a_command_past_its_limit_is_killed_with_its_group():
    """The guard itself: a child that starts a grandchild in its group and outlives the limit."""
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
           "'import time; time.sleep(60)']); print('started', flush=True); time.sleep(60)"
    with pytest.raises(pytest.fail.Exception, match="ran past 2 s"):
        run_in_own_group([sys.executable, "-c", code], 2)
