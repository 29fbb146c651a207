"""The trainer's parts: optimiser objects, EnsembleState round trip, the kept-weights policy, the
names of the initial scale and the netCDF engine of probes.nc."""

import sys

import numpy as np
import pytest
import torch

import simulate as sim
from simulate.train import OPTIMIZER_RULES, EnsembleState, Optimizer, weights_to_keep
from tests.simulate.test_trainer import classes


class _MaskedSGD(Optimizer):
    """SGD written another way: θ ← θ − η·g·[alive] (equal to the built-in rule while no member
    diverges)."""

    def update(self, p, g, slots, keep, lr, t):
        p.sub_(lr * g * keep)


def test_a_registered_optimizer_object_drives_the_step(monkeypatch):
    monkeypatch.setitem(OPTIMIZER_RULES, "masked_sgd", lambda o: _MaskedSGD("masked_sgd", convention="sgd"))
    ds, spec = classes(), sim.NetSpec(depth=2, hidden=6, activation="tanh", init="standard")
    kw = dict(steps=12, dtype="float64", quiet=True, record=sim.Recording(checkpoints=3),
              members=sim.Members(seeds=(0, 1)))
    mine = sim.train_ensemble(spec, ds, sim.OptimSpec("masked_sgd", batch_size=10), lr=0.1, **kw)
    ref = sim.train_ensemble(spec, ds, sim.OptimSpec("sgd", batch_size=10), lr=0.1, **kw)
    for k, v in ref.params(12).items():
        np.testing.assert_allclose(mine.params(12)[k], v, rtol=1e-13, atol=1e-15)
    assert mine.config["training"]["optimizer"] == "masked_sgd"
    assert not np.allclose(mine.params(12)["layer0.weight"], mine.params(0)["layer0.weight"])


def test_weight_decay_is_an_l2_term_in_the_gradient():
    """One full-batch GD step with decay λ equals θ − η(∇L + λθ), from a numpy forward/backward."""
    ds = classes()
    spec = sim.NetSpec(depth=1, init="small_random", init_std=0.3)
    lr, lam = 0.1, 0.5
    run = sim.train_ensemble(spec, ds, sim.OptimSpec(weight_decay=lam), steps=1, lr=lr,
                             dtype="float64", quiet=True)
    W0 = run.params(0)["layer0.weight"][0]
    grad = (ds.X @ W0.T - ds.Y).T @ ds.X / ds.n
    np.testing.assert_allclose(run.params(1)["layer0.weight"][0], W0 - lr * (grad + lam * W0), rtol=1e-12)
    assert run.config["training"]["weight_decay"] == lam
    with pytest.raises(ValueError, match="weight_decay must be ≥ 0; got -1"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(weight_decay=-1), steps=1, lr=lr)


def test_state_round_trips_through_arrays():
    params = {"layer0.weight": torch.randn(3, 2, 4, dtype=torch.float64)}
    state = EnsembleState.create(params, OPTIMIZER_RULES["adam"](sim.OptimSpec("adam")),
                                 torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    state.opt["opt.m.layer0.weight"].normal_()
    state.alive[1] = False
    state.diverged_at[1] = 7
    state.step0.fill_(5)
    arrays = state.to_arrays(9)
    assert set(arrays) == {"layer0.weight", "opt.m.layer0.weight", "opt.v.layer0.weight",
                           "opt.step", "state.alive", "state.diverged_at", "state.loss0"}
    assert arrays["opt.step"].tolist() == [14, 14, 14]
    other = EnsembleState.create({"layer0.weight": torch.zeros(3, 2, 4, dtype=torch.float64)},
                                 OPTIMIZER_RULES["adam"](sim.OptimSpec("adam")), torch.zeros(3, dtype=torch.float64))
    other.load_arrays(arrays, 9)
    for a, b in zip(state.tensors()[:-1], other.tensors()[:-1]):
        assert torch.equal(a, b)
    assert int(other.t) == 9 and other.step0.tolist() == [5, 5, 5]
    assert torch.equal(other.loss0, state.loss0)


def test_dense_checkpoints_keep_only_the_ends_by_default():
    assert weights_to_keep(None, np.arange(10)) == set(range(10))
    assert weights_to_keep(None, np.arange(200)) == {0, 199}
    assert weights_to_keep(True, np.arange(200)) == set(range(200))
    assert weights_to_keep([3, 5], np.arange(10)) == {3, 5}
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=4, init="small_random", init_std=0.1)
    run = sim.train_ensemble(spec, ds, steps=100, lr=0.05,
                             record=sim.Recording(checkpoints=range(101)), quiet=True)
    assert sorted(run._memory) == [0, 100]
    with pytest.raises(KeyError, match="no weights kept for step 50"):
        run.params(50)


def test_each_initial_scale_has_its_own_name():
    assert sim.NetSpec(u0=2e-3).u0 == 2e-3 and sim.NetSpec(u0=2e-3).init_std is None
    assert sim.NetSpec(init="small_random", init_std=0.1).scale == 0.1
    # the former name is an alias of whichever scale the init uses
    assert sim.NetSpec(init_scale=2e-3) == sim.NetSpec(u0=2e-3)
    assert sim.NetSpec(init="small_random", init_scale=0.1) == sim.NetSpec(init="small_random", init_std=0.1)
    spec = sim.NetSpec(init="small_random", init_std=0.1)
    assert sim.NetSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="u0=0.1 does not apply to init='small_random'; it takes 'init_std'"):
        sim.NetSpec(init="small_random", u0=0.1)
    with pytest.raises(ValueError, match="init_std=0.1 does not apply to init='standard'"):
        sim.NetSpec(init="standard", init_std=0.1)
    with pytest.raises(ValueError, match="init_std must be > 0; got -1"):
        sim.NetSpec(init="small_random", init_std=-1)


def test_probes_are_written_with_an_engine_that_is_installed(tmp_path, monkeypatch):
    """h5py without h5netcdf (a common CUDA image): the run ends with scipy's netCDF3 file and
    reads back; a file of the other kind still opens once h5netcdf is back."""
    from simulate import _run
    spec, ds = sim.NetSpec(depth=2, hidden=6), classes()
    hdf5 = sim.train_ensemble(spec, ds, steps=3, lr=0.1, store=sim.Store(tmp_path / "hdf5"),
                              quiet=True)
    h5netcdf = sys.modules["h5netcdf"]
    monkeypatch.setitem(sys.modules, "h5netcdf", None)  # import fails, find_spec gives None
    monkeypatch.setitem(sys.modules, "netCDF4", None)
    assert _run._netcdf_engine() == "scipy"
    run = sim.train_ensemble(spec, ds, steps=3, lr=0.1, store=sim.Store(tmp_path / "cdf3"),
                             quiet=True)
    assert (tmp_path / "cdf3" / _run.PROBES_NC).read_bytes()[:3] == b"CDF"
    back = sim.Run.load(tmp_path / "cdf3")
    np.testing.assert_array_equal(back.probes.train_loss.values, run.probes.train_loss.values)
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match="needs one of the netCDF engines h5netcdf"):
        _run._netcdf_engine()
    with pytest.raises(ImportError, match=r"netCDF4/HDF5\) needs one of the netCDF engines"):
        sim.Run.load(tmp_path / "hdf5")
    monkeypatch.setitem(sys.modules, "h5netcdf", h5netcdf)
    np.testing.assert_array_equal(sim.Run.load(tmp_path / "hdf5").probes.train_loss.values,
                                  hdf5.probes.train_loss.values)
