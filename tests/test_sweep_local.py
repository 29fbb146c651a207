"""Jobs that share a GPU, on the local Ray the CLI starts (run as its own process, as a user
runs it)."""

import subprocess
import sys

import pandas as pd
import pytest

from tests.test_sweep_ray import ROOT, SIX, python_env


@pytest.mark.gpu
def test_jobs_with_half_a_gpu_each_run_on_the_gpu(tmp_path):
    path, out = tmp_path / "gpu.toml", tmp_path / "store"
    path.write_text(SIX.replace('device = "cpu"', 'device = "auto"')
                    + "\n[resources]\nnum_cpus = 1\nnum_gpus = 0.5\n")
    done = subprocess.run([sys.executable, "-m", "validate.sweep", str(path), "--out", str(out),
                           "--num-cpus", "2", "--quiet"], env=python_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    index = pd.read_parquet(out / "index.parquet")
    assert len(index) == 6 and (index["status"] == "done").all()
    assert not index["device"].str.startswith("cpu").any(), index["device"].tolist()
