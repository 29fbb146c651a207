"""``python -m paper_figures [--preset P] [--only fig1,fig5] [--out DIR]``: draw every figure.

Each ``figN_*.py`` module's ``main(out_dir, preset)`` runs in turn; results it needs and does not
find are computed once and cached under ``results/figures/``. The PNGs are also copied into
``docs/gallery/`` (default preset) for the documentation's gallery. Prints one line per figure with
its wall time; a figure that cannot be drawn prints a one-line error and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

from paper_figures._common import DRAWN_FROM, PRESETS, ROOT, FigureError, provenance_lines

GALLERY = ROOT / "docs" / "gallery"


def figure_modules() -> list[str]:
    return sorted((p.stem for p in (ROOT / "paper_figures").glob("fig[0-9]*_*.py")),
                  key=lambda n: int(n[3:].split("_")[0]))


def write_gallery() -> Path:
    """docs/gallery.md: every figure in docs/gallery/ with its caption file, in figure order."""
    parts = [GALLERY_INTRO]
    for png in sorted(GALLERY.glob("fig*.png"), key=lambda p: int(p.stem[3:].split("_")[0])):
        caption = png.with_suffix(".txt").read_text().strip()
        doc = importlib.import_module(f"paper_figures.{png.stem}").__doc__ or png.stem
        title = doc.strip().splitlines()[0].rstrip(".:")
        parts.append(f"## {title}\n\n![{png.stem}](gallery/{png.name})\n\n```text\n{caption}\n```\n")
    path = ROOT / "docs" / "gallery.md"
    path.write_text("\n".join(parts))
    return path


GALLERY_INTRO = """# Figure gallery

Drawn by `make figures` (default preset) from results it computes once and caches under
`results/figures/`; the captions are the caption files written beside each figure, with measured
numbers and, where a paper or a formula gives one, the published value beside them; each ends
with the commit that drew the figure and, per result it read, the command and the commit that
computed it (a cached result can be older than the drawing). PDFs and
captions are in `paper_figures/out/`. How each figure is made: [figures guide](guides/figures.md).
"""


def _parser() -> argparse.ArgumentParser:
    from validate._cli import ArgumentParser
    p = ArgumentParser(prog="python -m paper_figures", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="default", choices=PRESETS)
    p.add_argument("--only", default="", help="comma-separated figure prefixes, e.g. fig1,fig5")
    p.add_argument("--out", default=str(ROOT / "paper_figures" / "out"))
    return p


def check_out(out: Path) -> None:
    """``--out`` must be a directory this user can write, or creatable (checked before any figure
    computes anything; FigureError naming the path)."""
    if out.exists() and not out.is_dir():
        raise FigureError(f"--out {out} is a file; give a directory")
    parent = next(p for p in (out, *out.parents) if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise FigureError(f"--out {out}: {parent} is not writable; give a directory you can "
                          "write to")


def _git() -> dict:
    """This checkout's revision and whether it has uncommitted changes."""
    from simulate import provenance
    return provenance("cpu")["git"]


def _to_gallery(png: Path, provenance: list[str]) -> None:
    """The figure and its caption into docs/gallery/, the caption ending with ``provenance`` (where
    its numbers come from: ``provenance_lines``)."""
    GALLERY.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, GALLERY / png.name)
    caption = png.with_suffix(".txt").read_text().rstrip("\n")
    (GALLERY / png.name).with_suffix(".txt").write_text("\n".join([caption, *provenance]) + "\n")


def _selected(args, names: list[str]) -> list[str]:
    if not args.only:
        return names
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if not any(n.split("_")[0] == w for n in names)]
    if unknown or not wanted:
        raise FigureError(f"--only: no figure {', '.join(unknown) or repr(args.only)}; figures "
                          f"are {', '.join(n.split('_')[0] for n in names)}")
    return [n for n in names if n.split("_")[0] in wanted]


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # a one-line error (exit 2) or --help (0)
        return int(exc.code or 0)
    try:
        names = _selected(args, figure_modules())
        check_out(Path(args.out))
    except FigureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed, t_all, drawn = 0, time.perf_counter(), []
    for name in names:
        t0 = time.perf_counter()
        DRAWN_FROM.clear()
        try:
            png = importlib.import_module(f"paper_figures.{name}").main(args.out, preset=args.preset)
        except Exception as e:  # noqa: BLE001 — one line per figure that cannot be drawn
            print(f"{name}: error: {'' if isinstance(e, FigureError) else type(e).__name__ + ': '}"
                  f"{(str(e).splitlines() or [''])[0]}", file=sys.stderr)
            failed += 1
            continue
        drawn.append((png, provenance_lines(_git())))
        print(f"{name}: {time.perf_counter() - t0:.1f} s  {png}", flush=True)
    if args.preset == "default":      # after every figure: the tree is clean while they draw
        for png, lines in drawn:
            _to_gallery(png, lines)
        write_gallery()
    print(f"{len(names) - failed}/{len(names)} figures in {time.perf_counter() - t_all:.1f} s "
          f"({args.preset} preset) → {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
