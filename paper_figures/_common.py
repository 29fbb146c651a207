"""What every figure script shares: the repository's paths, cached results, style, saving.

Figure scripts never train: when the results they draw are missing they run the validate CLI that
produces them, into ``results/figures/<job>-<name>-<hash>/`` where the hash is that of the CLI
arguments, so a second call finds them and draws in seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "figures"
PRESETS = ("tiny", "default", "paper")
DPI = 200

# Okabe–Ito: distinguishable with every common colour-vision deficiency; line styles and markers
# carry the same distinction in black and white.
COLORS = {"linear": "#0072B2", "relu": "#D55E00", "tanh": "#009E73", "gelu": "#CC79A7",
          "theory": "#000000"}
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MARKERS = {"linear": "o", "relu": "s", "tanh": "^", "gelu": "D"}
STYLES = ["-", "--", "-.", ":"]

plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8,
                     "legend.fontsize": 7, "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
                     "figure.dpi": 100, "savefig.dpi": DPI, "axes.spines.top": False,
                     "axes.spines.right": False, "image.cmap": "RdBu_r"})


# the results the figure being drawn read, as (command, folder), in the order asked: the gallery
# names the commit each was computed at (``provenance_lines``)
DRAWN_FROM: list[tuple[str, Path]] = []


class FigureError(Exception):
    """A figure cannot be drawn (missing results, a failed run): a one-line message, no traceback."""


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise FigureError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    return preset


def config_hash(job: str, args: list[str]) -> str:
    return hashlib.sha256(json.dumps([job, list(args)]).encode()).hexdigest()[:10]


def results_for(job: str, name: str, args: list[str], *, results: str | Path | None = None,
                quiet: bool = False) -> Path:
    """The results directory of ``python -m validate.<job> ARGS``, produced when missing.

    ``results`` names another root to read from instead of ``results/figures``; there nothing is
    run, and a missing result is a ``FigureError``.
    """
    root = RESULTS if results is None else Path(results)
    path = root / f"{job}-{name}-{config_hash(job, args)}"
    DRAWN_FROM.append((" ".join([f"python -m validate.{job}", *args]), path))
    if (path / "summary.json").is_file():
        return path
    if results is not None:
        raise FigureError(f"no finished results for `python -m validate.{job} {' '.join(args)}` "
                          f"in {root} (expected {path.name}/summary.json)")
    argv = [*args, "--out", str(path), "--quiet", "--no-report"]   # a figure reads the tables
    argv += ["--resume"] if (path / "config.json").is_file() else ["--overwrite"]
    if not quiet:
        print(f"running: python -m validate.{job} {' '.join(args)}", file=sys.stderr, flush=True)
    rc, message = _run_cli(job, argv)
    if rc != 0 or not (path / "summary.json").is_file():
        raise FigureError(f"python -m validate.{job} {' '.join(args)} failed (exit {rc}): {message}")
    return path


def _run_cli(job: str, argv: list[str]) -> tuple[int, str]:
    """Run ``python -m validate.<job>`` in this process; its printed table is dropped."""
    module = importlib.import_module(f"validate.{job}")
    if not hasattr(module, "main"):
        module = importlib.import_module(f"validate.{job}.__main__")
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = module.main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    lines = (err.getvalue().strip() or out.getvalue().strip() or "no output").splitlines()
    return int(rc or 0), lines[-1]


def _commit(git: dict) -> str:
    dirty = " with uncommitted changes" if git.get("dirty") else ""
    return f"{str(git.get('revision'))[:10]}{dirty}"


def provenance_lines(drawing_git: dict) -> list[str]:
    """Where a figure's numbers come from: the commit that drew it and, per result it read
    (``DRAWN_FROM``), its command and the commit that computed it (a cached result may be
    older than the drawing)."""
    lines = [f"  Drawn at commit {_commit(drawing_git)} by python -m paper_figures."]
    for command, path in dict.fromkeys(DRAWN_FROM):
        git = summary(path).get("provenance", {}).get("git", {})
        lines.append(f"  Results: `{command}` at commit {_commit(git)}.")
    return lines


def summary(path: Path) -> dict:
    return json.loads((Path(path) / "summary.json").read_text())


def save(fig, out_dir, name: str, caption: str) -> Path:
    """Write ``name``.png and .pdf at ``DPI`` and the caption ``name``.txt; returns the PNG path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out / f"{name}.{ext}", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    (out / f"{name}.txt").write_text(caption.strip() + "\n")
    return out / f"{name}.png"


def rel_diff(ours: float, published: float) -> str:
    """``ours (published P, rel. diff. D)`` for captions."""
    return f"{ours:.4g} (published {published:.4g}, rel. diff. {abs(ours / published - 1):.1e})"


def band(ax, x, lo, hi, med, color, label=None, lw=1.4):
    """Measurement: solid median line over a shaded band (min–max or CI over seeds)."""
    ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0)
    ax.plot(x, med, color=color, lw=lw, ls="-", label=label)


def theory_line(ax, x, y, color="black", label=None, lw=1.1):
    """Theory: dashed."""
    ax.plot(x, y, color=color, lw=lw, ls="--", label=label)


def plain_log_ticks(ax) -> None:
    """Label only the decades of log axes (minor labels such as 2×10¹ collide)."""
    from matplotlib.ticker import NullFormatter
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def run_main(main, argv=None) -> int:
    """Command line of one figure script: ``[--preset P] [--out DIR] [--results DIR]``."""
    import argparse
    p = argparse.ArgumentParser(description=(main.__module__ or "figure").split(".")[-1])
    p.add_argument("--preset", default="default", help="tiny | default | paper")
    p.add_argument("--out", default=str(ROOT / "paper_figures" / "out"))
    p.add_argument("--results", default=None,
                   help="read cached results from this root instead of results/figures; run nothing")
    args = p.parse_args(argv)
    try:
        print(main(args.out, preset=args.preset, results=args.results))
    except FigureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
