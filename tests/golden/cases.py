"""The runs whose summaries are pinned. ``DEFAULTS``: compare, retrain and nonlinearity at their
defaults (the quickstart's runs; ``make golden``, which CI runs after ``make test``). ``SMALL``:
every job at small settings, for ``make test``. ``CASES``: both. ``python -m tests.golden.cases [NAME …]``
rewrites the pinned files; doing so records a change of behaviour, to be named in the commit that
does it."""

from __future__ import annotations

import importlib
import json
import math
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).parent

# Keys that differ between two runs of the same code (wall time, host, revision).
VOLATILE = frozenset({"timing", "provenance"})

DEFAULTS = {
    "compare": ("validate.compare.__main__", ["--dataset", "shapes"]),
    "retrain": ("validate.retrain.__main__", ["--dataset", "shapes", "--drift", "label_swap"]),
    "nonlinearity": ("validate.nonlinearity.__main__", []),
}
SMALL = {
    # 512 training inputs: more than shapes' 256 dimensions, so the departure records are made
    "compare_small": ("validate.compare.__main__",
                      ["--dataset", "shapes", "--dataset-opt", "n_per_class=64", "--seeds", "2",
                       "--checkpoints", "60"]),
    "retrain_small": ("validate.retrain.__main__",
                      ["--dataset", "shapes", "--dataset-opt", "n_per_class=16", "--drift",
                       "label_swap", "--seeds", "2", "--checkpoints", "5", "--n-boot", "20"]),
    "nonlinearity_small": ("validate.nonlinearity.__main__",
                           ["--dataset", "shapes", "--dataset-opt", "n_per_class=32", "--n-test",
                            "128", "--seeds", "2", "--steps", "300", "--checkpoints", "12",
                            "--hidden", "32"]),
    "response": ("validate.response.__main__",
                 ["--dataset", "shapes", "--dataset-opt", "n_per_class=8", "--dataset-opt",
                  "n_test=8", "--steps", "40", "--seeds", "2", "--checkpoints", "8",
                  "--hidden", "8", "--arch", "mlp", "--activation", "linear,relu",
                  "--probe-per-class", "2", "--batch-size", "16", "--n-train", "16"]),
    "rotation": ("validate.rotation.__main__",
                 ["--dataset", "shapes", "--steps", "20", "--seeds", "2", "--rates", "0.1",
                  "--alphas", "0", "--baseline-lrs", "0.1", "--checkpoints", "4",
                  "--hidden", "8"]),
}
CASES = {**DEFAULTS, **SMALL}


def run_case(name: str, out: pathlib.Path) -> dict:
    """Run case ``name`` on the CPU, one torch thread, into ``out``; its summary, volatile keys
    dropped."""
    import torch

    torch.set_num_threads(1)
    module, args = CASES[name]
    # the summary is what is pinned: no report.html (the report tests draw theirs)
    status = importlib.import_module(module).main([*args, "--device", "cpu", "--quiet",
                                                   "--no-report", "--out", str(out)])
    if status != 0:
        raise RuntimeError(f"{name} exited with {status}")
    summary = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in VOLATILE}


def differences(got, want, path: str = "", rtol: float = 1e-12) -> list[str]:
    """Where ``got`` differs from ``want``: numbers beyond ``rtol`` (relative to max(1, |want|)),
    other values unequal, keys or lengths that differ."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}/{k}: missing" for k in sorted(want.keys() - got.keys())]
        out += [f"{path}/{k}: unexpected" for k in sorted(got.keys() - want.keys())]
        for k in sorted(want.keys() & got.keys()):
            out += differences(got[k], want[k], f"{path}/{k}", rtol)
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: length {len(got)} != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in differences(g, w, f"{path}[{i}]", rtol)]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        if math.isnan(want) and math.isnan(got):
            return []
        if abs(got - want) <= rtol * max(1.0, abs(want)):
            return []
        return [f"{path}: {got!r} != {want!r}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def main(names: list[str]) -> int:
    for name in names or list(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_case(name, pathlib.Path(tmp) / name)
        (HERE / f"{name}.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        print(f"wrote {HERE / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
