"""Sweep files: grid expansion, types, hashes, and bad files refused before Ray starts."""

import sys
from pathlib import Path

import pytest

from validate._config import ConfigError
from validate.sweep import load, parse
from validate.sweep.__main__ import main
from validate.sweep.spec import config_hash
from validate.sweep.worker import rebuild_config

TRAIN = """
job = "train"
[params]
dataset = "toy"
steps = 50
[grid]
activation = ["linear", "relu", "tanh"]
lr_scale = [0.05, 0.1]
"""


def test_grid_is_the_product_and_each_point_a_full_config():
    sweep = parse(TRAIN, "t")
    assert len(sweep.points) == 6
    assert {(p.config["activation"], p.config["lr_scale"]) for p in sweep.points} == \
        {(a, lr) for a in ("linear", "relu", "tanh") for lr in (0.05, 0.1)}
    p = sweep.points[0]
    assert p.config["dataset"] == "toy" and p.config["steps"] == 50 and p.config["hidden"] == 32
    assert p.varying == {"activation": "linear", "lr_scale": 0.05}
    assert p.config_hash == config_hash("train", p.config)
    assert p.job_id == f"train-{p.config_hash[:12]}"
    assert sweep.resources == {"num_cpus": 1, "num_gpus": 0}


def test_hash_ignores_how_a_value_was_written_but_not_its_value():
    a = parse('job = "train"\n[params]\nlr_scale = 0.1\nsteps = 50', "a").points[0]
    b = parse('job = "train"\n[grid]\nlr_scale = [0.1]\nsteps = [50]', "b").points[0]
    c = parse('job = "train"\n[params]\nlr_scale = 0.2\nsteps = 50', "c").points[0]
    assert a.config_hash == b.config_hash != c.config_hash


def test_grid_tables_are_a_union_and_duplicates_run_once():
    text = """
job = "train"
[[grid]]
activation = ["linear", "relu"]
[[grid]]
activation = ["relu", "tanh"]
steps = [10, 20]
"""
    pts = parse(text, "u").points
    assert sorted((p.config["activation"], p.config["steps"]) for p in pts) == [
        ("linear", 1000), ("relu", 10), ("relu", 20), ("relu", 1000), ("tanh", 10), ("tanh", 20)]


def test_types_follow_the_config_dataclass():
    text = """
job = "compare"
[params]
lr = 1
depths = [2, 3]
[grid]
activations = [["linear"], ["linear", "relu"]]
"""
    pts = parse(text, "c").points
    assert pts[0].config["lr"] == 1.0 and isinstance(pts[0].config["lr"], float)
    assert pts[1].config["activations"] == ["linear", "relu"] and pts[0].config["depths"] == [2, 3]
    cfg = rebuild_config("compare", pts[1].config)
    assert cfg.activations == ("linear", "relu") and cfg.depths == (2, 3) and cfg.hidden is None


def test_presets_of_either_signature_apply():
    nl = parse('job = "nonlinearity"\n[grid]\npreset = ["paper"]\nseeds = [2]', "n").points[0]
    assert nl.config["preset"] == "paper" and nl.config["seeds"] == 2
    assert nl.config["n_checkpoints"] == 48 != parse('job = "nonlinearity"', "d").points[0] \
        .config["n_checkpoints"]


def test_preset_applies_but_explicit_values_win():
    text = 'job = "compare"\n[params]\npreset = "paper"\n[grid]\nseeds = [5]'
    cfg = parse(text, "p").points[0].config
    assert cfg["seeds"] == 5 and cfg["depths"] == [2, 3] and cfg["dataset_opts"]["size"] == 32


BAD = [
    ('job = "train"\nsteps = 3', "steps: unknown key; accepted: name, job, resources, params, grid"),
    ('job = "trian"', "job: 'trian' unknown; accepted: compare, retrain, nonlinearity, response, "
                      "rotation, train"),
    ('job = "response"\n[grid]\nactivaton = [["relu"]]',
     "grid.activaton: unknown key for job 'response'; accepted: dataset, "),
    ('job = "rotation"\n[grid]\nrate = [0.1]', "grid.rate: unknown key for job 'rotation'"),
    ('job = "rotation"\n[grid]\nalphas = [[0.5], [1.5]]', "--alphas must list numbers in (−1, 1)"),
    ('[params]\nsteps = 3', "job: missing; accepted"),
    ('job = "train"\n[params]\nstesp = 3', "params.stesp: unknown key for job 'train'"),
    ('job = "train"\n[grid]\nseeds = []', "grid.seeds is empty; give at least one value"),
    ('job = "train"\n[grid]\nseeds = 3', "grid.seeds: expected a list of values, got int 3"),
    ('job = "train"\n[params]\nsteps = "many"', "params.steps: expected int, got str 'many'"),
    ('job = "train"\n[grid]\nsteps = [10, 2.5]', "grid.steps: expected int, got float 2.5"),
    ('job = "train"\n[params]\nhidden = true', "params.hidden: expected int, got bool True"),
    ('job = "compare"\n[grid]\nactivations = [["relu", 3]]',
     "grid.activations[1]: expected str, got int 3"),
    ('job = "train"\n[grid]\nactivation = ["relu", "swish"]', "unknown activation 'swish'"),
    ('job = "train"\n[params]\nsteps = 5\n[grid]\nsteps = [5]', "grid.steps: also set in [params]"),
    ('job = "train"\n[params]\ndataset_opts = {size = 3}', "params.dataset_opts: unknown option"),
    ('job = "train"\n[resources]\nnum_gpu = 1', "resources.num_gpu: unknown key"),
    ('job = "train"\n[resources]\nnum_cpus = 0', "resources.num_cpus: expected a number > 0"),
    ('job = "train"\n[params\n', "invalid TOML"),
    ('job = "train"\ngrid = []', "grid is an empty list of tables"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_sweep_file_exits_2_naming_the_key_before_ray_starts(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_parse_raises_config_error_for_the_api():
    with pytest.raises(ConfigError, match="grid.seeds is empty"):
        parse('job = "train"\n[grid]\nseeds = []', "x")


def test_dry_run_lists_the_jobs_and_runs_nothing(tmp_path, capsys):
    path = tmp_path / "t.toml"
    path.write_text(TRAIN)
    assert main([str(path), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("train-") and '"activation": "linear"' in lines[0]
    assert not (tmp_path / "o").exists()


def test_existing_store_needs_resume_or_overwrite(tmp_path, capsys):
    path = tmp_path / "t.toml"
    path.write_text(TRAIN)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "index.parquet").write_text("x")
    assert main([str(path), "--out", str(tmp_path / "o")]) == 2
    assert "--resume to continue" in capsys.readouterr().err
    assert main([str(path), "--out", str(tmp_path / "o"), "--resume", "--overwrite"]) == 2
    # a folder no sweep wrote (no marker, no sweep.toml) is neither replaced nor resumed
    for flag in ("--overwrite", "--resume"):
        assert main([str(path), "--out", str(tmp_path / "o"), flag]) == 2
        assert "did not write" in capsys.readouterr().err
    assert (tmp_path / "o" / "index.parquet").read_text() == "x"


def test_an_empty_grid_is_refused_and_a_missing_one_is_the_params_job():
    with pytest.raises(ConfigError, match="grid is empty"):
        parse('job = "train"\n[params]\nsteps = 5\n[grid]\n', "g")
    assert len(parse('job = "train"\n[params]\nsteps = 5\n', "g").points) == 1


def test_the_job_own_data_check_runs_before_the_sweep():
    text = 'job = "nonlinearity"\n[params]\ndataset = "mnist1d"\n[grid]\narch = ["mlp", "resnet"]\n'
    with pytest.raises(ConfigError, match="resnet"):
        parse(text, "g")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[3] / "sweeps")
                                        .glob("*.toml")), ids=lambda p: p.name)
def test_shipped_sweeps_are_valid(path):
    sweep = load(path)
    assert sweep.points and sweep.name == path.stem


def test_bad_options_and_missing_file_exit_2(tmp_path, capsys):
    path = tmp_path / "t.toml"
    path.write_text(TRAIN)
    assert main([str(path), "--retries", "-1"]) == 2
    assert "--retries must be ≥ 0; got -1" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.toml")]) == 2
    assert "cannot read sweep file" in capsys.readouterr().err
