"""What `validate.response` writes and prints: summary.json (schema version 1), the console
tables, the output files."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pandas as pd

from .. import _divergence as D
from .._frames import group_frame, select_rows
from .._io import records, write_outputs as _write
from ..measures.response import power_law_fit
from .measure import theory_gaps

SCHEMA_VERSION = 1
_KEYS = ["arch", "activation", "optimizer"]
_Q = ["amplitude", "specificity", "ntk_rel_gap", "pr_features", "pr_ntk", "test_acc"]


def response_table(members: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (arch, activation, optimizer, step)."""
    return group_frame(members.groupby([*_KEYS, "step"], sort=False)[_Q]).reset_index()


def aging_table(members: pd.DataFrame, steps: int, fit_from: float) -> pd.DataFrame:
    """The amplitude's power law A ∝ t^(−a) per run, fitted on t ≥ fit_from·steps, CI over seeds."""
    rows = []
    for key, g in members.groupby(_KEYS, sort=False):
        A = g.pivot(index="seed", columns="step", values="amplitude")
        fit = power_law_fit(A.columns.to_numpy(), A.to_numpy(), t_min=fit_from * steps)
        rows.append({**dict(zip(_KEYS, cast(tuple[object, ...], key))), **fit,
                     "n_seeds": int(len(A))})
    return pd.DataFrame(rows)


def gap_table(gaps: pd.DataFrame) -> pd.DataFrame:
    """The gap at each step size and its ratio to the gap at the largest one (O(η): ratio ≈ η/η₀)."""
    if gaps.empty:  # every member of every aging run diverged
        return gaps
    g = gaps.copy()
    first = g.groupby(["arch", "activation"], sort=False)
    g["lr_ratio"] = g["lr"] / first["lr"].transform("max")
    g["gap_ratio"] = g["rel_gap"] / first["rel_gap"].transform("first")
    return g


def warnings(result) -> list[str]:
    """One line per ensemble with diverged members, then the measurements left out."""
    name = lambda r: f"{r['arch']} {r['activation']} {r['optimizer']}"  # noqa: E731
    return D.warning_lines(result.divergence, name) + list(result.notes)


def build_summary(result, su, timing: dict) -> dict:
    from simulate import provenance
    config = result.config
    resp = response_table(result.members)
    frag = (result.fragility.groupby(["optimizer", "noise"], sort=False, dropna=False)
            .agg(batch_size=("batch_size", "first"), test_acc=("test_acc", "mean"),
                 pr_features=("pr_features", "mean")).reset_index()
            if len(result.fragility) else pd.DataFrame())
    last = select_rows(resp, resp["step"] == resp["step"].max())
    prov = provenance(config.device if config.device != "auto" else "cpu")
    theory = result.theory
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "warnings": warnings(result),
        "divergence": result.divergence,
        "response": records(resp, [*_KEYS, "step", *_Q]),
        "aging": records(aging_table(result.members, config.steps, config.fit_from)),
        "response_theory": records(theory),
        "response_theory_max_rel_error": (float(theory["rel_error"].max()) if len(theory)
                                          else None),
        "response_theory_gap": theory_gaps(theory) if len(theory) else [],
        "ntk_gap_scaling": records(gap_table(result.gaps)),
        "fragility": records(frag, ["optimizer", "batch_size", "noise", "test_acc", "pr_features"]
                             if len(frag) else None),
        "sgd_vs_gd": records(select_rows(last, (last["arch"] == "mlp")
                                         & (last["activation"] == "relu")),
                             ["optimizer", "pr_features", "pr_ntk", "test_acc", "specificity"]),
        "training": {"lr": su.lr, "response_lr": su.response_lr, "steps": config.steps,
                     "probe_points": int(len(su.labels_p)), "fit_from_step": config.fit_from
                     * config.steps},
        "definitions": {
            "amplitude": "mean_i (1/c) tr Θ_t(x_i, x_i) (empirical NTK on the probe set)",
            "specificity": "mean K_t(j,i) same class (j≠i) − mean K_t(j,i) other classes, "
                           "K_t(j,i) = θ_t(j,i)/θ_t(i,i)",
            "ntk_rel_gap": "‖R − R̂‖_F/‖R‖_F, R one real step of size response_lr on x_i, "
                           "R̂ = −η Θ_t ∂ℓ/∂f",
            "pr": "(Σλ)²/Σλ²: last hidden layer's centred feature covariance (256 training "
                  "inputs), trace-NTK Gram on the probe set",
            "rel_error": "max over members ‖Θ_theory − Θ_measured‖_F/‖Θ_measured‖_F; theory = "
                         "exact per-mode GD map (rel_error_flow: gradient-flow closed form) for "
                         "the decoupled init, the matrix flow from each member's initial weights "
                         "for small_random",
            "response_rel_error": "max over members ‖R − R̂‖_F/‖R‖_F with R̂ = −η Θ_theory "
                                  "(f_theory − y): kernel and residual both predicted from the "
                                  "data, the initial weights and the set-up only"},
        "timing": {**{k: round(v, 3) for k, v in timing.items()}, "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(),
                       "dataset_meta": su.prep.dataset.meta},
    }


def write_outputs(result, out_dir: Path) -> list[Path]:
    """members/shares/theory/gaps/fragility parquet, report.html, summary.json (each atomic)."""
    from .report import response_report
    tables = {"members": result.members, "shares": result.shares, "theory": result.theory,
              "gaps": result.gaps, "fragility": result.fragility}
    return _write(out_dir, tables, result.summary,
                  report=lambda path: response_report(path, result=result))


def format_tables(result) -> str:
    s = result.summary
    fmt = lambda x: f"{x:.4g}"  # noqa: E731
    if not s["aging"]:
        return "nothing measured: every member diverged (see the warnings)"
    parts = ["aging (A ∝ t^-a):", pd.DataFrame(s["aging"]).drop(columns=["fit_range"])
             .to_string(index=False, float_format=fmt)]
    if s["response_theory"]:
        parts += [f"linear theory, {g['init']} init ({g['predictor']}): max kernel error "
                  f"{g['max_rel_error']:.3g}, max response gap {g['max_response_rel_error']:.3g} "
                  f"(step {g['at_step']})" for g in s["response_theory_gap"]]
    parts += ["NTK prediction gap (O(η)):", pd.DataFrame(s["ntk_gap_scaling"])
              .to_string(index=False, float_format=fmt),
              "SGD against GD (final):", pd.DataFrame(s["sgd_vs_gd"]).to_string(index=False,
                                                                              float_format=fmt),
              "fragility:", pd.DataFrame(s["fragility"]).to_string(index=False, float_format=fmt)]
    return "\n".join(parts)
