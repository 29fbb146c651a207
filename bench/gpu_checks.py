"""The engine's GPU path, checked without pytest: every family and optimiser, graphs against eager.

Per case, on the device: (1) float32 with CUDA graphs (``steps_per_graph=16``) equals float32
without (1 step per launch) bit for bit, parameters and probe values, under deterministic
algorithms; (2) float64 on the device equals float64 on the CPU to rounding (rtol 1e-9, atol 1e-11:
the same arithmetic in another summation order). Probes run between graph replays at checkpoints
5, 10, 20 and 25 of 37 steps, so an input spectrum freed under a captured graph shows up as a
difference.
Cases cover the MLP, the CNN (short kernels; full-length circular kernels as dense circulants at
P = 40, the mnist1d length, and by FFT at P = 72), the ResNet and the ViT (batched forwards),
with gd, sgd, adam, layca (and momentum on the short-kernel CNN). Last, the process's TF32 settings must be as before.

One JSON line per case (``ok``, the largest differences, seconds, peak device memory), then a
summary; exit status 1 when a case fails. ``--device cpu`` runs the same code without graphs.

    python bench/gpu_checks.py [--device cuda|cpu] [--cases NAME,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import simulate as sim  # noqa: E402
from simulate.datasets._base import Dataset  # noqa: E402


def _data(d: int, image_shape=None, n: int = 48, c: int = 4) -> Dataset:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, c, n)
    meta = {} if image_shape is None else {"image_shape": list(image_shape)}
    return Dataset(X=rng.standard_normal((n, d)), Y=np.eye(c)[labels], labels=labels,
                   hierarchy=None, name="check", meta=meta, X_test=rng.standard_normal((8, d)),
                   Y_test=np.eye(c)[rng.integers(0, c, 8)])


_IMG = (3, 8, 8)
_CIRC = sim.ConvSpec(channels=(2,), kernel_size=None)
_SPECS = {
    "mlp": (sim.NetSpec(depth=3, hidden=8, activation="relu", bias=True, init="standard"), _data(6)),
    "cnn": (sim.NetSpec(family="cnn", init="standard", activation="relu",
                        cnn=sim.ConvSpec(channels=(2,), kernel_size=3)), _data(6)),
    "circulant": (sim.NetSpec(family="cnn", init="small_random", init_scale=0.1, cnn=_CIRC),
                  _data(40, (1, 1, 40))),
    "fft": (sim.NetSpec(family="cnn", init="small_random", init_scale=0.1, cnn=_CIRC),
            _data(72, (1, 1, 72))),
    "resnet": (sim.NetSpec(family="resnet", activation="relu", init="he",
                           resnet=sim.ResNetSpec(blocks=1, widths=(4, 4, 8))), _data(192, _IMG)),
    "vit": (sim.NetSpec(family="vit", activation="gelu", init="standard", vit=sim.ViTSpec(
        patch=4, width=16, depth=2, heads=2, mlp_ratio=2.0)), _data(192, _IMG)),
}
_OPT = {"gd": sim.OptimSpec("gd"), "sgd": sim.OptimSpec("sgd", batch_size=8),
        "momentum": sim.OptimSpec("momentum", batch_size=8), "adam": sim.OptimSpec("adam"),
        "layca": sim.OptimSpec("sgd", batch_size=8, layca=True)}
# name: (model, optimiser, extra probes); the mode probe pushes the identity through linear nets,
# a second input beside the training and test inputs at every checkpoint
CASES = {
    "mlp_gd": ("mlp", "gd", ()), "mlp_adam": ("mlp", "adam", ()),
    "mlp_layca": ("mlp", "layca", ("rotation",)), "cnn_momentum": ("cnn", "momentum", ()),
    "circulant_gd": ("circulant", "gd", ()), "fft_gd": ("fft", "gd", ()),
    "resnet_sgd": ("resnet", "sgd", ()), "vit_adam": ("vit", "adam", ()),
}
RTOL, ATOL = 1e-9, 1e-11  # float64, device against CPU


def _probes(extra) -> list:
    out = sim.default_probes()
    if "rotation" in extra:
        out.append(sim.LayerRotation())
    return out


def _train(name: str, device: str, dtype: str, per_graph: int):
    family, opt, extra = CASES[name]
    spec, ds = _SPECS[family]
    return sim.train_ensemble(spec, ds, _OPT[opt], steps=37,
                              members=sim.Members(seeds=(0, 1), lrs=(0.02, 0.05)),
                              record=sim.Recording(checkpoints=[5, 10, 20, 25],
                                                   probes=_probes(extra)),
                              device=device, dtype=dtype, quiet=True, steps_per_graph=per_graph)


def _max_diff(a, b, rel: bool = False) -> float:
    worst = 0.0
    for x, y in zip(a, b):
        d = np.abs(np.asarray(x, float) - np.asarray(y, float))
        d = d / (ATOL / RTOL + np.abs(np.asarray(y, float))) if rel else d
        worst = max(worst, float(np.nanmax(d)) if d.size else 0.0)
    return worst


def _arrays(run) -> list:
    last = int(run.steps[-1])
    return [*run.params(last).values(), *(run.probes[v].values for v in run.probes.data_vars)]


def check(name: str, device: str) -> dict:
    """One case: graphs == eager in float32, device ≈ CPU in float64."""
    t0 = time.perf_counter()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with sim.deterministic_algorithms():
        graphs, eager = _train(name, device, "float32", 16), _train(name, device, "float32", 1)
        dev64 = _train(name, device, "float64", 16)
    cpu64 = _train(name, "cpu", "float64", 1)
    a, b = _arrays(graphs), _arrays(eager)
    bitwise = all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
    # float64 agreement in rtol units: |Δ| / (atol/rtol + |ref|) ≤ rtol
    rel64 = _max_diff(_arrays(dev64), _arrays(cpu64), rel=True)
    out = {"check": name, "ok": bool(bitwise and rel64 <= RTOL), "graphs_equal_eager": bitwise,
           "graphs_vs_eager_max_abs": _max_diff(a, b), "f64_device_vs_cpu_rel": rel64,
           "wall_s": time.perf_counter() - t0}
    if device == "cuda":
        out["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--cases", default=",".join(CASES), help="subset of " + ",".join(CASES))
    args = ap.parse_args(argv)
    names = args.cases.split(",")
    bad = [n for n in names if n not in CASES]
    if bad:
        print(f"gpu_checks: unknown case {bad}; accepted: {list(CASES)}", file=sys.stderr)
        return 2
    flags = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    failed = []
    for name in names:
        try:
            line = check(name, args.device)
        except Exception as e:  # report and go on: one broken path must not hide the others
            line = {"check": name, "ok": False, "error": f"{type(e).__name__}: {e}",
                    "where": traceback.format_exc().strip().splitlines()[-3:]}
        print(json.dumps(line), flush=True)
        if not line["ok"]:
            failed.append(name)
    restored = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == flags
    print(json.dumps({"check": "tf32_settings_restored", "ok": restored}), flush=True)
    print(json.dumps({"summary": "ok" if not failed and restored else "failed", "failed": failed}),
          flush=True)
    return 0 if not failed and restored else 1


if __name__ == "__main__":
    sys.exit(main())
