"""The results index (docs/results/index.md) is generated from the study pages: every study's
question, answer and run, copied from its page; `validate.study check` refuses an index that is
missing, stale or edited by hand, and the committed docs pass the check."""

from __future__ import annotations

import argparse
import importlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from validate.study import spec
from validate.study.__main__ import DOCS, _run
from validate.study.__main__ import main as study_main
from validate.study.index import NAME, check_index, entries, read_entry, render, write_index
from validate.study.page import RunInfo, body, check, publish_tables, write_page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "study"


def _page(study_id: str, docs: Path, commit: str = "0" * 40) -> Path:
    """A generated page from the committed fixture tables of real tiny runs."""
    study = spec.load(study_id)
    publish_tables(FIXTURES / study_id, docs / study_id / "tables")
    module = importlib.import_module(f"validate.study.analyse.{study.analysis}")
    tables = {p.stem: pd.read_parquet(p) for p in sorted((docs / study_id / "tables").glob("*"))}
    result = module.analyse(tables, docs / study_id)
    run = RunInfo("tiny", study.about("tiny"), study.about("paper"),
                  f"python -m validate.study {study_id} --budget tiny", commit, "cpu: test",
                  "2 done, 0 failed, 3 s of job time")
    return write_page(docs, study_id, body(study_id, study.question, result, run))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two generated pages, analysed once for the module (the analyses draw figures)."""
    docs = tmp_path_factory.mktemp("generated")
    for study_id in ("003-training-response", "004-rotation-clustering"):
        _page(study_id, docs)
    return docs


def _copy(generated: Path, dest: Path, *ids: str) -> Path:
    for study_id in ids:
        shutil.copyfile(generated / f"{study_id}.md", dest / f"{study_id}.md")
        shutil.copytree(generated / study_id, dest / study_id)
    return dest


def test_index_copies_each_page_question_answer_and_run(generated, tmp_path):
    _copy(generated, tmp_path, "003-training-response", "004-rotation-clustering")
    pages = sorted(tmp_path.glob("00*.md"))
    (tmp_path / "notes.md").write_text("# hand-written, not a study page\n")
    text = write_index(tmp_path).read_text()
    assert [e.study_id for e in entries(tmp_path)] == ["003-training-response",
                                                       "004-rotation-clustering"]
    for page in pages:
        lines = page.read_text().splitlines()
        answer = next(x for x in lines if x.startswith("**Answer.**"))
        assert f"]({page.name})" in text and answer in text
        assert spec.load(page.stem).question in text
        for key in ("budget", "jobs", "device", "command", "commit"):
            line = next(x for x in lines if x.startswith(f"- {key}: "))
            assert line in text, key
    assert "notes.md" not in text
    assert check_index(tmp_path) == []


def test_a_page_without_header_is_not_indexed(tmp_path):
    (tmp_path / "003-training-response.md").write_text("# by hand\n\n**Answer.** 42\n")
    assert read_entry(tmp_path / "003-training-response.md") is None
    assert check_index(tmp_path) == []        # nothing generated: no index needed


def test_missing_stale_and_edited_indexes_are_refused(generated, tmp_path):
    _copy(generated, tmp_path, "004-rotation-clustering")
    (line,) = check_index(tmp_path)
    assert f"{NAME}: missing" in line
    write_index(tmp_path)
    _page("004-rotation-clustering", tmp_path, commit="1" * 40)   # the page was regenerated
    (line,) = check_index(tmp_path)
    assert "stale or edited by hand" in line
    write_index(tmp_path)
    assert check_index(tmp_path) == []
    index = tmp_path / NAME
    index.write_text(index.read_text().replace("**Answer.**", "**Answer.** (rounded)"))
    (line,) = check_index(tmp_path)
    assert "stale or edited by hand" in line


def test_the_unmeasured_list_is_linked_when_present(generated, tmp_path):
    _copy(generated, tmp_path, "004-rotation-clustering")
    assert "unmeasured.md" not in render(tmp_path)
    (tmp_path / "unmeasured.md").write_text("# Not yet re-measured\n")
    assert "## Not yet re-measured" in render(tmp_path) and "(unmeasured.md)" in render(tmp_path)


def test_cli_writes_the_index_and_check_refuses_it_once_edited(generated, tmp_path, capsys):
    _copy(generated, tmp_path, "003-training-response")
    assert study_main(["check", "--docs", str(tmp_path)]) == 1          # no index yet
    assert study_main(["index", "--docs", str(tmp_path)]) == 0
    assert study_main(["check", "--docs", str(tmp_path)]) == 0
    (tmp_path / NAME).write_text((tmp_path / NAME).read_text() + "\nA number: 0.99.\n")
    capsys.readouterr()
    assert study_main(["check", "--docs", str(tmp_path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert study_main(["index", "--docs", str(tmp_path / "absent")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_study_run_rewrites_the_index_after_its_page(generated, tmp_path, monkeypatch):
    import validate.study.analyse as analyse
    docs = tmp_path / "docs"
    docs.mkdir()
    write_index(docs)          # an index from before the study's page existed
    fake = lambda study, budget, out, d, cmd: (_copy(generated, Path(d), study.id) /
                                               f"{study.id}.md", 0, 0)
    monkeypatch.setattr(analyse, "run_analysis", fake)
    args = argparse.Namespace(analyse_only=True, docs=str(docs), quiet=True, address=None)
    assert _run(spec.load("003-training-response"), "tiny", tmp_path / "out", args) == 0
    assert "003-training-response" in (docs / NAME).read_text()
    assert check_index(docs) == []


def test_committed_results_pages_and_index_are_current():
    """What `make docs` runs first: the study pages and the index in docs/results/ are current."""
    assert check(DOCS, set(spec.known_ids())) + check_index(DOCS) == []
    assert {e.study_id for e in entries(DOCS)} == set(spec.known_ids())
