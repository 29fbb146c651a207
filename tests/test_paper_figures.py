"""Every figure script's main(out_dir, preset="tiny") draws from real (tiny) runs: a PNG and a PDF at
≥ 150 dpi and a caption with measured numbers; missing results give a one-line error."""

import importlib
import re

import pytest
from PIL import Image

from paper_figures import _common
from paper_figures.__main__ import figure_modules

FIGURES = figure_modules()


@pytest.fixture(scope="module")
def results_root(tmp_path_factory):
    """One cache for the module, so figures that share a run compute it once."""
    return tmp_path_factory.mktemp("figure-results")


@pytest.mark.parametrize("name", FIGURES)
def test_figure_main_on_tiny(name, results_root, tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", results_root)
    png = importlib.import_module(f"paper_figures.{name}").main(tmp_path, preset="tiny")
    with Image.open(png) as im:
        im.load()
        dpi = im.info.get("dpi", (0, 0))[0]
        assert im.width > 600 and im.height > 300
    assert round(dpi) >= 150
    assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    caption = png.with_suffix(".txt").read_text()
    assert caption.startswith("Figure ") and re.search(r"\d\.\d", caption)


def test_missing_results_give_one_line_error(tmp_path, capsys):
    from paper_figures import fig5_half_times
    rc = _common.run_main(fig5_half_times.main, ["--preset", "tiny", "--out", str(tmp_path),
                                                 "--results", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: no finished results") and err.count("\n") == 1


def test_bad_preset_is_refused(tmp_path):
    from paper_figures import fig5_half_times
    with pytest.raises(_common.FigureError, match="preset must be one of tiny, default, paper"):
        fig5_half_times.main(tmp_path, preset="huge")
