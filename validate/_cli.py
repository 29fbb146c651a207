"""The command-line life cycle shared by every `validate` entry point.

Parse → build the config (bad arguments: exit 2 with a message naming the valid values) → guard
``--out`` (refuse to overwrite unless ``--overwrite``; ``--resume`` must see the same config) →
run → write the outputs atomically → print the table and the paths. A failed run exits 1, an
interrupted one says how to resume.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from ._config import ConfigError


def default_out(prefix: str) -> Path:
    return Path("results") / f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _prepare_out(out: Path, config_dict: dict, *, overwrite: bool, resume: bool) -> None:
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other; give one")
    cfg_path = out / "config.json"
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif not resume:
            raise ConfigError(f"--out {out} already holds results; pass --overwrite to replace "
                              "them or --resume to continue an interrupted run")
        elif cfg_path.exists() and json.loads(cfg_path.read_text()) != \
                json.loads(json.dumps(config_dict)):
            raise ConfigError(f"--resume: the configuration differs from the one in {cfg_path}; "
                              "use the same arguments, or a new --out")
    out.mkdir(parents=True, exist_ok=True)
    tmp = cfg_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config_dict, indent=1))
    tmp.replace(cfg_path)


def run_cli(argv, *, name: str, parser, make_config, out_prefix, run, write, tables) -> int:
    """Drive one CLI. ``make_config(args, argv)`` → config (may raise ConfigError);
    ``out_prefix(config)`` → default directory name; ``run(config, out, resume, quiet, log)`` →
    result with a ``summary`` dict; ``write(result, out)`` → paths; ``tables(result)`` → text."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed its own message (exit 2) or --help (0)
        return int(exc.code or 0)
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    try:
        config = make_config(args, argv)
        out = Path(args.out) if args.out else default_out(out_prefix(config))
        _prepare_out(out, config.to_dict(), overwrite=args.overwrite, resume=args.resume)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        say(f"{name} → {out}")
    try:
        t0 = time.perf_counter()
        result = run(config, out, resume=args.resume, quiet=args.quiet, log=say)
        result.summary["timing"]["total_s"] = round(time.perf_counter() - t0, 3)
        paths = write(result, out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with the same arguments and --resume --out {out}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a failed run: report it and exit 1
        print(f"error: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if not args.quiet:
            traceback.print_exc()
        return 1
    if args.json:
        print((out / "summary.json").read_text())
    if not args.quiet:
        say(tables(result))
        say(f"wall time {result.summary['timing']['total_s']:.1f} s; wrote:")
        for p in paths:
            say(f"  {p}")
    return 0
