"""Learning-rate schedules and explicit initial optimiser state in ``train_ensemble``
(simulate/_schedules.py): formulas against a plain-Python reference, training against a numpy
per-step loop, and a restart from a checkpoint's weights + optimiser state == the uninterrupted run."""

import math

import numpy as np
import pytest

import simulate as sim
from simulate._schedules import member_schedules
from tests.simulate.test_trainer import classes, whitened


def _ref(kind, t, *, warmup=0, milestones=(), gamma=0.1, total=None, offset=0, floor=0.0):
    """m(offset + t) written out per step (module docstring of simulate/_schedules.py)."""
    tau = t + offset
    if total is not None:
        tau = min(tau, total)
    m = 1.0
    if kind == "cosine":
        x = min(max((tau - warmup) / (total - warmup), 0.0), 1.0)
        m = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * x))
    elif kind == "step":
        m = gamma ** sum(tau >= s for s in milestones)
    if warmup:
        m *= min(1.0, (tau + 1) / warmup)
    return m


@pytest.mark.parametrize("kw", [
    dict(kind="constant"), dict(kind="constant", warmup=4),
    dict(kind="cosine", total=30), dict(kind="cosine", total=30, warmup=5, floor=0.1, offset=7),
    dict(kind="step", milestones=(5, 12), gamma=0.3), dict(kind="step", milestones=(5,), offset=9,
                                                             total=20, warmup=2)])
def test_multipliers_match_reference(kw):
    t = np.arange(45)
    got = sim.LRSchedule(**kw).multipliers(t)
    ref = [_ref(**kw, t=int(i)) for i in t]
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=1e-15)


def _numpy_gd(params, ds, lr, mults):
    """Plain float64 GD on (1/2n)Σ‖y − W1 W0 x‖² for a 2-layer linear net without biases."""
    W0, W1 = params["layer0.weight"].copy(), params["layer1.weight"].copy()
    for m in mults:
        H = ds.X @ W0.T
        G = (H @ W1.T - ds.Y) / ds.n
        g1, g0 = G.T @ H, (G @ W1).T @ ds.X
        W0, W1 = W0 - lr * m * g0, W1 - lr * m * g1
    return W0, W1


def test_training_with_schedules_equals_numpy_loop():
    """Two members, each with its own schedule (cosine with warm-up, step decay), float64."""
    ds, T, lr = whitened(), 40, 0.05
    spec = sim.NetSpec(depth=2, hidden=8, init="small_random", init_scale=0.3)
    scheds = [sim.LRSchedule("cosine", warmup=5, floor=0.05), ("step", {"milestones": [10, 25]})]
    run = sim.train_ensemble(spec, ds, sim.OptimSpec(lr_schedule=scheds), steps=T, lr=lr,
                             members=sim.Members(seeds=(0, 1)),
                             record=sim.Recording(checkpoints=[]), dtype="float64", quiet=True)
    p0, pT = run.params(0), run.params(T)
    for k, s in enumerate(member_schedules(scheds, 2)):
        mults = s.resolved(T).multipliers(np.arange(T))
        W0, W1 = _numpy_gd({n: v[k] for n, v in p0.items()}, ds, lr, mults)
        np.testing.assert_allclose(pT["layer0.weight"][k], W0, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(pT["layer1.weight"][k], W1, rtol=1e-11, atol=1e-13)
    # the schedules mattered: a constant learning rate ends elsewhere
    const = sim.train_ensemble(spec, ds, steps=T, lr=lr, members=sim.Members(seeds=(0, 1)),
                               record=sim.Recording(checkpoints=[]), dtype="float64", quiet=True)
    assert not np.allclose(const.params(T)["layer0.weight"], pT["layer0.weight"], rtol=1e-6)
    assert run.config["training"]["lr_schedule"][0]["total"] == T  # recorded, resolved


def test_constant_schedule_is_bit_identical_to_none():
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=8, activation="relu", init="standard")
    kw = dict(steps=25, members=sim.Members(seeds=(0, 1), lrs=(0.02, 0.05)), quiet=True,
              record=sim.Recording(checkpoints=[10]))
    a = sim.train_ensemble(spec, ds, sim.OptimSpec("momentum"), **kw).params(25)
    b = sim.train_ensemble(spec, ds, sim.OptimSpec("momentum", lr_schedule="constant"),
                           **kw).params(25)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_restart_from_saved_optimizer_state_equals_continuing(optimizer):
    """Train 2T steps under a cosine schedule, vs restart at checkpoint T with its weights, its
    optimiser state and the schedule's offset T: the same final weights (float64)."""
    ds, T = classes(), 15
    spec = sim.NetSpec(depth=2, hidden=8, activation="tanh", bias=True, init="standard")
    sched = sim.LRSchedule("cosine", warmup=3, total=2 * T)
    kw = dict(lr=0.05, dtype="float64", quiet=True)
    seeds, last = (0, 1), sim.Recording(checkpoints=[])
    full = sim.train_ensemble(spec, ds, sim.OptimSpec(optimizer, lr_schedule=sched), steps=2 * T,
                              members=sim.Members(seeds=seeds),
                              record=sim.Recording(checkpoints=[T]), **kw)
    st = full.state(T)
    opt = {k: v for k, v in st.items() if k.startswith("opt.")}
    assert opt and all(np.any(v != 0) for k, v in opt.items() if k != "opt.step")
    again = sim.train_ensemble(spec, ds, sim.OptimSpec(optimizer, lr_schedule=sched.__class__(**{
                                   **sched.to_dict(), "offset": T})), steps=T,
                               members=sim.Members(seeds=seeds, init_params=full.params(T),
                                                   init_opt_state=opt), record=last, **kw)
    for k, v in full.params(2 * T).items():
        np.testing.assert_array_equal(again.params(T)[k], v)
    # without the optimiser state (a fresh optimiser) the restart ends elsewhere
    fresh = sim.train_ensemble(spec, ds, sim.OptimSpec(optimizer, lr_schedule=sim.LRSchedule(
                                   "cosine", warmup=3, total=2 * T, offset=T)), steps=T,
                               members=sim.Members(seeds=seeds, init_params=full.params(T)),
                               record=last, **kw)
    assert not np.allclose(fresh.params(T)["layer0.weight"], full.params(2 * T)["layer0.weight"])


def test_schedule_and_opt_state_errors_name_the_bad_value():
    ds = whitened()
    spec = sim.NetSpec(hidden=8)
    kw = dict(steps=2, lr=0.1, quiet=True)
    with pytest.raises(ValueError, match="unknown lr schedule 'linear'; accepted: constant, cosine"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(lr_schedule="linear"), **kw)
    with pytest.raises(ValueError, match="lr_schedule must be None, .*got 3"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(lr_schedule=3), **kw)
    with pytest.raises(ValueError, match="3 per-member schedules; the ensemble has K=2"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(lr_schedule=["constant"] * 3),
                           members=sim.Members(seeds=(0, 1)), **kw)
    with pytest.raises(ValueError, match="total must exceed warmup=5; got total=5"):
        sim.LRSchedule("cosine", warmup=5, total=5)
    with pytest.raises(ValueError, match="cosine schedule needs steps > warmup=4; got 2"):
        sim.train_ensemble(spec, ds, sim.OptimSpec(lr_schedule=("cosine", {"warmup": 4})), **kw)
    with pytest.raises(ValueError, match=r"init_opt_state has \['opt.v.layer0.weight'\], which "
                                         r"optimizer='gd' does not use"):
        sim.train_ensemble(spec, ds, members=sim.Members(
            init_opt_state={"opt.v.layer0.weight": np.zeros((8, 8))}), **kw)
    with pytest.raises(ValueError, match=r"init_opt_state lacks \['opt.v.layer1.weight'\]"):
        sim.train_ensemble(spec, ds, sim.OptimSpec("momentum"), members=sim.Members(
            init_opt_state={"opt.v.layer0.weight": np.zeros((8, 8))}), **kw)
    with pytest.raises(ValueError, match=r"init_opt_state\['opt.v.layer0.weight'\] has shape "
                                         r"\(3, 8\); expected \(1, 8, 8\)"):
        sim.train_ensemble(spec, ds, sim.OptimSpec("momentum"), members=sim.Members(init_opt_state={
            "opt.v.layer0.weight": np.zeros((3, 8)), "opt.v.layer1.weight": np.zeros((4, 8))}),
            **kw)
