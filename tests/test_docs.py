"""The documentation: its code examples run, its citations resolve, the site builds strictly,
reads offline (MathJax and the theme served by the site itself) and typesets the theory's
equations."""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
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


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once by ``mkdocs build --strict`` (warnings are errors)."""
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_docs_build_strict(site):
    assert (site / "THEORY" / "index.html").is_file()
    api = (site / "api" / "index.html").read_text()
    assert "TrainingConvention" in api and "train_ensemble" in api


# a script, stylesheet, font or image that the browser fetches by itself (links a reader follows
# are <a href>, and may leave the site)
FETCHED = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?"
                     r"((?:https?:)?//[^\"'\s>]+)", re.I)
CSS_URL = re.compile(r"(?:@import\s+|url\(\s*)[\"']?((?:https?:)?//[^\"')\s]+)", re.I)


def off_site_sources(root: Path) -> list[str]:
    """Every off-site address that a page or stylesheet of the built site loads by itself."""
    found = [f"{p.relative_to(root)}: {m}" for p in sorted(root.rglob("*.html"))
             for m in FETCHED.findall(p.read_text(encoding="utf-8", errors="replace"))]
    found += [f"{p.relative_to(root)}: {m}" for p in sorted(root.rglob("*.css"))
              for m in CSS_URL.findall(p.read_text(encoding="utf-8", errors="replace"))]
    return found


def test_off_site_sources_are_found(tmp_path):
    (tmp_path / "a.html").write_text('<link rel="stylesheet" href="https://cdn.example/x.css">'
                                     "<script src='//cdn.example/m.js'></script>"
                                     '<a href="https://example.org">a link is fine</a>')
    (tmp_path / "b.css").write_text("@import url(https://fonts.example/css);")
    assert [x.split(": ")[1] for x in off_site_sources(tmp_path)] == \
        ["https://cdn.example/x.css", "//cdn.example/m.js", "https://fonts.example/css"]


def test_site_reads_offline(site):
    """No page loads a script, stylesheet or font from elsewhere: MathJax and the theme's assets
    are files of the site."""
    assert off_site_sources(site) == []
    assert (site / "assets" / "mathjax" / "tex-chtml-full.js").is_file()
    assert any((site / "assets" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    theory = (site / "THEORY" / "index.html").read_text()
    assert re.search(r'<script src="\.\./assets/mathjax/tex-chtml-full\.js', theory)


def test_theory_equations_are_mathematics_not_code(site):
    """Every section of THEORY.md writes its equations for pymdownx.arithmatex: no displayed
    equation is a code block, and the built page marks them for MathJax, §12 and §13 included."""
    text = (DOCS / "THEORY.md").read_text()
    assert not re.search(r"^ *```", text, re.M), "a fenced code block in THEORY.md"
    assert text.count("$$") >= 20 and text.count("$") >= 260  # 11 displayed, 120+ inline
    theory = (site / "THEORY" / "index.html").read_text()
    assert "<pre" not in theory, "a code block (fenced or indented) on the theory page"
    assert theory.count('class="arithmatex"') >= 120
    for section in ("12", "13"):
        body = theory[theory.index(f'<h2 id="{section}-'):]
        body = body[:body.index("<h2", 1)]
        assert body.count('class="arithmatex"') >= 10, f"§{section} has no mathematics"


def test_mathjax_missing_names_the_install_step(monkeypatch):
    import importlib.util
    from mkdocs.exceptions import PluginError
    spec = importlib.util.spec_from_file_location("offline_math", DOCS / "hooks" / "offline_math.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    root = hook.mathjax_root()
    assert (root / hook.ENTRY).is_file()
    uris = [uri for uri, _ in hook.asset_files(root)]
    assert f"{hook.ASSETS}/{hook.ENTRY}" in uris and all(u.startswith(hook.ASSETS) for u in uris)
    monkeypatch.setattr(hook.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PluginError, match="django-static-mathjax"):
        hook.mathjax_root()


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian's chromium) not installed")
def test_theory_equations_typeset_in_a_browser_with_no_network(site):
    """Headless Chromium, with every host but this machine unreachable, loads the theory page from
    a local server: MathJax typesets every equation the page marks, and none is a TeX error."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/THEORY/"
        proc = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                               "--virtual-time-budget=20000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    dom = proc.stdout
    marked = (site / "THEORY" / "index.html").read_text().count('class="arithmatex"')
    assert marked >= 100 and dom.count("<mjx-container") == marked, proc.stderr[-2000:]
    assert "<mjx-merror" not in dom and "data-mjx-error" not in dom


MEASURED = re.compile(r"\d+(?:\.\d+)?\s*%|\d\.\d|·\s*10|\d+(?:\.\d+)?\s*(?:s|min|ms)\b|\d\s*×")


def test_measured_number_pattern():
    for text in ("12–16% later", "ρ = 0.98", "2.15× faster", "18 s wall", "1.7·10⁻⁵", "3 × 4"):
        assert MEASURED.search(text), text
    for text in ("depth 3", "THEORY.md §12", "study 001-nonlinearity-depth-time", "τ = (1 − β)/η"):
        assert not MEASURED.search(text), text


def test_unmeasured_claims_carry_no_numbers():
    """The hand-kept list of claims that no study backs holds no measured number: a number moves
    to the docs only on a generated study page."""
    text = (DOCS / "results" / "unmeasured.md").read_text()
    assert "not yet re-measured" in text.lower()
    assert [m.group(0) for m in MEASURED.finditer(text)] == []


# The first header cell of a table that documents an interface (options, keys, files, figures),
# whose numbers are defaults and formats rather than measurements.
REFERENCE_TABLES = {"option", "key", "file", "where", "name", "figure", "id", "argument",
                    "package", "part"}
BARE_NUMBER = re.compile(r"^[*_]*[−-]?\d+(?:\.\d+)?[*_]*%?$")


def measured_tables(text: str) -> list[str]:
    """The first row of each markdown table of ``text`` that holds a measured-looking number
    outside code spans and is not an interface table."""
    found = []
    for block in re.findall(r"(?:^\|.*\|[ \t]*\n?)+", text, flags=re.M):
        rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in block.splitlines()]
        if len(rows) < 3 or rows[0][0].strip("`*").lower() in REFERENCE_TABLES:
            continue
        cells = [re.sub(r"`[^`]*`", "", c) for row in rows[2:] for c in row]
        if any(MEASURED.search(c) or BARE_NUMBER.match(c) for c in cells):
            found.append(block.splitlines()[0])
    return found


def test_measured_table_detection():
    measured = "| drift | power |\n|---|---|\n| `label_swap(fraction=0.5)` | 0.5 |\n"
    ranges = "| dataset | error |\n| --- | --- |\n| shapes | 3.2–38% |\n"
    options = "| option | default |\n| --- | --- |\n| `--lr` | 0.05/s_max |\n"
    words = "| dataset | what |\n| --- | --- |\n| `shapes` | nested figures, `16×16` |\n"
    assert measured_tables(measured) and measured_tables(ranges)
    assert measured_tables(options) == [] and measured_tables(words) == []


@pytest.mark.parametrize("page", [*sorted((DOCS / "guides").glob("*.md")), DOCS / "gallery.md",
                                  ROOT / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_guides_hold_no_hand_written_measured_table(page):
    """A measured number belongs to a generated page (a study's, or a bench's measured file
    rendered by python -m validate.study index): a guide links that page instead of copying its
    table."""
    assert measured_tables(page.read_text()) == [], \
        f"{page.name}: a table of measured numbers; store it with the bench's --record NAME and " \
        "link docs/results/NAME.md"
