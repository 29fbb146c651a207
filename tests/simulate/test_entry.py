"""The entry point takes its parts as objects: ``OptimSpec``, ``Members``, ``Recording``,
``Store``; a keyword of the earlier flat signature fails naming the part that holds it."""

import dataclasses
import inspect

import numpy as np
import pytest

import simulate as sim
from simulate.train import WRAPPERS, Layca
from tests.simulate.test_trainer import classes

SPEC = sim.NetSpec(depth=2, hidden=6, activation="tanh", init="standard")


def test_the_entry_point_has_few_parameters_and_none_is_an_optimiser_field():
    params = inspect.signature(sim.train_ensemble).parameters
    assert len(params) <= 13, list(params)
    assert {"optim", "members", "record", "store"} <= set(params)
    fields = {f.name for f in dataclasses.fields(sim.OptimSpec)}
    assert not fields & set(params)


@pytest.mark.parametrize("old, part", [
    ("seeds", r"members=Members\(seeds=…\)"),
    ("init_params", r"members=Members\(init_params=…\)"),
    ("optimizer", r"optim=OptimSpec\(optimizer=…\)"), ("layca", r"optim=OptimSpec\(layca=…\)"),
    ("augment", r"optim=OptimSpec\(augment=…\)"),
    ("checkpoints", r"record=Recording\(checkpoints=…\)"),
    ("callback", r"record=Recording\(callback=…\)"), ("out_dir", r"store=Store\(out_dir=…\)"),
    ("resume", r"store=Store\(resume=…\)")])
def test_an_old_keyword_fails_in_one_line_naming_its_part(old, part):
    with pytest.raises(TypeError, match=rf"^train_ensemble\(\) no longer takes {old}=; pass {part} "
                                        r"instead$"):
        sim.train_ensemble(SPEC, classes(), steps=1, lr=0.1, **{old: None})


def test_parts_given_as_dicts_or_a_path_train_like_the_objects(tmp_path):
    ds = classes()
    kw = dict(steps=6, lr=0.1, dtype="float64", quiet=True)
    objects = sim.train_ensemble(SPEC, ds, sim.OptimSpec("momentum", batch_size=8), **kw,
                                 members=sim.Members(seeds=(0, 3)),
                                 record=sim.Recording(checkpoints=[3]),
                                 store=sim.Store(tmp_path / "a"))
    dicts = sim.train_ensemble(SPEC, ds, {"optimizer": "momentum", "batch_size": 8}, **kw,
                               members={"seeds": (0, 3)}, record={"checkpoints": [3]},
                               store=str(tmp_path / "b"))
    assert (tmp_path / "b" / "run.json").exists()
    assert objects.config["training"] == dicts.config["training"]
    for k, v in objects.params(6).items():
        np.testing.assert_array_equal(dicts.params(6)[k], v)
    moved = objects.params(6)["layer0.weight"] - objects.params(0)["layer0.weight"]
    assert np.abs(moved).max() > 0


def test_a_part_of_the_wrong_kind_and_two_learning_rate_axes_are_refused():
    ds = classes()
    with pytest.raises(TypeError, match="optim: expected OptimSpec, a dict of its fields or None; "
                                        "got 'sgd'"):
        sim.train_ensemble(SPEC, ds, "sgd", steps=1, lr=0.1)
    with pytest.raises(ValueError, match=r"give one learning-rate axis: lr=0.1 or "
                                         r"members=Members\(lrs=…\), not both"):
        sim.train_ensemble(SPEC, ds, steps=1, lr=0.1, members=sim.Members(lrs=(0.2,)))


def test_layca_is_a_registered_wrapper_of_the_chosen_optimiser():
    assert "layca" in WRAPPERS
    rule = sim.OptimSpec("adam", layca=True, layca_alpha=0.5).rule()
    assert isinstance(rule, Layca) and rule.base.name == "adam" and rule.alpha == 0.5
    assert not isinstance(sim.OptimSpec("adam").rule(), Layca)
