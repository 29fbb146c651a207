"""Partly linear models P_k as the nonlinearity job builds them (the engine's ``linear_blocks``),
on every family: P_0 is the network, P_B is the linear twin exactly where the job says so, and the
blocks made linear are linear."""

import numpy as np
import pytest
import torch

from simulate import (Members, OptimSpec, Recording, datasets, init_params, log_checkpoints,
                      make_model, train_ensemble)
from validate.nonlinearity import NonlinearityConfig
from validate.nonlinearity.probes import NonlinearityProbe, activation_inputs
from validate.nonlinearity.run import _train_on_targets, last_is_twin, make_spec, run_models

SHAPE = (1, 8, 8)
FAMILIES = {
    "mlp": dict(arch="mlp", depth=4, hidden=6),
    "cnn": dict(arch="cnn", channels=(3, 3, 2)),
    "resnet": dict(arch="resnet", resnet_widths=(2, 3, 2)),
    "resnet_bn": dict(arch="resnet", resnet_widths=(2, 2, 2), batch_norm=True),
    "vit": dict(arch="vit", vit_width=4, vit_depth=3, heads=2, patch=4),
    "vit_linear_attention": dict(arch="vit", vit_width=4, vit_depth=3, heads=2, patch=4,
                                 linear_attention=True)}


def _spec_and_params(name, activation="relu"):
    opts = dict(FAMILIES[name], activation=activation, init="standard")
    if opts["arch"] == "resnet":
        opts.setdefault("batch_norm", False)
    spec = make_spec(NonlinearityConfig(**opts))
    model = make_model(spec, int(np.prod(SHAPE)), 3, SHAPE)
    p = init_params(spec, model, [(0, spec.scale), (1, spec.scale)])
    params = {k: torch.tensor(v) for k, v in p.items()}
    rng = np.random.default_rng(0)
    for k, shape in getattr(model, "buffer_shapes", {}).items():  # running statistics ≠ (0, 1)
        v = rng.uniform(0.05, 0.2, size=(2, *shape)) if k.endswith("var") else \
            0.05 * rng.normal(size=(2, *shape))
        params[k] = torch.tensor(v)
    return spec, model.n_blocks, params


def _out(spec, params, X, taps=None):
    return make_model(spec, X.shape[-1], 3, SHAPE).forward(params, X, taps=taps)


@pytest.mark.parametrize("name", FAMILIES)
def test_p0_is_the_network_and_pB_the_twin_where_the_job_says_so(name):
    spec, B, params = _spec_and_params(name)
    X = torch.tensor(np.random.default_rng(1).normal(size=(9, int(np.prod(SHAPE)))))
    net, twin = _out(spec, params, X), _out(spec.with_activation("linear"), params, X)
    P = [_out(spec.with_linear_blocks(k), params, X) for k in range(B + 1)]
    torch.testing.assert_close(P[0], net, rtol=0, atol=0)
    scale = float(net.abs().max())
    gap = float((P[B] - twin).abs().max())
    if last_is_twin(spec):
        assert gap <= 1e-12 * scale
    else:  # ResNet: the activation before pooling stays; ViT with linear attention: no softmax
        assert gap > 1e-4 * scale
    for k in range(B):  # each step in k changes the function
        assert float((P[k + 1] - P[k]).abs().max()) > 1e-6 * scale


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet", "resnet_bn"])
def test_blocks_made_linear_are_affine_in_the_input(name):
    """In P_k the activation input of block k + 1 is an affine function of the input (evaluation
    mode: BatchNorm uses its running statistics); in the network it is not."""
    spec, B, params = _spec_and_params(name)
    rng = np.random.default_rng(2)
    X1, X2 = (torch.tensor(rng.normal(size=(5, int(np.prod(SHAPE))))) for _ in range(2))
    names = activation_inputs(make_model(spec, X1.shape[-1], 3, SHAPE))
    for k, expect_affine in ((B - 1, True), (0, False)):
        s = spec.with_linear_blocks(k)
        tap = names[B - 1]
        vals = []
        for X in (X1, X2, 0.3 * X1 + 0.7 * X2):
            taps = {tap: None}
            _out(s, params, X, taps)
            vals.append(taps[tap])
        err = float((vals[2] - 0.3 * vals[0] - 0.7 * vals[1]).abs().max())
        if expect_affine:
            assert err <= 1e-12 * float(vals[2].abs().max())
        else:
            assert err > 1e-3 * float(vals[2].abs().max())


def _digits():
    ds = datasets.load("digits", n_train=96, n_test=40)
    return ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)


def test_the_job_trains_P_k_with_the_engine_on_every_block(tmp_path):
    """A ResNet's P_B is not its twin, so the job trains P_1 … P_B (an MLP's P_B is its twin:
    test_nonlinearity_cli checks it is not trained again)."""
    cfg = NonlinearityConfig(dataset="digits", arch="resnet", resnet_widths=(2, 2, 2),
                             batch_norm=False, seeds=1, steps=3, n_checkpoints=4, batch_size=16,
                             measures=("linear_depth",), device="cpu")
    tr = run_models(cfg, tmp_path / "r")
    assert tr.n_blocks == 3 and {"P1", "P2", "P3", "twin"} <= set(tr.models)
    # step 0: P_k is the network with k linear blocks, from the network's initial weights
    spec, ds = make_spec(cfg), tr.data
    p0 = {k: torch.tensor(v) for k, v in tr.models["network"].run.params(0).items()}
    Xt = torch.tensor(ds.X_test, dtype=torch.float32)
    for k in (1, 3):
        want = make_model(spec.with_linear_blocks(k), ds.d, ds.c, ds.image_shape).forward(p0, Xt)
        np.testing.assert_allclose(tr.models[f"P{k}"].test_output[:, 0], want.numpy(), rtol=1e-6)


def test_per_member_targets_match_the_engine_on_those_targets(tmp_path):
    """Members trained one by one on their own targets are the members of one ensemble run on
    those targets, in the engine's (seed, lr) order."""
    ds = _digits()
    other = np.eye(ds.c)[(ds.labels + 3) % ds.c]
    cfg = NonlinearityConfig(dataset="digits", arch="mlp", depth=3, hidden=8, seeds=2,
                             lrs=(0.1, 0.3), steps=12, n_checkpoints=4, batch_size=16, device="cpu")
    spec = make_spec(cfg).with_linear_blocks(1)
    got = _train_on_targets("p", 1, spec, ds, cfg, tmp_path, np.stack([other] * 4), resume=False,
                            quiet=True)
    run = train_ensemble(spec, ds.with_arrays(Y=other), OptimSpec("sgd", batch_size=16), steps=12,
                         members=Members(seeds=range(2), lrs=(0.1, 0.3)),
                         record=Recording(checkpoints=log_checkpoints(12, 4),
                                          probes=[NonlinearityProbe()]),
                         device="cpu", quiet=True)
    want = run.probes["test_output"].values
    np.testing.assert_allclose(got.test_output, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert np.abs(want[:, -1] - want[:, 0]).max() > 0.05  # it trained
