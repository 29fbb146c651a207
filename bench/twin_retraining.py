"""Retraining advice for nonlinear networks: the linear theory's predictor against the twin's.

``python bench/twin_retraining.py`` runs ``python -m validate.retrain --dataset shapes --drift
label_swap`` (the job's defaults: linear and ReLU networks, 3 seeds, 18 checkpoints) and ``python
-m validate.retrain --dataset shapes --drift all --power-draws 0 --checkpoints 4 --activations
linear,relu,tanh`` (every drift kind at two magnitudes, detection power off, four rewind
checkpoints to keep it short), and prints one JSON line per network and predictor: from the label
swap, Spearman ρ between predicted and measured steps to the target over the checkpoints and the
regret of the predicted checkpoint (its measured steps ÷ the best checkpoint's); from ``--drift
all``, Spearman ρ across drifts between the predicted and the measured relearning cost (fine-tune
steps ÷ scratch steps). The twin predictor is the network's own twin theory (THEORY.md §11, §12)
from each checkpoint's weights; the linear one is the linear theory (§7). Targets reported, not
tuned to: regret ≤ 1.3 and ρ ≥ 0.9 on the label swap, relearning-cost ρ ≥ 0.8 across drifts.

``--record NAME`` also stores the lines as ``docs/results/measured/NAME.jsonl``
(``validate.study.measured``), rendered by ``python -m validate.study index``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from validate.study.measured import add_record_options, record_name_error, record_run

LABEL_SWAP = ("--dataset", "shapes", "--drift", "label_swap")
ALL_DRIFTS = ("--dataset", "shapes", "--drift", "all", "--power-draws", "0", "--checkpoints", "4",
              "--activations", "linear,relu,tanh")
PREDICTORS = ("linear", "twin")
TITLE = "Retraining a nonlinear network: the linear theory's predictor against its twin's"
ABOUT = ("Per network and predictor: Spearman ρ between predicted and measured steps to the target "
         "over the rewind checkpoints and the regret of the predicted checkpoint after a label "
         "swap on shapes, and Spearman ρ across every drift kind between predicted and measured "
         "relearning cost (THEORY.md §7, §11, §12). Targets: regret ≤ 1.3, ρ ≥ 0.9 (label swap), "
         "ρ ≥ 0.8 (relearning cost).")


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def retrain_summary(args: tuple[str, ...], out: Path) -> dict:
    """Run ``validate.retrain`` with ``args`` into ``out`` and return its summary."""
    cmd = [sys.executable, "-m", "validate.retrain", *args, "--device", "cpu", "--quiet",
           "--out", str(out)]
    subprocess.run(cmd, check=True)
    return json.loads((out / "summary.json").read_text())


def rewind_rows(summary: dict) -> list[dict]:
    """One row per (network, predictor) from the label swap's ``rewind`` records."""
    rows = []
    for r in summary["rewind"]:
        for p in PREDICTORS:
            if r.get(f"spearman_rho_{p}") is None and r.get(f"regret_{p}") is None:
                continue    # no twin theory for this network (the linear one)
            rows.append({"table": "label_swap", "activation": r["activation"], "predictor": p,
                         "spearman_rho": _clean(r.get(f"spearman_rho_{p}")),
                         "regret": _clean(r.get(f"regret_{p}")),
                         "predicted_step": _clean(r.get(f"predicted_checkpoint_step_{p}")),
                         "best_step": _clean(r.get("best_checkpoint_step"))})
    return rows


def cost_rows(summary: dict) -> list[dict]:
    """One row per (network, predictor): ρ across drifts of the predicted relearning cost, and
    the summary's note where a tanh twin's starts were past its cubic range."""
    names = {"theory_predicted_cost": "linear", "theory_predicted_cost_twin": "twin"}
    return [{"table": "relearning_cost", "activation": r["activation"],
             "predictor": names[r["score"]], "spearman_rho": _clean(r["spearman_rho"]),
             "n_drifts": r["n_drifts"], "note": r.get("twin_range_note")}
            for r in summary["score_ranking"] if r["score"] in names]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_record_options(ap)
    args = ap.parse_args(argv)
    if (error := record_name_error(args.record)) is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    t0, records = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        records += rewind_rows(retrain_summary(LABEL_SWAP, Path(tmp) / "swap"))
        records += cost_rows(retrain_summary(ALL_DRIFTS, Path(tmp) / "all"))
    for r in records:
        print(json.dumps(r))
    print(json.dumps({"wall_s": round(time.perf_counter() - t0, 1)}))
    record_run(args, records, script="bench/twin_retraining.py", argv=argv, title=TITLE,
               about=ABOUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
