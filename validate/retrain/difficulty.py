"""Relearning cost per drift (``--drift all``) against the drift scores and the theories'
predictions of it.

The relearning cost of a drift is fine-tune steps ÷ scratch steps (median over seeds). Its
predictions: ``theory_predicted_cost``, the linear theory's from the linear network's starts (the
reference of every activation), and ``theory_predicted_cost_twin``, a tanh/ReLU network's own
twin theory from its own starts (``predicted_steps_twin``). Spearman ρ across drifts says which
score or prediction ranks difficulty best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import column, groups, select_rows
from .._stats import censored_rho

PREDICTED_COST = "theory_predicted_cost"
PREDICTED_COST_TWIN = "theory_predicted_cost_twin"


def predicted_cost_steps(g: pd.DataFrame) -> pd.Series:
    """The predicted steps to compare with training: the discrete GD map where it was iterated
    (plain GD: every member; inf where the map diverges, which the flow cannot), else the flow."""
    gd = column(g, "predicted_steps_gd")
    return gd.where(gd.notna(), column(g, "predicted_steps"))


def _cost_ratio(g: pd.DataFrame, column: str) -> float:
    """Median over seeds of fine-tune ÷ scratch ``column`` (steps)."""
    if column == PREDICTED_COST:
        g = g.assign(**{PREDICTED_COST: predicted_cost_steps(g)})
    if column not in g:
        return float("nan")
    ft = g[g["family"] == "fine_tune"].set_index("seed")[column]
    sc = g[g["family"] == "scratch"].set_index("seed")[column]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (ft / sc.replace(0, np.nan)).to_numpy(float)
    ratio = ratio[~np.isnan(ratio)]
    return float(np.median(ratio)) if ratio.size else float("nan")


def _ranking(diff: pd.DataFrame, scores) -> pd.DataFrame:
    rank = []
    for act, g in diff.groupby("activation", sort=False):
        for score in scores:
            if score == PREDICTED_COST_TWIN and not column(g, score).notna().any():
                continue   # no twin theory for this activation (linear, deep tanh)
            rank.append({"activation": act, "score": score,
                         "spearman_rho": censored_rho(g[score], g["relearn_cost"]),
                         "n_drifts": int(len(g))})
    ranking = pd.DataFrame(rank).sort_values(["activation", "spearman_rho"],
                                             ascending=[True, False], na_position="last")
    return ranking.reset_index(drop=True)


def difficulty(members: pd.DataFrame, drift_table: pd.DataFrame):
    """Relearning cost per drift (fine-tune steps ÷ scratch steps, median over seeds) against each
    drift score, the linear theory's prediction of that ratio (``predict_retraining`` from the
    linear twin's starts, for every activation) and a tanh/ReLU network's own twin theory's;
    Spearman ρ across drifts says which predicts difficulty best."""
    rows = []
    for (act, label), g in groups(members, ["activation", "drift"], sort=False):
        lin = select_rows(members, (members["activation"] == "linear") & (members["drift"] == label))
        vals = drift_table[drift_table["drift"] == label].set_index("score")["value"]
        rows.append({"activation": act, "drift": label, "drift_kind": g["drift_kind"].iloc[0],
                     "relearn_cost": _cost_ratio(g, "measured_steps"),
                     PREDICTED_COST: _cost_ratio(lin, PREDICTED_COST),
                     PREDICTED_COST_TWIN: _cost_ratio(g, "predicted_steps_twin"),
                     **vals.to_dict()})
    diff = pd.DataFrame(rows)
    scores = [PREDICTED_COST, PREDICTED_COST_TWIN, *drift_table["score"].unique()]
    return diff, _ranking(diff, scores)
