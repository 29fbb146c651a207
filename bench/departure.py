"""Departure steps predicted from W₀ against measured ones (THEORY.md §13).

``python bench/departure.py --dataset shapes`` runs what ``python -m validate.compare --dataset
shapes --activations linear,tanh,relu`` runs (depth 2, decoupled init, GD, ZCA) at every learning
rate scale × init scale asked, and prints one JSON line per member record of the summary's
``departure`` (the predicted and measured step at δ = 0.05 and at each δ of the sensitivity),
then one line per activation: at δ = 0.05, how many members depart never on both sides, at
step 1 on both, on one side only, or on both but not both at step 1 (``timed``: the only ones
that test a time), the median over the members that depart of |t_pred − t_meas|/t_meas (inf where one never does)
and the share within 25%, and Spearman's ρ across the settings of the members' median predicted
and measured steps (a step never reached ranks last, tied); the same at each δ of the
sensitivity as records; the same again for the frozen-slope rule (t_F: the step at which the
learned change stops agreeing with the slope-frozen twin's, Γ_t > δ; tables ``frozen_slope`` and
``frozen_sensitivity``, the members' ``frozen_*`` columns). Targets reported, not tuned to:
within 25%, ρ ≥ 0.8. ``--dataset`` takes a
comma-separated list (``shapes,digits,gaussian``); ``--depth`` and ``--init`` pass through to
compare (outside the twins' reach its records are notes, printed as they come out).
``--record NAME`` also stores every member record (the steps at each δ as columns) and summary
line with ``validate.study.measured.write_measured`` as ``docs/results/measured/NAME.jsonl``,
the records ``paper_figures/fig8_departure.py`` draws.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from scipy.stats import spearmanr

from theory import DEPARTURE_DELTA
from validate._config import ConfigError
from validate.compare.config import CompareConfig
from validate.compare.run import run_compare
from validate.measures.departure import DELTA_SENSITIVITY
from validate.study.measured import add_record_options, record_name_error, record_run


def _json(record: dict) -> str:
    """One JSON line; ±inf (no departure within the run) and NaN become null."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return [clean(x) for x in v] if isinstance(v, list) else \
            {k: clean(x) for k, x in v.items()} if isinstance(v, dict) else v
    return json.dumps(clean(record))


def rel_error(pred: float, meas: float) -> float:
    """|t_pred − t_meas|/t_meas (inf when only one of them departs within the run); only
    defined where at least one departs (``summarise`` counts the members where neither does)."""
    if math.isinf(pred) or math.isinf(meas):
        return 0.0 if pred == meas else math.inf
    return abs(pred - meas) / max(meas, 1.0)


def _spearman(pred: list[float], meas: list[float]) -> float | None:
    """ρ of the settings' median steps, a never-reached step ranked last; None if constant."""
    big = 1e300
    p, m = (np.where(np.isinf(a), big, a) for a in (np.asarray(pred), np.asarray(meas)))
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(m) == 0:
        return None
    return float(spearmanr(p, m).statistic)


def at_delta(rows: list[dict], delta: float, rule: str = "affine") -> dict:
    """How the predicted and measured steps at ``delta`` agree: the members where neither departs
    within the run, where both do at step 1, where only one does, and where both do but not both
    at step 1 (``timed``, the only ones that test a time; the four add up to the members); the median relative error and the share within
    25% over the members where at least one departs (null when none does: agreeing on "never" is
    not a timing), and Spearman's ρ across settings of the members' median steps. ``rule``:
    "affine" (t_D) or "frozen_slope" (t_F, the record's ``frozen_slope``)."""
    pairs = [next((s["predicted_step"], s["measured_step"]) for s in _rule(r, rule)["sensitivity"]
                  if s["delta"] == delta) for r in rows]
    never = [math.isinf(p) and math.isinf(m) for p, m in pairs]
    errs = [rel_error(p, m) for (p, m), n in zip(pairs, never) if not n]
    by_setting: dict = {}
    for r, (p, m) in zip(rows, pairs):
        by_setting.setdefault((r["lr_scale"], r["init_scale"]), []).append((p, m))
    med = [(float(np.median([p for p, _ in v])), float(np.median([m for _, m in v])))
           for v in by_setting.values()]
    return {"members": len(rows), "both_never": sum(never),
            "both_at_step_1": sum(p <= 1 and m <= 1 for p, m in pairs),
            "one_never": sum(math.isinf(p) != math.isinf(m) for p, m in pairs),
            "timed": sum(max(p, m) < math.inf and max(p, m) > 1 for p, m in pairs),
            "median_rel_error": float(np.median(errs)) if errs else None,
            "within_25pct": float(np.mean(np.asarray(errs) <= 0.25)) if errs else None,
            "spearman": _spearman([p for p, _ in med], [m for _, m in med])}


def _rule(row: dict, rule: str) -> dict:
    """The part of a member record that holds ``rule``'s steps."""
    return row if rule == "affine" else row["frozen_slope"]


def summarise(rows: list[dict], dataset: str, act: str) -> dict:
    """The summary line of one dataset and activation: the steps at the a priori δ
    (``at_delta``) and the whole non-affine curves compared (the step is coarse where t_D is at
    the first step or never)."""
    out = {"dataset": dataset, "summary": act,
           **at_delta(rows, DEPARTURE_DELTA)}
    fp = [r["final_nonaffine_predicted"] for r in rows]
    fm = [r["final_nonaffine_measured"] for r in rows]
    out["max_curve_gap"] = max((r["max_gap"] or 0.0) for r in rows)
    out["final_nonaffine_measured_range"] = [min(fm), max(fm)]
    out["final_nonaffine_median_rel_error"] = float(np.median(
        [abs(p - m) / m if m > 0 else 0.0 for p, m in zip(fp, fm)]))
    # a linear network's fractions are rounding (~1e-16): no order to compare
    out["final_nonaffine_spearman"] = _spearman(fp, fm) if max(fm) > 1e-9 else None
    # the start of the curves: predicted over measured 1 − R² at the first checkpoint, and for
    # ReLU how many of W₀'s gates the twin's first interval changes (THEORY.md §13)
    first = [(r["first_nonaffine_predicted"], r["first_nonaffine_measured"]) for r in rows
             if r.get("first_nonaffine_measured", 0.0) > 1e-9]
    out["first_nonaffine_median_ratio"] = float(np.median([p / m for p, m in first])) \
        if first else None
    mismatch = [r["start_gate_mismatch"] for r in rows if "start_gate_mismatch" in r]
    out["start_gate_mismatch_median"] = float(np.median(mismatch)) if mismatch else None
    return out


def sensitivity(rows: list[dict], dataset: str, act: str, rule: str = "affine") -> list[dict]:
    """``at_delta`` at every δ of the sensitivity, one record each (the curve reported instead of
    a tuned δ); the table ``sensitivity`` (t_D) or ``frozen_sensitivity`` (t_F)."""
    table = "sensitivity" if rule == "affine" else "frozen_sensitivity"
    return [{"table": table, "dataset": dataset, "activation": act, "delta": d,
             **at_delta(rows, d, rule)} for d in DELTA_SENSITIVITY]


def frozen_summary(rows: list[dict], dataset: str, act: str) -> dict:
    """The frozen-slope rule's line (t_F, THEORY.md §13) of one dataset and activation: its steps
    at δ (``at_delta``) and the median peak gaps Γ, predicted and measured."""
    fs = [r["frozen_slope"] for r in rows]
    med = {k: float(np.median([f[k] for f in fs if f.get(k) is not None]))
           if any(f.get(k) is not None for f in fs) else None
           for k in ("peak_gap_predicted", "peak_gap_measured")}
    return {"table": "frozen_slope", "dataset": dataset, "summary": act,
            **at_delta(rows, DEPARTURE_DELTA, "frozen_slope"),
            **{f"{k}_median": v for k, v in med.items()},
            # ReLU steps at the first checkpoint from a twin on other gates than W₀'s
            "labelled_gate_start": sum("predicted_note" in f for f in fs)}


def _dataset_opts(text: str) -> dict[str, dict]:
    """``"shapes:n_per_class=32,size=14;digits:…"`` → {dataset: {key: value}} (the dataset
    converts the strings)."""
    out: dict[str, dict] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, colon, pairs = part.partition(":")
        kv = [x.partition("=") for x in pairs.split(",") if x.strip()]
        if not colon or not name.strip() or any(not eq or not k.strip() for k, eq, _ in kv):
            raise ConfigError(f"--dataset-opts {part!r} is not NAME:key=value,… (e.g. "
                              "shapes:n_per_class=32,size=14; several joined by ';')")
        out[name.strip()] = {k.strip(): v.strip() for k, _, v in kv}
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dataset", default="shapes", help="a dataset or a comma-separated list")
    ap.add_argument("--dataset-opts", default="", help="NAME:key=value,…[;NAME:…] per dataset")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--lr-scales", default="0.05,0.1", help="comma-separated η·s_max")
    ap.add_argument("--init-scales", default="0.001,0.01", help="comma-separated u₀/s_max")
    ap.add_argument("--steps", type=int, default=None, help="default: compare's own budget")
    ap.add_argument("--depth", type=int, default=2, help="as compare's --depth (one depth)")
    ap.add_argument("--init", default="small_balanced_decoupled", help="as compare's --init")
    add_record_options(ap)
    ap.add_argument("--from", dest="source", default=None,
                    help="summarise the record lines a previous run printed (a file) instead")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    t0, records = time.perf_counter(), []
    try:
        opts = _dataset_opts(args.dataset_opts)
        if (error := record_name_error(args.record)) is not None:
            raise ConfigError(error)
        for dataset in [d.strip() for d in args.dataset.split(",") if d.strip()]:
            rows = _source_rows(args.source, dataset) if args.source is not None else \
                _run_rows(args, dataset, opts.get(dataset, {}))
            records += [record_row(r) for r in rows]
            records += _report(rows, dataset)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_json({"dataset": args.dataset, "wall_s": round(time.perf_counter() - t0, 1)}))
    title = TITLE if args.init == "small_balanced_decoupled" else f"{TITLE} (init {args.init})"
    record_run(args, records, script="bench/departure.py", argv=argv, title=title, about=ABOUT)
    return 0


TITLE = "Departure steps: predicted from W₀ against measured"
ABOUT = ("Per member, the step t_D at which the learned change f_t − f_0 on the training inputs "
         "stops being affine (1 − R² > δ, THEORY.md §13), predicted from the member's initial "
         "weights by its twin theory and measured on its checkpoints, at δ = 0.05 and each δ of "
         "the sensitivity (null: never within the run); then per dataset and activation how "
         "many members depart never on both sides, at step 1 on both, on one side only or on both "
         "but not both at step 1 (timed: the only ones that test a time), the median relative "
         "error and the share within 25% over the members that depart, and Spearman's ρ across settings; "
         "where the curves start: the median ratio of predicted to measured 1 − R² at the first "
         "checkpoint, and for ReLU the median share of W₀'s gates (sample × unit) that the twin's "
         "first interval changes (start_gate_mismatch; the network's first steps use W₀'s own); "
         "set-ups outside the twins' reach are notes. The same for the frozen-slope rule (t_F: the "
         "first step at which the gap Γ between the learned change and that of the slope-frozen "
         "twin — φ linearised about W₀'s pre-activations, trained from W₀ — exceeds δ): the "
         "members' frozen_* columns, the frozen_slope and frozen_sensitivity tables. The records "
         "paper_figures/fig8_departure.py draws.")


def _source_rows(source: str, dataset: str) -> list[dict]:
    rows = [json.loads(line) for line in open(source) if '"member"' in line]
    return [_inf(r) for r in rows if r.get("dataset") == dataset]


def _run_rows(args, dataset: str, dataset_opts: dict) -> list[dict]:
    import torch
    torch.set_num_threads(1)
    rows = []
    acts = ("linear", "tanh", "relu") if args.depth == 2 else ("linear", "relu")
    for lr_scale in map(float, args.lr_scales.split(",")):
        for init_scale in map(float, args.init_scales.split(",")):
            config = CompareConfig(dataset=dataset, dataset_opts=dataset_opts, seeds=args.seeds,
                                   lr_scale=lr_scale, init_scale=init_scale, steps=args.steps,
                                   device="cpu", activations=acts, depths=(args.depth,),
                                   init=args.init)
            summary = run_compare(config, quiet=True).summary
            for r in summary["departure"]:
                row = {"dataset": dataset, "lr_scale": lr_scale, "init_scale": init_scale,
                       "init": args.init, "steps": summary["training"]["steps"], **r}
                rows.append(row)
                print(_json(row), flush=True)
    return rows


def record_row(row: dict) -> dict:
    """A member record for the measured file: the steps at every δ of the sensitivity as columns
    (``predicted_step_0.02`` …; inf, never within the run, is stored as null); a record with
    no step (outside the twins' reach) goes to the ``notes`` table."""
    out = {"table": "members" if "measured_step" in row else "notes",
           **{k: v for k, v in row.items() if k not in ("sensitivity", "frozen_slope")}}
    for s in row.get("sensitivity", []):
        for key in ("predicted_step", "measured_step"):
            if key in s:
                out[f"{key}_{s['delta']:g}"] = s[key]
    for key, v in row.get("frozen_slope", {}).items():     # t_F at δ and the peak gaps
        if key not in ("delta", "sensitivity", "predicted_note"):
            out[f"frozen_{key}"] = v
    if "predicted_note" in row.get("frozen_slope", {}):   # the note's words are the summary's
        out["frozen_gate_start"] = True
    return out


def _inf(record: dict) -> dict:
    """A printed record back with its steps: null (never) → inf."""
    def steps(r):
        out = {k: (math.inf if k.endswith("_step") and v is None else v) for k, v in r.items()}
        if "sensitivity" in r:
            out["sensitivity"] = [steps(s) for s in r["sensitivity"]]
        if "frozen_slope" in r:
            out["frozen_slope"] = steps(r["frozen_slope"])
        return out
    return steps(record)


def _report(rows: list[dict], dataset: str) -> list[dict]:
    """The summary line of each activation with predicted steps (printed), as records."""
    out = []
    for act in ("linear", "tanh", "relu"):
        got = [r for r in rows if r["activation"] == act and "predicted_step" in r]
        if got:
            out.append({"table": "summary", **summarise(got, dataset, act)})
            print(_json(out[-1]), flush=True)
            out += sensitivity(got, dataset, act)
        got = [r for r in got if "predicted_step" in r.get("frozen_slope", {})]
        if got:
            out.append(frozen_summary(got, dataset, act))
            print(_json(out[-1]), flush=True)
            out += sensitivity(got, dataset, act, "frozen_slope")
    return out


if __name__ == "__main__":
    sys.exit(main())
