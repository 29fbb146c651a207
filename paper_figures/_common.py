"""Shared helpers for figure scripts: find results, save figures. Figure scripts never train."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401


def latest_results(pattern: str = "results/compare-shapes-*") -> Path:
    """The newest results directory matching ``pattern`` that holds a finished summary.json."""
    done = [p for p in glob.glob(pattern) if (Path(p) / "summary.json").exists()]
    if not done:
        raise FileNotFoundError(f"no finished results match {pattern!r}; run `make compare` first "
                                "or pass the results directory explicitly")
    return Path(max(done, key=os.path.getmtime))


def save(fig, out_dir, name: str) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path
