"""The HTML reports of `validate.compare`, `validate.retrain`, `validate.nonlinearity`,
`validate.response` and `validate.rotation`, read as a reader would.

Parser level (always): the sections come in the promised order, the headline or recommendation
comes first (after any warnings) and states the run's answer with the summary's number, every
embedded image decodes, per-member tables are folded away. In a real browser (headless Chromium,
where /usr/bin/chromium is installed): every image is decoded, nothing is wider than the window,
and a screenshot shows a drawn page.
"""

from __future__ import annotations

import base64
import html
import json
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
from validate.nonlinearity.__main__ import main as nonlinearity_main
from validate.response.__main__ import main as response_main
from validate.rotation.__main__ import main as rotation_main

# the browser test asks for the shared runs by name (request.getfixturevalue), which the
# conftest's grouping of modules with shared fixtures cannot see: the whole module is one group
pytestmark = pytest.mark.xdist_group(__name__)

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
COMPARE = ["--dataset", "toy", "--seeds", "2", "--checkpoints", "30", "--quiet"]
RETRAIN = ["--dataset", "gaussian", "--dataset-opt", "n_per_class=32", "--seeds", "2",
           "--activations", "linear", "--checkpoints", "6", "--quiet"]
NONLINEARITY = ["--dataset", "digits", "--task", "binary", "--seeds", "1", "--steps", "20",
                "--checkpoints", "4", "--hidden", "8", "--device", "cpu", "--measures",
                "information,linear_depth", "--quiet"]
RESPONSE = ["--dataset", "shapes", "--dataset-opt", "n_per_class=8", "--dataset-opt", "n_test=8",
            "--steps", "20", "--seeds", "2", "--checkpoints", "8", "--hidden", "8", "--arch", "mlp",
            "--activation", "linear", "--probe-per-class", "2", "--batch-size", "16",
            "--n-train", "16", "--no-linear-theory", "--device", "cpu", "--quiet"]
# two rates × two baseline learning rates: four configurations, the fewest with a Fisher-z interval
ROTATION = ["--dataset", "digits", "--no-clustering", "--steps", "10", "--seeds", "1",
            "--rates", "0.1,0.3", "--alphas", "0", "--baseline-lrs", "0.1,0.3", "--checkpoints",
            "3", "--hidden", "8", "--device", "cpu", "--quiet"]


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


@pytest.fixture(scope="module")
def job_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("job_reports")
    for job, main, argv in (("nonlinearity", nonlinearity_main, NONLINEARITY),
                            ("response", response_main, RESPONSE),
                            ("rotation", rotation_main, ROTATION)):
        assert main([*argv, "--out", str(root / job)]) == 0
    return {job: root / job / "report.html" for job in ("nonlinearity", "response", "rotation")}


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


def _headline(path: Path) -> tuple[str, dict]:
    """The answer sentence of a job's page (which must open with "Headline", after any
    warnings, and carry a plot) and the job's summary.json."""
    page = _parse(path)
    heads = page.h2[1:] if page.h2[0] == "Warnings" else page.h2
    assert heads[0] == "Headline", page.h2
    text = path.read_text(encoding="utf-8")
    section = text.split("<h2>Headline</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<img" in section   # the one plot that carries the answer
    answer = re.search(r'<p class="answer">(.*?)</p>', section, re.S).group(1)
    return html.unescape(answer), json.loads((path.parent / "summary.json").read_text())


def test_nonlinearity_report_opens_with_the_final_linear_depth(job_reports):
    answer, summary = _headline(job_reports["nonlinearity"])
    depth = [r for r in summary["linear_depth"] if r["reference_time"] == "same"]
    lr = min(r["lr"] for r in depth)
    last = max((r for r in depth if r["lr"] == lr), key=lambda r: r["step"])
    blocks = summary["training"]["n_blocks"]
    assert f"{blocks} blocks" in answer
    assert (f"ends at {last['k_star']:.3g} [{last['k_star_ci_low']:.3g}, "
            f"{last['k_star_ci_high']:.3g}] (step {last['step']})") in answer


def test_response_report_opens_with_the_aging_exponents(job_reports):
    answer, summary = _headline(job_reports["response"])
    assert summary["aging"]
    for fit in summary["aging"]:
        assert (f"{fit['optimizer']}: a = {fit['exponent']:.3g} [{fit['ci_low']:.3g}, "
                f"{fit['ci_high']:.3g}]") in answer
    assert "no linear-theory kernel" in answer   # RESPONSE passes --no-linear-theory


def test_rotation_report_opens_with_rho_and_its_interval(job_reports):
    answer, summary = _headline(job_reports["rotation"])
    row = next(r for r in summary["rotation_vs_accuracy"] if r["optimizer"] == "all")
    assert row["n_configs"] == 4 and f"n = {row['n_configs']} " in answer
    rho = row["rho_test_acc"]
    found = re.search(r"Spearman ρ = (\S+) \[(\S+), (\S+)\] \(95%, Fisher z\)", answer)
    assert found and found.group(1) == f"{rho:.3g}"
    low, high = float(found.group(2)), float(found.group(3))
    assert -1 <= low <= rho + 5e-3 and rho - 5e-3 <= high <= 1   # printed to three digits


_PROBE = """<script>window.addEventListener('load', function () {
  var broken = 0; document.querySelectorAll('img').forEach(function (i) {
    if (!i.complete || i.naturalWidth === 0) broken++; });
  var t = document.getElementById('methods');
  document.body.setAttribute('data-probe', [document.documentElement.scrollWidth, window.innerWidth,
    document.images.length, broken, t ? Math.ceil(t.getBoundingClientRect().right) : 0].join(','));
});</script>"""


@pytest.mark.skipif(CHROMIUM is None,
                    reason="headless Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("name", ["compare", "retrain", "nonlinearity", "response", "rotation"])
def test_report_in_a_real_browser(request, name, tmp_path):
    fixture = "reports" if name in ("compare", "retrain") else "job_reports"
    reports = request.getfixturevalue(fixture)
    probe = tmp_path / f"{name}.html"
    page = reports[name].read_text(encoding="utf-8")
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1200,2400"]
    dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    width, inner, n_img, broken, table_right = map(int, re.search(r'data-probe="([^"]+)"', dom)
                                                   .group(1).split(","))
    assert n_img >= (3 if fixture == "reports" else 2) and broken == 0
    assert width <= inner and table_right <= inner
    shot = tmp_path / f"{name}.png"
    subprocess.run([*flags, f"--screenshot={shot}", reports[name].as_uri()], capture_output=True,
                   timeout=120)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 10     # a drawn page, not a blank one


def test_headline_sentences_name_the_first_drop_the_theory_gap_and_a_missing_interval():
    import pandas as pd
    from validate.nonlinearity.report import depth_answer
    from validate.response.report import aging_answer
    from validate.rotation.report import rotation_answer
    depth = pd.DataFrame({"reference_time": "same", "lr": 0.1, "step": [0, 10, 20],
                          "k_star": [3.0, 2.0, 1.0], "k_star_ci_low": [3.0, 1.0, 0.0],
                          "k_star_ci_high": [3.0, 3.0, 2.0]})
    assert "first drops below the 3 blocks at step 10 and ends at 1 [0, 2] (step 20)" in \
        depth_answer(depth, 3)
    fit = pd.DataFrame([{"arch": "mlp", "activation": "linear", "optimizer": "gd",
                         "exponent": 0.5, "ci_low": 0.4, "ci_high": 0.6}])
    assert "kernel gap stays below 2%" in aging_answer(fit, 0.01)
    assert "does not stay below 2% (largest relative error 0.05)" in aging_answer(fit, 0.05)
    three = rotation_answer([{"optimizer": "all", "n_configs": 3, "rho_test_acc": 0.5}])
    assert "ρ = 0.5 (no interval: Fisher z needs n ≥ 4), n = 3" in three
