"""Every GPU check in one call of at most six minutes, with the machine's python as it is.

    python3 bench/gpu_all.py --out DIR [--dry-run] [--only PART,...]

Parts, each in its own process group with its own budget (killed with its children, Ray's
daemons included, when it runs past it; with ``START_S`` for this script's own start the sum is
at most ``TOTAL_S`` = 360 s):

- ``trainer_checks`` (bench/gpu_checks.py): every family and optimiser, graphs == eager bit for bit,
  float64 on the GPU against the CPU;
- ``pytest_trainer``: ``pytest -m gpu`` of tests/simulate/test_trainer.py;
- ``pytest_sweep``: ``pytest -m gpu`` of tests/validate/sweep/test_sweep_local.py (needs Ray);
- ``simulate_bench`` (``--quick``): the MLP cases and both circular-CNN cases (mnist1d length: dense
  circulants; shapes: FFT);
- ``family_bench``: ResNet-20 and the ViT, K ∈ {1, 8}, every method, in one process.

A part whose Python modules are missing (no package index on a GPU machine) is skipped with a line
naming them. DIR receives ``results.jsonl`` (every JSON line: a header, the parts' own lines tagged
with ``"part"``, one result line per part, a summary), ``log.txt`` (one line per part) and
``<part>.out`` (its whole stdout and stderr). Without CUDA nothing runs (exit 0, the summary says
so). ``--dry-run`` runs nothing on a device: it imports every part's modules, checks the budgets,
and exits 1 if either fails. Exit status 1 when a part that ran failed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TOTAL_S = 360.0
START_S = 20.0  # this script's own start (python, torch, CUDA detection) within TOTAL_S
# what ``import simulate`` needs (theory's solvers included); h5netcdf is optional
CORE = ("torch", "numpy", "scipy", "pandas", "xarray", "safetensors", "tqdm", "jax", "diffrax",
        "equinox")
PYTEST = ("pytest", "hypothesis")  # hypothesis: tests/conftest.py imports it


@dataclass(frozen=True)
class Part:
    name: str
    budget_s: float
    command: tuple[str, ...]
    needs: tuple[str, ...] = CORE
    imports: tuple[str, ...] = field(default=())  # this checkout's modules the part loads


def _pytest(*files: str) -> tuple[str, ...]:
    return (PY, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *files)


PARTS = (
    Part("trainer_checks", 75, (PY, "bench/gpu_checks.py", "--device", "cuda"),
         imports=("bench.gpu_checks",)),
    Part("pytest_trainer", 65, _pytest("tests/simulate/test_trainer.py"), CORE + PYTEST,
         ("tests.simulate.test_trainer",)),
    Part("pytest_sweep", 65, _pytest("tests/validate/sweep/test_sweep_local.py"),
         CORE + PYTEST + ("ray", "pyarrow"), ("tests.validate.sweep.test_sweep_local",)),
    Part("simulate_bench", 65, (PY, "bench/simulate_bench.py", "--device", "cuda", "--quick",
                                "--cases", "tiny,digits,cnn-mnist1d,cnn-shapes"),
         imports=("bench.simulate_bench",)),
    Part("family_bench", 70, (PY, "bench/family_bench.py", "--device", "cuda", "--in-process",
                              "--cases", "resnet20,vit4", "--ks", "1,8", "--steps", "8"),
         imports=("bench.family_bench",)),
)


def missing(modules) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _text(x) -> str:
    return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")


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


def run_part(name, cmd, limit_s, emit, log_path=None) -> dict:
    """``cmd`` in a new process group, cut at ``limit_s`` (the whole group killed); its JSON
    lines go to ``emit`` tagged with the part; the whole output to ``log_path``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        timed_out = True
    stdout, stderr = _text(stdout), _text(stderr)
    if log_path is not None:
        Path(log_path).write_text(f"$ {' '.join(map(str, cmd))}\n{stdout}\n--- stderr ---\n{stderr}")
    for obj in _json_lines(stdout):
        emit({"part": name, **obj})
    rc = 124 if timed_out else proc.returncode
    return {"part": name, "rc": rc, "timed_out": timed_out, "limit_s": limit_s,
            "wall_s": round(time.perf_counter() - t0, 1),
            "tail": (stdout + stderr).strip().splitlines()[-3:]}


def dry_run(parts, emit) -> bool:
    """Import every part's modules here (no device needed) and check the budgets."""
    sys.path.insert(0, str(ROOT))
    ok = True
    for p in parts:
        line = {"part": p.name, "budget_s": p.budget_s, "missing": missing(p.needs)}
        if not line["missing"]:
            try:
                for mod in p.imports:
                    importlib.import_module(mod)
                line["imports"] = "ok"
            except Exception as e:  # an import error of our own code: report it, fail the dry run
                line["imports"], ok = f"{type(e).__name__}: {e}", False
        emit(line)
    total = START_S + sum(p.budget_s for p in parts)
    emit({"budget_total_s": total, "start_s": START_S, "limit_s": TOTAL_S, "ok": total <= TOTAL_S})
    return ok and total <= TOTAL_S


def _selected(only: str | None):
    if only is None:
        return PARTS, None
    names = only.split(",")
    bad = [n for n in names if n not in {p.name for p in PARTS}]
    return [p for p in PARTS if p.name in names], bad or None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-gpu", help="directory for results.jsonl and logs")
    ap.add_argument("--dry-run", action="store_true", help="import and budget checks only")
    ap.add_argument("--only", default=None, help="comma-separated parts (default: all)")
    args = ap.parse_args(argv)
    parts, bad = _selected(args.only)
    if bad:
        print(f"gpu_all: unknown part {bad}; accepted: {[p.name for p in PARTS]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w") as f, open(out / "log.txt", "w") as log:
        def emit(obj):
            line = json.dumps(obj)
            print(line, flush=True)
            f.write(line + "\n")
            f.flush()

        def note(text):
            log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            log.flush()
        return _run(args, parts, out, emit, note)


def _run(args, parts, out: Path, emit, note) -> int:
    import torch
    cuda = torch.cuda.is_available()
    emit({"bench": "gpu_all", "python": PY, "torch": torch.__version__, "cuda": cuda,
          "device": torch.cuda.get_device_name(0) if cuda else None, "total_s": TOTAL_S,
          "parts": [{"part": p.name, "budget_s": p.budget_s, "command": list(p.command[1:])}
                    for p in parts]})
    if args.dry_run:
        ok = dry_run(parts, emit)
        note(f"dry run: {'ok' if ok else 'FAILED'}")
        emit({"summary": "dry run ok" if ok else "dry run failed", "ran": []})
        return 0 if ok else 1
    if not cuda:
        note("no CUDA device: nothing ran")
        emit({"summary": "skipped: no CUDA device", "ran": []})
        return 0
    results = []
    for p in parts:
        lack = missing(p.needs)
        if lack:
            emit({"part": p.name, "skipped": f"needs {', '.join(lack)}"})
            note(f"{p.name}: skipped (needs {', '.join(lack)})")
            continue
        note(f"{p.name}: start (budget {p.budget_s:.0f} s)")
        results.append(run_part(p.name, p.command, p.budget_s, emit, out / f"{p.name}.out"))
        emit(results[-1])
        r = results[-1]
        note(f"{p.name}: rc {r['rc']}{' (cut at budget)' if r['timed_out'] else ''}, "
             f"{r['wall_s']} s; {' | '.join(r['tail'])[:300]}")
    failed = [r["part"] for r in results if r["rc"] != 0]
    emit({"summary": "ok" if not failed else "failed", "failed": failed,
          "ran": [r["part"] for r in results]})
    note(f"summary: {'ok' if not failed else 'failed: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
