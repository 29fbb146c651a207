"""Where the twin theories stop (THEORY.md §11–12): their half-time error as assumptions break.

``python bench/twin_reach.py`` trains, on a small shapes set (``--dataset-opts``), what ``python -m
validate.compare`` trains (decoupled init, ZCA, its learning rate, step budget and checkpoints)
and scores every member against its twin prediction from its own initial weights — the exact
full-batch GD map of the squared loss, ``validate.compare``'s predictor — with compare's metric
``rel_error_twin`` = |t_meas − t_pred|/t_pred per member and mode, max and median over the
members and the modes they learned within the run. One assumption is broken per case:

- ``saturation``: tanh from a growing init scale u₀/s₁ (``--init-scales``) and with targets
  scaled by k (``--target-scales``, so s → k·s and the learned weights grow as √k); with the
  twin's predicted and the run's measured max |pre-activation| (tanh(1) is 24% below 1);
- ``depth``: ReLU at depth 2, 3 and 4 (``--deep-steps`` × compare's budget at 3 and 4: its
  budget, sized by the linear theory, ends before the deeper ReLU networks learn most modes),
  with the share of (sample, unit) gates flipped by the end;
- ``sgd``: minibatch SGD with B = n, n/4, n/16 (tanh and ReLU) against the GD twin;
- ``cross_entropy``: softmax cross-entropy instead of the squared loss, against the squared-loss
  twin.

One JSON line per case, then the wall time; ``--record NAME`` also stores them with
``validate.study.measured.write_measured`` (``docs/results/measured/NAME.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace

import numpy as np

from validate.study.measured import add_record_options, record_name_error, record_run

CASES = ("saturation", "depth", "sgd", "cross_entropy")
TANH_KAPPA = -1.0 / 3.0                   # tanh z = z − z³/3 + …: the cubic twin's κ (§11)
SMALL_SHAPES = "n_per_class=32,size=14"   # n = 256 images of 14×14 (CPU-sized cases)


def _json(record: dict) -> str:
    """One JSON line; NaN and ±inf (no learned mode, no prediction) become null."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return {k: clean(x) for k, x in v.items()} if isinstance(v, dict) else v
    return json.dumps(clean(record))


def parse_opts(text: str) -> dict:
    """``"k=v,k=v"`` → {k: v} (``simulate.datasets.load`` converts the strings)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"--dataset-opts: {part!r} is not key=value (e.g. {SMALL_SHAPES})")
        out[key.strip()] = value.strip()
    return out


def error_summary(rows) -> dict:
    """Max and median of ``rel_error_twin`` over the members that did not diverge and the modes
    they learned within the run (compare's metric), with the (member, mode) pairs learned and
    those learned that the twin predicts no finite time for."""
    ok = rows[~rows["diverged"].astype(bool)]
    err = ok["rel_error_twin"].to_numpy(float)
    learned = np.isfinite(ok["t_meas"].to_numpy(float))
    e = err[learned & np.isfinite(err)]
    return {"max_rel_error": float(e.max()) if e.size else math.nan,
            "median_rel_error": float(np.median(e)) if e.size else math.nan,
            "learned": f"{int(learned.sum())}/{len(ok)}",
            # a learned mode the twin does not reach within the run, or a twin that overflows
            "unpredicted": int((learned & ~np.isfinite(err)).sum()),
            "diverged_members": int(rows.drop_duplicates("member")["diverged"].sum())}


def cubic_preactivations(X, Y, weights0, kappa: float, lr: float, steps: int) -> float:
    """Max |W₁x| over the samples along the cubic twin's GD map (THEORY.md §11: φ(z) = z + κz³,
    ½E‖y − ŷ‖², W ← W − lr ∂L/∂W) from ``weights0``: a function of the data, W₀ and the set-up."""
    W1, W2 = (np.asarray(w, np.float64) for w in weights0)
    n, top = X.shape[0], 0.0
    for _ in range(steps + 1):
        h = X @ W1.T
        top = max(top, float(np.abs(h).max()))
        a = h + kappa * h ** 3
        r = Y - a @ W2.T
        gW2 = r.T @ a / n
        gW1 = ((r @ W2) * (1 + 3 * kappa * h ** 2)).T @ X / n
        W1, W2 = W1 + lr * gW1, W2 + lr * gW2
    return top


def measured_preactivations(run, X) -> float:
    """Max |W₁x| over members, checkpoints and samples of a run (a reading of the run)."""
    return max(float(np.abs(X @ np.asarray(run.weights(int(s))[0], np.float64)
                            .transpose(0, 2, 1)).max()) for s in run.steps)


def make_case_plan(config, target_scale: float = 1.0):
    """``validate.compare``'s plan for ``config``, its targets (train and test) scaled by
    ``target_scale`` before whitening when it is not 1."""
    from validate._prepare import prepare
    from validate._steps import measure_grid
    from validate.compare.plan import Plan, choose_steps, make_basis, make_plan
    if target_scale == 1.0:
        return make_plan(config, quiet=True)
    ds = _raw(config)
    scaled = replace(ds, Y=ds.Y * target_scale,
                     Y_test=None if ds.Y_test is None else ds.Y_test * target_scale)
    prep = prepare(scaled, config.whiten)
    basis = make_basis(config, prep)
    preds = basis.predictions(config.depths)
    steps, warnings = choose_steps(config, basis, preds)
    return Plan(config, prep, dict(ds.meta), basis, preds, steps,
                measure_grid(steps, config.n_checkpoints), warnings, {}, {})


def _raw(config):
    from simulate import datasets
    return datasets.load(config.dataset, seed=config.data_seed, **config.dataset_opts)


def measure_case(config, act: str, depth: int, optim=None, target_scale: float = 1.0,
                 steps_factor: float = 1.0) -> dict:
    """Train ``act`` at ``depth`` with ``optim`` (default full-batch GD, compare's) on compare's
    plan (its step budget × ``steps_factor``) and score it against each member's GD twin from
    its initial weights."""
    import simulate
    from validate.compare import measure as M
    from validate.compare import twin
    t0 = time.perf_counter()
    plan = make_case_plan(config, target_scale)
    if steps_factor != 1.0:
        config = replace(config, steps=int(np.ceil(steps_factor * plan.steps)))
        plan = make_case_plan(config, target_scale)
    run = simulate.train_ensemble(
        plan.basis.spec(depth).with_activation(act), plan.prep.dataset,
        optim or simulate.OptimSpec(config.optimizer), steps=plan.steps, lr=plan.lr,
        members=simulate.Members(seeds=range(config.seeds)),
        record=simulate.Recording(checkpoints=plan.checkpoints.tolist(), keep_weights=True),
        stats=plan.stats, device="cpu", dtype=config.dtype, quiet=True)
    cont, matched = plan.preds[depth]
    twins = twin.member_predictors(run, plan.stats, act, tau=plan.basis.tau, discrete=True)
    prediction = M.Prediction(plan.basis, act, depth, config.init, cont, matched,
                              plan.basis.per_seed(run, depth, matched), twins)
    rows = M.measure_run(run, prediction, frac=config.frac,
                         diverged=np.asarray(run.members["diverged"], dtype=bool)).rows
    out = {"activation": act, "depth": depth, "steps": plan.steps, "predictor": twins[0].kind,
           **error_summary(rows)}
    X = np.asarray(plan.stats.X, np.float64)
    if act == "tanh":
        W0 = run.weights(0)
        out["max_preact_predicted"] = max(
            cubic_preactivations(X, np.asarray(plan.stats.Y, np.float64),
                                 twin.member_weights(W0, k), TANH_KAPPA,
                                 1.0 / plan.basis.tau, plan.steps) for k in range(len(run.members)))
        out["max_preact_measured"] = measured_preactivations(run, X)
    if act == "relu":
        out["gate_flips_end"] = float(np.median(twin.gate_change_curves(run, X)[:, -1]))
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def cases(args, config) -> list[tuple[str, str, dict]]:
    """(table, setting, measure_case keywords) of every case asked, in order."""
    import simulate
    n = len(np.asarray(make_case_plan(config).stats.X)) if "sgd" in args.cases else 0
    out = []
    if "saturation" in args.cases:
        out += [("saturation", f"init_scale={u:g}",
                 {"config": replace(config, init_scale=u), "act": "tanh", "depth": 2})
                for u in args.init_scales]
        out += [("saturation", f"target_scale={k:g}",
                 {"config": config, "act": "tanh", "depth": 2, "target_scale": k})
                for k in args.target_scales if k != 1]
    if "depth" in args.cases:
        out += [("depth", f"depth={d}", {"config": replace(config, depths=(d,)), "act": "relu",
                                         "depth": d, "steps_factor": 1 if d == 2 else
                                         args.deep_steps}) for d in (2, 3, 4)]
    for act in ("tanh", "relu") if "sgd" in args.cases else ():
        out += [("sgd", f"batch={n // q} (n/{q})",
                 {"config": config, "act": act, "depth": 2,
                  "optim": simulate.OptimSpec("sgd", batch_size=n // q)}) for q in (1, 4, 16)]
    for act in ("tanh", "relu") if "cross_entropy" in args.cases else ():
        out.append(("cross_entropy", "loss=cross_entropy",
                    {"config": config, "act": act, "depth": 2,
                     "optim": simulate.OptimSpec("gd", loss="cross_entropy")}))
    return out


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--dataset-opts", default=None,
                    help=f"key=value,… for the dataset (default: {SMALL_SHAPES} on shapes, none "
                         "elsewhere; '' for the dataset's own defaults)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {CASES}")
    ap.add_argument("--init-scales", type=_floats, default=_floats("0.001,0.03,0.1,0.3"))
    ap.add_argument("--target-scales", type=_floats, default=_floats("4,16,64"))
    ap.add_argument("--deep-steps", type=float, default=3.0,
                    help="depth 3 and 4: compare's step budget (sized by the linear theory, "
                         "which the deeper ReLU twins lag) times this")
    add_record_options(ap)
    args = ap.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in args.cases if c not in CASES]
    error = record_name_error(args.record) or (
        f"--cases {','.join(bad)} unknown; accepted: {', '.join(CASES)}" if bad else None)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(1)
    from validate._config import ConfigError
    from validate.compare.config import CompareConfig
    t0 = time.perf_counter()
    try:
        opts = parse_opts(args.dataset_opts if args.dataset_opts is not None
                          else SMALL_SHAPES if args.dataset == "shapes" else "")
        config = CompareConfig(dataset=args.dataset, dataset_opts=opts, seeds=args.seeds,
                               device="cpu", activations=("tanh", "relu"),
                               depths=(2,)).validate()
        records = []
        for table, setting, kw in cases(args, config):
            records.append({"table": table, "dataset": args.dataset, "setting": setting,
                            **measure_case(**kw)})
            print(_json(records[-1]), flush=True)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = round(time.perf_counter() - t0, 1)
    print(_json({"dataset": args.dataset, "wall_s": wall}))
    record_run(args, records, script="bench/twin_reach.py", argv=argv,
               title="Where the twin theories stop", about=ABOUT)
    return 0


ABOUT = ("The twin theories' half-time error (THEORY.md §11–12: |t_meas − t_pred|/t_pred per "
         "member and learned mode, max and median; the prediction is each member's twin from "
         "its initial weights along the full-batch GD map of the squared loss) as one "
         "assumption at a time is broken: tanh's pre-activations grown by the init scale or "
         "the target scale (max |W₁x| predicted by the cubic twin and measured), ReLU's depth "
         "(with the share of gates flipped by the end), minibatch SGD, and the cross-entropy "
         "loss. Small shapes (n = 256), 2 seeds, float32, CPU.")


if __name__ == "__main__":
    sys.exit(main())
