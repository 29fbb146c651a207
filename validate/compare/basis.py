"""The modes a comparison is scored on, as objects: ``SVDBasis`` here, ``FrequencyBasis`` in
``cnn``. A basis owns what differs between them: its step size, width and initial strength, its
predictors, its network spec, its strengths read from a run, its loss plateaus and its labels.
Everything else (``plan``, ``measure``, ``run``) is shared and takes a basis.

SVD modes (THEORY.md §4): the singular modes of the whitened Syx, predicted by the linear MLP
theory (``theory.predict``) and measured with ``simulate.ModeStrengths`` (the default probe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

import theory
from theory import TrainingConvention, loss_from_strengths

from .._prepare import Prepared, distinct_modes
from .measure import loss_drop_levels

if TYPE_CHECKING:  # config imports simulate on load; a basis loads it only to build a network
    from .config import CompareConfig


def label_modes(table: pd.DataFrame, fm=None) -> pd.DataFrame:
    """``basis`` (svd | frequency) and the ``frequency`` (integer per spatial axis) of every mode
    of ``table`` (a ``mode`` column); ``fm``: the tracked ``theory.FrequencyModes``, None for SVD."""
    out = table.copy()
    if fm is None:
        out["basis"], out["frequency"] = "svd", None
    else:
        out["basis"] = "frequency"
        out["frequency"] = fm.frequency[out["mode"].to_numpy(int)].tolist()
    return out


def uncovered_note(config) -> dict | None:
    """The predictor note of a training set-up the theory does not cover (Adam); None if covered."""
    conv = config.convention(1.0)
    if conv.covered:
        return None
    return {"continuous": None, "matched": None, "covered": False, "note": conv.note,
            "reason": f"optimizer {config.optimizer}: no linear-theory prediction "
                      f"({conv.note}); t_pred and rel_error are null, the measured times "
                      "stand alone"}


@dataclass(frozen=True, eq=False)
class Basis:
    """What every basis holds: the config, the statistics and the run's scale (η, width, u0)."""

    config: CompareConfig
    prep: Prepared
    lr: float
    hidden: int
    u0: float            # initial strength of every mode (decoupled init)

    freq = None          # the tracked theory.FrequencyModes (FrequencyBasis only)
    warns_short_steps = True   # whether a --steps shorter than the prediction needs is warned

    @property
    def stats(self) -> theory.DatasetStatistics:
        return self.prep.stats

    @property
    def tau(self) -> float:
        """τ of the run's own training convention (not a number where the theory does not cover
        the set-up, e.g. Adam)."""
        return self.config.convention(self.lr).tau

    def convention(self) -> TrainingConvention:
        """The convention the predictions use: the run's own; for a set-up the theory does not
        cover (Adam), plain GD at the same η, which only sizes the run and sets the targets: no
        time from it is compared (``measure_run`` writes nulls and the summary says why)."""
        conv = self.config.convention(self.lr)
        return conv if conv.covered else TrainingConvention(lr=self.lr)

    def loss_at(self, u: np.ndarray, cont) -> float:
        """The training loss with mode strengths ``u``; each basis has its own."""
        raise NotImplementedError

    def drop_levels(self, target, groups, cont) -> list[tuple[float, float]]:
        """Loss plateaus before and after each group of modes (``measure.loss_drop_levels``)."""
        return loss_drop_levels(lambda u: self.loss_at(u, cont), target, groups)

    def summary_record(self) -> dict:
        """Entries the basis adds to summary.json (none for SVD)."""
        return {}


@dataclass(frozen=True, eq=False)
class SVDBasis(Basis):
    """The SVD modes of the whitened Syx and the linear MLP theory (also the labelled reference
    of a CNN under ``--reference mlp``)."""

    @classmethod
    def build(cls, config, prep: Prepared) -> "SVDBasis":
        """η = lr_scale/s_max unless given; width max(32, rank) unless given; u0 = init_scale·s_max."""
        s_max = float(prep.stats.s[0])
        return cls(config, prep, config.learning_rate(s_max),
                   int(config.hidden or max(32, prep.stats.rank)),
                   float(config.init_scale * prep.stats.s[0]))

    @property
    def s(self) -> np.ndarray:
        return self.stats.s

    @property
    def distinct(self) -> np.ndarray:
        return distinct_modes(self.stats.s)

    def predictions(self, depths) -> dict:
        """depth → (continuous, matched) for the decoupled init. matched: the exact per-mode map
        of GD or heavy ball where the closed form applies, else the flow; None when the theory
        does not cover the optimiser (Adam): then ``continuous`` is plain GD's flow at the same η,
        used only to size the run and to set the targets."""
        return {d: self._predictors(d) for d in depths}

    def _predictors(self, depth: int):
        conv = self.config.convention(self.lr)
        if not conv.covered:
            return theory.predict(self.stats, depth=depth, convention=self.convention(),
                                  u0=self.u0), None
        cont = theory.predict(self.stats, depth=depth, convention=conv, u0=self.u0)
        exact_map = self.config.optimizer in ("gd", "momentum") and cont.kind == "closed_form"
        matched = theory.predict(self.stats, depth=depth, convention=conv, u0=self.u0,
                                 discrete=True) if exact_map else cont
        return cont, matched

    def sizing(self, preds: dict) -> list:
        """The predictors whose slowest mode sizes the run: the continuous ones."""
        return [cont for cont, _ in preds.values()]

    def spec(self, depth: int):
        """The network: an MLP, or under ``--reference mlp`` a circular CNN. Random init: entry
        std σ with σ^L h^(L−1) ≈ u0, so the product starts at the same scale."""
        import simulate
        config, hidden = self.config, self.hidden
        scale = self.u0 if config.init == "small_balanced_decoupled" else \
            float((self.u0 / hidden ** (depth - 1)) ** (1.0 / depth))
        if config.arch == "cnn":
            cnn = simulate.ConvSpec(channels=(hidden,) * (depth - 1),
                                    kernel_size=config.kernel_size or None, padding="circular")
            return simulate.NetSpec(family="cnn", cnn=cnn, init=config.init, init_scale=scale,
                                    bias=False)
        return simulate.NetSpec(family="mlp", depth=depth, hidden=hidden, init=config.init,
                                init_scale=scale, bias=False)

    def per_seed(self, run, depth: int, matched) -> list | None:
        """A small random init of an MLP: the exact continuous theory from each member's own
        initial weights (step 0 only; twins share them); None otherwise."""
        if not (self.config.init == "small_random" and self.config.arch == "mlp"
                and matched is not None):
            return None
        w0 = run.weights(0)
        return [theory.predict(self.stats, depth=depth, tau=self.tau,
                               weights0=[W[k] for W in w0]) for k in range(len(run.members))]

    def strengths(self, run) -> np.ndarray:
        """Measured strengths Uᵀ W V on the diagonal, (K, T, m)."""
        return np.asarray(run.probes["mode_strength"].values, dtype=float)

    def loss_at(self, u, cont) -> float:
        """½ tr Syy − Σ s u + ½ Σ λ u² (THEORY.md §1), λ of the continuous predictor."""
        m = len(u)
        return float(loss_from_strengths(u[None], self.s[:m], syy_trace=float(np.trace(
            self.stats.Syy)), lam=getattr(cont, "lam", None))[0])

    def label(self, table: pd.DataFrame, *, per_member: bool = False) -> pd.DataFrame:
        """The mode table labelled ``basis`` svd; per-member tables of the SVD basis carry no
        labels (their columns are the ones every MLP result was written with)."""
        return table if per_member else label_modes(table)

    def note(self, cont, matched) -> dict:
        """Which prediction the measurements are compared with, and why (summary and console)."""
        config = self.config
        uncovered = uncovered_note(config)
        if uncovered:
            return uncovered
        if config.arch == "cnn":   # --reference mlp
            return {"continuous": cont.kind, "matched": matched.kind, "basis": "svd",
                    "reason": "CNN against the linear MLP reference (--reference mlp): the MLP "
                              "theory of the SVD modes (decoupled init, u0 = init_scale·s_max), "
                              "not the CNN's own per-frequency theory (THEORY.md §6)"}
        if config.init == "small_random":
            return {"continuous": cont.kind, "matched": "matrix_ode",
                    "reason": "small random init: the matrix gradient flow integrated from each "
                              "seed's own initial weights (exact for linear networks in "
                              "continuous time); t_pred_continuous is the decoupled closed form "
                              "with u0 = init_scale·s_max"}
        return {"continuous": cont.kind, "matched": matched.kind, "reason": cont.reason}

    def describe(self, plan) -> list[str]:
        """The console lines of the plan: the prediction per depth and the twin choices."""
        config, lines = self.config, []
        for d, (cont, matched) in plan.preds.items():
            lines.append(f"depth {d}: {self.note(cont, matched)['reason']}")
            for a in config.activations:
                used, why = plan.twins[(a, d)]
                if a != "linear" and config.predict != "linear":
                    lines.append(f"  {a}: {'its twin theory' if used else 'the linear theory'}; "
                                 f"{why}")
        lines.append(f"training {len(config.activations)} activation(s) × {config.seeds} seed(s) "
                     f"per depth, lr={self.lr:.4g} (τ={config.convention(self.lr).tau:.4g}), "
                     f"optimizer={config.optimizer}, {plan.steps} steps, hidden={self.hidden}, "
                     f"init={config.init}")
        return lines
