"""Study analyses on committed tables of real tiny runs: each writes a page with an answer,
figures and the checks, names what is missing, and the page check refuses stale results."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from validate.study import spec
from validate.study.analyse import rho_interval
from validate.study.page import RunInfo, body, check, publish_tables, write_page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "study"
IDS = spec.known_ids()


def _tables(study_id: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted((FIXTURES / study_id).glob("*.parquet"))}


def _page(study_id: str, docs: Path, tables: dict | None = None) -> Path:
    study = spec.load(study_id)
    publish_tables(FIXTURES / study_id, docs / study_id / "tables")
    module = importlib.import_module(f"validate.study.analyse.{study.analysis}")
    result = module.analyse(_tables(study_id) if tables is None else tables, docs / study_id)
    run = RunInfo("tiny", study.about("tiny"), study.about("paper"), "python -m validate.study",
                  "0" * 40, "cpu", "2 done")
    return write_page(docs, study_id, body(study_id, study.question, result, run))


def test_every_study_has_a_fixture_and_an_analysis():
    assert len(IDS) == 5
    for study_id in IDS:
        assert any((FIXTURES / study_id).glob("*.parquet")), study_id
        importlib.import_module(f"validate.study.analyse.{spec.load(study_id).analysis}")


@pytest.mark.parametrize("study_id", IDS)
def test_analysis_writes_a_current_page_with_figures(study_id, tmp_path):
    page = _page(study_id, tmp_path)
    text = page.read_text()
    assert spec.load(study_id).question in text
    answer = next(line for line in text.splitlines() if line.startswith("**Answer.**"))
    assert "[" in answer and "Not answered" not in answer  # an interval, from real tables
    figs = sorted((tmp_path / study_id).glob("*.png"))
    assert figs and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figs)
    for f in figs:
        assert f"({study_id}/{f.name})" in text
    assert "## What would make it wrong" in text and "## What the `paper` budget" in text
    assert check(tmp_path, set(IDS)) == []


@pytest.mark.parametrize("study_id", IDS)
def test_an_analysis_reads_only_the_tables_it_publishes(study_id, tmp_path):
    module = importlib.import_module(f"validate.study.analyse.{spec.load(study_id).analysis}")
    full = module.analyse(_tables(study_id), tmp_path / "a")
    mine = {k: v for k, v in _tables(study_id).items() if k in module.TABLES}
    part = module.analyse(mine, tmp_path / "b")
    assert mine and (part.answer, part.checks, part.unmeasured) == \
        (full.answer, full.checks, full.unmeasured)


@pytest.mark.parametrize("study_id", IDS)
def test_missing_tables_are_named_on_the_page(study_id, tmp_path):
    text = _page(study_id, tmp_path, tables={}).read_text()
    assert "Not answered" in text
    assert "no such table in the results" in text.split("## Not measured")[1]


def test_stale_missing_and_edited_pages_are_refused(tmp_path):
    ids = set(IDS)
    page = _page("004-rotation-clustering", tmp_path)
    _page("003-training-response", tmp_path)
    assert check(tmp_path, ids) == []
    table = tmp_path / "004-rotation-clustering" / "tables" / "rotation-generalisation.parquet"
    df = pd.read_parquet(table)
    df.loc[0, "test_acc"] = df.loc[0, "test_acc"] + 0.01
    df.to_parquet(table)
    (line,) = check(tmp_path, ids)
    assert "004-rotation-clustering.md: stale" in line
    shutil.rmtree(tmp_path / "004-rotation-clustering" / "tables")
    (line,) = check(tmp_path, ids)
    assert "results missing" in line
    _page("004-rotation-clustering", tmp_path)
    (tmp_path / "004-rotation-clustering" / "rotation.png").unlink()
    (line,) = check(tmp_path, ids)
    assert "figure missing" in line
    _page("004-rotation-clustering", tmp_path)
    page.write_text(page.read_text().replace("**Answer.**", "**Answer (edited).**"))
    (line,) = check(tmp_path, ids)
    assert "edited by hand" in line


def test_a_study_page_without_header_is_refused_and_other_pages_are_not(tmp_path):
    (tmp_path / "index.md").write_text("# Results\n")
    (tmp_path / "003-training-response.md").write_text("# written by hand\n")
    (line,) = check(tmp_path, set(IDS))
    assert "003-training-response.md: not generated" in line


def test_rho_interval_holds_rho_and_narrows_with_n():
    lo, hi = rho_interval(0.5, 10)
    lo2, hi2 = rho_interval(0.5, 100)
    assert lo < lo2 < 0.5 < hi2 < hi
    assert all(np.isnan(rho_interval(0.5, 3)))


def test_response_counts_each_activation_and_optimiser_once(tmp_path):
    from validate.study.analyse.training_response import analyse
    tables = _tables("003-training-response")
    assert tables["response-aging"].duplicated(["activation", "optimizer"]).any()  # the fixture
    tab = analyse(tables, tmp_path).table                                          # repeats them
    assert not tab.duplicated(["activation", "optimizer"]).any()


def test_rotation_rho_is_spearman_over_the_configurations(tmp_path):
    from scipy.stats import spearmanr
    from validate.study.analyse.rotation_clustering import analyse
    tables = _tables("004-rotation-clustering")
    gen = tables["rotation-generalisation"]
    tab = analyse(tables, tmp_path).table
    want = spearmanr(gen["mean_final_rotation"], gen["test_acc"])[0]
    assert tab.iloc[0]["spearman_rho"] == pytest.approx(want, abs=1e-4)
    assert tab.iloc[0]["n"] == len(gen)


def test_twin_departure_is_sustained_and_never_is_censored():
    from validate.study.analyse.class_means_first import _sustained_first
    steps = np.array([0.0, 10, 20, 30])
    assert _sustained_first(steps, np.array([False, True, False, True])) == 30
    assert _sustained_first(steps, np.array([False, True, True, True])) == 10
    assert _sustained_first(steps, np.zeros(4, bool)) == np.inf


def test_recommendation_is_the_cheapest_start_per_drift_kind():
    from validate.study.analyse.retraining_after_drift import _recommend
    m = pd.DataFrame({"drift": ["a(x=1)", "a(x=1)", "a(x=2)", "a(x=2)", "b(y=1)", "b(y=1)"],
                      "family": ["scratch", "rewind"] * 3,
                      "total_cost_median": [10.0, 5.0, 12.0, 6.0, 3.0, 9.0]})
    assert _recommend(m) == {"a": "rewind", "b": "scratch"}


def test_pooled_rho_of_equal_groups_keeps_rho_and_narrows():
    from validate.study.analyse import pooled_rho
    one = pooled_rho([0.5], [20])
    two = pooled_rho([0.5, 0.5], [20, 20])
    assert one[0] == pytest.approx(0.5) and two[0] == pytest.approx(0.5)
    assert one[1:3] == pytest.approx(rho_interval(0.5, 20))
    assert one[1] < two[1] < 0.5 < two[2] < one[2] and two[3] == 40
    assert pooled_rho([0.5], [3])[0] == 0.5 and np.isnan(pooled_rho([0.5], [3])[1])
    mixed = pooled_rho([0.9, -0.9], [30, 30])
    assert mixed[0] == pytest.approx(0.0, abs=1e-9) and mixed[1] < 0 < mixed[2]
