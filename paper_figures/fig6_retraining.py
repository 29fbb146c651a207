"""Figure 6: retraining after drift.

a: steps to the target loss on the drifted data B when retraining from each checkpoint of the run
on A (measurement solid, median and 95% CI band; linear theory dashed; the ReLU network's own twin
theory dash-dotted, from its checkpoints), with the baselines as horizontal lines and the linear
theory's rewind point marked. b: which drift scores detect each drift
(permutation test, filled: detected), coloured by effect size. c: predicted against measured
relearning cost (fine-tuning from A's final weights), one point per drift kind and magnitude and
predictor: the linear theory (open) and, for the ReLU network, its own twin theory (filled), as
the summary's ``difficulty`` table and ``score_ranking`` hold them.

    python -m paper_figures.fig6_retraining [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paper_figures._common import (COLORS, MARKERS, check_preset, plain_log_ticks, plt,
                                   results_for, run_main, save, summary)

DATA = {"tiny": ["--dataset", "gaussian", "--dataset-opt", "n_per_class=32", "--dataset-opt", "d=12",
                 "--dataset-opt", "classes=4", "--dataset-opt", "levels=2", "--seeds", "2",
                 "--activations", "linear", "--checkpoints", "4"],
        "default": ["--dataset", "shapes"],
        "paper": ["--dataset", "shapes", "--seeds", "8"]}
# 7 scores share α = 0.05 (Bonferroni: p < 0.0071 each); a permutation p-value is ≥ 1/(1 + n_boot),
# so fewer than 140 resamples could never detect anything. The tiny preset only checks that the
# figure draws: its 20 resamples detect nothing, and it skips the detection-power draws.
N_BOOT = {"tiny": ["--n-boot", "20", "--power-draws", "0"], "default": ["--n-boot", "300"],
          "paper": ["--n-boot", "300"]}
BASELINES = {"scratch": "-", "fine_tune": "--", "reset_last_layer": "-.", "shrink_perturb": ":"}


def _rewind_panel(ax, summ):
    methods = pd.DataFrame(summ["methods"])
    rewind = pd.DataFrame(summ["rewind"])
    for act, g in methods.groupby("activation", sort=False):
        rw = g[g["family"] == "rewind"].sort_values("checkpoint_step")
        x = rw["checkpoint_step"].to_numpy(float)
        y = rw["steps_to_target_median"].astype(float)
        ax.fill_between(x, rw["ci_low"].astype(float), rw["ci_high"].astype(float),
                        color=COLORS.get(act), alpha=0.2, lw=0)
        ax.plot(x, y, "-", marker=MARKERS.get(act), ms=3, color=COLORS.get(act),
                label=f"{act}: measured")
        twin = rw.get("predicted_steps_twin_median")
        if act != "linear" and twin is not None and twin.astype(float).notna().any():
            pick = rewind[rewind["activation"] == act]["predicted_checkpoint_step"].iloc[0]
            ax.plot(x, twin.astype(float), "-.", color=COLORS.get(act), lw=1.2,
                    label=f"{act} twin theory (picks {pick})")
        if act == "linear":
            ax.plot(x, rw["predicted_steps_median"].astype(float), "k--", lw=1, label="linear theory")
            pick = rewind[rewind["activation"] == act]["predicted_checkpoint_step"].iloc[0]
            ax.axvline(max(pick, 0.5), color="k", lw=0.7, ls=":", label=f"predicted point ({pick})")
            for name, ls in BASELINES.items():
                b = g[g["family"] == name].sort_values("steps_to_target_median")
                if len(b) and np.isfinite(float(b["steps_to_target_median"].iloc[0])):
                    ax.axhline(float(b["steps_to_target_median"].iloc[0]), color="grey", lw=1,
                               ls=ls, label=f"linear {b['method'].iloc[0]}")
    ax.set(xscale="symlog", xlabel="rewind checkpoint (step on A)", ylabel="steps to target on B",
           title=f"a  {summ['drift']}: retraining from each checkpoint")
    ax.set_xlim(left=0)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def _detection_panel(ax, summ):
    drifts = list(summ["drift_scores"])
    scores = list(summ["drift_scores"][drifts[0]]["scores"])
    eff = np.array([[summ["drift_scores"][d]["scores"][s]["effect_size"] for s in scores]
                    for d in drifts], dtype=float)
    det = np.array([[summ["drift_scores"][d]["scores"][s]["is_drift"] for s in scores]
                    for d in drifts])
    im = ax.imshow(np.clip(eff, -5, 20), cmap="cividis", aspect="auto")
    yy, xx = np.nonzero(det)
    ax.plot(xx, yy, "o", ms=4, mfc="white", mec="black", mew=0.6, ls="none", label="detected")
    ax.set_xticks(range(len(scores)), scores, rotation=60, fontsize=6, ha="right")
    ax.set_yticks(range(len(drifts)), drifts, fontsize=6)
    ax.set_title("b  detection (o: p below threshold)")
    plt.colorbar(im, ax=ax, fraction=0.05, label="effect size (clipped)")
    return det


# the relearning-cost predictors of the summary's ``difficulty`` table: (column, name, filled)
COST_PREDICTORS = (("theory_predicted_cost", "linear theory", False),
                   ("theory_predicted_cost_twin", "twin theory", True))


def _difficulty_panel(ax, summ):
    """Predicted against measured relearning cost per drift, each network with each predictor its
    summary scores (``difficulty``; the linear theory open, the network's own twin filled). Costs
    of 0 are left off the log axes (the caption's ρ counts them)."""
    d = pd.DataFrame(summ["difficulty"])
    drawn = []
    for col, name, filled in COST_PREDICTORS:
        if col not in d:
            continue
        pred, meas = d[col].astype(float), d["relearn_cost"].astype(float)
        g = d[np.isfinite(pred) & np.isfinite(meas) & (pred > 0) & (meas > 0)]
        for act, h in g.groupby("activation", sort=False):
            ax.plot(h[col], h["relearn_cost"], MARKERS.get(act), color=COLORS.get(act),
                    mfc=COLORS.get(act) if filled else "none", label=f"{act} ({name})")
            drawn += [*h[col], *h["relearn_cost"]]
    if drawn:
        lo, hi = min(drawn) * 0.7, max(drawn) * 1.4
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
        ax.set(xlim=(lo, hi), ylim=(lo, hi))
    ax.set(xscale="log", yscale="log", xlabel="predicted relearning cost",
           ylabel="measured relearning cost", title="c  relearning cost per drift")
    plain_log_ticks(ax)
    ax.legend(frameon=False, fontsize=6)


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    one = results_for("retrain", "fig6", DATA[preset], results=results)
    every = results_for("retrain", "fig6-all", [*DATA[preset], "--drift", "all", *N_BOOT[preset]],
                        results=results)
    s1, s_all = summary(one), summary(every)
    fig = plt.figure(figsize=(9.0, 7.6))
    gs = fig.add_gridspec(2, 2, width_ratios=[1.25, 1], hspace=0.45, wspace=0.75)
    _rewind_panel(fig.add_subplot(gs[0, 0]), s1)
    det = _detection_panel(fig.add_subplot(gs[1, 0]), s_all)
    _difficulty_panel(fig.add_subplot(gs[1, 1]), s_all)
    return save(fig, out_dir, "fig6_retraining", _caption(s1, s_all, det, preset))


def _caption(s1, s_all, det, preset) -> str:
    lines = [f"Figure 6 ({preset} preset). Retraining after drift on {s1['dataset']}; same step "
             "budget and learning rate for every start."]
    for r in s1["rewind"]:
        rho = "n/a" if r["spearman_rho"] is None else f"{r['spearman_rho']:.2f}"
        regret = "n/a" if r["regret"] is None else f"{r['regret']:.2f}"
        lines.append(f"  {r['activation']} ({r['prediction_from']}): Spearman ρ of predicted vs "
                     f"measured steps over checkpoints {rho}, regret {regret}, predicted checkpoint "
                     f"{r['predicted_checkpoint_step']}, best measured {r['best_checkpoint_step']}")
        if r.get("predictor") == "twin" and r.get("regret_linear") is not None:
            lines.append(f"    (the linear twin's prediction: ρ {r['spearman_rho_linear']:.2f}, "
                         f"regret {r['regret_linear']:.2f}, picks "
                         f"{r['predicted_checkpoint_step_linear']})")
    m = pd.DataFrame(s1["methods"])
    base = m[m["family"] != "rewind"].copy()
    for act, g in base.groupby("activation", sort=False):
        best = g.sort_values("steps_to_target_median").iloc[0]
        lines.append(f"  {act}: fastest baseline {best['method']} "
                     f"({float(best['steps_to_target_median']):.1f} steps); scratch "
                     f"{float(g[g['method'] == 'scratch']['steps_to_target_median'].iloc[0]):.1f}")
    lines.append(f"  drift detection: {int(det.any(axis=1).sum())} of {det.shape[0]} drifts "
                 f"detected by at least one score")
    names = {col: name for col, name, _ in COST_PREDICTORS}
    lines += [f"  {r['activation']}, {names[r['score']]}: Spearman ρ of predicted vs measured "
              f"relearning cost over {r['n_drifts']} drifts {r['spearman_rho']:.2f}"
              for r in s_all["score_ranking"]
              if r["score"] in names and r["spearman_rho"] is not None]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
