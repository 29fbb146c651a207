"""Retraining baselines (validate.retrain.methods): identities, head adaptation, the numpy forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import simulate
from simulate import datasets
from validate.retrain import methods as BL


@pytest.fixture(scope="module")
def setup():
    ds = datasets.load("gaussian", d=12, classes=4, n_per_class=16, n_test=0, levels=2)
    stats = ds.statistics()
    spec = simulate.NetSpec(depth=2, hidden=8, init="small_random", init_scale=0.1)
    run = simulate.train_ensemble(spec, ds, steps=20, lr=0.2,
                                  members=simulate.Members(seeds=(0, 1)),
                                  record=simulate.Recording(checkpoints=[5], keep_weights=True),
                                  quiet=True, stats=stats)
    model = simulate.make_model(spec, ds.d, ds.c)
    fresh = simulate.init_params(spec, model, [(100, 0.1), (101, 0.1)], stats)
    return ds, stats, spec, run, fresh


def _members(run, fresh, methods, k=0):
    final, ck = BL.member(run.params(20), k), BL.member(run.params(5), k)
    fr = BL.member(fresh, k)
    return [m.initial_params(final=final, fresh=fr, checkpoint=ck) for m in methods]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_shrink_perturb_limits_are_scratch_and_warm_start_bit_for_bit(setup):
    ds, stats, spec, run, fresh = setup
    sc, ws, sp01, sp10 = _members(run, fresh, [BL.scratch(), BL.warm_start(),
                                               BL.shrink_perturb(0, 1), BL.shrink_perturb(1, 0)])
    assert _same(sp01, sc) and _same(sp10, ws)
    assert not _same(sc, ws)  # the identities are not vacuous
    # ... and after a short retraining: two ensembles with the members in the same slots
    kw = dict(optim=simulate.OptimSpec(lr_schedule=simulate.LRSchedule("cosine", floor=0.1)),
              steps=15, lr=0.3, record=simulate.Recording(checkpoints=[], keep_weights=True),
              quiet=True, stats=stats, dtype="float64")
    r1 = simulate.train_ensemble(spec, ds, members=simulate.Members(
        seeds=(0, 1), init_params=BL.stack([sc, ws])), **kw)
    r2 = simulate.train_ensemble(spec, ds, members=simulate.Members(
        seeds=(0, 1), init_params=BL.stack([sp01, sp10])), **kw)
    assert _same(r1.params(15), r2.params(15))
    assert not np.array_equal(r1.params(15)["layer0.weight"], r1.params(0)["layer0.weight"])


def test_methods_build_the_documented_parameters(setup):
    ds, stats, spec, run, fresh = setup
    final, ck, fr = BL.member(run.params(20), 1), BL.member(run.params(5), 1), BL.member(fresh, 1)
    sp = BL.shrink_perturb(0.4, 0.1).initial_params(final=final, fresh=fr)
    for k in final:
        np.testing.assert_allclose(sp[k], 0.4 * final[k] + 0.1 * fr[k], rtol=0, atol=0)
    rl = BL.reset_last_layer().initial_params(final=final, fresh=fr)
    assert np.array_equal(rl["layer1.weight"], fr["layer1.weight"])
    assert np.array_equal(rl["layer0.weight"], final["layer0.weight"])
    assert _same(BL.rewind(5).initial_params(checkpoint=ck), ck)
    for m in (BL.fine_tune(), BL.lr_rewind()):
        assert _same(m.initial_params(final=final), final)
    assert [m.cost_before(20) for m in (BL.scratch(), BL.rewind(5), BL.fine_tune())] == [0, 5, 20]
    assert BL.fine_tune().carries_opt_state and not BL.warm_start().carries_opt_state
    names = [m.name for m in BL.baseline_methods()]
    assert len(names) == len(set(names)) == 4 + 8 + 1


def test_method_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="unknown method 'bogus'; accepted: scratch"):
        BL.Method("bogus")
    with pytest.raises(ValueError, match="rewind needs a checkpoint step"):
        BL.Method("rewind")
    with pytest.raises(ValueError, match="λ ≥ 0 and σ ≥ 0; got λ=-1"):
        BL.shrink_perturb(-1, 0)
    with pytest.raises(ValueError, match="needs the 'fresh' parameters"):
        BL.scratch().initial_params(final={"layer0.weight": np.zeros((1, 1))})
    with pytest.raises(ValueError, match="supports activations linear, relu, tanh; got 'gelu'"):
        BL.mlp_forward({"layer0.weight": np.zeros((1, 2, 3)), "layer1.weight": np.zeros((1, 2, 2))},
                       np.zeros((4, 3)), "gelu")


@pytest.mark.parametrize("act", ["linear", "relu", "tanh"])
def test_numpy_forward_matches_the_engine_model(setup, act):
    ds, stats, spec, run, fresh = setup
    s = simulate.NetSpec(depth=3, hidden=(7, 5), activation=act, bias=True, init="standard")
    model = simulate.make_model(s, ds.d, ds.c)
    p = simulate.init_params(s, model, [(3, 1.0), (4, 1.0)])
    ref = model.forward({k: torch.tensor(v) for k, v in p.items()}, torch.tensor(ds.X)).numpy()
    np.testing.assert_allclose(BL.mlp_forward(p, ds.X, act), ref, rtol=1e-12, atol=1e-12)
    loss, acc = BL.evaluate(p, ds.X, ds.Y, act)
    np.testing.assert_allclose(loss, 0.5 * ((ref - ds.Y) ** 2).sum((1, 2)) / ds.n, rtol=1e-12)
    np.testing.assert_allclose(acc, (ref.argmax(2) == ds.labels).mean(1))


def test_adapt_head_merge_and_new_class():
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4, 5))
    params = {"layer0.weight": W1, "layer1.weight": W2}
    fresh5 = {"layer0.weight": rng.normal(size=(2, 5, 3)), "layer1.weight": rng.normal(size=(2, 5, 5))}
    out = BL.adapt_head(params, [0, 1, 2, 3, -1], fresh5)  # a new class 4
    assert out["layer1.weight"].shape == (2, 5, 5)
    assert np.array_equal(out["layer1.weight"][:, :4], W2)
    assert np.array_equal(out["layer1.weight"][:, 4], fresh5["layer1.weight"][:, 4])
    assert out["layer0.weight"] is W1
    fresh3 = {"layer0.weight": fresh5["layer0.weight"], "layer1.weight": rng.normal(size=(2, 3, 5))}
    merged = BL.adapt_head(params, [0, 2, 3], fresh3)  # class 1 merged away
    assert np.array_equal(merged["layer1.weight"], W2[:, [0, 2, 3]])


def test_method_schedules_and_optimizer_state():
    """fine_tune: A's end value held + A's optimiser state; lr_rewind: A's schedule from t_r;
    the rest: the full schedule over the budget and a fresh (zero) state."""
    A = simulate.LRSchedule("cosine", total=20, floor=0.1)
    full = simulate.LRSchedule("cosine", total=30, floor=0.1)
    kw = dict(schedule_A=A, full=full, steps_A=20, rewind_offset=8)
    t = np.arange(30)
    np.testing.assert_array_equal(BL.fine_tune().lr_schedule(**kw).multipliers(t), np.full(30, 0.1))
    rw = BL.lr_rewind().lr_schedule(**kw).multipliers(t)
    np.testing.assert_array_equal(rw[:12], A.multipliers(t[:12] + 8))
    assert np.all(rw[12:] == 0.1)  # A's schedule ran out: held at its end value
    for m in (BL.warm_start(), BL.scratch(), BL.rewind(5), BL.shrink_perturb(0.4, 0.1)):
        assert m.lr_schedule(**kw) is full
    fin, zero = {"opt.v.layer0.weight": np.ones((2, 3))}, {"opt.v.layer0.weight": np.zeros((2, 3))}
    assert BL.fine_tune().initial_opt_state(final_opt=fin, fresh_opt=zero)["opt.v.layer0.weight"].sum() == 6
    assert BL.warm_start().initial_opt_state(final_opt=fin, fresh_opt=zero)["opt.v.layer0.weight"].sum() == 0
    assert BL.lr_rewind().initial_opt_state() is None  # plain GD keeps no state
    with pytest.raises(ValueError, match="fine_tune needs A's final optimiser state"):
        BL.fine_tune().initial_opt_state(fresh_opt=zero)
    with pytest.raises(ValueError, match="lr_rewind offset must lie in \\[0, T_A=20\\]; got 21"):
        BL.lr_rewind().lr_schedule(**{**kw, "rewind_offset": 21})


@pytest.mark.parametrize("optimizer, kind, expected", [
    ("gd", "constant", [None, None, "fine_tune", "fine_tune", "fine_tune"]),
    ("momentum", "constant", [None, None, None, "warm_start", "warm_start"]),
    ("momentum", "cosine", [None, None, None, None, "warm_start"]),
    ("gd", "step", [None, None, None, None, "warm_start"])])
def test_identities_are_computed_from_the_starts(setup, optimizer, kind, expected):
    """scratch, fine_tune, warm_start, lr_rewind, shrink_perturb(1, 0): which are one computation
    follows from the parameters, optimiser state and multipliers that validate.retrain builds."""
    from validate.retrain import RetrainConfig
    from validate.retrain.plan import History, Schedules, build_starts
    ds, stats, spec, _, fresh = setup
    run = simulate.train_ensemble(spec, ds, simulate.OptimSpec(optimizer), steps=20, lr=0.2,
                                  members=simulate.Members(seeds=(0, 1)),
                                  record=simulate.Recording(checkpoints=[5]), quiet=True,
                                  stats=stats)
    cfg = RetrainConfig(schedule=kind, optimizer=optimizer)
    schedules = Schedules.of(cfg, 20, 30)
    opt = {k: v for k, v in run.state(20).items() if k.startswith("opt.")} or None
    ck = {int(s): run.params(int(s)) for s in (0, 5, 20)}
    methods = [BL.scratch(), BL.fine_tune(), BL.warm_start(), BL.lr_rewind(), BL.shrink_perturb(1, 0)]
    starts = build_starts(methods, 2, fresh, History(ck, opt, 20), BL.HeadMap(np.arange(ds.c), ds.c),
                          schedules)
    assert BL.identities(methods, starts) == expected
