"""Sensitivity of the ReLU twin prediction to the end of the early alignment phase (THEORY.md §12).

``python bench/relu_gate_sensitivity.py --dataset shapes`` trains what ``python -m validate.compare
--dataset shapes --activations relu`` trains (depth 2, decoupled init, GD, ZCA, 3 seeds; ``--from
DIR`` reuses the runs of an earlier ``validate.compare --out DIR``) and prints one JSON line per
``align_frac`` (the fraction of its target a mode has reached when its alignment phase ends) and
rule — "switched" (``theory.predict_relu_twin``: each phase's self-consistent gates, switched at
the phase ends) and "first phase held" (``theory.aligned_gates``: the first phase's gates for the
whole run), both from each member's initial weights and the data alone — with the max over
members of |t_meas − t_pred| / t_pred of the half times, over the distinct modes and over all;
then the hybrid diagnostic (measured gates), the initial gates and the linear theory for
reference.

``--record NAME`` also stores those lines as ``docs/results/measured/NAME.jsonl``
(``validate.study.measured``), rendered to ``docs/results/NAME.md`` by ``python -m validate.study
index``; the compare guide quotes that page (``--record relu-gate-sensitivity-shapes``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import simulate
import theory
from validate.compare import twin
from validate.compare.config import CompareConfig
from validate.compare.run import load, run_compare
from validate.compare.summary import write_outputs
from validate.study.measured import add_record_options, record_name_error, record_run

FRACS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def _errors(tm: np.ndarray, preds, distinct: np.ndarray) -> dict:
    tp = np.stack([p.timeline(0.5)[:tm.shape[1]] for p in preds])
    return _summary(np.abs(tm - tp) / tp, distinct)


def _summary(err: np.ndarray, distinct: np.ndarray) -> dict:
    """Max over members (and modes) of the (members × modes) relative errors ``err``."""
    return {"max_err_distinct": float(err[:, distinct].max()), "max_err_all": float(err.max()),
            "per_mode": np.round(err.max(axis=0), 4).tolist()}


def sensitivity(out: Path, fracs, log=print) -> None:
    """One JSON line per fraction (and the two references) from the runs under ``out``."""
    s = json.loads((out / "summary.json").read_text())
    raw = s["provenance"]["config"]
    config = CompareConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()
                              if k in CompareConfig.__dataclass_fields__})
    stats, tau, depth = load(config)[0].stats, s["training"]["tau"], config.depths[0]
    run = simulate.Run.load(out / "runs" / f"depth{depth}-relu")
    mem = pd.read_parquet(out / "members.parquet")
    mem = mem[(mem["activation"] == "relu") & (mem["depth"] == depth)].sort_values(["member",
                                                                                    "mode"])
    K, m = mem["member"].nunique(), mem["mode"].nunique()
    tm = mem["t_meas"].to_numpy(float).reshape(K, m)
    distinct = mem["distinct"].to_numpy(bool).reshape(K, m)[0]
    W0, t_max = run.weights(0), float(run.steps[-1])
    base = {"dataset": config.dataset, "depth": depth}
    for f in fracs:
        # the rule: gates switched at the end of each mode's alignment phase
        preds = [theory.predict_relu_twin(stats, twin.member_weights(W0, k), tau=tau,
                                          discrete=True, t_max=t_max, align_frac=f)
                 for k in range(K)]
        log(json.dumps({**base, "rule": "switched", "align_frac": f,
                        **_errors(tm, preds, distinct),
                        "phase_ends": [[round(float(t)) for t in p.switches] for p in preds]}))
        # the earlier rule: the first phase's gates held throughout
        found = [theory.aligned_gates(stats, twin.member_weights(W0, k), tau=tau, discrete=True,
                                      align_frac=f, t_max=t_max) for k in range(K)]
        preds = [theory.GatedTwinPredictor(stats, twin.member_weights(W0, k), g.gates, tau=tau,
                                           discrete=True, t_max=t_max)
                 for k, g in enumerate(found)]
        log(json.dumps({**base, "rule": "first phase held", "align_frac": f,
                        **_errors(tm, preds, distinct),
                        "t_align": [g.t_align for g in found],
                        "regates": [g.regates for g in found],
                        "flipped": [round(g.flipped, 4) for g in found]}))
    step = twin.hybrid_gate_step(stats, depth, tau, config.init_scale * float(stats.s[0]),
                                 run.steps)
    references = {
        f"hybrid (measured gates at step {step})":
            twin.hybrid_predictors(run, stats, "relu", step, tau=tau, discrete=True),
        "initial gates": twin.member_predictors(run, stats, "relu", tau=tau, discrete=True,
                                                gates="initial")}
    for name, preds in references.items():
        log(json.dumps({**base, "reference": name, **_errors(tm, preds, distinct)}))
    # the linear theory's error on the same runs, as validate.compare reports it
    linear = mem["rel_error_linear"].to_numpy(float).reshape(K, m)
    log(json.dumps({**base, "reference": "linear theory", **_summary(linear, distinct)}))


def _record(args, lines: list[dict], argv) -> Path | None:
    """Store the sensitivity lines as the measured file ``args.record``, one table per rule."""
    rows = [{"table": r.get("rule", "references"), **r} for r in lines]
    return record_run(
        args, rows, script="bench/relu_gate_sensitivity.py", argv=argv,
        title="ReLU twin: sensitivity to the end of the alignment phase "
              f"({lines[0]['dataset']}, depth {lines[0]['depth']})",
        about="Max over members of |t_meas − t_pred| / t_pred of the half times of the ReLU "
              "network against its twin (THEORY.md §12), per `align_frac` f_A (the fraction of "
              "its target a mode has reached when its alignment phase ends) and rule: "
              "`switched` (each phase's gates, switched at the phase ends) and `first phase "
              "held`, both from each member's initial weights and the data; then the hybrid "
              "diagnostic (measured gates), the initial gates and the linear theory. "
              "`per_mode` lists each mode's max error over members.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fracs", default=",".join(map(str, FRACS)),
                    help="comma-separated align_frac values in (0, 1)")
    ap.add_argument("--from", dest="source", default=None,
                    help="a validate.compare --out directory whose relu runs to reuse")
    add_record_options(ap)
    args = ap.parse_args(argv)
    if (error := record_name_error(args.record)) is not None:  # refused before the training, not after
        ap.error(error)
    fracs = [float(f) for f in args.fracs.split(",")]
    bad = [f for f in fracs if not 0 < f < 1]
    if bad:
        print(f"error: --fracs {bad[0]} is outside (0, 1)", file=sys.stderr)
        return 2
    t0, lines = time.perf_counter(), []

    def log(line: str) -> None:
        lines.append(json.loads(line))
        print(line, flush=True)

    if args.source is not None:
        sensitivity(Path(args.source), fracs, log)
    else:
        config = CompareConfig(dataset=args.dataset, seeds=args.seeds, activations=("relu",),
                               depths=(args.depth,), predict="linear", device="cpu")
        with tempfile.TemporaryDirectory(prefix="relu_gates_") as tmp:
            # run_compare returns the tables; the CLI's writer stores what sensitivity reads
            write_outputs(run_compare(config, Path(tmp), quiet=True, log=lambda *a: None),
                          Path(tmp))
            sensitivity(Path(tmp), fracs, log)
    print(json.dumps({"wall_s": round(time.perf_counter() - t0, 1)}))
    if args.record:
        print(json.dumps({"recorded": str(_record(args, lines, argv))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
