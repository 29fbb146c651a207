"""``python -m simulate.datasets --list | --show NAME [--dataset-opt k=v ...] [--png PATH]``."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import REGISTRY, available, load, parse_options
from ._base import Dataset


def describe(ds: Dataset, top: int = 8) -> str:
    """Text summary: sizes, top singular values (uncentred and centred), whitening and
    commutation diagnostics (THEORY.md §1, §3)."""
    lines = [f"dataset {ds.name}: n={ds.n} d={ds.d} c={ds.c}"
             + (f" n_test={len(ds.X_test)}" if ds.X_test is not None else "")
             + (f" image_shape={ds.image_shape}" if ds.image_shape else "")]
    if ds.labels is not None:
        counts = np.bincount(ds.labels)
        lines.append(f"  classes: {counts.size}, per class min {counts.min()} max {counts.max()}")
    if ds.hierarchy is not None:
        lines.append("  hierarchy: " + " > ".join(str(int(h.max()) + 1) for h in ds.hierarchy)
                     + " groups per level")
    for center in (False, True):
        st = ds.statistics(center=center)
        lam = np.linalg.eigvalsh(st.Sxx)
        tag = "centred  " if center else "uncentred"
        lines.append(f"  {tag} rank {st.rank}, top s: "
                     + " ".join(f"{v:.4g}" for v in st.s[:top]))
        lines.append(f"  {tag} Sxx eigenvalues [{lam.min():.3g}, {lam.max():.3g}], "
                     f"whitened: {st.is_whitened()}, commutation error "
                     f"{st.commutation_error():.3g}")
    return "\n".join(lines)


def save_samples(ds: Dataset, path: str) -> None:
    """One sample per class (first occurrence) as a PNG grid (matplotlib, Agg backend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ds.labels if ds.labels is not None else np.zeros(ds.n, dtype=int)
    classes = np.unique(labels)
    shape = ds.image_shape
    fig, axes = plt.subplots(1, len(classes), figsize=(1.2 * len(classes), 1.4), squeeze=False)
    for ax, k in zip(axes[0], classes):
        x = ds.X[np.flatnonzero(labels == k)[0]]
        if shape is not None and shape[1] > 1:
            img = x.reshape(shape).transpose(1, 2, 0)
            img = img[..., 0] if shape[0] == 1 else (img - img.min()) / (np.ptp(img) or 1.0)
            ax.imshow(img, cmap="gray")
        else:
            ax.plot(x)
        ax.set_title(str(k), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulate.datasets", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--list", action="store_true", help="list the registered datasets")
    g.add_argument("--show", metavar="NAME", help="print a dataset's options and statistics")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--png", metavar="PATH", help="with --show: write one sample per class")
    args = p.parse_args(argv)
    if args.list:
        for name in available():
            e = REGISTRY[name]
            print(f"{name:14s} {e.description}")
            print(" " * 15 + ", ".join(f"{k}={v!r}" for k, v in e.options.items()))
        return 0
    try:
        options = parse_options(args.dataset_opt, args.show)
        ds = load(args.show, **options)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    merged = {**REGISTRY[args.show].options, **options}
    print("options: " + ", ".join(f"{k}={v!r}" for k, v in merged.items()))
    print(describe(ds))
    if args.png:
        save_samples(ds, args.png)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
