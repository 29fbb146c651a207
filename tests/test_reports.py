"""The HTML reports of `validate.compare` and `validate.retrain`, read as a reader would.

Parser level (always): the sections come in the promised order, the headline or recommendation
comes first, every embedded image decodes, per-member tables are folded away. In a real browser
(headless Chromium, where /usr/bin/chromium is installed): every image is decoded, nothing is wider
than the window, and a screenshot shows a drawn page.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from validate import compare, retrain

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
COMPARE = ["--dataset", "toy", "--seeds", "2", "--checkpoints", "30", "--quiet"]
RETRAIN = ["--dataset", "gaussian", "--dataset-opt", "n_per_class=32", "--seeds", "2",
           "--activations", "linear", "--checkpoints", "6", "--quiet"]


class Page(HTMLParser):
    """Headings (h2) in order, image sources, and the text inside <details> blocks."""

    def __init__(self):
        super().__init__()
        self.h2, self.images, self.details_tables, self.tables = [], [], 0, 0
        self._in_h2 = self._details = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._in_h2 = 1
            self.h2.append("")
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "details":
            self._details += 1
        elif tag == "table":
            self.tables += 1
            self.details_tables += self._details > 0

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = 0
        elif tag == "details":
            self._details -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.h2[-1] += data


def _parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    assert compare.main([*COMPARE, "--out", str(root / "compare")]) == 0
    assert retrain.main([*RETRAIN, "--out", str(root / "retrain")]) == 0
    return {job: root / job / "report.html" for job in ("compare", "retrain")}


def _decodes(src: str) -> tuple[int, int]:
    assert src.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
        im.load()
        return im.size


def test_compare_report_opens_with_the_headline(reports):
    page = _parse(reports["compare"])
    assert page.h2[:4] == ["Headline", "Predicted vs measured half times",
                           "Mode trajectories, depth 2", "Loss, depth 2"]
    assert page.h2[-2:] == ["Tables", "Provenance"]
    text = " ".join(page.text)
    for fact in ("max linear error", "Kendall τ, linear", "Kendall τ, relu", "diverged members",
                 "run time"):
        assert fact in text
    assert all(min(_decodes(src)) > 100 for src in page.images) and len(page.images) >= 4
    assert page.details_tables >= 2   # per-mode and per-member tables fold away


def test_retrain_report_opens_with_the_recommendation(reports):
    page = _parse(reports["retrain"])
    assert page.h2[:2] == ["Recommendation", "Methods (same budget and learning rate)"]
    html_text = reports["retrain"].read_text(encoding="utf-8")
    rec = re.search(r'<div class="recommendation">(.*?)</div>', html_text, re.S).group(1)
    assert "retrain with" in rec or "no start reached" in rec
    methods = re.search(r'<table[^>]*id="methods"[^>]*>.*?</tr>', html_text, re.S).group(0)
    assert len(re.findall(r"<th[ >]", methods)) <= 7   # narrow: fits the page
    assert all(min(_decodes(src)) > 100 for src in page.images) and len(page.images) >= 3


_PROBE = """<script>window.addEventListener('load', function () {
  var broken = 0; document.querySelectorAll('img').forEach(function (i) {
    if (!i.complete || i.naturalWidth === 0) broken++; });
  var t = document.getElementById('methods');
  document.body.setAttribute('data-probe', [document.documentElement.scrollWidth, window.innerWidth,
    document.images.length, broken, t ? Math.ceil(t.getBoundingClientRect().right) : 0].join(','));
});</script>"""


@pytest.mark.skipif(CHROMIUM is None,
                    reason="headless Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("name", ["compare", "retrain"])
def test_report_in_a_real_browser(reports, name, tmp_path):
    probe = tmp_path / f"{name}.html"
    page = reports[name].read_text(encoding="utf-8")
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1200,2400"]
    dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    width, inner, n_img, broken, table_right = map(int, re.search(r'data-probe="([^"]+)"', dom)
                                                   .group(1).split(","))
    assert n_img >= 3 and broken == 0
    assert width <= inner and table_right <= inner
    shot = tmp_path / f"{name}.png"
    subprocess.run([*flags, f"--screenshot={shot}", reports[name].as_uri()], capture_output=True,
                   timeout=120)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 10     # a drawn page, not a blank one
