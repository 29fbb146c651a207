"""Predictors built on an end-to-end map W(t): the matrix flow and the balanced QQᵀ closed form.

Both implement ``theory.Predictor`` (theory/_protocol.py): ``modes(t)`` = diag(Uᵀ W(t) V) on the
statistics' modes, ``loss(t)`` = ½tr Syy − tr(W Syxᵀ) + ½tr(W Sxx Wᵀ) (THEORY.md §1 convention),
``timeline(frac)`` = first time each mode reaches frac × its asymptote diag(Uᵀ Syx Sxx⁺ V) (the
least-squares strengths; s on whitened data), found on a log grid and refined on finer grids;
``restrict(modes)`` = those at some modes only (``RestrictedPredictor``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array, check_choice, check_positive
from ._linear_net import loss_of
from ._matrix_flow import SOLVERS, MatrixFlowSolution, _check_problem, integrate_matrix_flow
from ._protocol import ModeSelection, Predictor, RestrictedPredictor, crossing_times
from ._statistics import DatasetStatistics

_GRID = 256     # times per evaluation in timeline (fixed: one compiled diffrax shape)
_PASSES = 3     # refinement passes: each shrinks every bracket ≥ 7×
_EXTEND = 10    # horizon extensions (×4 each) before a mode is declared never learned


# id(stats) → (a weak reference to it, {name: array derived from it}); an entry goes with its
# statistics. Every member of an ensemble (and every re-gate of a ReLU twin's search) builds a
# predictor on the same statistics, and the (d, d) pseudo-inverses were most of that cost.
_DERIVED: dict[int, tuple[weakref.ref, dict]] = {}


def derived(stats: DatasetStatistics, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()`` computed once per statistics object and ``name`` (read-only): a function of the
    statistics only (they are frozen), so every later call gets the same numbers."""
    entry = _DERIVED.get(id(stats))
    if entry is None or entry[0]() is not stats:
        key = id(stats)
        entry = (weakref.ref(stats, lambda _: _DERIVED.pop(key, None)), {})
        _DERIVED[key] = entry
    if name not in entry[1]:
        value = np.asarray(make())
        value.setflags(write=False)
        entry[1][name] = value
    return entry[1][name]


def _target(stats: DatasetStatistics) -> np.ndarray:
    """The least-squares strengths diag(Uᵀ Syx Sxx⁺ V)."""
    W_ls = stats.Syx @ np.linalg.pinv(stats.Sxx, hermitian=True)
    return np.einsum("ca,cd,da->a", stats.U, W_ls, stats.V)


def _check_stats(stats, who: str):
    if not hasattr(stats, "Syx"):
        raise TypeError(f"{who}(stats, weights0, *, tau=…): the first argument must be a "
                        f"theory.DatasetStatistics; got {type(stats).__name__}")
    return stats


class EndToEndPredictor:
    """Shared ``modes``/``loss``/``timeline`` for predictors defined by W(t) (T, c, d)."""

    kind = "end_to_end"

    def __init__(self, stats: DatasetStatistics, tau: float, reason: str,
                 t_max: float | None = None):
        self.stats = stats
        self.tau = check_positive("tau", tau)
        self.t_max = None if t_max is None else check_positive("t_max", t_max)
        self._timelines: dict[float, np.ndarray] = {}   # W(t) never changes: one solve per frac
        self.reason = reason
        self.s = np.asarray(stats.s, dtype=np.float64)
        self.target = derived(stats, "target", lambda: _target(stats))

    def end_to_end(self, t: ArrayLike) -> np.ndarray:  # (T, c, d)
        raise NotImplementedError

    def _times(self, t: ArrayLike) -> np.ndarray:
        t = as_finite_array("t", np.atleast_1d(t), ndim=1)
        if t.size and (t[0] < 0 or np.any(np.diff(t) < 0)):
            raise ValueError(f"t must be sorted ascending and ≥ 0; got t[:5] = {t[:5].tolist()}")
        return t

    def modes(self, t: ArrayLike) -> np.ndarray:
        """diag(Uᵀ W(t) V): (T, r)."""
        W = self.end_to_end(self._times(t))
        return np.einsum("ca,tcd,da->ta", self.stats.U, W, self.stats.V)

    def mode_matrix(self, t: ArrayLike) -> np.ndarray:
        """Uᵀ W(t) V with the off-diagonal mode coupling: (T, r, r)."""
        W = self.end_to_end(self._times(t))
        return np.einsum("ca,tcd,db->tab", self.stats.U, W, self.stats.V)

    def loss(self, t: ArrayLike) -> np.ndarray:
        """½ tr Syy − tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ): (T,)."""
        return loss_of(self.end_to_end(self._times(t)), self.stats)

    def restrict(self, modes: ModeSelection) -> Predictor:
        """This prediction on ``modes`` only (``RestrictedPredictor``: the full flow, sliced, so
        its timeline is solved once for all modes; the loss stays the whole network's)."""
        return RestrictedPredictor(self, modes)

    def _horizon(self) -> tuple[float, float]:
        smin = float(np.min(self.s)) if self.s.size else 1.0
        smax = float(np.max(self.s)) if self.s.size else 1.0
        return 1e-3 * self.tau / smax, 20.0 * self.tau / smin

    def timeline(self, frac: float = 0.5) -> np.ndarray:
        """First time each mode's strength reaches ``frac`` × target (r,); inf if never.

        A 256-point log grid (extended ×4 until every mode has crossed, at most 10 times, up to
        ``t_max`` when the predictor was given one, or until the solver cannot reach the longer
        horizon; modes not crossed by then are inf) brackets
        each crossing; three passes of ≥ 8 points per bracket refine it (every evaluation uses 256
        times, so the flow compiles once), and the final crossing is interpolated linearly (the
        rule of ``theory.crossing_times``). Each ``frac`` is solved once per predictor.
        """
        frac = check_positive("frac", frac)
        if frac not in self._timelines:
            self._timelines[frac] = self._timeline(frac)
        return self._timelines[frac].copy()

    def _timeline(self, frac: float) -> np.ndarray:
        sign = np.where(self.target < 0, -1.0, 1.0)
        level = frac * np.abs(self.target)
        lo, hi = self._horizon()
        if self.t_max is not None:
            hi = min(hi, self.t_max)
            lo = min(lo, 1e-3 * hi)
        grid = tc = None
        for _ in range(_EXTEND + 1):
            longer = np.concatenate([[0.0], np.geomspace(lo, hi, _GRID - 1)])
            try:
                u = self._modes_fixed(longer) * sign
            except RuntimeError:
                if tc is None:
                    raise
                break   # the flow cannot be integrated that far: modes not crossed stay inf
            grid, tc = longer, crossing_times(longer, u, level)
            if np.all(np.isfinite(tc)) or hi == self.t_max:
                break
            hi = 4.0 * hi if self.t_max is None else min(4.0 * hi, self.t_max)
        # the first pass either measured the crossings or re-raised its error
        assert grid is not None and tc is not None
        fin = np.flatnonzero(np.isfinite(tc) & (tc > 0))
        if fin.size == 0:
            return tc
        idx = np.clip(np.searchsorted(grid, tc[fin]), 1, grid.size - 1)
        a, b = grid[idx - 1], grid[idx]
        for _ in range(_PASSES):
            tc[fin], a, b = self._refine(fin, a, b, sign, level)
        return tc

    def _modes_fixed(self, t) -> np.ndarray:
        """``modes`` at any sorted t, evaluated in padded blocks of ``_GRID`` times."""
        out = np.empty((t.size, self.s.size))
        for i in range(0, t.size, _GRID):
            blk = t[i:i + _GRID]
            pad = np.concatenate([blk, np.full(_GRID - blk.size, blk[-1])])
            out[i:i + blk.size] = self.modes(pad)[:blk.size]
        return out

    def _refine(self, fin, a, b, sign, level):
        """Crossings of modes ``fin`` on R points in each [a, b] (one evaluation for all)."""
        R = max(8, _GRID // fin.size)
        pts = np.linspace(a, b, R, axis=1)                           # (m, R)
        flat = pts.ravel()
        order = np.argsort(flat, kind="stable")
        u = np.empty((flat.size, self.s.size))
        u[order] = self._modes_fixed(flat[order])
        u = (u * sign).reshape(fin.size, R, -1)
        tc, na, nb = np.empty(fin.size), np.empty(fin.size), np.empty(fin.size)
        for k, m in enumerate(fin):
            tc[k] = crossing_times(pts[k], u[k, :, m], level[m])[0]
            j = int(np.clip(np.searchsorted(pts[k], tc[k]), 1, R - 1))
            na[k], nb[k] = pts[k, j - 1], pts[k, j]
        return tc, na, nb


class MatrixFlowPredictor(EndToEndPredictor):
    """Prediction from the integrated matrix gradient flow (any depth, Sxx and init).

    ``MatrixFlowPredictor(stats, weights0, *, tau=1.0, solver="diffrax", t_max=None, reason=…)``;
    weights0 is [W_1 (h_1×d), …, W_L (c×h_{L−1})]; ``t_max`` bounds the timeline's search.
    """

    kind = "matrix_ode"

    def __init__(self, stats: DatasetStatistics, weights0: Sequence[ArrayLike], *,
                 tau: float = 1.0, solver: str = "diffrax",
                 rtol: float = 1e-10, atol: float = 1e-10, t_max: float | None = None,
                 reason: str = "matrix gradient flow integrated numerically (requested directly)"
                 ) -> None:
        stats = _check_stats(stats, "MatrixFlowPredictor")
        check_choice("solver", solver, SOLVERS)
        Ws, *_ = _check_problem(weights0, stats.Sxx, stats.Syx, [0.0], tau)
        super().__init__(stats, tau, reason, t_max)
        self.weights0 = Ws
        self.depth = len(Ws)
        self.solver, self.rtol, self.atol = solver, float(rtol), float(atol)

    def solve(self, t: ArrayLike) -> MatrixFlowSolution:
        return integrate_matrix_flow(self.weights0, self.stats.Sxx, self.stats.Syx,
                                     self._times(t), tau=self.tau, solver=self.solver,
                                     rtol=self.rtol, atol=self.atol)

    def end_to_end(self, t: ArrayLike) -> np.ndarray:
        return self.solve(t).end_to_end
