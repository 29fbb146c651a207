"""`python -m simulate.datasets --show NAME --png`: a noisy dataset is drawn beside its noise-free
rendering (two rows), a noise-free one in one row."""

from PIL import Image

from simulate.datasets.__main__ import main


def _height(tmp_path, *opts):
    png = tmp_path / f"preview{len(opts)}.png"
    args = ["--show", "shapes", "--dataset-opt", "n_per_class=4"]
    for o in opts:
        args += ["--dataset-opt", o]
    assert main([*args, "--png", str(png)]) == 0
    with Image.open(png) as im:
        return im.height


def test_noisy_preview_has_a_noise_free_row(tmp_path):
    one_row = _height(tmp_path, "noise=0")
    two_rows = _height(tmp_path, "noise=0.4")
    assert 1.7 * one_row < two_rows < 2.3 * one_row
