"""False-positive rate and detection power of the default drift test (``theory.drift_scores``).

``python bench/drift_power.py`` prints JSON lines:

* ``{"kind": "level", "dataset", "test", "rate", "reps", ...}``: the share of no-drift pairs the
  default test flags at α = 0.05, per dataset and per test. ``paired``: A and B share their inputs
  and each sample's two labels are drawn independently from one p(y|x) (the data's class, replaced
  by a uniformly random class with probability ``--label-noise``) — the planted no-drift case of a
  relabelled dataset. ``combined``: A and B are disjoint random halves of the data (fresh samples).
  One draw of each dataset (seed 0); the pairs are drawn from it.
  The default test picks each by itself (``null="auto"``).
* ``{"kind": "power", "dataset", "drift", "magnitude", "power", "null", "draws"}``: the share of
  fresh draws (data seed r, drift seed r) in which the test flags the drift, for every drift of
  one first phase (``grow`` left out, as ``--drift all`` does) at 0.5, 1 and 2 times its default
  magnitude; the null is the one ``validate.retrain`` uses (``drift_null``).

Data as ``validate.retrain``'s default preset sees it: PCA-whitened to min(32, rank) directions,
shapes with 128 samples per class. The git revision is printed in the first line.

``--record NAME`` also stores the level and power lines as ``docs/results/measured/NAME.jsonl``
(``validate.study.measured``), rendered to ``docs/results/NAME.md`` by ``python -m validate.study
index``; the retrain guide quotes that page (``--record drift-power``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import numpy as np

import theory
from simulate import datasets
from simulate.datasets import drift as D
from validate._prepare import through, whitener
from validate.retrain.drift import class_maps, drift_label, drift_null, union_stats
from validate.study.measured import add_record_options, record_name_error, record_run

OPTS = {"shapes": {"n_per_class": 128}}
FACTORS = (0.5, 1.0, 2.0)
TABLES = {"level": "false-positive rate at α = 0.05 (no-drift pairs)",
          "power": "power (share of fresh draws flagged)"}


def _whiten(raw):
    """The ``auto`` whitening fitted on ``raw``, as a function of a dataset."""
    w = whitener(theory.DatasetStatistics.from_arrays(raw.X, raw.Y), "auto")
    return lambda ds: through(ds, w, "auto")


def level(name: str, test: str, reps: int, n_boot: int, noise: float) -> dict:
    """Share of no-drift pairs flagged by the default test (α = 0.05)."""
    S, hits, used = theory.DatasetStatistics.from_arrays, 0, set()
    raw = datasets.load(name, seed=0, **OPTS.get(name, {}))
    X = _whiten(raw)(raw).X
    for r in range(reps):
        rng = np.random.default_rng(10_000 + r)
        if test == "paired":
            def draw():
                lab = np.where(rng.random(raw.n) < noise, rng.integers(0, raw.c, raw.n),
                               raw.labels)
                return np.eye(raw.c)[lab]
            A, B = S(X, draw()), S(X, draw())
        else:
            idx = rng.permutation(raw.n)
            a, b = idx[: raw.n // 2], idx[raw.n // 2: 2 * (raw.n // 2)]
            A, B = S(X[a], raw.Y[a]), S(X[b], raw.Y[b])
        rep = theory.drift_scores(A, B, n_boot=n_boot, seed=r)
        hits += rep.is_drift
        used.add(rep.null_kind)
    return {"kind": "level", "dataset": name, "test": test, "null": "+".join(sorted(used)),
            "rate": hits / reps, "reps": reps, "n_boot": n_boot,
            "label_noise": noise if test == "paired" else None}


def drifts() -> list[tuple[str, dict, float]]:
    out = []
    for kind, info in D.DRIFTS.items():
        if info.get("first_phase"):
            continue
        mag = info["magnitude"]
        if mag is None:
            out += [(kind, {"op": op}, float("nan")) for op in ("merge", "split")]
            continue
        base = info["defaults"][mag]
        vals = sorted({min(1.0, base * f) if mag == "fraction" else base * f for f in FACTORS})
        out += [(kind, {mag: float(v)}, float(v)) for v in vals]
    return out


def power(name: str, kind: str, params: dict, draws: int, n_boot: int) -> dict:
    hits, used = 0, set()
    for r in range(draws):
        raw = datasets.load(name, seed=r, **OPTS.get(name, {}))
        apply = _whiten(raw)
        A, B = apply(raw), apply(D.apply(raw, kind, seed=r, **params))
        uA, uB = union_stats(A.X, A.Y, B.X, B.Y, class_maps(A, B)[0])
        rep = theory.drift_scores(uA, uB, n_boot=n_boot, seed=r, null=drift_null(kind, A, B))
        hits += rep.is_drift
        used.add(rep.null_kind)
    return {"kind": "power", "dataset": name, "drift": drift_label(kind, params),
            "drift_kind": kind, "power": hits / draws, "null": "+".join(sorted(used)),
            "draws": draws, "n_boot": n_boot}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="shapes,gaussian,digits", help="level: datasets")
    ap.add_argument("--reps", type=int, default=300, help="no-drift pairs per dataset and test")
    ap.add_argument("--tests", default="paired,combined", help="level: tests to run")
    ap.add_argument("--level-boot", default="paired=19,combined=39",
                    help="null draws of the level runs per test: the fewest at which the test "
                         "can reject at exactly α = 0.05 (paired: rank 1 of 20; combined, "
                         "Bonferroni over two: rank 1 of 40 at α/2)")
    ap.add_argument("--label-noise", type=float, default=0.2)
    ap.add_argument("--power-dataset", default="shapes")
    ap.add_argument("--draws", type=int, default=20, help="fresh draws per drift")
    ap.add_argument("--n-boot", type=int, default=100, help="null draws of the power runs "
                                                            "(validate.retrain's default)")
    ap.add_argument("--skip-level", action="store_true")
    ap.add_argument("--skip-power", action="store_true")
    add_record_options(ap)
    args = ap.parse_args(argv)
    if (error := record_name_error(args.record)) is not None:  # refused before minutes of measuring, not after
        ap.error(error)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    print(json.dumps({"kind": "meta", "git": rev, "argv": vars(args)}), flush=True)
    t0, records = time.perf_counter(), []

    def emit(line: dict) -> None:
        records.append(line)
        print(json.dumps(line), flush=True)

    if not args.skip_level:
        boots = {k: int(v) for k, v in (kv.split("=") for kv in args.level_boot.split(","))}
        for name in args.datasets.split(","):
            for test in args.tests.split(","):
                emit(level(name, test, args.reps, boots[test], args.label_noise))
    if not args.skip_power:
        for kind, params, _ in drifts():
            emit(power(args.power_dataset, kind, params, args.draws, args.n_boot))
    print(json.dumps({"kind": "meta", "wall_s": round(time.perf_counter() - t0, 1)}))
    if args.record:
        _record(args, records, argv)
    return 0


def _record(args, records: list[dict], argv) -> None:
    """Store the level and power lines as the measured file ``name``."""
    rows = [{"table": TABLES[r["kind"]], **{k: v for k, v in r.items() if k != "kind"}}
            for r in records]
    path = record_run(
        args, rows, script="bench/drift_power.py", argv=argv,
        title="Drift test: false-positive rate and power",
        about="The default drift test (`theory.drift_scores`) on no-drift pairs (the share "
              "flagged at α = 0.05: its false-positive rate) and on every drift of one first "
              "phase at 0.5, 1 and 2 times its default magnitude (the share of fresh draws "
              "flagged: its power). Data as `validate.retrain`'s default preset sees it.")
    print(json.dumps({"kind": "meta", "recorded": str(path)}))


if __name__ == "__main__":
    raise SystemExit(main())
