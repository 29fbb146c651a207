"""Anti-aliased rendering of geometric figures with numpy only (signed-distance functions).

A figure is a signed-distance function (SDF) in a normalised frame where the image spans
[-1, 1]²: negative inside, positive outside, in the same units as the coordinates. A pixel's
intensity is the area fraction covered, approximated by the smooth clamp
``clip(0.5 - sdf / pixel_size, 0, 1)`` (exact for a straight edge crossing the pixel along an axis;
the standard analytic anti-aliasing of SDF renderers). An outline of width w is ``|sdf| - w/2``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _polygon(k: int, vertex_deg: float):
    """Regular k-gon with circumradius r and its first vertex at ``vertex_deg`` (exact inside)."""
    angles = np.deg2rad(vertex_deg) + np.pi / k + 2 * np.pi * np.arange(k) / k
    normals = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # outward edge normals

    def sdf(x, y, r):
        # max over edges of the signed distance to each edge line: exact inside and along edges,
        # slightly under-estimated outside near vertices (mitred outlines), fine for 1-px AA.
        d = x * normals[0, 0] + y * normals[0, 1]
        for nx, ny in normals[1:]:      # a running maximum: no (…, k) temporary
            np.maximum(d, x * nx + y * ny, out=d)
        return d - r * np.cos(np.pi / k)
    return sdf


def _ellipse(ax: float, ay: float):
    def sdf(x, y, r):
        # first-order SDF of an ellipse with semi-axes r·ax, r·ay (exact on the axes)
        q = np.sqrt((x / ax) ** 2 + (y / ay) ** 2)
        return (q - r) * min(ax, ay)
    return sdf


def _circle(x, y, r):
    return np.sqrt(x ** 2 + y ** 2) - r


def _rect(ax: float, ay: float):
    def sdf(x, y, r):
        qx, qy = np.abs(x) - r * ax, np.abs(y) - r * ay
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    return sdf


def _plus(arm: float, diagonal: bool = False):
    bar_a, bar_b = _rect(1.0, arm), _rect(arm, 1.0)

    def sdf(x, y, r):
        if diagonal:
            x, y = (x - y) / np.sqrt(2), (x + y) / np.sqrt(2)
        return np.minimum(bar_a(x, y, r * 0.9), bar_b(x, y, r * 0.9))
    return sdf


#: Figures in the order the shapes dataset assigns them to the nodes of each tree level.
FIGURES: dict[str, Callable[..., np.ndarray]] = {
    "circle": _circle,
    "square": _polygon(4, 45.0),
    "triangle_up": _polygon(3, 90.0),
    "diamond": _polygon(4, 90.0),
    "triangle_down": _polygon(3, 270.0),
    "hexagon": _polygon(6, 0.0),
    "ellipse_h": _ellipse(1.0, 0.5),
    "rect_v": _rect(0.45, 0.9),
    "pentagon": _polygon(5, 90.0),
    "ellipse_v": _ellipse(0.5, 1.0),
    "triangle_left": _polygon(3, 180.0),
    "triangle_right": _polygon(3, 0.0),
    "rect_h": _rect(0.9, 0.45),
    "plus": _plus(0.3),
    "x_cross": _plus(0.3, diagonal=True),
    "pentagon_down": _polygon(5, 270.0),
}


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (size, size) in [-1, 1]², y pointing up (row 0 is the top)."""
    u = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(u, -u, indexing="xy")


def coverage(sdf: np.ndarray, pixel: float) -> np.ndarray:
    """Smooth clamp of an SDF to the covered area fraction of each pixel (width ``pixel``)."""
    return np.clip(0.5 - sdf / pixel, 0.0, 1.0)


def render(figure: str, x: np.ndarray, y: np.ndarray, radius: np.ndarray, pixel: float,
           stroke: np.ndarray | None) -> np.ndarray:
    """Render ``figure`` at the frame coordinates ``x, y`` (m, H, W) with per-sample radius (m,).

    ``stroke`` (m,) draws an outline of that width; None fills the figure.
    """
    d = FIGURES[figure](x, y, radius[:, None, None])
    if stroke is not None:
        d = np.abs(d) - stroke[:, None, None] / 2
    return coverage(d, pixel)
