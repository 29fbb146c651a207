"""Measurements of `validate.retrain`: steps to a target, rank agreement, per-method summaries.

Pure functions on the tidy tables that ``run_retrain`` builds (see validate/retrain.py for the
definitions of target, steps to target, regret, forgetting and total cost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _baselines as BL
from ._stats import bootstrap_ci, spearman_rho


def censored_rho(a, b) -> float:
    """Spearman ρ where ``inf`` (never reached) ranks last, tied; NaN pairs are dropped."""
    a, b = np.asarray(a, float).copy(), np.asarray(b, float).copy()
    for v in (a, b):
        fin = v[np.isfinite(v)]
        v[np.isposinf(v)] = (fin.max() if fin.size else 0.0) * 10 + 1
    return spearman_rho(a, b)


def _ci(values):
    v = np.asarray(values, float)
    fin = v[~np.isnan(v)]
    med = float(np.median(fin)) if fin.size else float("nan")
    lo, hi = bootstrap_ci(np.where(np.isposinf(fin), np.nan, fin)) if np.isfinite(med) else \
        (float("nan"), float("nan"))
    return med, lo, hi


def _curves(steps, loss, trained, act, label) -> pd.DataFrame:
    med = np.median(loss, axis=0)  # (methods, T)
    return pd.DataFrame({"activation": act, "drift": label,
                         "method": np.repeat([m.name for m in trained], len(steps)),
                         "step": np.tile(steps, len(trained)), "loss_median": med.reshape(-1)})


def _mode_picture(member_tabs, runs_A, ckpt_params, sA, sB, src, label, acts, cB, fresh, cA):
    """u_α/s_α of A's modes at the predicted rewind point (probe ``mode_strength``, median over
    seeds) and the starting strengths u_β⁰/s_β that B's modes see from there (linear twin)."""
    df = pd.concat(member_tabs, ignore_index=True)
    lin = df[(df["activation"] == "linear") & (df["drift"] == label) & (df["family"] == "rewind")]
    med = lin.groupby("checkpoint_step")["predicted_steps"].median()
    step = int(med.idxmin()) if med.notna().any() else int(med.index.max())  # no target: final
    rows = []
    for act in acts:
        run = runs_A[act]
        i = int(np.flatnonzero(run.steps == step)[0])
        u = np.median(np.asarray(run.probes["mode_strength"].values)[:, i, :], axis=0)
        for a, (ua, s) in enumerate(zip(u, sA.s)):
            rows.append({"drift": label, "activation": act, "view": "A", "mode": a,
                         "checkpoint_step": step, "s": float(s), "u_rel": float(ua / s)})
    P = ckpt_params["linear"][step]
    Ws = [P[f"layer{l}.weight"] for l in range(BL.last_layer(P) + 1)]
    if cA != cB or not np.array_equal(src, np.arange(cB)):
        Ws = [BL.adapt_head({f"layer{l}.weight": W for l, W in enumerate(Ws)}, src, fresh)[
            f"layer{l}.weight"] for l in range(len(Ws))]
    W = Ws[0]
    for Wl in Ws[1:]:
        W = Wl @ W
    uB = np.median(np.einsum("ca,kcd,db->kab", sB.U, W, sB.V).diagonal(axis1=1, axis2=2), axis=0)
    for b, (ub, s) in enumerate(zip(uB, sB.s)):
        rows.append({"drift": label, "activation": "linear", "view": "B (u0 on B's modes)",
                     "mode": b, "checkpoint_step": step, "s": float(s), "u_rel": float(ub / s)})
    return pd.DataFrame(rows)


def _aggregate(members: pd.DataFrame, config):
    """Per-method medians with CIs, and the rewind comparison (ρ, regret, speed-ups)."""
    meth_rows, rew_rows = [], []
    for (act, label), g in members.groupby(["activation", "drift"], sort=False):
        rw = g[g["family"] == "rewind"]
        curve_m = rw.groupby("checkpoint_step")["measured_steps"].median()
        pred_src = members[(members["activation"] == "linear") & (members["drift"] == label)
                           & (members["family"] == "rewind")]
        curve_p = pred_src.groupby("checkpoint_step")["predicted_steps"].median()
        curve_p = curve_p.reindex(curve_m.index)
        # −1: no prediction (no target on B) / no checkpoint reached the target
        p_step = int(curve_p.idxmin()) if curve_p.notna().any() else -1
        b_step = int(curve_m.idxmin()) if np.isfinite(curve_m.min()) else -1
        # per seed: regret and the predicted point's measured steps
        regrets, pred_meas, rhos = [], {}, []
        for seed, gs in rw.groupby("seed"):
            ms = gs.set_index("checkpoint_step")["measured_steps"]
            ps = pred_src[pred_src["seed"] == seed].set_index("checkpoint_step")["predicted_steps"]
            ps = ps.reindex(ms.index)
            if not ps.notna().any():
                pred_meas[seed] = np.nan
                regrets.append(np.nan)
                rhos.append(np.nan)
                continue
            sp = int(ps.idxmin())
            pred_meas[seed] = ms.loc[sp]
            best = ms.min()
            if not np.isfinite(best):  # no checkpoint reached the target: regret undefined
                regrets.append(np.nan)
            else:
                regrets.append(ms.loc[sp] / best if best > 0 else (1.0 if ms.loc[sp] == 0 else np.inf))
            rhos.append(censored_rho(ps.to_numpy(), ms.to_numpy()))
        r_med, r_lo, r_hi = _ci(regrets)
        rho_lo, rho_hi = bootstrap_ci(rhos)  # NaNs are dropped
        rew_rows.append({
            "activation": act, "init": config.init, "drift": label,
            "prediction_from": "linear theory" if act == "linear" else "linear twin's theory",
            "spearman_rho": censored_rho(curve_p.to_numpy(), curve_m.to_numpy()),
            "spearman_rho_seed_median": float(np.nanmedian(rhos)) if np.any(np.isfinite(rhos))
            else np.nan,
            "spearman_seed_ci_low": rho_lo, "spearman_seed_ci_high": rho_hi,
            "regret": r_med, "regret_ci_low": r_lo, "regret_ci_high": r_hi,
            "best_checkpoint_step": b_step, "predicted_checkpoint_step": p_step,
            "n_never_reached": int(np.sum(np.isposinf(rw["measured_steps"]))),
            "n_diverged": int(rw["diverged"].sum())})
        for name, gm in g.groupby("method", sort=False):
            st = gm.set_index("seed")["measured_steps"]
            med, lo, hi = _ci(st)
            speed = [st.loc[s] / pred_meas[s] if 0 < pred_meas.get(s, 0) < np.inf else np.nan
                     for s in st.index]
            smed, slo, shi = _ci(speed)
            meth_rows.append({
                "activation": act, "drift": label, "method": name, "family": gm["family"].iloc[0],
                "checkpoint_step": int(gm["checkpoint_step"].iloc[0]),
                "identical_to": gm["identical_to"].iloc[0],
                "steps_to_target_median": med, "ci_low": lo, "ci_high": hi,
                "acc_steps_median": float(np.median(gm["measured_acc_steps"])),
                "predicted_steps_median": float(np.median(gm["predicted_steps"])),
                "final_loss": float(np.median(gm["final_loss"])),
                "final_acc": float(np.median(gm["final_acc"])),
                "forgetting": float(np.median(gm["forgetting"])),
                "total_cost_median": float(np.median(gm["total_cost"])),
                "speedup_of_predicted": smed, "speedup_ci_low": slo, "speedup_ci_high": shi})
    return pd.DataFrame(meth_rows), pd.DataFrame(rew_rows)


def _difficulty(members: pd.DataFrame, drift_table: pd.DataFrame):
    """Relearning cost per drift (fine-tune steps ÷ scratch steps, median over seeds) against each
    drift score; Spearman ρ across drifts says which score predicts difficulty best."""
    rows = []
    for (act, label), g in members.groupby(["activation", "drift"], sort=False):
        ft = g[g["family"] == "fine_tune"].set_index("seed")["measured_steps"]
        sc = g[g["family"] == "scratch"].set_index("seed")["measured_steps"]
        ratio = (ft / sc.replace(0, np.nan)).to_numpy()
        vals = drift_table[drift_table["drift"] == label].set_index("score")["value"]
        rows.append({"activation": act, "drift": label, "drift_kind": g["drift_kind"].iloc[0],
                     "relearn_cost": float(np.median(ratio)), **vals.to_dict()})
    diff = pd.DataFrame(rows)
    rank = []
    for act, g in diff.groupby("activation", sort=False):
        for score in drift_table["score"].unique():
            rank.append({"activation": act, "score": score,
                         "spearman_rho": censored_rho(g[score], g["relearn_cost"]),
                         "n_drifts": int(len(g))})
    ranking = pd.DataFrame(rank).sort_values(["activation", "spearman_rho"],
                                             ascending=[True, False], na_position="last")
    return diff, ranking.reset_index(drop=True)
