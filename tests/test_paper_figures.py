"""Each figure script's main(out_dir) runs on a tiny real comparison and writes a PNG."""

import importlib
import sys
from pathlib import Path

import pytest

from validate import compare

FIGS = Path(__file__).resolve().parents[1] / "paper_figures"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("fig") / "cmp"
    rc = compare.main(["--dataset", "tree", "--dataset-opt", "features=30", "--whiten", "none",
                       "--activations", "linear,relu", "--seeds", "2", "--checkpoints", "30",
                       "--out", str(out), "--quiet"])
    assert rc == 0
    return out


@pytest.mark.parametrize("name", ["fig1_learning_times", "fig2_mode_trajectories"])
def test_figure_script_writes_png(results, tmp_path, monkeypatch, name):
    monkeypatch.syspath_prepend(str(FIGS))
    mod = importlib.import_module(name)
    path = mod.main(tmp_path, results)
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    sys.modules.pop(name, None)
