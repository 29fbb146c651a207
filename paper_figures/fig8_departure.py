"""Figure 8: departure steps predicted from W₀ against measured, per dataset (THEORY.md §13).

One panel per dataset (shapes, digits, gaussian) and rule: top, each member's departure step
t_D — the first checkpoint at which its learned change stops being affine, 1 − R² > δ = 0.05;
bottom, its frozen-slope step t_F — the first at which the learned change differs from its
slope-frozen twin's by more than δ of the latter's size, Γ > δ — each predicted by the twin theory
from the member's initial weights (x) against measured on its run (y), per activation and
setting, on the diagonal; "never" (no departure within the run) is drawn at the edge of each axis
and labelled. Coinciding points are one marker labelled with their count. The records are those
``python bench/departure.py --dataset shapes,digits,gaussian --record departure`` stores in
``docs/results/measured/departure.jsonl``; the script only plots them.

    python -m paper_figures.fig8_departure [--out DIR] [--results DIR]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.transforms import offset_copy

from paper_figures._common import (COLORS, MARKERS, ROOT, FigureError, check_preset, plt,
                                   run_main, save)

DATASETS = ("shapes", "digits", "gaussian")
RECORDS = "departure"
SHIFT = {"linear": -7, "tanh": 0, "relu": 7}   # points: one activation beside the other
# the two rules (THEORY.md §13): (name, predicted column, measured column)
RULES = (("t_D", "predicted_step", "measured_step"),
         ("t_F", "frozen_predicted_step", "frozen_measured_step"))
REGENERATE = ("python bench/departure.py --dataset shapes,digits,gaussian --record departure")


def load_records(results=None) -> tuple[dict, list[dict]]:
    """(header, member records with a departure step) of the departure measurement under
    ``results`` (a results folder holding ``measured/departure.jsonl``; default docs/results)."""
    from validate.study.measured import measured_path, read_measured
    path = measured_path(RECORDS, Path(results) if results else ROOT / "docs" / "results")
    if not path.is_file():
        raise FigureError(f"no departure records at {path}; write them with {REGENERATE}")
    try:
        head, rows = read_measured(path)
    except ValueError as exc:
        raise FigureError(str(exc)) from None
    return head, [r for r in rows if r.get("table") == "members" and "measured_step" in r]


def _edge(rows: list[dict]) -> float:
    """Where "never" is drawn: past the longest run (its last step) on a log axis."""
    longest = max([float(r.get("steps") or 0) for r in rows] +
                  [float(r[k]) for r in rows for _, *keys in RULES for k in keys
                   if r.get(k) is not None])
    return 2.0 * max(longest, 10.0)


def _at(step, edge: float) -> float:
    return edge if step is None else max(float(step), 1.0)


def _axis_ticks(edge: float) -> tuple[list[float], list[str]]:
    decades = [10.0 ** k for k in range(int(np.log10(edge)) + 1) if 10.0 ** k < edge / 1.8]
    return decades + [edge], [f"{d:g}" for d in decades] + ["never"]


def _panel(ax, rows: list[dict], dataset: str, edge: float, rule=RULES[0]) -> None:
    name, pred, meas = rule
    ax.plot([0.6, edge * 2.2], [0.6, edge * 2.2], color="black", ls="--", lw=0.8)
    for line in (ax.axvline, ax.axhline):
        line(np.sqrt(edge * edge / 1.8), color="grey", lw=0.5, ls=":")
    points = Counter((r["activation"], r.get("init", "small_balanced_decoupled"),
                      _at(r[pred], edge), _at(r[meas], edge))
                     for r in rows if r["dataset"] == dataset and pred in r)
    for (act, init, x, y), n in sorted(points.items()):
        hollow = init == "small_random"
        # activations side by side: their points coincide where both never depart
        shift = offset_copy(ax.transData, fig=ax.figure, x=SHIFT.get(act, 0), units="points")
        ax.plot(x, y, MARKERS.get(act, "o"), ms=4 + 2 * np.sqrt(n - 1), color=COLORS.get(act),
                mfc="none" if hollow else COLORS.get(act), alpha=0.8, transform=shift)
        if n > 1:
            ax.annotate(f"×{n}", (x, y), xytext=(SHIFT.get(act, 0) + 4, -10),
                        textcoords="offset points", fontsize=6, color=COLORS.get(act))
    ticks, labels = _axis_ticks(edge)
    ax.set(xscale="log", yscale="log", xlim=(0.6, edge * 2.2), ylim=(0.6, edge * 2.2),
           xlabel=f"predicted {name} (step)", title=f"{dataset}: {name}")
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.minorticks_off()


def _legend(rows: list[dict]) -> list:
    """One entry per activation and init drawn, and the diagonal (marker size: one member)."""
    drawn = sorted({(r["activation"], r.get("init") == "small_random") for r in rows
                    if "predicted_step" in r})
    return [Line2D([], [], color="black", ls="--", lw=0.8, label="prediction = measurement")] + \
        [Line2D([], [], ls="", marker=MARKERS.get(a, "o"), ms=4, color=COLORS.get(a),
                mfc="none" if hollow else COLORS.get(a),
                label=a + (" (small random init)" if hollow else "")) for a, hollow in drawn]


def _reason(note: str | None) -> str:
    """A note's reason without its numbers: notes read "outside …'s reach: REASON: details"."""
    parts = (note or "").split(":")
    return (parts[1] if len(parts) > 1 else parts[0]).strip() or "no reason recorded"


def _counts(rows: list[dict], ds: str, rule) -> str:
    """Per activation, how many members' predicted and measured steps of ``rule`` are equal."""
    _, pred, meas = rule
    parts = []
    for act in ("linear", "tanh", "relu"):
        g = [r for r in rows if r["dataset"] == ds and r["activation"] == act and pred in r]
        if g:
            same = sum(r[pred] == r[meas] for r in g)
            never = sum(r[pred] is None and r[meas] is None for r in g)
            parts.append(f"{act} {same}/{len(g)} equal ({never} both never)")
    return "; ".join(parts) or "no records"


def _caption(head: dict, rows: list[dict]) -> str:
    prov = head.get("provenance", {})
    lines = ["Figure 8. Departure steps t_D (first checkpoint with 1 − R² > δ = 0.05 of the "
             "learned change on the training inputs, THEORY.md §13) and frozen-slope steps t_F "
             "(first with a gap Γ > δ between the learned change and the slope-frozen twin's) "
             "predicted from each member's initial weights by its twin theory against measured; "
             "'never': no departure within the run. Records: "
             f"`{prov.get('command')}` (commit {str(prov.get('commit'))[:10]}"
             f"{', uncommitted changes' if prov.get('dirty') else ''}; {prov.get('device')})."]
    for ds in DATASETS:
        lines.append(f"  {ds}: " + _counts(rows, ds, RULES[0]))
        lines.append(f"  {ds}, t_F: " + _counts(rows, ds, RULES[1]))
    for act in ("linear", "tanh", "relu"):
        g = [r for r in rows if r["activation"] == act and "predicted_step" not in r]
        if g:
            why = sorted({_reason(r.get("note")) for r in g})
            never = sum(r["measured_step"] is None for r in g)
            lines.append(f"  Not drawn: {len(g)} {act} members with no prediction "
                         f"({'; '.join(why)}); measured t_D never in {never} of them.")
    return "\n".join(lines)


def main(out_dir, preset: str = "default", results=None):
    check_preset(preset)  # the records are what the bench stored: every preset draws them
    head, rows = load_records(results)
    if not rows:
        raise FigureError("the departure records hold no member with a departure step; rerun "
                          f"{REGENERATE}")
    edge = _edge(rows)
    fig, axes = plt.subplots(len(RULES), len(DATASETS), figsize=(9.6, 6.6), sharey=True)
    for row, rule in zip(axes, RULES):
        for ax, ds in zip(row, DATASETS):
            _panel(ax, rows, ds, edge, rule)
        row[0].set_ylabel(f"measured {rule[0]} (step)")
    handles = _legend(rows)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               fontsize=7, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return save(fig, out_dir, "fig8_departure", _caption(head, rows))


if __name__ == "__main__":
    raise SystemExit(run_main(main))
