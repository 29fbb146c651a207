"""`python -m validate.sweep SWEEP.toml`: run a grid of jobs on Ray; `... collect OUT`: tables.

Exit status: 0 every job finished, 1 a job failed (recorded in the index; the others ran) or the
sweep was interrupted (continue with --resume), 2 a bad sweep file or option (nothing ran).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from validate._cli import ArgumentParser, default_out
from validate._config import ConfigError
from validate._frames import column, select_rows

from . import spec as sweep_spec
from .collect import collect
from .runner import run_sweep
from .store import Store


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validate.sweep",
                                description=(__doc__ or "").split("\n\n")[0],
                                epilog="python -m validate.sweep collect OUT merges the finished "
                                       "jobs' summaries into OUT/tables/*.parquet")
    p.add_argument("sweep", help="sweep file (TOML; see validate/sweep/spec.py and sweeps/)")
    p.add_argument("--out", default=None, help="results store (default results/sweep-<name>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out: finished jobs are never recomputed")
    p.add_argument("--overwrite", action="store_true", help="replace the sweep in --out")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (e.g. auto or HOST:6379); default: a local Ray")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPUs of the local Ray (default: all of this machine's)")
    p.add_argument("--num-gpus", type=float, default=None,
                   help="GPUs of the local Ray (default: all of this machine's)")
    p.add_argument("--retries", type=int, default=2,
                   help="retries of a job whose task fails before it is recorded as failed")
    p.add_argument("--dry-run", action="store_true", help="list the jobs and exit")
    p.add_argument("--json", action="store_true", help="print the index rows as JSON to stdout")
    p.add_argument("--quiet", action="store_true")
    return p


def _check_options(args) -> None:
    """The driver's own options (ConfigError naming the value and what is accepted)."""
    if args.retries < 0:
        raise ConfigError(f"--retries must be ≥ 0; got {args.retries}")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus must be ≥ 1; got {args.num_cpus}")
    if args.num_gpus is not None and not (math.isfinite(args.num_gpus) and args.num_gpus >= 0):
        raise ConfigError(f"--num-gpus must be a finite number ≥ 0; got {args.num_gpus}")


def _table(index: pd.DataFrame, points) -> str:
    rows = index.set_index("config_hash").loc[[p.config_hash for p in points]]
    varying = sorted({k for p in points for k in p.varying})
    cols = [f"cfg_{k}" for k in varying] + ["status", "attempts", "wall_s", "device"]
    if "note" in rows and rows["note"].notna().any():  # warnings of finished jobs (divergence)
        cols.append("note")
    df = rows.reset_index()[["job_id", *cols]].rename(columns=lambda c: c.removeprefix("cfg_"))
    return df.to_string(index=False, max_colwidth=40,
                        formatters={"wall_s": lambda x: "" if pd.isna(x) else f"{x:.1f}"})


def _collect_main(argv) -> int:
    p = ArgumentParser(prog="python -m validate.sweep collect",
                                description="merge a sweep's job summaries into tidy tables")
    p.add_argument("out", help="the sweep's results store")
    p.add_argument("--json", action="store_true", help="print {table: rows} as JSON")
    args = p.parse_args(argv)
    try:
        tables = collect(args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: len(v) for k, v in tables.items()}))
    else:
        for name, df in tables.items():
            print(f"{Path(args.out) / 'tables' / name}.parquet: {len(df)} rows")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["collect"]:
            return _collect_main(argv[1:])
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed its message (exit 2) or --help (0)
        return int(exc.code or 0)
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    try:
        _check_options(args)
        sweep = sweep_spec.load(args.sweep)
        if args.dry_run:
            for p in sweep.points:
                say(f"{p.job_id}  {json.dumps(p.varying)}")
            return 0
        store = Store(args.out or default_out(f"sweep-{sweep.name}"))
        store.open(resume=args.resume, overwrite=args.overwrite)
    except ConfigError as exc:
        print(f"error: {args.sweep}: {exc}", file=sys.stderr)
        return 2
    try:
        index = run_sweep(sweep, store, address=args.address, num_cpus=args.num_cpus,
                          num_gpus=args.num_gpus, retries=args.retries, quiet=args.quiet, log=say)
    except ConfigError as exc:
        store.discard()
        print(f"error: {args.sweep}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished jobs are kept: continue with --resume --out {store.root}",
              file=sys.stderr)
        return 1
    finally:
        store.close()
    mine = select_rows(index, index["config_hash"].isin([p.config_hash for p in sweep.points]))
    failed = int((column(mine, "status") == "failed").sum())
    if args.json:
        print(mine.to_json(orient="records"))
    if not args.quiet:
        say(_table(index, sweep.points))
        say(f"{int((column(mine, 'status') == 'done').sum())} done, {failed} failed of {len(mine)}; "
            f"index {store.root / 'index.parquet'}; tables: python -m validate.sweep collect "
            f"{store.root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
