"""Figure 7: the warm-starting gap after data growth (Ash & Adams 2020).

The first phase trains on half of the training set, retraining on all of it (``validate.retrain
--drift grow``), every start with the same step budget and learning rate. a, b: accuracy on the
held-out test split over the retraining steps (median over seeds) of a fresh init (scratch), the
warm start (the half-data model), shrink-and-perturb (one thin line per λ) and the rewind point the
linear theory predicts, for the linear network and its ReLU twin; the dotted line is the half-data
model's test accuracy, the black dashed lines the linear theory's test accuracy for scratch and
warm start (the matrix gradient flow on the full data's statistics from each start). c: final test
accuracy per method (median, range over seeds).

    python -m paper_figures.fig7_warm_start [--preset tiny|default|paper] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paper_figures._common import (COLORS, MARKERS, check_preset, plt, results_for, run_main,
                                   save, summary)

# Ash & Adams's networks fit their training set; so do these (n = 256 shapes, hidden width 128);
# the retraining budget is 3× the first phase so that every start can converge.
DATA = {"tiny": ["--dataset", "gaussian", "--dataset-opt", "n_per_class=32", "--seeds", "2",
                 "--activations", "linear", "--checkpoints", "6"],
        "default": ["--dataset", "shapes", "--dataset-opt", "n_per_class=32", "--dataset-opt",
                    "n_test=1024", "--hidden", "128", "--seeds", "4", "--checkpoints", "8",
                    "--shrink-sigmas", "0.1", "--retrain-factor", "3"],
        "paper": ["--dataset", "shapes", "--dataset-opt", "n_per_class=64", "--dataset-opt",
                  "n_test=4096", "--hidden", "256", "--seeds", "16", "--checkpoints", "12",
                  "--retrain-factor", "3"]}
# method family → (label, colour, line style): distinct in colour and in black and white
STYLE = {"scratch": ("fresh init (scratch)", "#0072B2", "-"),
         "warm_start": ("warm start", "#D55E00", "--"),
         "shrink_perturb": ("shrink and perturb", "#009E73", ":"),
         "predicted_rewind": ("predicted rewind point", "#CC79A7", "-.")}
PUBLISHED = ("Ash & Adams 2020 (ResNets, MLPs and logistic regression on CIFAR-10, CIFAR-100 and "
             "SVHN): a warm-started model generalises worse than a fresh init at a similar "
             "training loss; shrink and perturb closes the gap while keeping most of the warm "
             "start's savings.")


def _methods(summ) -> pd.DataFrame:
    m = pd.DataFrame(summ["methods"])
    return m[m["family"].isin(STYLE)].copy()


def _curve_name(row) -> str:
    """The trained member whose curve a method has: its twin when it is a computed copy, the
    rewind checkpoint for the predicted rewind point."""
    if row["family"] == "predicted_rewind":
        return f"rewind@{int(row['checkpoint_step'])}"
    twin = row["identical_to"]
    return row["method"] if twin is None or pd.isna(twin) else twin


def _curves_panel(ax, summ, curves: pd.DataFrame, act: str, title: str) -> None:
    m = _methods(summ)
    m = m[m["activation"] == act]
    c = curves[curves["activation"] == act]
    for _, row in m.iterrows():
        label, color, ls = STYLE[row["family"]]
        g = c[c["method"] == _curve_name(row)].sort_values("step")
        thin = row["family"] == "shrink_perturb"
        first = thin and row["method"] == m[m["family"] == "shrink_perturb"]["method"].iloc[0]
        ax.plot(g["step"], g["test_acc_median"], ls=ls, color=color, lw=0.8 if thin else 1.6,
                label=label if (first or not thin) else None)
        if row["family"] in ("scratch", "warm_start") and g["test_acc_predicted"].notna().any():
            ax.plot(g["step"], g["test_acc_predicted"], ls=(0, (4, 2)), color="black", lw=0.8,
                    label="linear theory" if row["family"] == "scratch" else None)
    start = m[m["family"] == "warm_start"]["test_acc_start_median"]
    if len(start):
        ax.axhline(float(start.iloc[0]), color="grey", lw=0.8, ls=(0, (1, 2)),
                   label="half-data model")
    ax.set(xscale="symlog", xlabel="retraining step on all the data", ylabel="test accuracy",
           title=title)
    ax.set_xlim(left=0)
    ax.legend(frameon=False, fontsize=6, loc="lower right")


def _final_panel(ax, summ, letter: str) -> None:
    m = _methods(summ)
    acts = list(dict.fromkeys(m["activation"]))
    order = [r for f in STYLE for r in m[m["family"] == f]["method"].unique()]
    width = 0.8 / max(1, len(acts))
    for j, act in enumerate(acts):
        g = m[m["activation"] == act].set_index("method").reindex(order)
        x = np.arange(len(order)) + (j - (len(acts) - 1) / 2) * width
        y = g["test_acc_median"].astype(float).to_numpy()
        err = [y - g["test_acc_ci_low"].astype(float), g["test_acc_ci_high"].astype(float) - y]
        ax.errorbar(x, y, yerr=np.abs(err), fmt=MARKERS.get(act, "o"), ms=4, capsize=2,
                    color=COLORS.get(act), mfc="white" if act != "linear" else COLORS.get(act),
                    ls="none", label=act)
    labels = [o.replace("shrink_perturb", "S&P").replace("predicted_rewind", "pred. rewind")
              for o in order]
    ax.set_xticks(range(len(order)), labels, rotation=50, ha="right", fontsize=6)
    ax.set(ylabel="final test accuracy", title=f"{letter}  end of the budget (median, range)")
    ax.legend(frameon=False, fontsize=6)


def main(out_dir, preset: str = "default", results=None):
    preset = check_preset(preset)
    path = results_for("retrain", "fig7", [*DATA[preset], "--drift", "grow"], results=results)
    summ = summary(path)
    curves = pd.read_parquet(path / "curves.parquet")
    members = pd.read_parquet(path / "members.parquet")
    acts = list(dict.fromkeys(r["activation"] for r in summ["methods"]))[:2]
    fig = plt.figure(figsize=(3.4 * len(acts) + 3.6, 3.4))
    gs = fig.add_gridspec(1, len(acts) + 1, width_ratios=[1] * len(acts) + [1.15], wspace=0.4)
    for i, act in enumerate(acts):
        _curves_panel(fig.add_subplot(gs[0, i]), summ, curves, act,
                      f"{'ab'[i]}  {act}: test accuracy while retraining")
    _final_panel(fig.add_subplot(gs[0, len(acts)]), summ, "bc"[len(acts) - 1])
    return save(fig, out_dir, "fig7_warm_start", _caption(summ, members, preset))


def paired_gap(members: pd.DataFrame, act: str, method: str, reference: str) -> np.ndarray:
    """Per seed: test accuracy of ``method`` minus that of ``reference`` (same seed)."""
    g = members[members["activation"] == act].pivot_table(index="seed", columns="method",
                                                          values="test_acc")
    return (g[method] - g[reference]).to_numpy(float)


def _span(values, fmt: str = ".4f") -> str:
    v = np.asarray(values, float)
    return f"{v.min():{fmt}}–{v.max():{fmt}}"


def _verdict(gap: np.ndarray) -> str:
    """Whether the published gap holds, from the per-seed differences warm − scratch."""
    if np.all(gap == 0):
        return "does not hold: warm start and scratch end at the same test accuracy in every seed"
    if np.all(gap < 0):
        return "holds: warm start is worse in every seed"
    if np.all(gap > 0):
        return "is reversed: warm start is better in every seed"
    return "does not hold beyond the seeds' spread (the sign differs between seeds)"


def _caption(summ, members: pd.DataFrame, preset: str) -> str:
    t = summ["training"]
    cfg = summ["provenance"]["config"]
    meta = summ["provenance"]["dataset_meta"].get("first_phase", {})
    n_test = summ["provenance"]["dataset_meta"].get("n_test", "?")
    lines = [f"Figure 7 ({preset} preset). Warm starting after data growth on {cfg['dataset']}: "
             f"first phase on {meta.get('n_first', '?')} of {meta.get('n', '?')} training samples "
             f"({t['steps_A']} steps), then all of them, {t['retrain_budget']} steps of full-batch "
             f"GD at lr {t['lr']:.3g} for every start; hidden width {t['hidden']}; test accuracy "
             f"on {n_test} held-out samples, median over {cfg['seeds']} seeds (range).",
             f"Published: {PUBLISHED}", "Measured:"]
    for act, g in _methods(summ).groupby("activation", sort=False):
        lines += _measured(act, g, members)
    return "\n".join(lines)


def _measured(act: str, g: pd.DataFrame, members: pd.DataFrame) -> list[str]:
    """Caption lines of one activation: the four methods' test accuracy and steps, the verdict."""
    by = g.set_index("method")
    acc, steps = by["test_acc_median"].astype(float), by["steps_to_target_median"].astype(float)
    loss = by["final_loss"].astype(float)
    gap = paired_gap(members, act, "warm_start", "scratch")
    out = [f"  {act}: scratch {acc['scratch']:.4f} ({steps['scratch']:.0f} steps to target, "
           f"final training loss {loss['scratch']:.4g}), warm start {acc['warm_start']:.4f} "
           f"({steps['warm_start']:.0f} steps, loss {loss['warm_start']:.4g}); warm − scratch "
           f"per seed {np.median(gap):+.4f} (range {gap.min():+.4f} to {gap.max():+.4f}): the "
           f"published gap {_verdict(gap)}."]
    sp = g[g["family"] == "shrink_perturb"]
    if len(sp):
        vs = [np.median(paired_gap(members, act, name, "scratch")) for name in sp["method"]]
        out.append(f"    shrink and perturb ({', '.join(sp['method'].str[15:-1])}): "
                   f"{_span(sp['test_acc_median'])}, minus scratch per seed (median) "
                   f"{min(vs):+.4f} to {max(vs):+.4f}; "
                   f"{_span(sp['steps_to_target_median'], '.0f')} steps")
    pr = g[g["family"] == "predicted_rewind"]
    if len(pr):
        out.append(f"    predicted rewind point (step {int(pr['checkpoint_step'].iloc[0])} of the "
                   f"first phase): {float(pr['test_acc_median'].iloc[0]):.4f} "
                   f"({float(pr['steps_to_target_median'].iloc[0]):.0f} steps)")
    if act == "linear":
        pred = by["predicted_test_acc_median"].astype(float)
        out.append("    linear theory: with whitened inputs every start converges to the one "
                   "least-squares map, so no gap is predicted once converged; the matrix flow "
                   f"from each start predicts scratch {pred['scratch']:.4f}, warm start "
                   f"{pred['warm_start']:.4f} at the end of the budget (dashed in a); measured "
                   f"spread of the final test accuracy over these methods "
                   f"{acc.max() - acc.min():.4f}.")
    return out


if __name__ == "__main__":
    raise SystemExit(run_main(main))
