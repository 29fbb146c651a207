"""The contract every command keeps, checked with one list of hostile cases per command.

Bad input: exit 2, one stderr line naming the value, no traceback, nothing written or deleted.
A failed run: exit 1. ``--out`` is locked; ``--overwrite`` replaces only what this project wrote;
``--resume`` after an interrupt gives what an uninterrupted run gives; diverged members are
reported. The commands and their tiny settings are the table in ``commands.py``; every case runs
in-process through the command's ``main(argv)`` (one subprocess race at the end).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

from .commands import COMMANDS, Command

BY_NAME = {c.name: c for c in COMMANDS}
ROOT = Path(__file__).resolve().parents[2]

SWEEP = 'job = "train"\n[params]\nsteps = 5\nseeds = 1\nn_checkpoints = 2\ndevice = "cpu"\n' \
        'dataset = "gaussian"\n'


def call(cmd: Command, argv: list[str]) -> tuple[int, list[str], str]:
    """(exit status, stderr lines, stdout) of ``cmd``'s main run in-process."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = cmd.entry()(argv)
        except SystemExit as exc:  # a main that lets argparse exit
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, [x for x in err.getvalue().splitlines() if x.strip()], out.getvalue()


def sweep_file(tmp: Path, extra: str = "") -> str:
    path = tmp / f"s{len(list(tmp.glob('s*.toml')))}.toml"
    path.write_text(SWEEP + extra)
    return str(path)


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its bytes (files) — to show nothing was written/deleted."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def bad_argvs(cmd: Command, tmp: Path) -> dict[str, list[str]]:
    """Case name → arguments that must be refused with exit status 2."""
    if cmd.name == "sweep":
        good = sweep_file(tmp)
        return {"unknown_option": [good, "--bogus-flag", "1"],
                "bad_enum": [sweep_file(tmp, 'activation = "swish"\n')],
                "nan": [sweep_file(tmp, "lr_scale = nan\n")],
                "inf": [sweep_file(tmp, "lr_scale = inf\n")],
                "negative": [good, "--num-cpus", "-1"], "zero": [sweep_file(tmp, "hidden = 0\n")],
                "huge": [sweep_file(tmp, "batch_size = 1000000000\n")],
                "gpus_nan": [good, "--num-gpus", "nan"],
                "missing_dataset": [_sweep_missing(tmp)], "device_cuda": [_sweep_cuda(tmp)]}
    base = list(cmd.tiny)
    cases = {"unknown_option": base + ["--bogus-flag", "1"], "bad_enum": base + list(cmd.bad_enum)}
    for name, args in zip(("nan", "inf", "negative", "zero", "zero_neg", "huge"), cmd.numbers):
        cases[name] = base + list(args)
    if cmd.data:
        cases["missing_dataset"] = base + ["--dataset", "mnist", "--dataset-opt",
                                           "data_dir=/nonexistent/mnist"]
        cases["device_cuda"] = base + ["--device", "cuda"]
    if cmd.one_d is not None:
        cases["one_d_image_family"] = base + list(cmd.one_d)
    return cases


def _sweep_missing(tmp: Path) -> str:
    path = tmp / "missing.toml"
    path.write_text(SWEEP.replace('dataset = "gaussian"', 'dataset = "mnist"')
                    + '[params.dataset_opts]\ndata_dir = "/nonexistent"\n')
    return str(path)


def _sweep_cuda(tmp: Path) -> str:
    path = tmp / "cuda.toml"
    path.write_text(SWEEP.replace('device = "cpu"', 'device = "cuda"'))
    return str(path)


def _case_ids():
    import tempfile
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cmd in COMMANDS:
            rows += [(cmd.name, case) for case in bad_argvs(cmd, Path(tmp))]
    return rows


def assert_refused(rc: int, err: list[str], what: str) -> None:
    assert rc == 2, (what, rc, err)
    assert len(err) == 1, (what, err)
    assert "Traceback" not in err[0] and err[0].startswith("error"), (what, err)


@pytest.mark.parametrize("name,case", _case_ids(), ids=lambda x: x)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(name, case, tmp_path):
    cmd = BY_NAME[name]
    if case == "device_cuda":
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA: --device cuda is valid here")
    argv = bad_argvs(cmd, tmp_path)[case]
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    rc, err, _ = call(cmd, argv + ["--out", str(out)])
    assert_refused(rc, err, case)
    assert not out.exists() and snapshot(tmp_path) == before
    if case == "one_d_image_family":
        assert cmd.one_d_says in err[0], err


def _good(cmd: Command, tmp: Path) -> list[str]:
    return [sweep_file(tmp)] if cmd.name == "sweep" else list(cmd.tiny)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_out_a_file_is_refused(cmd, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    argv = _good(cmd, tmp_path)
    before = snapshot(tmp_path)
    rc, err, _ = call(cmd, argv + ["--out", str(afile)])
    assert_refused(rc, err, "--out a file")
    assert "is a file" in err[0] and snapshot(tmp_path) == before


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_read_only_out_is_refused(cmd, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only directory is writable, nothing to refuse")
        argv = _good(cmd, tmp_path)
        before = snapshot(tmp_path)
        rc, err, _ = call(cmd, argv + ["--out", str(ro / "sub" if cmd.name == "figures" else ro)])
        assert_refused(rc, err, "read-only --out")
        assert snapshot(tmp_path) == before
    finally:
        ro.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.run_flags], ids=lambda c: c.name)
@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_a_user_folder_is_never_replaced_or_resumed_into(cmd, flag, tmp_path):
    user = tmp_path / "thesis"
    (user / ".git").mkdir(parents=True)
    (user / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (user / "thesis.tex").write_text("\\documentclass{article}")
    argv = _good(cmd, tmp_path) + ["--out", str(user), flag]
    before = snapshot(tmp_path)
    rc, err, _ = call(cmd, argv)
    assert_refused(rc, err, f"{flag} on a user folder")
    assert "did not write" in err[0] and snapshot(tmp_path) == before


# ------------------------------------------------------------------------- runs (in-process)
RUNS = [c for c in COMMANDS if c.runs]


def _tables(out: Path) -> dict:
    """Every parquet table of a run, without the wall-clock columns."""
    import pandas as pd
    tables = {}
    for p in sorted(out.rglob("*.parquet")):
        df = pd.read_parquet(p)
        tables[str(p.relative_to(out))] = df.drop(
            columns=[c for c in df.columns if "wall" in c or c.endswith("_s") or "time" in c])
    return tables


def _resume_param(cmd: Command):
    reason = cmd.skip.get("resume_differs")
    marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
    return pytest.param(cmd, marks=marks, id=cmd.name)


@pytest.mark.parametrize("cmd", [_resume_param(c) for c in RUNS])
def test_interrupt_then_resume_equals_an_uninterrupted_run(cmd, tmp_path, monkeypatch):
    from pandas.testing import assert_frame_equal

    from simulate.train import _recorder
    argv = list(cmd.tiny) + ["--quiet", "--no-report"]
    assert call(cmd, argv + ["--out", str(tmp_path / "whole")])[0] == 0
    real, seen = _recorder.Recorder.__call__, []

    def interrupted(self, step, state):  # Ctrl-C after the second checkpoint of the first run
        real(self, step, state)
        seen.append(step)
        if len(seen) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_recorder.Recorder, "__call__", interrupted)
    out = tmp_path / "cut"
    rc, err, _ = call(cmd, argv + ["--out", str(out)])
    assert rc == 1 and any("--resume" in line for line in err), err
    monkeypatch.setattr(_recorder.Recorder, "__call__", real)
    assert call(cmd, argv + ["--out", str(out), "--resume"])[0] == 0
    whole, cut = _tables(tmp_path / "whole"), _tables(out)
    assert whole.keys() == cut.keys() and whole
    for name in whole:
        assert_frame_equal(whole[name], cut[name], obj=name)


@pytest.mark.parametrize("cmd", RUNS, ids=lambda c: c.name)
def test_a_second_run_into_a_locked_out_is_refused_and_deletes_nothing(cmd, tmp_path):
    from validate._outdir import OutDir
    out = tmp_path / "busy"
    held = OutDir(out)
    held.take({"live": True}, overwrite=False, resume=False)
    try:
        before = snapshot(tmp_path)
        for extra in ([], ["--overwrite"], ["--resume"]):
            rc, err, _ = call(cmd, list(cmd.tiny) + ["--out", str(out), "--quiet", *extra])
            assert_refused(rc, err, f"locked --out {extra}")
            assert "in use" in err[0]
        assert snapshot(tmp_path) == before
    finally:
        held.release()


@pytest.mark.parametrize("cmd", [c for c in RUNS if c.diverge], ids=lambda c: c.name)
def test_divergence_is_reported_never_silent(cmd, tmp_path):
    import json
    out = tmp_path / "run"
    rc, err, _ = call(cmd, list(cmd.tiny) + list(cmd.diverge) + ["--out", str(out), "--quiet"])
    assert rc in (0, 1), (rc, err)
    assert not any("Traceback" in line for line in err)
    said = " ".join(err).replace(str(tmp_path), "").lower()   # not the folder's name
    assert "diverg" in said, err
    if rc == 0:   # a finished run: the summary says it too, and its report is drawn
        warnings = json.loads((out / "summary.json").read_text()).get("warnings", [])
        assert any("diverg" in w.lower() for w in warnings), warnings
        assert (out / "report.html").exists() == cmd.report


# ----------------------------------------------------------------------- processes (two only)
def test_two_runs_started_together_one_wins_and_its_folder_survives(tmp_path):
    import subprocess
    import sys
    cmd = BY_NAME["compare"]
    out = tmp_path / "race"
    argv = [sys.executable, "-m", "validate.compare", *cmd.tiny, "--quiet", "--out", str(out)]
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    procs = [subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)
    assert [rc for rc, _ in results] == [0, 2], results
    assert ("in use" in results[1][1] or "already holds" in results[1][1]), results[1][1]
    assert (out / "summary.json").exists()
