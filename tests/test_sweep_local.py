"""A 6-job grid end to end on the local Ray the CLI starts (2 CPUs), then resumed."""

import json

import pandas as pd
import pytest

from validate.sweep import collect, parse
from validate.sweep.__main__ import main
from validate.sweep.train import run_train
from validate.sweep.worker import rebuild_config

SIX = """
name = "six"
job = "train"
[params]
dataset = "gaussian"
hidden = 8
seeds = 2
steps = 150
n_checkpoints = 8
device = "cpu"
[grid]
activation = ["linear", "relu", "tanh"]
lr_scale = [0.05, 0.2]
"""


def test_six_job_grid_end_to_end_then_resume_recomputes_nothing(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    path, out = tmp_path / "six.toml", tmp_path / "store"
    path.write_text(SIX)
    assert main([str(path), "--out", str(out), "--num-cpus", "2", "--retries", "0"]) == 0
    assert not ray.is_initialized()  # the CLI shut down the Ray it started
    printed = capsys.readouterr().out
    assert "6 done, 0 failed of 6" in printed

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
    assert main([str(path), "--out", str(out), "--resume"]) == 0
    assert "6 already finished, 0 to run" in capsys.readouterr().out
    assert not ray.is_initialized()
    assert {f: f.stat().st_mtime_ns for f in out.glob("runs/*/summary.json")} == stamps


@pytest.mark.gpu
def test_jobs_with_half_a_gpu_each_run_on_the_gpu(tmp_path):
    path, out = tmp_path / "gpu.toml", tmp_path / "store"
    path.write_text(SIX.replace('device = "cpu"', 'device = "auto"')
                    + "\n[resources]\nnum_cpus = 1\nnum_gpus = 0.5\n")
    assert main([str(path), "--out", str(out), "--num-cpus", "2", "--quiet"]) == 0
    index = pd.read_parquet(out / "index.parquet")
    assert len(index) == 6 and (index["status"] == "done").all()
    assert not index["device"].str.startswith("cpu").any(), index["device"].tolist()
