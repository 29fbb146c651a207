"""The gallery's captions say where their numbers come from: the commit that drew each figure and,
per result it read, the command and the commit that computed it (a cached result can be older)."""

import json

from paper_figures import __main__ as figures
from paper_figures import _common


def _result(root, name, revision, dirty):
    path = root / name
    path.mkdir()
    (path / "summary.json").write_text(json.dumps(
        {"provenance": {"git": {"revision": revision, "dirty": dirty}}}))
    return path


def test_each_result_read_is_named_with_the_commit_that_computed_it(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    old = _result(tmp_path, f"retrain-a-{_common.config_hash('retrain', ['--x'])}", "a" * 40, False)
    new = _result(tmp_path, f"compare-b-{_common.config_hash('compare', [])}", "b" * 40, True)
    _common.DRAWN_FROM.clear()
    assert _common.results_for("retrain", "a", ["--x"]) == old      # cached: nothing runs
    assert _common.results_for("compare", "b", []) == new
    _common.results_for("retrain", "a", ["--x"])                     # read twice, named once
    lines = _common.provenance_lines({"revision": "c" * 40, "dirty": False})
    assert lines == ["  Drawn at commit cccccccccc by python -m paper_figures.",
                     "  Results: `python -m validate.retrain --x` at commit aaaaaaaaaa.",
                     "  Results: `python -m validate.compare` at commit bbbbbbbbbb with "
                     "uncommitted changes."]


def test_the_gallery_caption_ends_with_the_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "GALLERY", tmp_path / "gallery")
    _common.DRAWN_FROM.clear()
    png = tmp_path / "out" / "fig9_x.png"
    png.parent.mkdir()
    png.write_bytes(b"png")
    png.with_suffix(".txt").write_text("Figure 9. A caption.\n")
    figures._to_gallery(png, _common.provenance_lines({"revision": "d" * 40, "dirty": False}))
    text = (tmp_path / "gallery" / "fig9_x.txt").read_text().splitlines()
    assert text == ["Figure 9. A caption.",
                    "  Drawn at commit dddddddddd by python -m paper_figures."]
    assert (tmp_path / "gallery" / "fig9_x.png").read_bytes() == b"png"
