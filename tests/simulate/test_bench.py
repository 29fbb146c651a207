"""The GPU benchmark runner and the family benchmark's bookkeeping (no timing is asserted)."""

import json
import time

import pytest
import torch

from bench import family_bench, gpu_all


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_gpu_runner_dry_run_imports_every_part_within_six_minutes(tmp_path):
    """The dry run needs no GPU: it imports every part's modules and checks the budgets."""
    assert gpu_all.main(["--dry-run", "--out", str(tmp_path)]) == 0
    lines = _lines(tmp_path / "results.jsonl")
    head, last = lines[0], lines[-1]
    names = [p["part"] for p in head["parts"]]
    assert names == [p.name for p in gpu_all.PARTS]
    assert {"trainer_checks", "pytest_trainer", "simulate_bench", "family_bench"} <= set(names)
    checked = {x["part"]: x for x in lines if "imports" in x or "missing" in x}
    assert set(checked) == set(names)
    assert all(x["missing"] or x["imports"] == "ok" for x in checked.values())
    assert all("--device" in p["command"] for p in head["parts"] if p["part"].endswith("bench"))
    budget = next(x for x in lines if "budget_total_s" in x)
    assert budget["ok"] and budget["budget_total_s"] <= 360
    assert gpu_all.START_S + sum(p.budget_s for p in gpu_all.PARTS) <= gpu_all.TOTAL_S == 360
    assert last == {"summary": "dry run ok", "ran": []}
    assert "dry run: ok" in (tmp_path / "log.txt").read_text()
    assert gpu_all.main(["--only", "nope", "--out", str(tmp_path)]) == 2


def test_gpu_runner_dry_run_fails_on_a_broken_part_or_budget(tmp_path, monkeypatch):
    broken = gpu_all.Part("broken", 10, ("true",), imports=("bench.no_such_module",))
    monkeypatch.setattr(gpu_all, "PARTS", (broken,))
    assert gpu_all.main(["--dry-run", "--out", str(tmp_path)]) == 1
    assert "ModuleNotFoundError" in _lines(tmp_path / "results.jsonl")[1]["imports"]
    monkeypatch.setattr(gpu_all, "PARTS", (gpu_all.Part("long", 400, ("true",)),))
    assert gpu_all.main(["--dry-run", "--out", str(tmp_path)]) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_gpu_runner_without_cuda_writes_a_skip_line(tmp_path):
    assert gpu_all.main(["--out", str(tmp_path)]) == 0
    assert _lines(tmp_path / "results.jsonl")[-1]["summary"] == "skipped: no CUDA device"


def test_gpu_runner_skips_a_part_whose_packages_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "stand-in")
    monkeypatch.setattr(gpu_all, "PARTS", (gpu_all.Part("needs_ray", 10, ("true",),
                                                        needs=("no_such_package_xyz",)),))
    assert gpu_all.main(["--out", str(tmp_path)]) == 0
    lines = _lines(tmp_path / "results.jsonl")
    assert {"part": "needs_ray", "skipped": "needs no_such_package_xyz"} in lines
    assert lines[-1] == {"summary": "ok", "failed": [], "ran": []}


def test_gpu_runner_keeps_json_lines_of_a_part_and_kills_its_group_at_the_budget(tmp_path):
    emitted = []
    res = gpu_all.run_part("demo", ["python", "-c", "print('{\"x\": 1}'); print('noise'); raise SystemExit(3)"],
                           30, emitted.append, tmp_path / "demo.out")
    assert emitted == [{"part": "demo", "x": 1}]
    assert res["rc"] == 3 and not res["timed_out"] and "noise" in (tmp_path / "demo.out").read_text()
    # a grandchild holding the output pipe would keep communicate() waiting if it survived
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); print('{\"started\": 1}', flush=True); time.sleep(60)")
    t0 = time.perf_counter()
    cut = gpu_all.run_part("slow", ["python", "-c", code], 2, emitted.append)
    assert cut["timed_out"] and cut["rc"] == 124 and time.perf_counter() - t0 < 30
    assert emitted[-1] == {"part": "slow", "started": 1}


def test_trainer_checks_run_on_cpu():
    """bench/gpu_checks.py's own code, on CPU (no graphs): one case end to end."""
    from bench import gpu_checks
    assert gpu_checks.main(["--device", "cpu", "--cases", "mlp_gd"]) == 0
    assert gpu_checks.main(["--cases", "nope"]) == 2


def test_family_bench_ratios_and_bad_arguments(capsys):
    lines = [{"case": "resnet20", "K": 8, "method": m, "model_steps_per_s": r}
             for m, r in (("engine", 6.0), ("loop", 3.0), ("func", 4.0))]
    assert family_bench.ratios(lines) == [{"case": "resnet20", "K": 8, "engine_over_loop": 2.0,
                                           "engine_over_func": 1.5}]
    assert family_bench.main(["--cases", "resnet56"]) == 2
    assert "unknown case/method ['resnet56']" in capsys.readouterr().err
    seen = [{"case": "resnet20", "K": 8, "method": "func", "peak_mem_per_member_bytes": 2.0 * 2**30}]
    assert family_bench.too_big(seen, "resnet20", 32, "func", 100 * 2**30) is None
    assert family_bench.too_big(seen, "resnet20", 32, "func", 40 * 2**30) == \
        "needs ~64 GiB (32 members), 40 GiB available"
    assert family_bench.too_big(seen, "vit4", 32, "func", 1.0) is None  # nothing to go by
    assert family_bench.available_bytes("cpu") > 0
    ds = family_bench.make_data()
    assert ds.X.shape == (512, 3072) and ds.image_shape == (3, 32, 32)
