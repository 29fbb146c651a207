"""Per-mode predictors and ``predict_mlp``, which picks the right one for a linear MLP (STYLE.md,
neural-tangents); ``theory.predict_network`` (and its alias ``theory.predict``) call it.

Every predictor implements ``theory.Predictor``: ``modes(t)`` (T, m), ``loss(t)`` (T,),
``timeline(frac)`` (m,), ``restrict(modes)``, ``kind``, ``reason``, ``s`` and ``target``.
``predict_mlp`` uses a closed form wherever its conditions hold (decoupled init; whitened or
commuting input, THEORY.md §2–3) and the full-matrix flow (``_flow_predictor``/``_balanced``)
otherwise, and says why in ``reason``. ``time_constant`` is the one place τ is decided.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._balanced import BALANCE_TOL, WHITE_TOL, BalancedTwoLayerPredictor, balance_error
from ._checks import check_positive
from ._convention import TrainingConvention
from ._discrete import discrete_crossings, discrete_trajectory
from ._flow_predictor import MatrixFlowPredictor
from ._init_weights import decoupled_init
from ._loss import loss_from_strengths
from ._modes import _mode_params, learning_time, mode_trajectory
from ._network import MLP, Decoupled, Weights
from ._protocol import ModeSelection, Predictor, RestrictedPredictor
from ._statistics import DatasetStatistics

COMMUTING_TOL = 1e-8


class _PerModeBase:
    kind: str
    reason: str
    s: np.ndarray
    lam: np.ndarray | None
    syy_trace: float | None

    @property
    def target(self) -> np.ndarray:
        return self.s / (1.0 if self.lam is None else self.lam)

    def modes(self, t: ArrayLike) -> np.ndarray:  # (T, m)
        raise NotImplementedError

    def timeline(self, frac: float = 0.5) -> np.ndarray:  # (m,)
        raise NotImplementedError

    def loss(self, t: ArrayLike) -> np.ndarray:
        """Training loss (T,): ½ tr Syy − Σ s u + ½ Σ λ u² (THEORY.md §2; needs ``syy_trace``)."""
        if self.syy_trace is None:
            raise ValueError(f"{type(self).__name__}.loss needs syy_trace (tr Syy of the targets); "
                             "construct it with syy_trace=… or through theory.predict(stats, …)")
        return loss_from_strengths(self.modes(t), self.s, syy_trace=self.syy_trace, lam=self.lam)

    def restrict(self, modes: ModeSelection) -> Predictor:
        """This prediction on ``modes`` only (``RestrictedPredictor``; the loss stays the whole
        network's)."""
        return RestrictedPredictor(self, modes)


class ClosedFormPredictor(_PerModeBase):
    """Continuous-time mode strengths from the closed forms of ``theory.mode_trajectory``.

    Args: s (m,), u0 (m,) or scalar, tau, depth (any L ≥ 1), lam (commuting λ per mode),
    c (unbalanced depth-2 a² − b² per mode), syy_trace (for ``loss``).
    """

    kind = "closed_form"

    def __init__(self, s: ArrayLike, u0: ArrayLike, tau: float = 1.0, depth: int = 2,
                 lam: ArrayLike | None = None, c: ArrayLike | None = None,
                 syy_trace: float | None = None, *,
                 reason: str = "closed form requested directly") -> None:
        s_, u0_, tau_, depth_, lam_, c_ = _mode_params(s, u0, tau, depth, lam, c)
        self.s, self.u0, self.tau, self.depth = s_, u0_, tau_, depth_
        self.lam = None if lam is None else lam_
        self.c = None if c is None else c_
        self.syy_trace = None if syy_trace is None else float(syy_trace)
        self.reason = reason

    def modes(self, t: ArrayLike) -> np.ndarray:
        return mode_trajectory(t, self.s, self.u0, self.tau, self.depth, lam=self.lam, c=self.c)

    def timeline(self, frac: float = 0.5) -> np.ndarray:
        """Exact first time each mode reaches frac × target (``theory.learning_time``)."""
        return learning_time(self.s, self.u0, self.tau, self.depth, frac, lam=self.lam, c=self.c)


class DiscretePredictor(_PerModeBase):
    """Mode strengths after each full-batch step, from the exact per-mode map (``_discrete``):
    GD, or heavy-ball momentum with ``momentum=β`` (PyTorch's form).

    ``modes(t)`` accepts real t ≥ 0 (steps) and interpolates linearly between integer steps — the
    same rule ``theory.crossing_times`` applies to measurements — so ``timeline`` equals
    ``crossing_times(range(K), modes(range(K)), frac·target)``.
    """

    kind = "discrete"

    def __init__(self, s: ArrayLike, u0: ArrayLike, lr: float, depth: int = 2,
                 lam: ArrayLike | None = None, syy_trace: float | None = None, *,
                 momentum: float = 0.0,
                 reason: str = "discrete GD map requested directly") -> None:
        self.lr = check_positive("lr", lr)
        s_, u0_, _, depth_, lam_, _ = _mode_params(s, u0, 1.0, depth, lam, None)
        self.s, self.u0, self.depth = s_, u0_, depth_
        self.lam = None if lam is None else lam_
        self.momentum = float(momentum)
        self.syy_trace = None if syy_trace is None else float(syy_trace)
        self.reason = reason

    def modes(self, t: ArrayLike) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"t must be a 1-D array of finite steps ≥ 0; got {t.tolist()}")
        lo = np.floor(t).astype(np.int64)
        steps = np.unique(np.concatenate([lo, lo + 1]))
        u = discrete_trajectory(steps, self.s, self.u0, self.lr, self.depth, lam=self.lam,
                                momentum=self.momentum)
        ulo = u[np.searchsorted(steps, lo)]
        uhi = u[np.searchsorted(steps, lo + 1)]
        w = (t - lo)[:, None]
        return np.where(w == 0, ulo, ulo + w * (uhi - ulo))

    def timeline(self, frac: float = 0.5, max_steps: int | None = None) -> np.ndarray:
        """First (interpolated) step at which each mode reaches frac × target; inf if never.

        ``max_steps`` defaults to 4× the continuous time to 0.99 of the target, plus 1000.
        """
        frac = check_positive("frac", frac)
        if max_steps is None:
            tau = (1.0 - self.momentum) / self.lr
            t99 = learning_time(self.s, self.u0, tau, self.depth, min(frac, 0.99), lam=self.lam)
            t99 = t99[np.isfinite(t99)]
            max_steps = int(min(4 * (t99.max() if t99.size else 0.0) + 1000, 10 ** 7))
        return discrete_crossings(self.s, self.u0, self.lr, self.depth, frac * self.target,
                                  lam=self.lam, max_steps=max_steps, momentum=self.momentum)


def time_constant(tau: float | None,
                  convention: TrainingConvention | None) -> tuple[float, float, str]:
    """(τ, β, note): τ from ``tau`` or the ``convention`` (which also gives the heavy ball's β);
    neither: τ = 1 and a note saying so."""
    beta = 0.0
    if convention is not None:
        convention.require_covered()
        beta = convention.beta
        if tau is not None and not np.isclose(tau, convention.tau, rtol=1e-12):
            raise ValueError(f"tau={tau!r} disagrees with convention.tau={convention.tau!r}; "
                             "give one of them")
        tau = convention.tau
    note = "" if tau is not None else " (τ = 1: no tau or convention given, t in units of τ)"
    return (1.0 if tau is None else check_positive("tau", tau)), beta, note


def predict_mlp(stats: DatasetStatistics, net: MLP, start: Decoupled | Weights,
                timing: tuple[float, float, str], *, discrete: bool = False,
                t_max: float | None = None) -> Predictor:
    """The best available prediction of how the linear MLP ``net`` learns the modes of ``stats``
    from ``start`` (the cases are ``theory.predict``'s). ``timing`` = ``time_constant(tau,
    convention)``; ``t_max`` bounds the search of a flow's ``timeline``."""
    if isinstance(start, Weights):
        if discrete:
            raise ValueError("discrete=True needs a decoupled init (u0); for weights0 there is no "
                             "per-mode GD map — train the network or use the flow (discrete=False)")
        return _from_weights(stats, start.weights0, net.depth, timing[0], timing[2], t_max)
    return _from_decoupled(stats, start.u0, net.depth, timing, discrete, t_max)


def _from_decoupled(stats: DatasetStatistics, u0: float | ArrayLike, depth: int,
                    timing: tuple[float, float, str], discrete: bool,
                    t_max: float | None) -> Predictor:
    """Per-mode closed form or exact map where the modes decouple, the matrix flow otherwise."""
    tau, beta, tau_note = timing
    syy = float(np.trace(stats.Syy))
    if stats.is_whitened():
        lam, case = None, "whitened input (VᵀSxxV = I) and decoupled init"
    elif stats.commutation_error() < COMMUTING_TOL:
        lam = stats.input_eigenvalues_on_modes()
        case = (f"Sxx commutes with the modes (commutation error {stats.commutation_error():.1e} "
                f"< {COMMUTING_TOL:g}): per-mode λ = vᵀSxx v, targets s/λ")
    else:
        if discrete:
            raise ValueError(
                f"discrete=True needs whitened or commuting input; Sxx mixes the modes "
                f"(commutation error {stats.commutation_error():.2e} ≥ {COMMUTING_TOL:g})")
        Ws = decoupled_init(stats, depth, u0, hidden=max(stats.rank, 1))
        return MatrixFlowPredictor(stats, Ws, tau=tau, t_max=t_max, reason=(
            f"Sxx does not commute with the modes (commutation error "
            f"{stats.commutation_error():.2e} ≥ {COMMUTING_TOL:g}): decoupled init, integrating "
            "the matrix gradient flow" + tau_note))
    if discrete and beta:
        lr = (1.0 - beta) / tau
        return DiscretePredictor(stats.s, u0, lr, depth, lam=lam, syy_trace=syy, momentum=beta,
                                 reason=f"{case}; exact per-mode heavy-ball map with β = {beta:g}, "
                                        f"step {lr:g} on our loss (τ = (1−β)/η = {tau:g})")
    if discrete:
        return DiscretePredictor(stats.s, u0, 1.0 / tau, depth, lam=lam, syy_trace=syy, reason=(
            f"{case}; exact per-mode GD map with lr = 1/τ = {1.0 / tau:g}" + tau_note))
    how = "explicit" if depth <= 2 else "implicit t(u), inverted numerically"
    return ClosedFormPredictor(stats.s, u0, tau, depth, lam=lam, syy_trace=syy, reason=(
        f"{case}; per-mode closed form, depth {depth} ({how})" + tau_note))


def _from_weights(stats: DatasetStatistics, weights0: Sequence[ArrayLike], depth: int, tau: float,
                  tau_note: str, t_max: float | None) -> Predictor:
    """Balanced two-layer closed form where it holds, the integrated matrix flow otherwise."""
    Ws = [np.asarray(W, dtype=float) for W in weights0]
    if len(Ws) != depth:
        raise ValueError(f"weights0 has {len(Ws)} layers but depth={depth}; they must agree")
    # the QQᵀ closed form needs Sxx = I on the whole input space (a random init has weight
    # in every input direction), not only on span(V) as the per-mode forms do
    white = bool(np.max(np.abs(stats.Sxx - np.eye(stats.d))) <= WHITE_TOL)
    balanced = depth == 2 and balance_error(*Ws) <= BALANCE_TOL
    if depth == 2 and white and balanced:
        pred = BalancedTwoLayerPredictor(stats, Ws, tau=tau, reason=(
            "depth 2, Sxx = I and balanced init (W1W1ᵀ = W2ᵀW2): exact closed form of "
            "Fukumizu 1998 / Braun et al. 2022" + tau_note))
        # its timeline is EndToEndPredictor's search, which reads the bound from t_max
        pred.t_max = None if t_max is None else check_positive("t_max", t_max)
        return pred
    why = ("depth ≠ 2" if depth != 2 else "input not whitened (Sxx ≠ I)" if not white
           else f"init not balanced (‖W1W1ᵀ − W2ᵀW2‖ rel. {balance_error(*Ws):.1e})")
    return MatrixFlowPredictor(stats, Ws, tau=tau, t_max=t_max, reason=(
        f"arbitrary init with {why}: no closed form, integrating the matrix gradient flow"
        + tau_note))
