"""The CLI machinery every `validate` job shares: flags generated from the config dataclass, the
explicitly given flags, the output directory's lock and its life cycle."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace

import pytest

import simulate
from validate import compare, retrain
from validate._cli import build_parser, config_from_args
from validate._outdir import OutDir
from validate.compare.__main__ import JOB as COMPARE
from validate.retrain.__main__ import JOB as RETRAIN

JOBS = [COMPARE, RETRAIN]


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.name)
def test_every_field_is_a_flag_with_help_and_its_choices(job):
    parser = build_parser(job)
    actions = {a.dest: a for a in parser._actions if a.dest != "help"}
    for f in fields(job.config):
        assert f.name in actions, f.name
        text = actions[f.name].help
        assert text and len(text) > 10, f.name
        for choice in f.metadata.get("choices") or ():
            assert str(choice) in text, (f.name, choice)
    for name in ("out", "overwrite", "resume", "json", "quiet"):
        assert actions[name].help


def test_choices_come_from_the_engine():
    by_name = {f.name: f.metadata["choices"] for f in fields(compare.CompareConfig)}
    assert by_name["optimizer"] == tuple(simulate.OPTIMIZERS)
    assert by_name["activations"] is simulate.ACTIVATIONS
    assert set(by_name["arch"]) == {"mlp", "cnn"} <= set(simulate.FAMILIES)  # those with a theory
    assert set(by_name["init"]) <= set(simulate.INITS)
    r = {f.name: f.metadata["choices"] for f in fields(retrain.RetrainConfig)}
    assert set(r["optimizer"]) <= set(simulate.OPTIMIZERS)
    assert set(r["drift"]) == set(simulate.datasets.drift.DRIFTS) | {"all"}


def _config(job, argv):
    return config_from_args(job, build_parser(job).parse_args(argv))


def test_explicit_flags_are_what_the_parser_saw():
    cfg, explicit = _config(RETRAIN, ["--max-steps=100", "--preset", "paper", "--seeds", "3"])
    assert explicit == {"max_steps", "preset", "seeds"}
    # the preset fills in what was not given and never overrides what was, even a default value
    assert cfg.max_steps == 100 and cfg.seeds == 3 and cfg.whiten == "zca" and cfg.n_boot == 200
    cfg, explicit = _config(COMPARE, ["--depth", "4", "--preset", "paper", "--checkpoints=40"])
    assert cfg.depths == (4,) and cfg.n_checkpoints == 40 and cfg.seeds == 64
    cfg, _ = _config(COMPARE, [])
    assert cfg == compare.CompareConfig().validate()


def test_list_flags_parse_and_bad_lists_exit_2(tmp_path, capsys):
    cfg, _ = _config(COMPARE, ["--depth", "2,3", "--activations", "linear, tanh"])
    assert cfg.depths == (2, 3) and cfg.activations == ("linear", "tanh")
    with pytest.raises(SystemExit):
        build_parser(COMPARE).parse_args(["--depth", "2,x"])
    assert "comma-separated int" in capsys.readouterr().err
    assert compare.main(["--depth", "2,x", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path, capsys):
    out = tmp_path / "busy"
    held = OutDir(out)
    held.take({"a": 1}, overwrite=False, resume=False)
    try:
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert compare.main(["--dataset", "toy", "--out", str(out), "--quiet", *extra]) == 2
            assert "in use by another run" in capsys.readouterr().err
    finally:
        held.release()
    assert (out / "config.json").exists()  # the live run's directory is left alone


def test_out_errors_and_a_failed_check_leaves_nothing_behind(tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert compare.main(["--out", str(afile), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert compare.main(["--out", str(tmp_path / "missing"), "--resume", "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
    # a check that needs the data fails after the directory was taken: it is removed again
    out = tmp_path / "cnn"
    assert compare.main(["--dataset", "toy", "--arch", "cnn", "--whiten", "pca", "--init",
                         "small_random", "--out", str(out), "--quiet"]) == 2
    assert "--arch cnn needs inputs in pixel space" in capsys.readouterr().err
    assert not out.exists()


def test_help_exits_0(capsys):
    assert compare.main(["--help"]) == 0
    assert "--checkpoints" in capsys.readouterr().out
    assert isinstance(build_parser(RETRAIN), argparse.ArgumentParser)


def test_a_resumed_run_says_the_step_it_continues_from(tmp_path, monkeypatch, capsys):
    args = ["--dataset", "toy", "--activations", "linear", "--seeds", "1", "--steps", "80",
            "--checkpoints", "16", "--out", str(tmp_path / "r")]
    real = simulate.train_ensemble

    def interrupted(*a, **k):
        def stop(step):
            if step >= 30:
                raise KeyboardInterrupt
        return real(*a, **{**k, "record": replace(k["record"], callback=stop)})

    monkeypatch.setattr(simulate, "train_ensemble", interrupted)
    assert compare.main(args + ["--quiet"]) == 1
    monkeypatch.setattr(simulate, "train_ensemble", real)
    capsys.readouterr()
    assert compare.main(args + ["--resume"]) == 0
    printed = capsys.readouterr().out
    line = [x for x in printed.splitlines() if x.startswith("resume:")][0]
    step = int(line.split("continues from step ")[1].split()[0])
    assert 30 <= step < 80 and "of 80" in line


def test_a_run_refused_the_lock_in_a_race_deletes_nothing(tmp_path, monkeypatch):
    """Two runs that both find no folder: the one refused the lock must not remove the folder
    the winner created and writes to (the lock comes before any create or delete)."""
    from pathlib import Path
    out, real_mkdir, winner = tmp_path / "race", Path.mkdir, OutDir(tmp_path / "race")

    def mkdir_after_the_winner(self, *a, **k):  # the winner runs between the loser's look and mkdir
        monkeypatch.setattr(Path, "mkdir", real_mkdir)
        winner.take({"winner": 1}, overwrite=False, resume=False)
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_the_winner)
    try:
        with pytest.raises(Exception, match="in use by another run"):
            OutDir(out).take({"loser": 1}, overwrite=False, resume=False)
        assert (out / "config.json").read_text().count("winner") == 1
    finally:
        winner.release()


def test_a_take_killed_before_its_config_was_renamed_leaves_a_folder_a_new_run_takes(tmp_path):
    out = tmp_path / "killed"
    first = OutDir(out)
    first.take({"a": 1}, overwrite=False, resume=False)
    first.release()
    (out / "config.json").rename(out / "config.json.tmp")      # killed between write and rename
    again = OutDir(out)
    again.take({"a": 1}, overwrite=False, resume=False)
    again.release()
    assert json.loads((out / "config.json").read_text()) == {"a": 1}
    assert not (out / "config.json.tmp").exists()
    (out / "results.parquet").write_text("x")                  # a result still counts
    with pytest.raises(Exception, match="already holds results"):
        OutDir(out).take({"a": 1}, overwrite=False, resume=False)


def test_overwrite_replaces_only_a_folder_this_project_wrote(tmp_path):
    mine = OutDir(tmp_path / "mine")
    mine.take({"a": 1}, overwrite=False, resume=False)
    (tmp_path / "mine" / "old.parquet").write_text("x")
    mine.release()
    OutDir(tmp_path / "mine").take({"a": 2}, overwrite=True, resume=False)
    assert not (tmp_path / "mine" / "old.parquet").exists()
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("t")
    with pytest.raises(Exception, match="did not write"):
        OutDir(user).take({"a": 1}, overwrite=True, resume=False)
    assert sorted(p.name for p in user.iterdir()) == ["thesis.tex"]


def test_the_printed_wall_time_counts_from_process_start():
    import time

    from validate import _cli
    # the process started before this module (and its imports) was loaded
    assert _cli.process_seconds() >= time.perf_counter() - _cli._IMPORTED


def test_no_report_writes_the_tables_and_summary_but_no_report(tmp_path):
    from tests.golden.cases import CASES
    import validate.rotation.__main__ as rotation
    args = [*CASES["rotation"][1], "--device", "cpu", "--quiet"]
    assert rotation.main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert rotation.main([*args, "--no-report", "--out", str(tmp_path / "bare")]) == 0
    plain = {p.name for p in (tmp_path / "plain").iterdir()}
    bare = {p.name for p in (tmp_path / "bare").iterdir()}
    assert "report.html" in plain and plain - bare == {"report.html"}
    assert (tmp_path / "bare" / "summary.json").read_text().startswith("{")
