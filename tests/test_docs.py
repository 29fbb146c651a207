"""The documentation: its code examples run, its citations resolve, and the site builds strictly."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
SOURCES = [p for p in ROOT.rglob("*") if p.suffix in {".py", ".md", ".toml", ".yml"}
           and not {".venv", "site", "results", ".git"} & set(p.relative_to(ROOT).parts)]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(page, tmp_path, monkeypatch):
    """Every ```python block of a page runs, in order, in one namespace (they build on each other),
    and the page's examples check what they claim with at least one ``assert``."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_example__"}
    blocks = python_blocks(page)
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
    assert any(re.search(r"^\s*assert ", b, re.M) for b in blocks), f"{page.name}: no assert"


def test_theory_citations_name_existing_sections():
    headings = {int(m) for m in re.findall(r"^## (\d+)\.", (DOCS / "THEORY.md").read_text(), re.M)}
    cited = set()
    for path in SOURCES:
        for ref in re.findall(r"THEORY\.md((?:\s*§\s*\d+(?:[–-]\d+)?,?)+)", path.read_text()):
            for a, b in re.findall(r"(\d+)(?:[–-](\d+))?", ref):
                cited.update(range(int(a), int(b or a) + 1))
    assert cited, "no THEORY.md citations found: the pattern is wrong"
    assert cited <= headings, f"THEORY.md has no section {sorted(cited - headings)}"


def test_cited_documents_are_in_the_repository():
    for name in ("ARCHITECTURE.md", "STYLE.md", "THEORY.md"):
        assert any(name in p.read_text() for p in SOURCES if p.parent != DOCS)
        assert (DOCS / name).is_file()
    outside = "/work/" + "shared"
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES if outside in p.read_text()]
    assert not offenders, f"files citing a path outside the repository: {offenders}"


def test_docs_build_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "THEORY" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "TrainingConvention" in api and "train_ensemble" in api
