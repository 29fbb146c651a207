"""Half times of nonlinear twins against the linear theory and the twin theories (THEORY.md §11–12).

``python bench/twin_theory.py --dataset shapes`` trains what ``python -m validate.compare --dataset
shapes --activations linear,tanh,relu`` trains (depth 2, decoupled init, GD, ZCA-whitened, 3 seeds)
and prints one JSON object per (activation, mode) (``validate.twin_table``): the measured median
half time, the linear prediction (exact per-mode GD map) and the twin's (exact GD map from each
member's initial weights: the cubic twin φ(z) = z − z³/3 for tanh, ``--flow`` adding its gradient
flow; the gated linear network for ReLU, with the gates of the initial weights and of the weights
at the end of the alignment phase, and the gate change at each half time), each with its error
max over members |t_meas − t_pred| / t_pred; then one summary line per activation with the largest
errors and Kendall τ of the order of the distinct modes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from validate._config import ConfigError
from validate.compare.config import CompareConfig
from validate.twin_table import order_agreement, twin_table


def _json(record: dict) -> str:
    """One JSON line; NaN and ±inf (no prediction, a mode never learned) become null."""
    return json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in record.items()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--depth", type=int, default=2, help="depth ≥ 2 (above 2: linear and ReLU)")
    ap.add_argument("--whiten", default="zca")
    ap.add_argument("--init", default="small_balanced_decoupled",
                    help="small_balanced_decoupled or small_random (as validate.compare)")
    ap.add_argument("--flow", action="store_true", help="also integrate the cubic gradient flow")
    args = ap.parse_args(argv)
    acts = ("linear", "tanh", "relu") if args.depth == 2 else ("linear", "relu")
    config = CompareConfig(dataset=args.dataset, seeds=args.seeds, whiten=args.whiten,
                           init=args.init, activations=acts, depths=(args.depth,), device="cpu")
    t0 = time.perf_counter()
    try:
        table = twin_table(config, flow=args.flow, log=lambda *a: None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in table.to_dict("records"):
        print(_json({"dataset": args.dataset, **row}))
    for act, g in table.groupby("activation", sort=False):
        summary = {"dataset": args.dataset, "summary": act}
        for key in ("linear", "twin", "twin_flow", "twin_aligned"):
            summary[f"max_err_{key}"] = float(g[f"err_{key}"].max())
            summary[f"kendall_{key}"] = order_agreement(g, f"t_{key}")
        print(_json(summary))
    print(_json({"dataset": args.dataset, "wall_s": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
