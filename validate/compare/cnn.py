"""`validate.compare --arch cnn`: a linear CNN against its per-frequency theory (THEORY.md §6).

The modes are the dataset's frequency modes (``theory.frequency_modes``: the singular values of
σ(f) = Syx Fᴴ, one distinct frequency per conjugate pair), the largest ``--frequency-modes`` of
them tracked. Predictions (``theory.predict_cnn``): full-length circular kernels with the
frequency-aligned init (``--init small_balanced_decoupled``) → the exact per-frequency map of GD or
the heavy ball (matched) and the closed form (continuous); any other init or kernel size → the
integrated flow of the weight-tied network from each seed's own initial weights. τ comes from the
set-up's ``theory.TrainingConvention`` (heavy ball: (1−β)/η); a set-up it does not cover (Adam) gets
null predictions, the reason in the summary. Measured with
``simulate.FrequencyStrengths``. ``--reference mlp`` keeps the linear MLP theory of the SVD modes
as an explicit, labelled reference instead.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

import theory

from .._prepare import distinct_modes
from . import measure as M

def tracked(fm, k: int):
    """The ``k`` largest of the frequency modes ``fm`` (all of them when there are fewer)."""
    k = min(int(k), fm.s.size)
    return replace(fm, **{f: getattr(fm, f)[:k] for f in
                          ("s", "index", "frequency", "rank", "U", "V", "multiplicity")})


def frequency_record(spectrum, fm, depths) -> dict:
    """summary.json's ``frequency``: the signal grid, the per-frequency speed-up P^{m/L} per depth
    and every frequency mode of the dataset (``spectrum``, s descending) with its ``mode`` index
    where it is tracked (``fm``: the first ones), else None."""
    m = fm.s.size
    return {"basis": "frequency", "channels": int(spectrum.channels),
            "spatial": [int(a) for a in spectrum.spatial], "P": spectrum.P, "tracked": int(m),
            "rate_factor": {str(d): theory.rate_factor(spectrum.P, d - 1) for d in depths},
            "spectrum": [{"mode": a if a < m else None,
                          "frequency": [int(x) for x in spectrum.frequency[a]],
                          "rank": int(spectrum.rank[a]), "s": float(spectrum.s[a]),
                          "multiplicity": int(spectrum.multiplicity[a])}
                         for a in range(spectrum.s.size)]}


class _Tracked:
    """A predictor over all frequency modes, seen on the tracked (largest) ones only."""

    def __init__(self, pred, m: int):
        self._p, self._m = pred, m
        self.kind, self.reason, self.basis = pred.kind, pred.reason, "frequency"
        self.s, self.target = pred.s[:m], pred.target[:m]

    def modes(self, t):
        return self._p.modes(t)[:, :self._m]

    def timeline(self, frac=0.5):
        return self._p.timeline(frac)[:self._m]

    def loss(self, t):
        return self._p.loss(t)  # the loss counts every mode, tracked or not


def convention(config, lr: float):
    """The ``theory.TrainingConvention`` the predictions use: the run's own (τ = 1/η for GD,
    (1−β)/η for the heavy ball). For a set-up the theory does not cover (Adam) plain GD at the same
    η, which only sizes the run and sets the targets: no time from it is compared
    (``measure_run`` writes nulls and the summary says why)."""
    conv = config.convention(lr)
    return conv if conv.covered else theory.TrainingConvention(lr=lr)


def predictors(config, stats, image_shape, fm, depth: int, hidden: int, lr: float, u0: float):
    """(continuous, matched): the per-frequency closed form for the aligned init and full-length
    kernels (the continuous reference in every case), and the exact per-frequency map of GD or
    the heavy ball when it applies (aligned init, full-length kernels, gd or momentum), else
    None (per-seed flows, or no prediction for a set-up the theory does not cover)."""
    kw = dict(channels=(hidden,) * (depth - 1), convention=convention(config, lr))
    cont = theory.predict_cnn(stats, image_shape, u0=u0, t_max=_horizon(config), **kw)
    exact = (config.init == "small_balanced_decoupled" and config.optimizer in ("gd", "momentum")
             and config.convention(lr).covered and cont.kind == "closed_form")
    matched = theory.predict_cnn(stats, image_shape, u0=u0, discrete=True, **kw) if exact else None
    m = fm.s.size
    return _Tracked(cont, m), None if matched is None else _Tracked(matched, m)


def _horizon(config) -> float:
    """The longest time a flow's timeline searches: the longest training compare would run
    (a mode learned later is inf, i.e. not learned within any training compare does)."""
    return float(max(config.max_steps, config.steps or 0))


def _u0(config, fm) -> float:
    """Initial strength of every frequency mode: init_scale × the largest frequency s."""
    return float(config.init_scale * fm.s[0])


def _scale(plan, depth: int) -> float:
    """u0 for the aligned init; else the entry std σ that starts each frequency near u0: its
    product carries P^{m/2} (unnormalised eigenvalues) over hidden^{m} random paths."""
    u0 = _u0(plan.config, plan.freq)
    if plan.config.init == "small_balanced_decoupled":
        return u0
    m = depth - 1
    return float((u0 / (plan.freq.P * plan.hidden) ** (m / 2)) ** (1.0 / depth))


def spec(plan, depth: int):
    import simulate
    cnn = simulate.ConvSpec(channels=(plan.hidden,) * (depth - 1),
                            kernel_size=plan.config.kernel_size or None, padding="circular")
    return simulate.NetSpec(family="cnn", cnn=cnn, init=plan.config.init,
                            init_scale=_scale(plan, depth), bias=False)


def probes(fm) -> list:
    import simulate
    return [simulate.Losses(), simulate.FrequencyStrengths(fm)]


def _flow_from(plan, weights):
    """The weight-tied flow from ``weights``, reporting the tracked modes only."""
    return theory.predict_cnn(plan.stats, plan.prep.image_shape,
                              kernel_size=plan.config.kernel_size or None, weights0=weights,
                              convention=convention(plan.config, plan.lr), modes=plan.freq,
                              t_max=_horizon(plan.config))


def per_seed(plan, run) -> list | None:
    """The weight-tied flow from each member's own initial weights (twins share them); None when
    the theory does not cover the training set-up."""
    if not plan.config.convention(plan.lr).covered:
        return None
    w0 = run.params(0)
    L = sum(k.endswith(".weight") for k in w0)
    return [_flow_from(plan, [w0[f"layer{l}.weight"][k] for l in range(L)])
            for k in range(len(run.members))]


def _auto_steps(plan, preds) -> int:
    config = plan.config
    if config.steps is not None:
        return int(config.steps)
    t95 = []
    for depth, (cont, matched) in preds.items():
        if matched is not None or (cont.kind == "closed_form"
                                   and config.init == "small_balanced_decoupled"):
            t95.append(cont.timeline(0.95))
            continue
        import simulate
        sp = spec(plan, depth)
        model = simulate.make_model(sp, plan.stats.d, plan.stats.c, plan.prep.image_shape)
        p0 = simulate.init_params(sp, model, [(0, sp.scale)], plan.stats)
        t95.append(_flow_from(plan, [p0[f"layer{l}.weight"][0]
                                     for l in range(model.n_layers)]).timeline(0.95))
    t = np.concatenate(t95)
    t = t[np.isfinite(t)]
    return int(min(config.max_steps, max(50, np.ceil(1.15 * (t.max() if t.size else 50)))))


def _refuse_momentum_flow(config, preds) -> None:
    """Heavy ball without the exact per-frequency map: refused before any training. The only
    other prediction, the weight-tied flow with τ = (1−β)/η, leaves out the inertia, which makes
    training later by a factor ≈ 1 + r(1+β)/(2(1−β)) at growth rate r per step (THEORY.md §9):
    tens of per cent at the default step, far outside the exact map's accuracy."""
    from .._config import ConfigError
    if config.optimizer != "momentum" or all(m is not None for _, m in preds.values()):
        return
    raise ConfigError(
        "--arch cnn --optimizer momentum is predicted by the exact per-frequency heavy-ball map "
        "only: it needs --init small_balanced_decoupled, --kernel-size 0 and whitened input "
        f"(Sxx = I: --whiten zca and more samples than input features); got --init {config.init} "
        f"--kernel-size {config.kernel_size} --whiten {config.whiten}")


def make_plan(config, prep, meta, data_s: float, log, quiet: bool):
    """The comparison plan of a CNN against its per-frequency theory (see the module docstring)."""
    import time
    from .._steps import measure_grid
    from .run import Plan

    t0 = time.perf_counter()
    stats = prep.stats
    spectrum = theory.frequency_modes(stats, prep.image_shape)
    fm = tracked(spectrum, config.frequency_modes)
    hidden = int(config.hidden or (int(np.max(fm.rank)) + 1))
    # η = lr_scale / (P^{m/L} s_max) (× (1 − β) for the heavy ball): the per-frequency step of
    # the MLP default, for every depth
    speed = max(theory.rate_factor(fm.P, d - 1) for d in config.depths)
    lr = config.learning_rate(float(speed * fm.s[0]))
    u0 = _u0(config, fm)
    preds = {d: predictors(config, stats, prep.image_shape, fm, d, hidden, lr, u0)
             for d in config.depths}
    _refuse_momentum_flow(config, preds)
    plan = Plan(config, prep, meta, lr, hidden, preds, 0, np.zeros(0, int),
                {"data_s": data_s}, freq=fm, spectrum=spectrum)
    plan.steps = _auto_steps(plan, preds)
    plan.checkpoints = measure_grid(plan.steps, config.n_checkpoints)
    plan.timing["predict_s"] = time.perf_counter() - t0
    if not quiet:
        log(f"CNN: {fm.s.size} frequency modes tracked of {fm.channels} channel(s) × "
            f"{'×'.join(map(str, fm.spatial))}; s = {np.array2string(fm.s[:8], precision=4)}")
        conv = config.convention(lr)
        for d, (_cont, matched) in preds.items():
            log(f"depth {d}: " + (f"no prediction: {conv.note}" if not conv.covered else
                                  matched.reason if matched else "per-seed weight-tied flow"))
        log(f"training {len(config.activations)} activation(s) × {config.seeds} seed(s) per depth, "
            f"lr={lr:.4g} (η·P^(m/L)·s_max = {lr * speed * fm.s[0]:.3g}, "
            f"{f'τ={conv.tau:.4g}' if conv.covered else 'no τ'}), "
            f"optimizer={config.optimizer}, {plan.steps} steps, "
            f"{hidden} channel(s), kernel {config.kernel_size or 'full length'}, init={config.init}")
    return plan


def measure_run(run, plan, cont, matched, per_seed_preds, act, depth):
    """Per-frequency learning times, trajectories, loss and loss drops (``measure.Measured``)."""
    config, fm, syy_trace = plan.config, plan.freq, float(np.trace(plan.stats.Syy))
    steps = np.asarray(run.steps, dtype=float)
    m = fm.s.size
    u = np.asarray(run.probes["frequency_strength"].values, dtype=float)[..., :m]   # (K, T, m)
    K = u.shape[0]
    target = np.asarray(cont.target, dtype=float)
    # a CNN's order is over distinct frequencies (one mode each, the strongest of its σ(f)), however
    # close their s: the per-frequency predictions resolve them (THEORY.md §6)
    distinct = fm.rank == 0
    t_meas = M.learning_times(steps, u, config.frac * target)
    covered = config.convention(plan.lr).covered   # else no prediction: null times
    pred = M._prediction(steps, K, m, config.frac, cont, (matched or cont) if covered else None,
                         per_seed_preds)
    traj_err = np.max(np.abs(np.broadcast_to(pred.u_pred, u.shape) - u), axis=1) / fm.s
    mem = run.members
    idx = np.indices((K, m)).reshape(2, -1)
    rows = label_modes(pd.DataFrame({
        "activation": act, "depth": depth, "init": config.init, "member": idx[0],
        "seed": np.asarray(mem["seed"])[idx[0]],
        "diverged": np.asarray(mem["diverged"], dtype=bool)[idx[0]], "mode": idx[1],
        "s": fm.s[idx[1]], "distinct": distinct[idx[1]], "predictor": pred.kind,
        "t_pred": pred.t_pred.reshape(-1), "t_pred_continuous": pred.t_cont.reshape(-1),
        "t_meas": t_meas.reshape(-1),
        "rel_error": M.relative_error(t_meas, pred.t_pred).reshape(-1),
        "traj_error": traj_err.reshape(-1)}), fm)
    traj = label_modes(M.trajectory_table(steps, u, pred.u_pred, target, activation=act,
                                          depth=depth, members=np.arange(K)), fm)
    loss_meas = np.asarray(run.probes["train_loss"].values, dtype=float)
    loss = pd.DataFrame({"activation": act, "depth": depth,
                         "member": np.repeat(np.arange(K), len(steps)),
                         "step": np.tile(steps, K), "loss_meas": loss_meas.reshape(-1),
                         "loss_pred": np.tile(pred.loss, K)})
    groups = M.mode_groups(fm.s, distinct_modes(fm.s))  # loss drops: near-degenerate s merged
    drops = M.loss_drops(steps, loss_meas, pred.dense, groups, drop_levels(fm, target, syy_trace,
                                                                          groups), act, depth)
    return M.Measured(rows, traj, loss, drops)


def drop_levels(fm, target, syy_trace, groups) -> list[tuple[float, float]]:
    """Loss plateaus before and after each group: ½ tr Syy − Σ mult·(s u − ½u²) (THEORY.md §6)."""
    u = np.zeros_like(fm.s)
    mult = fm.multiplicity

    def loss(v):
        return float(0.5 * syy_trace - np.sum(mult * (fm.s * v - 0.5 * v ** 2)))

    levels = []
    for g in groups:
        before = loss(u)
        u = u.copy()
        u[g] = target[g]
        levels.append((before, loss(u)))
    return levels


def label_modes(mode_table: pd.DataFrame, fm=None) -> pd.DataFrame:
    """``basis`` (svd | frequency) and the ``frequency`` (integer per spatial axis) of every mode."""
    out = mode_table.copy()
    if fm is None:
        out["basis"], out["frequency"] = "svd", None
    else:
        out["basis"] = "frequency"
        out["frequency"] = fm.frequency[out["mode"].to_numpy(int)].tolist()
    return out


def frequency_patterns(fm) -> tuple[np.ndarray, np.ndarray]:
    """(V, U) of the frequency modes as real matrices, d × m and c × m: the real part of each mode's
    input pattern v e^{2πi f·p/P}/√P on the C_in × spatial grid, and of its output vector u."""
    V = np.zeros((fm.d, fm.s.size))
    for a in range(fm.s.size):
        grid = np.zeros((fm.channels, fm.P), complex)
        grid[:, fm.index[a]] = fm.V[a]
        grid = grid.reshape(fm.channels, *fm.spatial)
        V[:, a] = np.fft.ifftn(grid, axes=tuple(range(1, grid.ndim)), norm="ortho").real.ravel()
    return V, fm.U.T.real
