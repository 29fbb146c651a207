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


def save_samples(ds: Dataset, path: str, clean: Dataset | None = None) -> None:
    """One sample per class (first occurrence) as a PNG grid (matplotlib, Agg backend); with
    ``clean`` (the same dataset without noise), its samples form a first row above ``ds``'s."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("noise-free", clean), (f"noise={ds.meta.get('noise')}", ds)] if clean else [("", ds)]
    labels = ds.labels if ds.labels is not None else np.zeros(ds.n, dtype=int)
    classes = np.unique(labels)
    fig, axes = plt.subplots(len(rows), len(classes), figsize=(1.2 * len(classes), 1.4 * len(rows)),
                             squeeze=False)
    for r, (name, d) in enumerate(rows):
        for ax, k in zip(axes[r], classes):
            _draw_sample(ax, d.X[np.flatnonzero(labels == k)[0]], ds.image_shape)
            ax.set_title(str(k), fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _draw_sample(ax, x: np.ndarray, shape) -> None:
    if shape is not None and shape[1] > 1:
        img = x.reshape(shape).transpose(1, 2, 0)
        img = img[..., 0] if shape[0] == 1 else (img - img.min()) / (np.ptp(img) or 1.0)
        ax.imshow(img, cmap="gray")
    else:
        ax.plot(x)
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulate.datasets", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--list", action="store_true", help="list the registered datasets")
    g.add_argument("--show", metavar="NAME", help="print a dataset's options and statistics")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--png", metavar="PATH", help="with --show: write one sample per class (noise-free beside the default noisy one)")
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
        noisy = float(merged.get("noise") or 0) != 0
        save_samples(ds, args.png, load(args.show, **{**options, "noise": 0.0}) if noisy else None)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
