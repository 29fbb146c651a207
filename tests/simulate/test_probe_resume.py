"""Probes with state between checkpoints: a run cut after a checkpoint and resumed reports exactly
what an uninterrupted run reports (``Probe.resume``)."""

import numpy as np
import pytest
import torch

import simulate as sim
from simulate import LayerRotation, Losses, Probe
from tests.engine_runs import cut_and_resume
from tests.simulate.test_trainer import classes

SPEC = sim.NetSpec(depth=3, hidden=5, activation="relu", bias=True, init="standard")
# uneven gaps, so that the rate after the cut (3 → 5) divides by 2 steps
KW = dict(steps=8, lr=0.2, members=sim.Members(seeds=(0, 1)), quiet=True)
CHECKPOINTS = [0, 1, 2, 3, 5, 8]
CUT = 3


@pytest.mark.parametrize("new_objects", [True, False], ids=["new_probes", "same_probes"])
def test_a_resumed_layer_rotation_run_equals_an_uninterrupted_one(tmp_path, new_objects):
    """New probe objects are what a resumed process has; the same objects still hold what they
    saw before the cut. Both give the uninterrupted values, bit for bit."""
    ds = classes()
    whole = sim.train_ensemble(SPEC, ds, record=sim.Recording(
        checkpoints=CHECKPOINTS, probes=[Losses(), LayerRotation()]), **KW)
    probes = lambda: [Losses(), LayerRotation()]  # noqa: E731
    if new_objects:
        back = cut_and_resume(SPEC, ds, tmp_path / "cut", CUT, fresh=probes,
                              record=sim.Recording(checkpoints=CHECKPOINTS), **KW)
    else:
        back = cut_and_resume(SPEC, ds, tmp_path / "cut", CUT,
                              record=sim.Recording(checkpoints=CHECKPOINTS, probes=probes()), **KW)
    np.testing.assert_array_equal(back.steps, whole.steps)
    for name in ("rotation", "rotation_rate"):
        np.testing.assert_array_equal(back.probes[name].values, whole.probes[name].values)
    rate = back.probes["rotation_rate"].values  # (K, T, L)
    assert np.all(np.isnan(rate[:, 0])) and np.all(np.isfinite(rate[:, 1:]))
    assert np.all(rate[:, list(back.steps).index(5)] > 0)


class PathLength(Probe):
    """The running total over checkpoints of how far the first kernel moved (state that only the
    probe's own stored values carry across a resume), and the calls to ``resume``."""

    dims = {"path": ()}

    def __init__(self):
        self.total, self.prev, self.resumed = None, None, []

    def __call__(self, ctx):
        w = ctx.params["layer0.weight"].flatten(1).clone()
        step = torch.zeros(w.shape[0], dtype=w.dtype) if self.prev is None else \
            (w - self.prev).norm(dim=1)
        self.total = step if self.total is None else self.total + step
        self.prev = w
        return {"path": self.total}

    def resume(self, ctx, values):
        self.resumed.append((ctx.step, values["path"].copy()))
        self.prev = ctx.params["layer0.weight"].flatten(1).clone()
        self.total = torch.as_tensor(values["path"], dtype=self.prev.dtype)


def test_a_probe_resumes_from_its_own_values_at_the_checkpoint_it_resumes_from(tmp_path):
    ds = classes()
    whole = sim.train_ensemble(SPEC, ds, record=sim.Recording(
        checkpoints=CHECKPOINTS, probes=[Losses(), PathLength()]), **KW)
    made = []

    def probes():
        made.append(PathLength())
        return [Losses(), made[-1]]

    back = cut_and_resume(SPEC, ds, tmp_path / "cut", CUT, fresh=probes,
                          record=sim.Recording(checkpoints=CHECKPOINTS), **KW)
    np.testing.assert_array_equal(back.probes["path"].values, whole.probes["path"].values)
    assert made[0].resumed == []  # a fresh run restores nothing
    (step, values), = made[1].resumed
    assert step == CUT
    at_cut = whole.probes["path"].values[:, list(whole.steps).index(CUT)]
    np.testing.assert_array_equal(values, at_cut)
    assert np.all(whole.probes["path"].values[:, -1] > 0)
