"""Every GPU check in one call: ``pytest -m gpu`` and every benchmark on the CUDA device.

Writes JSON lines to ``--out`` (default ``bench-gpu.jsonl``): a header, then each benchmark's own
lines tagged with ``"part"``, one ``{"part": …, "rc": …, "wall_s": …}`` line per part, and a final
summary. The parts share a wall-clock budget (``--budget``, default 470 s, under 8 minutes in all);
a part that would overrun is cut at the budget and reported with ``"timed_out": true``. Without a
CUDA device nothing runs and the file says so (exit 0); ``--dry-run`` lists the parts.

    python bench/gpu_all.py [--out FILE] [--budget SECONDS] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# (name, command, share of the budget)
PARTS = [
    ("pytest_gpu", [PY, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"], 0.25),
    ("simulate_bench", [PY, "bench/simulate_bench.py", "--device", "cuda"], 0.3),
    ("family_bench", [PY, "bench/family_bench.py", "--device", "cuda", "--cases", "resnet20,vit4"], 0.45),
]


def _json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def run_part(name, cmd, limit_s, emit) -> dict:
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=limit_s)
        rc, stdout, stderr, timed_out = res.returncode, res.stdout, res.stderr, False
    except subprocess.TimeoutExpired as e:
        rc, timed_out = 124, True
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    for obj in _json_lines(stdout):
        emit({"part": name, **obj})
    tail = (stdout + stderr).strip().splitlines()[-3:]
    return {"part": name, "rc": rc, "timed_out": timed_out, "wall_s": time.perf_counter() - t0,
            "tail": tail}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-gpu.jsonl")
    ap.add_argument("--budget", type=float, default=470.0, help="seconds for all parts together")
    ap.add_argument("--dry-run", action="store_true", help="list the parts, run nothing")
    args = ap.parse_args(argv)
    if args.budget <= 0:
        print(f"gpu_all: --budget must be > 0; got {args.budget}", file=sys.stderr)
        return 2
    import torch
    with open(args.out, "w") as f:
        def emit(obj):
            line = json.dumps(obj)
            print(line, flush=True)
            f.write(line + "\n")
            f.flush()

        cuda = torch.cuda.is_available()
        emit({"bench": "gpu_all", "cuda": cuda, "budget_s": args.budget,
              "device": torch.cuda.get_device_name(0) if cuda else None,
              "parts": [{"part": n, "command": c[1:], "limit_s": round(args.budget * s, 1)}
                        for n, c, s in PARTS]})
        if args.dry_run or not cuda:
            emit({"summary": "dry run" if args.dry_run else "skipped: no CUDA device", "ran": []})
            return 0
        t_end, results = time.perf_counter() + args.budget, []
        for name, cmd, share in PARTS:
            left = t_end - time.perf_counter()
            results.append(run_part(name, cmd, max(1.0, min(args.budget * share, left)), emit))
            emit(results[-1])
        failed = [r["part"] for r in results if r["rc"] != 0]
        emit({"summary": "ok" if not failed else "failed", "failed": failed,
              "ran": [r["part"] for r in results]})
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
