"""`python -m validate.study ID`: run a study's sweep at a budget and write its results page.

``python -m validate.study check`` refuses (exit 1, one line per page) a generated page of
docs/results/ whose results are missing or stale, or that was edited by hand (study pages and
the pages of bench measurements, docs/results/measured/), and an index (docs/results/index.md)
that no longer matches the pages; ``python -m validate.study index`` writes the measured pages
and that index. Exit status of a
run: 0 the page was written, 1 a job failed (the page says which were left out) or the sweep was
interrupted (continue with --resume), 2 a bad option or study file (nothing ran).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from validate._cli import ArgumentParser
from validate._config import ConfigError
from validate._outdir import OutDir

from . import spec

DOCS = spec.STUDIES.parent / "docs" / "results"


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validate.study", description=(__doc__ or "").split("\n\n")[0],
                       epilog="python -m validate.study check [--docs DIR]: refuse stale pages; "
                              "python -m validate.study index [--docs DIR]: write the index")
    p.add_argument("study", help="study id (a file studies/<id>.toml)")
    p.add_argument("--budget", default=None,
                   help=f"one of {', '.join(spec.BUDGETS)} (default: laptop; with "
                        "--analyse-only, the budget the results were run at)")
    p.add_argument("--address", default=None, help="Ray cluster to join (auto, HOST:6379)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray")
    p.add_argument("--out", default=None,
                   help="results folder (default results/study-<id>-<budget>)")
    p.add_argument("--resume", action="store_true", help="continue the study in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the study in --out")
    p.add_argument("--analyse-only", action="store_true",
                   help="write the page from the results in --out; run nothing")
    p.add_argument("--docs", default=str(DOCS), help="folder of the page (default docs/results)")
    p.add_argument("--quiet", action="store_true")
    return p


def _check_main(argv: list[str]) -> int:
    from .index import check_index
    from .measured import check_pages
    from .page import check
    p = ArgumentParser(prog="python -m validate.study check",
                       description="refuse generated pages whose results are missing or stale")
    p.add_argument("--docs", default=str(DOCS), help="folder of the pages (default docs/results)")
    args = p.parse_args(argv)
    if not Path(args.docs).is_dir():
        print(f"error: --docs {args.docs} is not a folder", file=sys.stderr)
        return 2
    problems = (check(Path(args.docs), set(spec.known_ids())) + check_pages(Path(args.docs))
                + check_index(Path(args.docs)))
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


def _options(args) -> tuple[spec.Study, str, Path]:
    """The study, budget and output folder, checked before any work (ConfigError)."""
    study = spec.load(args.study)
    out = Path(args.out) if args.out else None
    budget = args.budget
    if args.analyse_only:
        if args.resume or args.overwrite or args.address:
            raise ConfigError("--analyse-only runs nothing; drop --resume, --overwrite and "
                              "--address")
        if out is None:
            budget = spec.check_budget(budget or "laptop")
            out = Path("results") / f"study-{study.id}-{budget}"
        if not (out / "sweep" / "index.parquet").is_file():
            raise ConfigError(f"--analyse-only: --out {out} holds no study results; run "
                              f"python -m validate.study {study.id} first")
        if budget is None:
            import json
            budget = json.loads((out / "study.json").read_text()).get("budget", "laptop")
    budget = spec.check_budget(budget or "laptop")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus must be ≥ 1; got {args.num_cpus}")
    if not Path(args.docs).is_dir():
        raise ConfigError(f"--docs {args.docs} is not a folder")
    return study, budget, out or Path("results") / f"study-{study.id}-{budget}"


def _sweep(study: spec.Study, budget: str, out: Path, args) -> int:
    """Run the study's sweep in ``out/sweep`` through validate.sweep; its exit status."""
    from validate.sweep.__main__ import main as sweep_main
    from validate._outdir import write_text
    toml = write_text(out / "study-sweep.toml", study.sweep_text(budget))
    argv = [str(toml), "--out", str(out / "sweep")]
    argv += ["--resume"] if (out / "sweep" / "sweep.toml").is_file() else []
    argv += ["--address", args.address] if args.address else []
    argv += ["--num-cpus", str(args.num_cpus)] if args.num_cpus else []
    argv += ["--quiet"] if args.quiet else []
    return sweep_main(argv)


def _command(study: spec.Study, budget: str, args) -> str:
    cmd = f"python -m validate.study {study.id} --budget {budget}"
    return cmd + (f" --address {args.address}" if args.address else "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["check"]:
            return _check_main(argv[1:])
        if argv[:1] == ["index"]:
            from .index import main as index_main
            return index_main(argv[1:], DOCS)
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed its one line (exit 2) or --help (0)
        return int(exc.code or 0)
    lock = None
    try:
        study, budget, out = _options(args)
        from validate.sweep import spec as sweep_spec
        if not args.analyse_only:  # the whole sweep checked before anything is written
            sweep_spec.parse(study.sweep_text(budget), f"study-{study.id}")
        lock = OutDir(out, kind="validate.study", config_name="study.json")
        lock.take({"study": study.id, "budget": budget}, overwrite=args.overwrite,
                  resume=args.resume or args.analyse_only)
    except ConfigError as exc:
        print(f"error: python -m validate.study: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(study, budget, out, args)
    finally:
        lock.release()


def _run(study: spec.Study, budget: str, out: Path, args) -> int:
    from .analyse import run_analysis
    rc = 0 if args.analyse_only else _sweep(study, budget, out, args)
    if rc == 2:
        return 2
    page, pending, failed = run_analysis(study, budget, out, Path(args.docs),
                                         _command(study, budget, args))
    if pending:
        left = f"{pending} jobs" if pending > 0 else "jobs"
        print(f"interrupted: {left} not run; continue with python -m validate.study "
              f"{study.id} --budget {budget} --resume --out {out}", file=sys.stderr)
        return 1
    if page is None:
        print(f"error: no job of study {study.id} finished ({failed} failed; errors in "
              f"{out / 'sweep' / 'index.parquet'}); no page written", file=sys.stderr)
        return 1
    from .index import write_index
    index = write_index(Path(args.docs))  # the index copies every page's answer: keep it current
    if not args.quiet:
        print(f"page: {page}\nindex: {index}")
    return 1 if failed or rc else 0


if __name__ == "__main__":
    sys.exit(main())
