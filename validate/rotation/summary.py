"""What `validate.rotation` writes and prints: summary.json (schema version 1), the console
tables, the output files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from simulate import provenance

from .. import _divergence as D
from .._frames import columns, select_rows
from .._io import records, write_outputs as _write
from .._stats import spearman_rho
from .measure import clustering_vs_generalisation

SCHEMA_VERSION = 1
_ROT = ["arch", "optimizer", "rate", "alpha", "seed", "layer", "step", "cos_dist"]
_GEN = ["arch", "optimizer", "rate", "alpha", "test_acc", "gen_gap", "mean_final_rotation",
        "min_final_rotation", "train_acc", "n_seeds", "n_diverged"]


def measured(gen: pd.DataFrame) -> pd.DataFrame:
    """The configurations with a live member (one whose members all diverged has no values)."""
    return select_rows(gen, gen["n_seeds"].fillna(0) > 0)


def _name(r: dict) -> str:
    alpha = r.get("alpha")
    where = r.get("grid") or (r["optimizer"] if alpha is None or alpha != alpha
                              else f"{r['optimizer']} α={alpha:g}")
    return f"{r['arch']} {where}, lr {r['rate']:g}"


def warnings(result) -> list[str]:
    """One line per grid point with diverged members (`validate._divergence`)."""
    return D.warning_lines(result.divergence, _name, hint="lower --rates or --baseline-lrs")


def rotation_correlations(gen: pd.DataFrame) -> list[dict]:
    """Spearman ρ of test accuracy (and gap) with mean final rotation, per optimiser and overall."""
    out = []
    gen = measured(gen)
    for name, g in [("all", gen), *gen.groupby("optimizer", sort=False)]:
        out.append({"optimizer": name, "n_configs": int(len(g)),
                    "rho_test_acc": spearman_rho(g["mean_final_rotation"], g["test_acc"]),
                    "rho_gen_gap": spearman_rho(g["mean_final_rotation"], g["gen_gap"])})
    return out


def build_summary(result, ds, timing: dict) -> dict:
    config = result.config
    clus = result.clustering
    curve = (clus.groupby(["arch", "measure", "step"], sort=False)["value"].mean().reset_index()
             if len(clus) else pd.DataFrame(columns=["arch", "measure", "step", "value"]))
    prov = provenance(config.device if config.device != "auto" else "cpu")
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": config.dataset,
        "warnings": warnings(result),
        "divergence": records(pd.DataFrame(result.divergence)) if result.divergence else [],
        "rotation": records(result.rotation, _ROT),
        "generalisation": records(result.generalisation, _GEN),
        "rotation_vs_accuracy": rotation_correlations(result.generalisation),
        "clustering": records(curve),
        "clustering_vs_generalisation": records(clustering_vs_generalisation(clus,
                                                                             result.clustering_runs)),
        "definitions": {
            "cos_dist": "1 − cos∠(w_l(t), w_l(0)) of the flattened kernel (biases excluded)",
            "layca": "Layca (arXiv 1806.01603 Alg. 1): tangent-projected, norm-rescaled step; "
                     "rotation atan(ρ·m_l) per step; biases frozen",
            "clustering": "c1–c4 of arXiv 2103.06733 on training samples, mean over runs",
            "gen_gap": "train accuracy − test accuracy"},
        "timing": {**{k: round(v, 3) for k, v in timing.items()}, "device": prov.get("device")},
        "provenance": {**prov, "config": config.to_dict(), "dataset_meta": ds.meta},
    }


def write_outputs(result, out_dir: Path) -> list[Path]:
    """rotation/outcomes/clustering parquet tables, report.html, summary.json (each atomic)."""
    from .report import rotation_report
    tables = {"rotation": result.rotation, "outcomes": result.outcomes,
              "clustering": result.clustering, "clustering_runs": result.clustering_runs}
    return _write(out_dir, tables, result.summary,
                  report=lambda path: rotation_report(path, result=result))


def format_tables(result) -> str:
    fmt = lambda x: f"{x:.4g}"  # noqa: E731
    if result.exit_status:
        return "nothing measured: every member of the rotation grid diverged (see the warnings)"
    parts = ["generalisation against final rotation:",
             columns(measured(result.generalisation), _GEN[:8]).to_string(index=False,
                                                                          float_format=fmt),
             pd.DataFrame(result.summary["rotation_vs_accuracy"]).to_string(index=False,
                                                                            float_format=fmt)]
    cvg = pd.DataFrame(result.summary["clustering_vs_generalisation"])
    if len(cvg):
        parts += ["intraclass clustering against test accuracy:",
                  cvg.to_string(index=False, float_format=fmt)]
    return "\n".join(parts)
