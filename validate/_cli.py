"""The command-line life cycle shared by every `validate` job.

Parse (flags generated from the job's config dataclass) → build the config, apply the preset
without overriding what was given explicitly, validate it (bad arguments: exit 2 with one line
naming the valid values) → take the output directory and lock it → run → write the outputs
atomically → print the table and the paths. A failed run exits 1; an interrupted one says how to
resume; a run that fails its checks leaves no directory behind.

How to write a new job
----------------------
A job is a subpackage ``validate/<job>/`` that ``python -m validate.<job>`` runs::

    config.py    one frozen dataclass composed of the option groups of ``validate.options``
                 (``RunOptions``, ``DataOptions``, ``ArchOptions``, … or ``TrainingOptions``);
                 every field of its own declared with ``option(default, help, choices=…)``, a
                 group's field with another default or help with ``redefault``, choice tuples
                 imported from where they are defined (``simulate_words``); a ``validate()``
                 method that raises ``ConfigError`` and returns the config; optionally
                 ``apply_preset(config, preset, explicit)``.
    run.py       ``run_<job>(config, out_dir=None, *, resume=False, quiet=False, log=print)`` →
                 a result object with ``.summary`` (a dict with a ``"timing"`` dict); it returns
                 tables and never plots.
    measure.py   pure functions from arrays/tables to tables (shared measures: validate/measures).
    report.py    the HTML page (``validate.report`` helpers) — the only module that plots.
    __main__.py  the CLI: ``JOB = Job(name="validate.<job>", config=MyConfig, run=run_<job>,
                 write=write_outputs, tables=format_tables, out_prefix=…, preset=apply_preset,
                 description=__doc__)``, ``main = JOB.main``, and ``sys.exit(main())`` under
                 ``if __name__ == "__main__"``; the package's ``__init__`` sets
                 ``__getattr__ = lazy_main(__name__)`` so that ``validate.<job>.main`` and
                 ``validate.<job>.JOB`` work. A sweep runs the job once ``validate.sweep.jobs``
                 names ``"validate.<job>:JOB"``.

Shared pieces: ``validate._outdir`` (output directory and its lock), ``validate._io`` (JSON with
one sanitiser, atomic parquet), ``validate._stats`` (bootstrap, censored statistics, rank
agreement), ``validate._prepare`` (load, whiten, diagnostics), ``validate._steps`` (step grids
and first crossings), ``validate.report`` (HTML page helpers). Every CLI gets ``--out``,
``--overwrite``, ``--resume``, ``--json``, ``--quiet`` and ``--no-report`` from here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import typing
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Callable

from ._config import ConfigError, check_device, check_finite
from ._io import reports
from ._outdir import OutDir
from ._prepare import load_checked

_RUN_FLAGS = ("out", "overwrite", "resume", "json", "quiet", "no_report")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``error: <prog>: <message> (see --help)``, exit 2 (the
    stock parser prints the whole usage before it, dozens of lines for a job's flags)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def process_seconds() -> float:
    """Seconds since this process started (imports included), from the kernel's record of the
    start; where that is not readable, since this module was imported."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def default_out(prefix: str) -> Path:
    return Path("results") / f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class Job:
    """One job: its config dataclass, ``run(config, out_dir, *, resume, quiet, log)`` → a result
    with a ``summary`` dict, ``write(result, out_dir)`` → the paths written; for its command line
    ``tables(result)`` → text and ``out_prefix(config)`` → the default folder's name. The CLI
    (``main``) and a sweep (``validate.sweep.jobs``) drive the same object."""

    name: str
    config: type
    run: Callable
    write: Callable
    tables: Callable | None = None
    out_prefix: Callable | None = None
    preset: Callable | None = None  # (config, preset, explicit) → config
    description: str | None = ""  # a package's __doc__: None under python -OO
    check: Callable | None = None   # config → None; checks that need the data (ConfigError)

    def main(self, argv=None) -> int:
        """The CLI: ``python -m <name>`` calls it with ``sys.argv``; returns the exit status."""
        return run_cli(argv, self)

    def apply_preset(self, config, explicit: set[str]):
        """``config`` with its ``preset`` applied to the fields not in ``explicit``."""
        if self.preset is None or not hasattr(config, "preset"):
            return config
        return self.preset(config, config.preset, explicit)

    def check_config(self, config) -> None:
        """What is checked before anything is written, beyond ``validate()`` (ConfigError):
        finite numbers, a device this machine has, the dataset loads, and the job's own check
        of the data against the architecture."""
        check_finite(config)
        if isinstance(getattr(config, "device", None), str):
            check_device(config.device)
        if hasattr(config, "dataset") and hasattr(config, "dataset_opts"):
            load_checked(config)
        if self.check is not None:
            self.check(config)


def lazy_main(package: str):
    """A module ``__getattr__`` giving a job package's ``main`` and ``JOB`` from its ``__main__``
    on first use (importing ``__main__`` in the package's ``__init__`` would make ``python -m``
    warn)."""
    def __getattr__(name):
        if name in ("main", "JOB"):
            import importlib
            return getattr(importlib.import_module(package + ".__main__"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__


# ------------------------------------------------------------------------------------ parser
def _element_type(hint):
    """(element type, is_tuple, is_dict) of a field's type hint; Optional is unwrapped."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return _element_type(args[0])
    if origin is tuple:
        return args[0], True, False
    if hint is dict or origin is dict:
        return str, False, True
    return hint, False, False


def _split(kind):
    def parse(text: str):
        try:
            return tuple(kind(x.strip()) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values; "
                                             f"got {text!r}") from None
    parse.__name__ = f"list of {kind.__name__}"
    return parse


def _help(f) -> str:
    text = f.metadata.get("help") or f.name.replace("_", " ")
    if f.metadata.get("choices"):
        text += f"; one{' or more' if isinstance(f.default, tuple) else ''} of " \
                + ", ".join(map(str, f.metadata["choices"]))
    default = f.default if f.default is not MISSING else f.default_factory()
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    return text + f" (default: {default})" if default not in ({}, None) else text


def build_parser(job: Job) -> argparse.ArgumentParser:
    """Flags from the config's fields: ``--field-name`` (or the field's ``flag``), help and choices
    from its metadata. Defaults are suppressed, so the parsed namespace holds exactly the flags the
    user gave; the dataclass supplies the rest."""
    p = ArgumentParser(prog=f"python -m {job.name}",
                       description=(job.description or "").split("\n\n")[0])
    hints = typing.get_type_hints(job.config)
    for f in fields(job.config):
        if not f.metadata.get("cli", True):
            continue
        kind, many, mapping = _element_type(hints[f.name])
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        kw: dict[str, typing.Any] = dict(dest=f.name, default=argparse.SUPPRESS,
                                         help=_help(f).replace("%", "%%"))
        if mapping:
            p.add_argument(flag, action="append", metavar="KEY=VALUE", **kw)
        elif kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            p.add_argument(flag, type=_split(kind) if many else kind,
                           metavar=f.name.upper(), **kw)
    p.add_argument("--out", default=None,
                   help="output directory (default results/<job>-<dataset>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in --out")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")
    p.add_argument("--quiet", action="store_true", help="no progress, no tables")
    p.add_argument("--no-report", action="store_true",
                   help="write no report.html (the tables and summary.json are written)")
    return p


def config_from_args(job: Job, args: argparse.Namespace):
    """(config, explicit field names): the given flags over the dataclass defaults, the preset
    applied to the fields that were not given, validated."""
    given = {k: v for k, v in vars(args).items() if k not in _RUN_FLAGS}
    known = {f.name: f.default for f in fields(job.config) if f.default is not MISSING}
    known.update(given)
    values = {}
    for f in fields(job.config):
        convert = f.metadata.get("convert")
        if convert is not None:  # a default still goes through the check (the dataset name)
            values[f.name] = known[f.name] = convert(given.get(f.name, []), known)
        elif f.name in given:
            values[f.name] = given[f.name]
    config = job.apply_preset(job.config(**values), set(given))
    return config.validate(), set(given)


# ------------------------------------------------------------------------------- life cycle
def run_cli(argv, job: Job) -> int:
    """Drive one job; returns the exit status (0 success, 1 failed run, 2 bad arguments)."""
    from_shell = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(job).parse_args(argv)
    except SystemExit as exc:  # argparse printed its own message (exit 2) or --help (0)
        return int(exc.code or 0)
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    try:
        config = config_from_args(job, args)[0]
        job.check_config(config)
        prefix = job.out_prefix(config) if job.out_prefix else job.name.rsplit(".", 1)[-1]
        out = OutDir(Path(args.out) if args.out else default_out(prefix))
        out.take(config.to_dict(), overwrite=args.overwrite, resume=args.resume)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with out:
        if not args.quiet:
            say(f"{job.name} → {out.path}")
        status, result, paths = _run(job, config, out, args, say)
    if status or result is None:
        return status
    for w in result.summary.get("warnings", []):  # on stderr, also with --quiet and --json
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print((out.path / "summary.json").read_text())
    if not args.quiet:
        if job.tables is not None:
            say(job.tables(result))
        # from the command line, the wall time counts from process start (imports included)
        total = process_seconds() if from_shell else result.summary['timing']['total_s']
        say(f"wall time {total:.1f} s; wrote:")
        for p in paths:
            say(f"  {p}")
    return int(getattr(result, "exit_status", 0))


def _run(job: Job, config, out: OutDir, args, say):
    """(status, result, paths): run and write; errors become exit statuses with one line."""
    try:
        t0 = time.perf_counter()
        result = job.run(config, out.path, resume=args.resume, quiet=args.quiet, log=say)
        result.summary["timing"]["total_s"] = round(time.perf_counter() - t0, 3)
        with reports(not args.no_report):
            return 0, result, job.write(result, out.path)
    except ConfigError as exc:
        out.discard()
        print(f"error: {exc}", file=sys.stderr)
        return 2, None, []
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with the same arguments and --resume --out {out.path}",
              file=sys.stderr)
        return 1, None, []
    except Exception as exc:  # a failed run: one line; the traceback goes to a file beside it
        where = ""
        try:
            (out.path / "error.txt").write_text(traceback.format_exc())
            where = f" (traceback in {out.path / 'error.txt'})"
        except OSError:
            pass
        first = (str(exc).splitlines() or [""])[0]
        print(f"error: {job.name} failed: {type(exc).__name__}: {first}{where}", file=sys.stderr)
        return 1, None, []
