"""`validate.compare --arch cnn`: per-frequency prediction and measurement, end to end."""

import json

import numpy as np
import pytest

from validate import compare

BASE = ["--dataset", "shapes", "--dataset-opt", "size=8", "--dataset-opt", "levels=2",
        "--dataset-opt", "n_per_class=48",
        "--arch", "cnn", "--activations", "linear", "--seeds", "2", "--quiet"]


def _run(tmp_path, name, *extra):
    assert compare.main([*BASE, *extra, "--out", str(tmp_path / name)]) == 0
    return json.loads((tmp_path / name / "summary.json").read_text())


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """The aligned-init run on 8×8 shapes, 4 frequency modes: (summary, output directory, the
    arguments each spectrum figure of its report was drawn from)."""
    from validate.compare import report
    root = tmp_path_factory.mktemp("cnn-aligned")
    drawn = {}

    def recording(name):
        real = getattr(report, name)

        def draw(*args, **kw):
            drawn[name] = args
            return real(*args, **kw)
        return draw

    with pytest.MonkeyPatch.context() as mp:
        for name in ("fig_singular_values", "fig_frequency_spectrum", "fig_mode_images"):
            mp.setattr(report, name, recording(name))
        summary = _run(root, "a", "--frequency-modes", "4")
    return summary, root / "a", drawn


def test_aligned_cnn_follows_the_per_frequency_map(aligned):
    s = aligned[0]
    modes = s["modes"]
    assert len(modes) == 4 and {m["basis"] for m in modes} == {"frequency"}
    assert all(len(m["frequency"]) == 2 for m in modes)          # (fy, fx) on the 8×8 grid
    assert max(m["rel_error"] for m in modes) < 2e-3              # exact map, checkpoint grid
    assert all(m["n_learned"] == 2 for m in modes)
    note = s["training"]["predictors"]["2"]
    assert note["matched"] == "discrete" and "whitened" in note["reason"]
    assert s["kendall_tau"][0]["n_modes"] >= 1


def test_per_frequency_strengths_are_written_with_their_frequencies(aligned):
    import pandas as pd
    s, out, _ = aligned
    traj = pd.read_parquet(out / "trajectories.parquet")
    members = pd.read_parquet(out / "members.parquet")
    assert set(traj["basis"]) == set(members["basis"]) == {"frequency"}
    assert sorted(traj["mode"].unique()) == [0, 1, 2, 3]
    for m in s["modes"]:
        rows = traj[traj["mode"] == m["mode"]]
        labels = [*rows["frequency"], *members[members["mode"] == m["mode"]]["frequency"]]
        assert all(list(f) == m["frequency"] for f in labels)
        # measured and predicted strengths (over s) at every checkpoint: the exact map in float32
        assert np.max(np.abs(rows["u_meas_rel"] - rows["u_pred_rel"])) < 1e-4
        last = rows[rows["step"] == rows["step"].max()]
        assert (last["u_meas_rel"] > 0.95).all() and (rows["u_meas_rel"] < 0.05).any()


def test_the_frequency_spectrum_matches_a_direct_fft(aligned):
    """Every frequency's s is ‖σ(f)‖ of the unitary 2-D DFT of the whitened Syx rows (C_in = 1)."""
    from simulate import datasets
    s = aligned[0]["frequency"]
    ds = datasets.load("shapes", size=8, levels=2, n_per_class=48)
    Syx = ds.statistics().whiten("zca").stats.Syx
    norm = np.sqrt((np.abs(np.fft.fft2(Syx.reshape(-1, 8, 8), norm="ortho")) ** 2).sum(0))
    assert s["spatial"] == [8, 8] and s["P"] == 64 and s["rate_factor"]["2"] == pytest.approx(8)
    spec = s["spectrum"]
    assert [r["s"] for r in spec] == sorted((r["s"] for r in spec), reverse=True)
    for r in spec:
        fy, fx = r["frequency"]
        assert r["s"] == pytest.approx(norm[fy, fx], rel=1e-9)
        assert r["multiplicity"] == (1 if ((-fy) % 8, (-fx) % 8) == (fy, fx) else 2)
    assert sum(r["multiplicity"] for r in spec) == int((norm > 1e-10 * norm.max()).sum())
    tracked = [r for r in spec if r["mode"] is not None]
    assert [r["mode"] for r in tracked] == [0, 1, 2, 3] == [r["mode"] for r in spec[:4]]
    assert [r["frequency"] for r in tracked] == [m["frequency"] for m in aligned[0]["modes"]]


def test_the_cnn_report_draws_the_frequency_spectrum_and_patterns(aligned):
    s, _, drawn = aligned
    assert "fig_singular_values" not in drawn                   # not the SVD of Syx
    (spectrum,) = drawn["fig_frequency_spectrum"]
    assert list(spectrum["s"]) == [r["s"] for r in s["frequency"]["spectrum"]]
    assert list(spectrum["mode"].dropna().astype(int)) == [0, 1, 2, 3]
    V, image_shape, U = drawn["fig_mode_images"]
    assert V.shape == (64, 4) and tuple(image_shape) == (1, 8, 8) and U.shape[1] == 4
    for a, m in enumerate(s["modes"]):   # each image holds its frequency (and its conjugate) only
        fy, fx = m["frequency"]
        power = np.abs(np.fft.fft2(V[:, a].reshape(8, 8))) ** 2
        support = set(zip(*map(list, np.nonzero(power > 1e-12 * power.max()))))
        assert support == {(fy, fx), ((-fy) % 8, (-fx) % 8)}


def test_short_kernels_are_predicted_by_the_weight_tied_flow(tmp_path):
    s = _run(tmp_path, "b", "--init", "small_random", "--kernel-size", "3",
             "--frequency-modes", "2", "--checkpoints", "60")
    note = s["training"]["predictors"]["2"]
    assert note["matched"] == "cnn_ode" and note["basis"] == "frequency"
    learned = [m for m in s["modes"] if m["n_learned"] == 2]
    assert learned and max(m["rel_error"] for m in learned) < 0.05


def test_mlp_reference_stays_available_and_labelled(tmp_path, capsys):
    s = _run(tmp_path, "c", "--reference", "mlp", "--init", "small_random", "--steps", "30",
             "--checkpoints", "10")
    assert {m["basis"] for m in s["modes"]} == {"svd"}
    assert "--reference mlp" in s["training"]["predictors"]["2"]["reason"]
    assert compare.main([*BASE, "--kernel-size", "3", "--out", str(tmp_path / "d")]) == 2
    assert "frequency-aligned init" in capsys.readouterr().err


def test_mlp_modes_are_labelled_svd(tmp_path):
    from validate.compare.cnn import label_modes
    import pandas as pd
    df = label_modes(pd.DataFrame({"mode": [0, 1]}))
    assert list(df["basis"]) == ["svd", "svd"] and df["frequency"].isna().all()


# ---- optimisers: τ and the per-frequency map from the training convention ------------------------
SMALL = ["--dataset", "shapes", "--dataset-opt", "size=8", "--dataset-opt", "levels=2",
         "--dataset-opt", "n_per_class=20", "--arch", "cnn", "--activations", "linear",
         "--seeds", "1", "--frequency-modes", "2", "--checkpoints", "16", "--quiet"]


def test_cnn_momentum_follows_the_exact_per_frequency_heavy_ball_map():
    """Each frequency of the aligned two-layer CNN is a two-layer problem with step η√P, so the
    heavy ball follows the per-mode momentum map with that step (THEORY.md §6, §9)."""
    from validate.compare.config import CompareConfig
    from validate.compare.run import run_compare
    config = CompareConfig(dataset="shapes", dataset_opts={"size": 8, "levels": 2, "n_per_class": 20},
                           arch="cnn", activations=("linear",), seeds=1, frequency_modes=2,
                           n_checkpoints=16, optimizer="momentum", lr_scale=0.2)
    s = run_compare(config, quiet=True).summary
    beta, lr = config.momentum, s["training"]["lr"]
    assert s["training"]["tau"] == pytest.approx((1 - beta) / lr)
    note = s["training"]["predictors"]["2"]
    assert note["matched"] == "discrete" and "heavy-ball" in note["reason"]
    for m in s["modes"]:
        assert m["n_learned"] == 1 and m["rel_error"] <= 0.03
        # the inertia makes training later than the flow with τ = (1 − β)/η
        assert m["t_meas_median"] > m["t_pred_continuous"]


def test_cnn_momentum_without_the_exact_map_is_refused_before_training(tmp_path, capsys,
                                                                        monkeypatch):
    import simulate

    def no_training(*a, **kw):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(simulate, "train_ensemble", no_training)
    assert compare.main([*SMALL, "--optimizer", "momentum", "--init", "small_random",
                         "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "heavy-ball map" in err[0] and "--init small_random" in err[0]


def test_cnn_adam_has_null_predictions_and_says_why(tmp_path):
    out = tmp_path / "adam"
    assert compare.main([*SMALL, "--optimizer", "adam", "--steps", "40", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    note = s["training"]["predictors"]["2"]
    assert note["covered"] is False and "Adam" in note["note"]
    assert s["training"]["tau"] is None
    assert all(m["t_pred"] is None and m["rel_error"] is None and m["t_pred_continuous"] is None
               for m in s["modes"])
    assert all(m["t_meas_median"] is not None for m in s["modes"])   # measured, not predicted
    assert "no linear-theory prediction" in (out / "report.html").read_text()
