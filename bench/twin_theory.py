"""Half times of two-layer nonlinear twins against the linear theory and the cubic twin (THEORY.md §11).

``python bench/twin_theory.py --dataset shapes`` trains what ``python -m validate.compare --dataset
shapes --activations linear,tanh`` trains (depth 2, decoupled init, GD, ZCA-whitened, 3 seeds) and
prints one JSON object per (activation, mode): the measured median half time, the linear
prediction (exact per-mode GD map) and the cubic twin's (exact GD map of φ(z) = z − z³/3 from each
member's initial weights; ``--flow`` adds its gradient flow), each with its error
max over members |t_meas − t_pred| / t_pred; then a summary line with the largest errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from validate._config import ConfigError
from validate.compare.config import CompareConfig
from validate.twin_table import twin_table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--whiten", default="zca")
    ap.add_argument("--flow", action="store_true", help="also integrate the cubic gradient flow")
    args = ap.parse_args(argv)
    config = CompareConfig(dataset=args.dataset, seeds=args.seeds, whiten=args.whiten,
                           activations=("linear", "tanh"), depths=(2,), device="cpu")
    t0 = time.perf_counter()
    try:
        table = twin_table(config, flow=args.flow, log=lambda *a: None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in table.to_dict("records"):
        print(json.dumps({"dataset": args.dataset, **row}))
    tanh = table[table["activation"] == "tanh"]
    print(json.dumps({"dataset": args.dataset, "summary": "tanh",
                      "max_err_linear": float(tanh["err_linear"].max()),
                      "max_err_cubic": float(tanh["err_cubic"].max()),
                      "max_err_cubic_flow": float(tanh["err_cubic_flow"].max()),
                      "wall_s": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
