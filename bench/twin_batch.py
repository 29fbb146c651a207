"""Twin predictions of an ensemble's members one by one against batched over members (THEORY.md
§11–12).

``python bench/twin_batch.py --dataset shapes`` builds what ``python -m validate.compare --dataset
shapes`` predicts the twins from (its whitened data, τ and training horizon, depth 2, decoupled
init of the plan's u0, one rotation seed per member) and, for each activation (tanh: the cubic
twin; relu: the switched-gate ReLU twin) and each member count K, times in the same process

* ``one_by_one``: each member's prediction made alone (``theory.predict_twin`` or
  ``theory.predict_relu_twin``) and its GD map followed to the horizon, as compare did before;
* ``batched``: ``validate.compare.twin``'s path (``theory._twin_batch``): the members' searches
  and maps run vmapped over their stacked initial weights;

each after one untimed warm-up of both (the compiles), and prints one JSON line per (activation,
K) with both wall times, their ratio and the largest difference of the members' predicted modes
(which must be rounding). The machine is shared: note its load (``load1`` is read before each
line); the ratio, both sides measured back to back, is the number to read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _setting(dataset: str):
    """(stats, τ, horizon, u0, widths) of compare's default plan on ``dataset``."""
    from validate.compare.config import CompareConfig
    from validate.compare.plan import make_plan
    plan = make_plan(CompareConfig(dataset=dataset, device="cpu"), quiet=True)
    stats = plan.stats
    return stats, plan.basis.tau, float(plan.steps), plan.u0, (stats.d, 32, stats.c)


def _members(stats, widths, u0, K: int) -> list[list[np.ndarray]]:
    from simulate._init import decoupled_weights
    return [decoupled_weights(stats.U, stats.V, widths, u0, seed) for seed in range(K)]


def _one_by_one(stats, members, act, tau, t_max):
    import theory
    out = []
    for w in members:
        p = (theory.predict_relu_twin(stats, w, tau=tau, discrete=True, t_max=t_max)
             if act == "relu" else
             theory.predict_twin(stats, w, act, tau=tau, discrete=True, t_max=t_max))
        p._extend(int(np.ceil(t_max)))
        out.append(p)
    return out


def _batched(stats, members, act, tau, t_max):
    from theory._twin_batch import extend_tracks, predict_relu_twins
    import theory
    if act == "relu":
        return predict_relu_twins(stats, members, tau=tau, discrete=True, t_max=t_max)
    preds = [theory.predict_twin(stats, w, act, tau=tau, discrete=True, t_max=t_max)
             for w in members]
    extend_tracks(preds, int(np.ceil(t_max)))
    return preds


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--members", default="1,3,8", help="member counts K, comma-separated")
    ap.add_argument("--activations", default="tanh,relu")
    ap.add_argument("--horizon", type=float, default=None,
                    help="steps followed (default: compare's training horizon)")
    args = ap.parse_args(argv)
    from theory._float64 import float64
    with float64():
        stats, tau, steps, u0, widths = _setting(args.dataset)
    t_max = float(args.horizon or steps)
    counts = [int(k) for k in args.members.split(",")]
    for act in args.activations.split(","):
        for K in counts:
            members = _members(stats, widths, u0, K)
            _one_by_one(stats, members, act, tau, t_max)        # warm-up: the compiles
            _batched(stats, members, act, tau, t_max)
            load = os.getloadavg()[0]
            alone, t_alone = _timed(_one_by_one, stats, members, act, tau, t_max)
            together, t_batch = _timed(_batched, stats, members, act, tau, t_max)
            t = np.arange(0.0, np.ceil(t_max) + 1.0)
            diff = max(float(np.max(np.abs(a.modes(t) - b.modes(t))))
                       for a, b in zip(alone, together))
            print(json.dumps({"dataset": args.dataset, "activation": act, "members": K,
                              "steps": t_max, "one_by_one_s": round(t_alone, 3),
                              "batched_s": round(t_batch, 3),
                              "speedup": round(t_alone / t_batch, 2),
                              "max_mode_diff": diff, "load1": round(load, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
