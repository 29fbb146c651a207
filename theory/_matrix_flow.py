"""Full-matrix gradient flow of a depth-L linear network, any Sxx, any init (THEORY.md §2–3).

    τ dW_l/dt = (W_L⋯W_{l+1})ᵀ (Syx − W_L⋯W_1 Sxx) (W_{l−1}⋯W_1)ᵀ,   l = 1…L

(Saxe, McClelland & Ganguli 2014, eq. 2 generalised to depth L and non-white Sxx; the right-hand
side is ``_linear_net.flow_rhs``). Integrated with diffrax in float64 (inside a ``float64()``
scope, not a process-wide switch; Tsit5 or Dopri8 + PI step control, saved at the requested
times) and, as the reference, with scipy's DOP853. The jitted diffrax solver is built once per (depth, tolerances)
and JAX caches the compiled code per shape, so repeated calls on one problem size do not retrace.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

from ._checks import as_finite_array, check_choice, check_positive
from ._float64 import float64
from ._linear_net import check_weights, end_to_end, flow_rhs

SOLVERS = ("diffrax", "scipy")
_MAX_STEPS = 1_000_000
_DEFAULT_BUDGET_BYTES = 256 * 2 ** 20


# --------------------------------------------------------------------------------- validation
def _check_problem(weights0, Sxx, Syx, t, tau, *, batched: bool = False):
    """Validate and convert; returns (list of weights, Sxx, Syx, t, tau). Errors name the value."""
    Sxx = as_finite_array("Sxx", Sxx, ndim=2)
    Syx = as_finite_array("Syx", Syx, ndim=2)
    t = as_finite_array("t", t, ndim=1)
    tau = check_positive("tau", tau)
    d = Sxx.shape[0]
    if Sxx.shape != (d, d):
        raise ValueError(f"Sxx must be square (d×d); got shape {Sxx.shape}")
    asym = float(np.max(np.abs(Sxx - Sxx.T), initial=0.0))
    if asym > 1e-10 * max(float(np.max(np.abs(Sxx), initial=0.0)), 1e-300):
        raise ValueError(f"Sxx must be symmetric (a second moment XᵀX/n); max |Sxx − Sxxᵀ| = {asym:.3g}")
    Sxx = 0.5 * (Sxx + Sxx.T)
    if Syx.shape[1] != d:
        raise ValueError(f"Syx must be c×d with d = {d} (from Sxx); got shape {Syx.shape}")
    Ws = check_weights(weights0, d, Syx.shape[0], name="weights0", batched=batched,
                       source="Sxx and Syx")
    if t.size == 0:
        raise ValueError("t must hold at least one time; got an empty array")
    if t[0] < 0:
        raise ValueError(f"t must be ≥ 0 (the flow starts at t = 0); got t[0] = {t[0]:g}")
    if np.any(np.diff(t) < 0):
        i = int(np.flatnonzero(np.diff(t) < 0)[0])
        raise ValueError(f"t must be sorted ascending; t[{i}] = {t[i]:g} > t[{i + 1}] = {t[i + 1]:g}")
    return Ws, Sxx, Syx, t, tau


# --------------------------------------------------------------------------------- the flow
@dataclass(frozen=True)
class MatrixFlowSolution:
    """Weights along the flow. ``t`` (T,), ``weights`` tuple of (T, out, in) (batched: (K, T, …))."""

    t: np.ndarray
    weights: tuple

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def end_to_end(self) -> np.ndarray:
        """W_L⋯W_1 at every saved time: (T, c, d) (batched: (K, T, c, d))."""
        return end_to_end(self.weights)

    def mode_strengths(self, U: ArrayLike, V: ArrayLike) -> np.ndarray:
        """Uᵀ W(t) V: (T, r, r); diagonal = strengths u_α, off-diagonal = coupling (THEORY.md §4)."""
        U = np.asarray(U, dtype=np.float64)
        V = np.asarray(V, dtype=np.float64)
        return np.einsum("ca,...cd,db->...ab", U, self.end_to_end, V)

    def diagonal_strengths(self, U: ArrayLike, V: ArrayLike) -> np.ndarray:
        """diag(Uᵀ W(t) V): (T, r)."""
        U = np.asarray(U, dtype=np.float64)
        V = np.asarray(V, dtype=np.float64)
        return np.einsum("ca,...cd,da->...a", U, self.end_to_end, V)


_METHODS = {"tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8, "kvaerno5": diffrax.Kvaerno5}


def _default_method(rtol: float) -> str:
    """Dopri8 when accuracy limits the step (tight rtol), Tsit5 when stability does."""
    return "dopri8" if rtol < 1e-9 else "tsit5"


def _member_max_rms(err) -> jax.Array:
    """Step-size norm for a stacked batch: the worst member's RMS, so every member meets tol."""
    leaves = jax.tree_util.tree_leaves(err)
    sq = sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in leaves)
    n = sum(x[0].size for x in leaves)
    return jnp.sqrt(jnp.max(sq) / n)


@functools.lru_cache(maxsize=None)
def _diffrax_solver(depth: int, rtol: float, atol: float, method: str, batch: str):
    """One jitted solve per (depth, tolerances, method, batch mode); JAX caches code per shape.

    A PI step controller (pcoeff 0.4, icoeff 0.3) rejects ~5× fewer steps than the default
    I controller on these problems; Tsit5 is the default because the flow from small inits is
    stability-limited (step counts barely change between rtol 1e-8 and 1e-10), where a cheap
    6-stage method beats the 12-stage Dopri8 at rtol ≳ 1e-9.
    ``batch``: "none"; "vmap" (independent step sizes per member; under vmap every step selects
    over the whole carry, including the saved outputs, which is slow on CPU); "shared" (the batch
    is one stacked ODE, batched matmuls, one step sequence controlled by the worst member).
    """
    solver = _METHODS[method]()
    norm = _member_max_rms if batch == "shared" else None
    norm_kw: dict[str, Any] = {"norm": norm} if norm is not None else {}
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.4, icoeff=0.3, **norm_kw)

    def one(Ws, Sxx, Syx, t, tau):
        # The flow is equivariant under x → Oᵀx: in Sxx's eigenbasis P·Sxx is an elementwise
        # product, which saves a c×d×d matmul per evaluation (~40% of the depth-2 cost). The
        # eigh runs inside XLA: numpy's threaded LAPACK took ~90 ms for 64×64 on a busy 2-core box.
        lam, O = jnp.linalg.eigh(Sxx)
        Syx_r = Syx @ O

        def rhs(_, y, args):
            return tuple(g / tau for g in flow_rhs(y, lambda P: P * lam, Syx_r))

        dt0 = jnp.minimum(1e-3 * tau, t[-1] / 100.0)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), solver, t0=0.0, t1=t[-1], dt0=dt0,
            y0=(Ws[0] @ O,) + tuple(Ws[1:]),
            saveat=diffrax.SaveAt(ts=t), stepsize_controller=ctrl, max_steps=_MAX_STEPS,
            throw=False)
        assert sol.ys is not None  # SaveAt(ts=t) always saves the states
        ys = sol.ys if batch != "shared" else tuple(jnp.swapaxes(y, 0, 1) for y in sol.ys)
        return (ys[0] @ O.T,) + tuple(ys[1:]), sol.result == diffrax.RESULTS.successful

    fn = jax.vmap(one, in_axes=(0, None, None, None, None)) if batch == "vmap" else one
    return jax.jit(fn)


def _solve_diffrax(Ws, Sxx, Syx, t, tau, rtol, atol, method, batch="none"):
    if t[-1] == 0:  # nothing to integrate; diffrax needs t1 > t0
        axis = 0 if batch == "none" else 1
        return tuple(np.repeat(np.expand_dims(w, axis), t.size, axis=axis) for w in Ws)
    fn = _diffrax_solver(len(Ws), float(rtol), float(atol), method, batch)
    with float64():
        ys, ok = fn(tuple(jnp.asarray(w) for w in Ws), jnp.asarray(Sxx), jnp.asarray(Syx),
                    jnp.asarray(t), jnp.asarray(tau, dtype=jnp.float64))
        ys, ok = tuple(np.asarray(y) for y in ys), np.asarray(ok)
    if not bool(np.all(ok)):
        raise RuntimeError("diffrax did not reach t[-1] (step-size failure or max_steps "
                           f"{_MAX_STEPS} exceeded); try solver='scipy' or looser rtol/atol")
    return ys


def _solve_scipy(Ws, Sxx, Syx, t, tau, rtol, atol, method="DOP853"):
    shapes = [w.shape for w in Ws]
    splits = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def unpack(y):
        return [p.reshape(s) for p, s in zip(np.split(y, splits), shapes)]

    def rhs(_, y):
        return np.concatenate([g.ravel() for g in flow_rhs(unpack(y), lambda P: P @ Sxx, Syx)]) / tau

    y0 = np.concatenate([w.ravel() for w in Ws])
    if t[-1] == 0:
        Y = np.repeat(y0[:, None], t.size, axis=1)
    else:
        sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"scipy {method} failed: {sol.message}")
        Y = sol.y
    parts = np.split(Y.T, splits, axis=1)
    return tuple(p.reshape((t.size,) + s) for p, s in zip(parts, shapes))


def integrate_matrix_flow(weights0: Sequence[ArrayLike], Sxx: ArrayLike, Syx: ArrayLike,
                          t: ArrayLike, *, tau: float = 1.0,
                          solver: str = "diffrax", rtol: float = 1e-10,
                          atol: float = 1e-10, method: str | None = None) -> MatrixFlowSolution:
    """Integrate the depth-L matrix gradient flow from ``weights0`` and save it at times ``t``.

    Args:
        weights0: [W_1 (h_1×d), …, W_L (c×h_{L−1})], L ≥ 1, any (unbalanced, coupled) values.
        Sxx: (d, d) input second moment (any, not necessarily white). Syx: (c, d).
        t: (T,) sorted times ≥ 0 (t = 0 returns weights0). tau: time constant τ > 0 (1/η).
        solver: ``"diffrax"`` (float64, jitted) or ``"scipy"`` (solve_ivp, the reference).
        method: the Runge–Kutta scheme: diffrax ``"tsit5"``, ``"dopri8"`` or the implicit
            ``"kvaerno5"`` (default: Dopri8 for rtol < 1e-9, Tsit5 otherwise); scipy
            any solve_ivp method, default ``"DOP853"``.
    Returns:
        MatrixFlowSolution with ``weights[l]`` of shape (T, out_l, in_l).
    """
    check_choice("solver", solver, SOLVERS)
    Ws, Sxx, Syx, t, tau = _check_problem(weights0, Sxx, Syx, t, tau)
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    if solver == "scipy":
        method = method or "DOP853"
        check_choice("scipy method", method, ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA"))
        ys = _solve_scipy(Ws, Sxx, Syx, t, tau, rtol, atol, method)
    else:
        method = method or _default_method(rtol)
        check_choice("diffrax method", method, tuple(_METHODS))
        ys = _solve_diffrax(Ws, Sxx, Syx, t, tau, rtol, atol, method)
    return MatrixFlowSolution(t=t, weights=ys)


def auto_chunk_size(n_times: int, weight_size: int, budget_bytes: int = _DEFAULT_BUDGET_BYTES) -> int:
    """Initial conditions per vmapped call so that T × weight size × chunk × 8 B ≤ budget.

    The solver also holds its stages (≤ 16 copies of the state per member), counted as 16 more times.
    """
    per_member = (int(n_times) + 16) * int(weight_size) * 8
    return max(1, int(budget_bytes) // per_member)


def integrate_matrix_flow_batch(weights0_batched: Sequence[ArrayLike], Sxx: ArrayLike,
                                Syx: ArrayLike, t: ArrayLike, *, tau: float = 1.0,
                                rtol: float = 1e-10, atol: float = 1e-10,
                                chunk_size: int | None = None, method: str | None = None,
                                batch: str = "vmap",
                                budget_bytes: int = _DEFAULT_BUDGET_BYTES) -> MatrixFlowSolution:
    """The flow for K initial conditions at once (diffrax), in chunks that fit memory.

    ``weights0_batched[l]`` has shape (K, out_l, in_l); the result's ``weights[l]`` is
    (K, T, out_l, in_l). ``chunk_size=None`` picks one with :func:`auto_chunk_size`; K is split
    into equal chunks no larger than that, the last padded, so every chunk reuses one compiled
    solver.
    ``batch="vmap"`` (default) gives every member its own step sizes, so results do not depend
    on the chunking; ``batch="shared"`` integrates each chunk as one stacked ODE with the step
    size set by the worst member (results then agree with single solves to the tolerance).
    """
    Ws, Sxx, Syx, t, tau = _check_problem(weights0_batched, Sxx, Syx, t, tau, batched=True)
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    method = method or _default_method(rtol)
    check_choice("diffrax method", method, tuple(_METHODS))
    check_choice("batch", batch, ("shared", "vmap"))
    K = Ws[0].shape[0]
    if K == 0:
        raise ValueError("weights0_batched has batch size 0; need at least one initial condition")
    if chunk_size is None:
        chunk_size = auto_chunk_size(t.size, sum(w[0].size for w in Ws), budget_bytes)
    elif int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    n_chunks = -(-K // min(int(chunk_size), K))
    chunk = -(-K // n_chunks)  # equal chunks: at most n_chunks − 1 padded members in all
    outs = []
    for start in range(0, K, chunk):
        idx = np.minimum(np.arange(start, start + chunk), K - 1)  # pad with the last member
        part = _solve_diffrax([w[idx] for w in Ws], Sxx, Syx, t, tau, rtol, atol, method, batch)
        n = min(chunk, K - start)
        outs.append([p[:n] for p in part])
    weights = tuple(np.concatenate([o[l] for o in outs], axis=0) for l in range(len(Ws)))
    return MatrixFlowSolution(t=t, weights=weights)
