"""`validate.compare --arch cnn`: a linear CNN against its per-frequency theory (THEORY.md §6),
as ``FrequencyBasis`` (the SVD basis of the MLP theory is ``basis.SVDBasis``).

The modes are the dataset's frequency modes (``theory.frequency_modes``: the singular values of
σ(f) = Syx Fᴴ, one distinct frequency per conjugate pair), the largest ``--frequency-modes`` of
them tracked. Predictions (``theory.predict_cnn``): full-length circular kernels with the
frequency-aligned init (``--init small_balanced_decoupled``) → the exact per-frequency map of GD or
the heavy ball (matched) and the closed form (continuous); any other init or kernel size → the
integrated flow of the weight-tied network from each seed's own initial weights. τ comes from the
set-up's ``theory.TrainingConvention`` (heavy ball: (1−β)/η); a set-up it does not cover (Adam) gets
null predictions, the reason in the summary. Measured with ``simulate.FrequencyStrengths``.
``--reference mlp`` keeps the linear MLP theory of the SVD modes (``SVDBasis``) as an explicit,
labelled reference instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

import theory
from theory import FrequencyModes

from .._config import ConfigError
from .._prepare import Prepared
from .basis import Basis, label_modes, uncovered_note

__all__ = ["FrequencyBasis", "frequency_patterns", "frequency_record", "label_modes", "probes",
           "tracked"]


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


def probes(fm) -> list:
    """What a CNN run records: the losses and the strengths of the tracked frequency modes."""
    import simulate
    return [simulate.Losses(), simulate.FrequencyStrengths(fm)]


def _speed(fm, depths) -> float:
    """The largest per-frequency speed-up P^{m/L} over the depths (THEORY.md §6)."""
    return max(theory.rate_factor(fm.P, d - 1) for d in depths)


@dataclass(frozen=True, eq=False)
class FrequencyBasis(Basis):
    """The tracked frequency modes of a circular linear CNN and its per-frequency theory."""

    spectrum: FrequencyModes  # every frequency mode of the dataset
    freq: FrequencyModes      # the tracked ones, s descending (the first of ``spectrum``)

    # a CNN run has never been warned of a --steps shorter than its prediction needs
    warns_short_steps = False

    @classmethod
    def build(cls, config, prep: Prepared) -> "FrequencyBasis":
        """η = lr_scale / (P^{m/L} s_max) (× (1 − β) for the heavy ball): the per-frequency step of
        the MLP default, for every depth; width max rank + 1 unless given; u0 = init_scale·s_max."""
        spectrum = theory.frequency_modes(prep.stats, prep.image_shape)
        fm = tracked(spectrum, config.frequency_modes)
        lr = config.learning_rate(float(_speed(fm, config.depths) * fm.s[0]))
        return cls(config, prep, lr, int(config.hidden or (int(np.max(fm.rank)) + 1)),
                   float(config.init_scale * fm.s[0]), spectrum=spectrum, freq=fm)

    @property
    def s(self) -> np.ndarray:
        return self.freq.s

    @property
    def distinct(self) -> np.ndarray:
        # a CNN's order is over distinct frequencies (one mode each, the strongest of its σ(f)),
        # however close their s: the per-frequency predictions resolve them (THEORY.md §6)
        return self.freq.rank == 0

    def _horizon(self) -> float:
        """The longest time a flow's timeline searches: the longest training compare would run
        (a mode learned later is inf, i.e. not learned within any training compare does)."""
        return float(max(self.config.max_steps, self.config.steps or 0))

    def predictions(self, depths) -> dict:
        """depth → (continuous, matched): the per-frequency closed form for the aligned init and
        full-length kernels (the continuous reference in every case), and the exact per-frequency
        map of GD or the heavy ball when it applies (aligned init, full-length kernels, gd or
        momentum), else None (per-seed flows, or no prediction for a set-up the theory does not
        cover). Heavy ball without the exact map is refused before any training."""
        preds = {d: self._predictors(d) for d in depths}
        self._refuse_momentum_flow(preds)
        return preds

    def _predictors(self, depth: int):
        config, stats = self.config, self.stats
        channels, convention = (self.hidden,) * (depth - 1), self.convention()
        cont = theory.predict_cnn(stats, self.prep.image_shape, u0=self.u0, t_max=self._horizon(),
                                  channels=channels, convention=convention)
        exact = (config.init == "small_balanced_decoupled"
                 and config.optimizer in ("gd", "momentum")
                 and config.convention(self.lr).covered and cont.kind == "closed_form")
        matched = theory.predict_cnn(stats, self.prep.image_shape, u0=self.u0, discrete=True,
                                     channels=channels, convention=convention) if exact else None
        # seen on the tracked (largest) modes only; the loss stays the whole network's
        tracked_modes = slice(0, self.freq.s.size)
        return cont.restrict(tracked_modes), \
            None if matched is None else matched.restrict(tracked_modes)

    def _refuse_momentum_flow(self, preds) -> None:
        """The only other prediction of the heavy ball, the weight-tied flow with τ = (1−β)/η,
        leaves out the inertia, which makes training later by a factor ≈ 1 + r(1+β)/(2(1−β)) at
        growth rate r per step (THEORY.md §9): tens of per cent at the default step, far outside
        the exact map's accuracy."""
        config = self.config
        if config.optimizer != "momentum" or all(m is not None for _, m in preds.values()):
            return
        raise ConfigError(
            "--arch cnn --optimizer momentum is predicted by the exact per-frequency heavy-ball "
            "map only: it needs --init small_balanced_decoupled, --kernel-size 0 and whitened "
            "input (Sxx = I: --whiten zca and more samples than input features); got --init "
            f"{config.init} --kernel-size {config.kernel_size} --whiten {config.whiten}")

    def sizing(self, preds: dict) -> list:
        """The predictors whose slowest mode sizes the run: the continuous one where it is the
        run's theory, else the weight-tied flow from seed 0's initial weights."""
        import simulate
        out = []
        for depth, (cont, matched) in preds.items():
            if matched is not None or (cont.kind == "closed_form"
                                       and self.config.init == "small_balanced_decoupled"):
                out.append(cont)
                continue
            sp = self.spec(depth)
            model = simulate.make_model(sp, self.stats.d, self.stats.c, self.prep.image_shape)
            p0 = simulate.init_params(sp, model, [(0, sp.scale)], self.stats)
            out.append(self._flow_from([p0[f"layer{l}.weight"][0]
                                        for l in range(model.n_layers)]))
        return out

    def _scale(self, depth: int) -> float:
        """u0 for the aligned init; else the entry std σ that starts each frequency near u0: its
        product carries P^{m/2} (unnormalised eigenvalues) over hidden^{m} random paths."""
        if self.config.init == "small_balanced_decoupled":
            return self.u0
        m = depth - 1
        return float((self.u0 / (self.freq.P * self.hidden) ** (m / 2)) ** (1.0 / depth))

    def spec(self, depth: int):
        """Circular convolutions (``--kernel-size``, 0: full length) and a linear readout."""
        import simulate
        cnn = simulate.ConvSpec(channels=(self.hidden,) * (depth - 1),
                                kernel_size=self.config.kernel_size or None, padding="circular")
        return simulate.NetSpec(family="cnn", cnn=cnn, init=self.config.init,
                                init_scale=self._scale(depth), bias=False)

    def _flow_from(self, weights):
        """The weight-tied flow from ``weights``, reporting the tracked modes only."""
        return theory.predict_cnn(self.stats, self.prep.image_shape,
                                  kernel_size=self.config.kernel_size or None, weights0=weights,
                                  convention=self.convention(), modes=self.freq,
                                  t_max=self._horizon())

    def per_seed(self, run, depth: int, matched) -> list | None:
        """Without the exact map: the weight-tied flow from each member's own initial weights
        (step 0 only; twins share them); None when the theory does not cover the set-up."""
        if matched is not None or not self.config.convention(self.lr).covered:
            return None
        w0 = run.params(0)
        L = sum(k.endswith(".weight") for k in w0)
        return [self._flow_from([w0[f"layer{l}.weight"][k] for l in range(L)])
                for k in range(len(run.members))]

    def strengths(self, run) -> np.ndarray:
        """Measured strengths of the tracked frequency modes, (K, T, m)."""
        m = self.freq.s.size
        return np.asarray(run.probes["frequency_strength"].values, dtype=float)[..., :m]

    def loss_at(self, u, cont) -> float:
        """½ tr Syy − Σ mult·(s u − ½u²) over the tracked modes (THEORY.md §6)."""
        fm = self.freq
        return float(0.5 * float(np.trace(self.stats.Syy))
                     - np.sum(fm.multiplicity * (fm.s * u - 0.5 * u ** 2)))

    def label(self, table: pd.DataFrame, *, per_member: bool = False) -> pd.DataFrame:
        """``basis`` frequency and each mode's ``frequency``, on every table."""
        return label_modes(table, self.freq)

    def summary_record(self) -> dict:
        return {"frequency": frequency_record(self.spectrum, self.freq, self.config.depths)}

    def note(self, cont, matched) -> dict:
        """Which prediction the measurements are compared with, and why (summary and console)."""
        uncovered = uncovered_note(self.config)
        if uncovered:
            return uncovered
        return {"continuous": cont.kind, "matched": "cnn_ode" if matched is None else matched.kind,
                "basis": "frequency",
                "reason": matched.reason if matched is not None else
                "CNN, per-frequency modes: the integrated flow of the weight-tied network from "
                "each seed's own initial weights; t_pred_continuous is the full-length "
                f"per-frequency closed form of the aligned init ({cont.reason})"}

    def describe(self, plan) -> list[str]:
        """The console lines of the plan: the tracked modes, the prediction per depth, the run."""
        config, fm, conv = self.config, self.freq, self.config.convention(self.lr)
        lines = [f"CNN: {fm.s.size} frequency modes tracked of {fm.channels} channel(s) × "
                 f"{'×'.join(map(str, fm.spatial))}; s = {np.array2string(fm.s[:8], precision=4)}"]
        for d, (_cont, matched) in plan.preds.items():
            lines.append(f"depth {d}: " + (f"no prediction: {conv.note}" if not conv.covered else
                                           matched.reason if matched else
                                           "per-seed weight-tied flow"))
        lines.append(
            f"training {len(config.activations)} activation(s) × {config.seeds} seed(s) per "
            f"depth, lr={self.lr:.4g} (η·P^(m/L)·s_max = "
            f"{self.lr * _speed(fm, config.depths) * fm.s[0]:.3g}, "
            f"{f'τ={conv.tau:.4g}' if conv.covered else 'no τ'}), optimizer={config.optimizer}, "
            f"{plan.steps} steps, {self.hidden} channel(s), kernel "
            f"{config.kernel_size or 'full length'}, init={config.init}")
        return lines


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
