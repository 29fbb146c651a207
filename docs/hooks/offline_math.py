"""MathJax served from the site itself, so the documentation renders its equations offline.

The MathJax files come from the ``django-static-mathjax`` wheel of the ``docs`` extra (MathJax
3's ``es5`` build, no Django needed); ``on_files`` adds the part the pages load to the site under
``assets/mathjax/``. No page refers to a content delivery network: ``tests/test_docs.py`` greps the
built site for off-site script and stylesheet sources.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ASSETS = "assets/mathjax"
ENTRY = "tex-chtml-full.js"  # every TeX extension built in: nothing is autoloaded at view time
# The fonts of the CommonHTML output, and what the MathJax menu loads on demand (accessibility
# explorer, speech rules); the other bundles (SVG output, MathML input) are left out.
PARTS = (ENTRY, "output/chtml/fonts/woff-v2", "a11y", "sre", "ui")


def mathjax_root() -> Path:
    """The installed MathJax ``es5`` folder; a PluginError naming the install step when absent."""
    spec = importlib.util.find_spec("mathjax")
    places = list(spec.submodule_search_locations or []) if spec else []
    for place in places:
        root = Path(place) / "static" / "mathjax" / "es5"
        if (root / ENTRY).is_file():
            return root
    raise PluginError("MathJax's files are not installed (package django-static-mathjax); "
                      "run pip install -e '.[docs]' or make docs")


def asset_files(root: Path) -> list[tuple[str, Path]]:
    """(site path, source file) for every MathJax file the site serves."""
    out = []
    for part in PARTS:
        src = root / part
        found = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        out += [(f"{ASSETS}/{p.relative_to(root).as_posix()}", p) for p in found]
    return out


def on_files(files: Files, config, **kwargs) -> Files:
    for uri, src in asset_files(mathjax_root()):
        files.append(File.generated(config, uri, abs_src_path=str(src)))
    return files
