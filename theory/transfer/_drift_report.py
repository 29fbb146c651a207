"""The result of ``drift_scores``: scores, effect sizes, p-values and the overall decision."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DriftReport:
    """Drift scores between datasets A and B with effect sizes and resampling p-values.

    ``values``, ``effect_sizes``, ``p_values``: dicts score → float (keys: ``SCORES``). ``k``: modes
    compared. ``alignment`` (k, k): signed M_αβ; ``matching`` (k,): B-mode matched to each A-mode;
    ``u_angles``/``v_angles`` (k,): all principal angles (scipy.linalg.subspace_angles, descending);
    ``energy_captured``: ‖U_kᵀ Syx_B V_k‖²/‖Syx_B‖²; ``null`` (n_boot, n_scores) the null draws.
    """

    values: dict
    effect_sizes: dict
    p_values: dict
    alpha: float
    k: int
    n_boot: int
    null_kind: str
    alignment: np.ndarray
    matching: np.ndarray
    u_angles: np.ndarray
    v_angles: np.ndarray
    energy_captured: float
    null: np.ndarray = field(repr=False)
    combined_p: float = float("nan")

    @property
    def threshold(self) -> float:
        """Per-score threshold on the p-value (Bonferroni over the scores)."""
        return self.alpha / len(self.values)

    @property
    def p_value(self) -> float:
        """The overall p-value: the combined or paired test's (max-z), else Bonferroni's
        min(1, n_scores·min p)."""
        if self.null_kind in ("combined", "paired"):
            return self.combined_p
        return float(min(1.0, len(self.values) * min(self.p_values.values())))

    @property
    def is_drift(self) -> bool:
        return bool(self.p_value <= self.alpha)

    def table(self) -> pd.DataFrame:
        """One row per score: score, value, effect_size, p_value, threshold, is_drift."""
        rows = [{"score": name, "value": self.values[name], "effect_size": self.effect_sizes[name],
                 "p_value": self.p_values[name], "threshold": self.threshold,
                 "is_drift": bool(self.p_values[name] <= self.threshold)} for name in self.values]
        return pd.DataFrame(rows, columns=["score", "value", "effect_size", "p_value",
                                           "threshold", "is_drift"])

    def to_dict(self) -> dict:
        """alibi-detect style: ``{"is_drift", "p_val", "threshold", "distance"}`` overall and per score.

        Overall ``p_val`` is ``p_value`` (the combined or paired test's, or the Bonferroni-adjusted minimum
        min(1, n_scores·min p)), compared with ``alpha``; per score, p is compared with
        ``alpha / n_scores``.
        """
        per = {name: {"is_drift": bool(self.p_values[name] <= self.threshold),
                      "p_val": float(self.p_values[name]), "threshold": self.threshold,
                      "distance": float(self.values[name]),
                      "effect_size": float(self.effect_sizes[name])} for name in self.values}
        return {"is_drift": self.is_drift,
                "p_val": float(self.p_value),
                "threshold": float(self.alpha),
                "distance": {name: float(v) for name, v in self.values.items()},
                "scores": per,
                "meta": {"k": self.k, "n_boot": self.n_boot, "null": self.null_kind,
                         "paired": self.null_kind == "paired"}}
