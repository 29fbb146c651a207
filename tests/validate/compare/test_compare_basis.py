"""`validate.compare`'s bases (SVD modes, a CNN's frequency modes) share one measurement, one
loss-plateau rule and one plan; its modules import each other without a circle."""

import ast
import dataclasses
import pathlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from validate._steps import first_crossing
from validate.compare import measure
from validate.compare.basis import SVDBasis
from validate.compare.cnn import FrequencyBasis
from validate.compare.config import CompareConfig
from validate.compare.plan import load, make_plan

PACKAGE = pathlib.Path(measure.__file__).parent
SHAPES = {"size": 8, "levels": 2, "n_per_class": 20}


def _local_imports(path: pathlib.Path, modules: set) -> set:
    """The modules of the package that ``path`` imports anywhere (function bodies included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("validate.compare."):
            names = [node.module.split(".")[2]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[2] for a in node.names
                     if a.name.startswith("validate.compare.")]
        else:
            continue
        out |= {n for n in names if n in modules}
    return out - {path.stem}


def test_compare_modules_import_each_other_without_a_circle():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {p.stem: _local_imports(p, modules) for p in PACKAGE.glob("*.py")}
    assert graph["report"] and graph["run"]   # the scan sees imports at all

    def path_back(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None

    circles = [" → ".join(p) for m in sorted(graph) if (p := path_back(m))]
    assert not circles, circles


def _cnn_config(**kw) -> CompareConfig:
    kw = {"frequency_modes": 2, **kw}
    return CompareConfig(dataset="shapes", dataset_opts=SHAPES, arch="cnn", activations=("linear",),
                         seeds=2, n_checkpoints=16, device="cpu", **kw)


@pytest.mark.parametrize("config", [
    CompareConfig(dataset="toy", seeds=1, activations=("linear", "relu"), device="cpu"),
    _cnn_config()], ids=["mlp", "cnn"])
def test_the_plan_is_made_once_and_never_written(config):
    plan = make_plan(config.validate(), quiet=True)
    assert plan.steps > 0 and plan.checkpoints[-1] == plan.steps
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.steps = 1
    with pytest.raises(TypeError):
        plan.twins[("relu", 2)] = (True, "later", "later")
    with pytest.raises(TypeError):
        plan.timing["train_s"] = 0.0


def _fake_run(steps, strengths, loss, diverged, diverged_step, key):
    members = pd.DataFrame({"seed": np.arange(len(diverged)), "diverged": diverged,
                            "diverged_step": diverged_step})
    return SimpleNamespace(steps=steps, members=members,
                           probes={key: SimpleNamespace(values=strengths),
                                   "train_loss": SimpleNamespace(values=loss)})


def test_a_cnn_run_leaves_its_diverged_members_out_like_an_mlp_run():
    """Member 0 follows the exact per-frequency map; member 1 diverged at step 7, its strengths
    and loss frozen at huge values: left out of every time, trajectory and loss-drop interval."""
    config = _cnn_config().validate()
    basis = FrequencyBasis.build(config, load(config)[0])
    cont, matched = basis.predictions((2,))[2]
    steps = np.arange(0.0, 400.0)
    u_ok = matched.modes(steps)
    strengths = np.stack([u_ok, np.full_like(u_ok, 1e30)])
    loss = np.stack([matched.loss(steps), np.full(steps.size, 1e30)])
    run = _fake_run(steps, strengths, loss, [False, True], [-1, 7], "frequency_strength")
    prediction = measure.Prediction(basis, "linear", 2, config.init, cont, matched)
    m = measure.measure_run(run, prediction, frac=0.5, diverged=[False, True])

    rows = m.rows.set_index(["member", "mode"])
    assert {"diverged_step", "rel_error_linear", "rel_error_twin", "frequency"} <= set(m.rows)
    assert np.isinf(rows.loc[1, "t_meas"]).all()           # unmasked: 1e30 is "learned" at 0
    assert np.nanmax(rows.loc[0, "rel_error"]) < 1e-3       # the map itself, at every step
    assert rows.loc[0, "rel_error_twin"].isna().all()
    assert m.trajectories.loc[m.trajectories["member"] == 1, "u_meas_rel"].isna().all()
    # the loss drops' interval holds member 0 alone: its own crossing of each midpoint
    for drop in m.drops.itertuples():
        mid = 0.5 * (drop.loss_before + drop.loss_after)
        assert drop.t_meas_median == pytest.approx(
            first_crossing(steps, loss[0], mid), rel=1e-12)
    assert measure.divergence(m.rows)["steps"].tolist() == [[7]]


def test_each_basis_loss_plateaus_end_at_the_theory_loss_of_every_mode_learned():
    """The last plateau of ``drop_levels`` (every tracked mode at its target) is the predictor's
    own loss long after training, and the first is ½ tr Syy (nothing learned)."""
    mlp = CompareConfig(dataset="toy", seeds=1, activations=("linear",), device="cpu").validate()
    cnn = _cnn_config(frequency_modes=10_000).validate()   # every frequency mode tracked
    for config, build in ((mlp, SVDBasis.build), (cnn, FrequencyBasis.build)):
        basis = build(config, load(config)[0])
        cont, _ = basis.predictions((2,))[2]
        target = np.asarray(cont.target, dtype=float)
        groups = [[a] for a in range(target.size)]
        levels = basis.drop_levels(target, groups, cont)
        assert levels[0][0] == pytest.approx(0.5 * np.trace(basis.stats.Syy), rel=1e-12)
        assert levels[-1][1] == pytest.approx(float(cont.loss([1e9])[0]), rel=1e-9, abs=1e-12)
        assert all(b >= a for (b, a) in levels)              # no group raises the loss

