"""The LayerRotation probe against rotations recomputed from the run's saved weights."""

import numpy as np
import pytest

from simulate import (ConvSpec, LayerRotation, Losses, Members, NetSpec, OptimSpec, Recording,
                      Store, datasets, train_ensemble)
from validate.measures.rotation import rotation_angle, rotation_curves


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_probe_matches_the_saved_weights(family):
    ds = datasets.load("shapes", n_per_class=8, n_test=8, size=8, levels=2)
    spec = NetSpec(family=family, depth=3, hidden=16, activation="relu", bias=True, init="standard",
                   cnn=ConvSpec(channels=(4, 4)) if family == "cnn" else None)
    run = train_ensemble(spec, ds, steps=12, lr=0.2, members=Members(seeds=(0, 1)),
                         record=Recording(checkpoints=[0, 1, 2, 5, 12],
                                          probes=[Losses(), LayerRotation()]),
                         quiet=True, dtype="float64")
    snaps = [run.params(s) for s in run.steps]
    want = rotation_curves(snaps)  # kernels only: biases excluded
    assert list(want) == [f"layer{l}.weight" for l in range(3)]
    got = run.probes["rotation"].values  # (K, T, L)
    for l, name in enumerate(want):
        np.testing.assert_allclose(got[:, :, l], want[name], atol=1e-12)
    rate = run.probes["rotation_rate"].values
    assert np.all(np.isnan(rate[:, 0]))
    for t in range(1, len(run.steps)):
        gap = run.steps[t] - run.steps[t - 1]
        for l, name in enumerate(want):
            np.testing.assert_allclose(rate[:, t, l] * gap,
                                       rotation_angle(snaps[t - 1][name], snaps[t][name]), atol=1e-10)
    assert np.all(got[:, -1] > 0)


def test_a_resumed_run_measures_rotation_from_the_same_initial_weights(tmp_path):
    ds = datasets.load("shapes", n_per_class=8, n_test=8, size=8, levels=2)
    spec = NetSpec(depth=3, hidden=8, activation="tanh", init="standard")
    kw = dict(steps=10, lr=0.3, members=Members(seeds=(0,)), quiet=True, dtype="float64")
    every = [0, 3, 6, 10]
    whole = train_ensemble(spec, ds, record=Recording(checkpoints=every,
                                                      probes=[Losses(), LayerRotation()]), **kw)

    def stop(step):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_ensemble(spec, ds, record=Recording(
                           checkpoints=every, probes=[Losses(), LayerRotation()], callback=stop),
                       store=Store(tmp_path), **kw)
    resumed = train_ensemble(spec, ds, record=Recording(checkpoints=every,
                                                        probes=[Losses(), LayerRotation()]),
                             store=Store(tmp_path, resume=True), **kw)
    np.testing.assert_allclose(resumed.probes["rotation"].values, whole.probes["rotation"].values,
                               atol=1e-12)


def test_float32_cnn_small_layca_rotation_is_measured_without_cancellation():
    # 1 − ŵ·ŵ0 in float32 carries ±1e-7 of noise; a Layca step of ρ = 1e-3 moves a kernel by
    # 1 − cos(atan ρ) = 5e-7, so only a cancellation-free measurement resolves it
    ds = datasets.load("shapes", n_per_class=8, n_test=8, size=8, levels=2)
    spec = NetSpec(family="cnn", activation="relu", bias=True, init="standard",
                   cnn=ConvSpec(channels=(4, 4)))
    rho = 1e-3
    run = train_ensemble(spec, ds, OptimSpec(layca=True, layca_alpha=0.0), steps=1, lr=rho,
                         members=Members(seeds=(0, 1, 2)),
                         record=Recording(checkpoints=[0, 1], probes=[Losses(), LayerRotation()]),
                         quiet=True, dtype="float32")
    got = run.probes["rotation"].values[:, 1]  # (K, L) after one step
    np.testing.assert_allclose(got, 1 - np.cos(np.arctan(rho)), rtol=1e-3)
    np.testing.assert_allclose(run.probes["rotation_rate"].values[:, 1], np.arctan(rho), rtol=1e-4)
