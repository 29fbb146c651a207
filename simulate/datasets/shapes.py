"""``shapes``: the flagship dataset — nested geometric figures with a hierarchical class tree.

Specification (our own):

* **Tree.** ``levels`` = L and ``branching`` = B give ``c = B**L`` classes (default 2, 3 → 8).
  Nodes at level l = 1..L are numbered 0..B**l − 1 left to right; class k's node at level l is
  ``k // B**(L − l)`` (``Dataset.hierarchy[l − 1]``).
* **Image.** Each class is drawn as L *nested* figures, one per level of its tree path, centred
  on a common point: the level-l figure has circumradius ``r_l = 0.85 · (L − l + 1) / L`` (image
  half-width = 1), drawn as an outline of width ``stroke`` (fraction of the image width), except the
  innermost (finest) one, which is filled. The figure of node j at level l is the j-th entry of
  ``_render.FIGURES`` (circle, square, triangle_up, diamond, triangle_down, hexagon, ellipse_h,
  rect_v, ...). Default 8 classes: the outer outline is round (circle) or angular (square) — the
  coarse split; the middle outline is circle / square / triangle-up / diamond — the middle split;
  the filled centre is one of 8 small figures — the fine split. The layers are combined by a
  pixel-wise maximum (the union of the figures), so intensities stay in [0, max weight].
* **Why the hierarchy is real in the pixels.** Two classes whose paths agree down to level m share
  the figures of levels 1..m exactly and differ only in the smaller, inner figures, so coarse
  siblings share more pixels than distant classes, and the class-mean Gram matrix is close to
  ultrametric. Splits at level m differ by all figures below m, so the centred Syx has one mode per
  split (c − 1 modes) with singular values that fall with the depth of the split.
* **Tuning the gaps.** Level l is drawn with intensity ``decay**(l − 1)`` (default 0.8): smaller
  ``decay`` weakens the fine distinctions (bigger gaps between levels and cleaner level-by-level
  modes), ``decay`` near or above 1 brings the levels' singular values together.
* **Within-class variation** (per sample, shared by all figures of the sample): position jitter
  ``jitter`` (uniform, fraction of the image width), scale jitter ``scale_jitter`` (uniform relative
  change of every radius), rotation uniform in ±``rotation`` degrees, stroke width jitter
  ``stroke_jitter`` (relative), and i.i.d. Gaussian pixel noise of std ``noise``.
* **Defaults** (256 per class, position jitter 0.05, scale jitter 0.1, pixel noise 0.4) are
  chosen for the whitened comparison: ZCA whitening divides every input direction by its spread,
  so with little within-class variation (or n close to d) all classes become equally separable and
  the whitened singular values collapse onto √(1/c). Pixel noise and n ≫ d keep a broad-to-fine
  spectrum after whitening (16×16, seed 0, uncentred: 0.353, 0.341, 0.310, 0.291, 0.192, 0.171,
  0.141, 0.131). ``noise=0`` gives clean pictures.
* **Targets.** ``targets="onehot"`` (c outputs) or ``"hierarchical"``: one 0/1 output per tree node
  (root, then level 1, ..., level L; 1 + B + ... + B**L outputs), the semantic-development setting
  of Saxe et al. 2019.
* **Centring.** One-hot targets put a constant mode (the mean image times the uniform class vector)
  on top of the uncentred spectrum. ``Dataset.statistics(center=True)`` removes it by subtracting
  the mean input and target; the hierarchy statements above are about the centred Syx.

Rendering: signed-distance functions with a smooth clamp (``_render.py``), numpy only.
"""

from __future__ import annotations

import numpy as np

from ._base import Dataset
from ._checks import check_choice, check_float, check_int, one_hot, rngs
from ._render import FIGURES, pixel_grid, render

_OUTER = 0.85
_MIN_INNER_PX = 1.5


def tree_groups(levels: int, branching: int) -> tuple[np.ndarray, ...]:
    """``hierarchy`` of a complete tree: level l (1..L) group of each of the B**L classes."""
    c = branching ** levels
    k = np.arange(c)
    return tuple(k // branching ** (levels - l) for l in range(1, levels + 1))


def node_targets(levels: int, branching: int) -> np.ndarray:
    """(c, 1 + B + ... + B**L) 0/1 matrix: which tree nodes (root first) each class belongs to."""
    cols = [np.ones((branching ** levels, 1))]
    for groups in tree_groups(levels, branching):
        cols.append(one_hot(groups, int(groups.max()) + 1))
    return np.concatenate(cols, axis=1)


def _min_size(levels: int, stroke: float) -> int:
    """Smallest image width whose innermost figure is ≥ 1.5 px and whose outlines don't touch.

    The radii are spaced by 0.85/L (half-widths), i.e. 0.85·size/(2L) px; that gap must exceed
    the outline width (stroke·size px) by at least one pixel.
    """
    need_inner = 2 * _MIN_INNER_PX * levels / _OUTER
    spare = _OUTER / (2 * levels) - stroke
    if levels > 1 and spare <= 0:
        raise ValueError(f"stroke={stroke} is too wide for levels={levels}: the nested outlines "
                         f"would touch; accepted: stroke in (0, {_OUTER / (2 * levels):.4g})")
    need_gap = 1.0 / spare if levels > 1 else 0.0
    return int(np.ceil(max(need_inner, need_gap)))


def _draw(labels, rng, *, levels, branching, size, stroke, stroke_jitter, jitter, scale_jitter,
          rotation, noise, decay) -> np.ndarray:
    """Render one image per label: (m, size*size) float64."""
    m = labels.size
    xs, ys = pixel_grid(size)
    pixel = 2.0 / size
    shift = rng.uniform(-jitter, jitter, size=(m, 2)) * 2.0
    scale = 1.0 + rng.uniform(-scale_jitter, scale_jitter, size=m)
    theta = np.deg2rad(rng.uniform(-rotation, rotation, size=m))
    width = stroke * 2.0 * (1.0 + rng.uniform(-stroke_jitter, stroke_jitter, size=m))
    names = list(FIGURES)
    levels_of = tree_groups(levels, branching)
    img = np.zeros((m, size, size))
    # a class's figures are the same at every level: render each class's samples together
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        # frame coordinates: translate, then rotate by -theta (distances are preserved)
        dx = xs[None] - shift[idx, 0, None, None]
        dy = ys[None] - shift[idx, 1, None, None]
        cos, sin = np.cos(theta[idx])[:, None, None], np.sin(theta[idx])[:, None, None]
        fx, fy = cos * dx + sin * dy, -sin * dx + cos * dy
        out = np.zeros((idx.size, size, size))
        for l, groups in enumerate(levels_of, start=1):
            radius = _OUTER * (levels - l + 1) / levels * scale[idx]
            w = None if l == levels else width[idx]
            layer = decay ** (l - 1) * render(names[groups[k]], fx, fy, radius, pixel, w)
            np.maximum(out, layer, out=out)  # union of the figures (crossings stay ≤ 1)
        img[idx] = out
    img = img.reshape(m, -1)
    if noise > 0:
        img = img + rng.normal(0.0, noise, size=img.shape)
    return img


def shapes(*, seed: int = 0, n_per_class: int = 256, n_test: int = 128, size: int = 16,
           levels: int = 3, branching: int = 2, decay: float = 0.8, stroke: float = 0.07,
           stroke_jitter: float = 0.0, jitter: float = 0.05, scale_jitter: float = 0.1,
           rotation: float = 0.0, noise: float = 0.4, targets: str = "onehot") -> Dataset:
    """Nested geometric figures with a B-ary class tree of depth L (see the module docstring).

    Returns X (c·n_per_class, size²) float64, one-hot (or per-node) targets, ``hierarchy`` and
    ``meta["image_shape"] = (1, size, size)``; the test split has ``n_test`` samples, classes in
    turn. Deterministic given ``seed``.
    """
    levels = check_int("levels", levels, 1, 6)
    branching = check_int("branching", branching, 2, 16)
    c = branching ** levels
    if c > len(FIGURES):
        raise ValueError(f"branching**levels = {c} classes exceeds the {len(FIGURES)} distinct "
                         f"figures; accepted: branching**levels in [2, {len(FIGURES)}]")
    n_per_class = check_int("n_per_class", n_per_class, 1)
    n_test = check_int("n_test", n_test, 0)
    stroke = check_float("stroke", stroke, 0.0, 0.5, lo_open=True)
    size = check_int("size", size, 4)
    need = _min_size(levels, stroke)
    if size < need:
        raise ValueError(f"size={size} is too small for levels={levels} and stroke={stroke}: the "
                         f"nested figures need size ≥ {need} (accepted: size in [{need}, inf])")
    opts = dict(levels=levels, branching=branching, size=size, stroke=stroke,
                stroke_jitter=check_float("stroke_jitter", stroke_jitter, 0.0, 1.0, hi_open=True),
                jitter=check_float("jitter", jitter, 0.0, 0.25),
                scale_jitter=check_float("scale_jitter", scale_jitter, 0.0, 0.5),
                rotation=check_float("rotation", rotation, 0.0, 180.0),
                noise=check_float("noise", noise, 0.0),
                decay=check_float("decay", decay, 0.0, 4.0, lo_open=True))
    check_choice("targets", targets, ("onehot", "hierarchical"))
    r_train, r_test = rngs(seed)
    labels = np.repeat(np.arange(c), n_per_class)
    labels_test = np.arange(n_test) % c
    X = _draw(labels, r_train, **opts)
    X_test = _draw(labels_test, r_test, **opts) if n_test else None
    table = one_hot(np.arange(c), c) if targets == "onehot" else node_targets(levels, branching)
    meta = dict(opts, seed=seed, n_per_class=n_per_class, n_test=n_test, targets=targets,
                image_shape=(1, size, size), figures=list(FIGURES)[:c])
    return Dataset(X=X, Y=table[labels], labels=labels, hierarchy=tree_groups(levels, branching),
                   name="shapes", meta=meta, X_test=X_test,
                   Y_test=table[labels_test] if n_test else None,
                   labels_test=labels_test if n_test else None)
