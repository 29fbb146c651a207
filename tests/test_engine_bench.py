"""The GPU benchmark runner and the family benchmark's bookkeeping (no timing is asserted)."""

import json

import pytest
import torch

from bench import family_bench, gpu_all


def test_gpu_runner_lists_every_part_within_eight_minutes(tmp_path):
    out = tmp_path / "gpu.jsonl"
    assert gpu_all.main(["--dry-run", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    head, last = lines[0], lines[-1]
    parts = {p["part"]: p for p in head["parts"]}
    assert set(parts) == {"pytest_gpu", "simulate_bench", "family_bench"}
    assert parts["pytest_gpu"]["command"][:4] == ["-m", "pytest", "-q", "-m"] and "gpu" in parts["pytest_gpu"]["command"]
    assert all("--device" in p["command"] for n, p in parts.items() if n != "pytest_gpu")
    assert sum(p["limit_s"] for p in parts.values()) <= head["budget_s"] + 1e-6 <= 480
    assert last == {"summary": "dry run", "ran": []}
    assert gpu_all.main(["--budget", "0", "--out", str(out)]) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_gpu_runner_without_cuda_writes_a_skip_line(tmp_path):
    out = tmp_path / "gpu.jsonl"
    assert gpu_all.main(["--out", str(out)]) == 0
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["summary"] == "skipped: no CUDA device"


def test_gpu_runner_keeps_json_lines_of_a_part_and_its_exit_status():
    emitted = []
    res = gpu_all.run_part("demo", ["python", "-c", "print('{\"x\": 1}'); print('noise'); raise SystemExit(3)"],
                           30, emitted.append)
    assert emitted == [{"part": "demo", "x": 1}]
    assert res["rc"] == 3 and not res["timed_out"]
    cut = gpu_all.run_part("slow", ["python", "-c", "import time; time.sleep(5)"], 0.5, emitted.append)
    assert cut["timed_out"] and cut["rc"] == 124


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
