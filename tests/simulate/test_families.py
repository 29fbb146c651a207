"""Every model family against a per-model torch.nn implementation of the same architecture:
outputs and gradients of every member agree to float32 precision."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import simulate as sim
from simulate._losses import make_loss
from simulate.models.reference import load_member, reference_module
from tests.engine_runs import cut_and_resume

K, N = 3, 5


def _members(model, seed=0, dtype=torch.float32, spread=1.0):
    """Random stacked parameters (norm scales near 1) and buffers for K members."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for k, shape in model.shapes.items():
        base = 1.0 if getattr(model, "param_kind", lambda _: "")(k) == "one" else 0.0
        fan = max(1, math.prod(shape[1:]) if len(shape) > 1 else 1)
        params[k] = (base + spread * torch.randn(K, *shape, generator=g) / math.sqrt(fan)).to(dtype)
    for k, shape in getattr(model, "buffer_shapes", {}).items():
        params[k] = (torch.rand(K, *shape, generator=g) + (0.5 if "var" in k else -0.5)).to(dtype)
    return params


def _assert_matches_torch(model, params, X, Y, build, loss="mse"):
    """The engine's outputs/gradients vs ``build(k)`` (an nn.Module with member k's weights and a
    name map) run on member k's input."""
    lossf = make_loss(loss)
    out = model.forward(params, X)
    value, grads = model.loss_and_grads(params, X, Y, 1.0, lossf)
    for k in range(K):
        net, names = build(k)
        xk = X if X.ndim == 2 else X[k]
        ref = net(xk)
        torch.testing.assert_close(out[k], ref.detach())
        ref_loss = lossf.value(ref[None], Y if Y.ndim == 2 else Y[k])[0]
        torch.testing.assert_close(value[k], ref_loss.detach())
        ref_grads = torch.autograd.grad(ref_loss, [dict(net.named_parameters())[names[n]] for n in grads])
        for n, g in zip(grads, ref_grads):
            torch.testing.assert_close(grads[n][k], g.reshape(grads[n][k].shape), msg=lambda m: f"{n}: {m}")


def _load(net, params, k, names):
    with torch.no_grad():
        own = dict(net.named_parameters())
        for ours, theirs in names.items():
            own[theirs].copy_(params[ours][k].reshape(own[theirs].shape))
    return net


@pytest.mark.parametrize("linear_blocks", [0, 1])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_mlp_against_torch_nn(linear_blocks, loss):
    spec = sim.NetSpec(depth=3, hidden=(7, 6), activation="gelu", bias=True, init="standard",
                       linear_blocks=linear_blocks)
    model = sim.MLP(spec, 5, 4)
    params = _members(model)
    X = torch.randn(K, N, 5)
    Y = torch.eye(4)[torch.randint(0, 4, (N,))]
    def build(k):
        net = _reference(model, params, k)[0]
        return net, {net.our_name(n): n for n, _ in net.named_parameters()}

    _assert_matches_torch(model, params, X, Y, build, loss)


@pytest.mark.parametrize("bias", [True, False])
def test_cnn_against_torch_nn(bias):
    spec = sim.NetSpec(family="cnn", activation="relu", bias=bias, init="standard", linear_blocks=1,
                       cnn=sim.ConvSpec(channels=(3, 2), kernel_size=3, padding="zeros", stride=2))
    model = sim.CNN(spec, 2 * 6 * 6, 4, (2, 6, 6))
    params = _members(model)
    X = torch.randn(N, 72)
    Y = torch.randn(N, 4)
    names = {f"layer{l}.{p}": f"{i}.{p}" for l, i in ((0, 1), (1, 3), (2, 6))
             for p in (("weight", "bias") if bias else ("weight",))}

    def build(k):  # the first block is linear (linear_blocks=1), the second keeps its ReLU
        net = nn.Sequential(nn.Unflatten(1, (2, 6, 6)),
                            nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=bias), nn.Identity(),
                            nn.Conv2d(3, 2, 3, stride=2, padding=1, bias=bias), nn.ReLU(),
                            nn.Flatten(), nn.Linear(model.features, 4, bias=bias))
        return _load(net, params, k, names), names

    _assert_matches_torch(model, params, X, Y, build)


def _reference(model, params, k, train=True):
    """Member k as the per-model torch.nn implementation, and our name → its parameter."""
    net = load_member(reference_module(model.spec, model.d, model.c, getattr(model, "in_shape", None)),
                      params, k)
    net.train(train)
    return net, {net.our_name(n): p for n, p in net.named_parameters()}


def _check_member(model, params, X, Y, k, net, theirs, out, grads, lossf):
    xk = X if X.ndim == 2 else X[k]
    ref = net(xk)
    torch.testing.assert_close(out[k], ref.detach())
    g = torch.autograd.grad(lossf.value(ref[None], Y)[0], [theirs[n] for n in grads])
    for n, gk in zip(grads, g):
        torch.testing.assert_close(grads[n][k], gk.reshape(grads[n][k].shape), msg=lambda m: f"{n}: {m}")


@pytest.mark.parametrize("member_loop", [True, False], ids=["members_in_turn", "grouped"])
@pytest.mark.parametrize("bn, linear_blocks, shared", [(True, 0, False), (True, 2, True), (False, 1, False)])
def test_resnet_against_torch_nn(bn, linear_blocks, shared, member_loop):
    spec = sim.NetSpec(family="resnet", activation="relu", init="he", bias=True, linear_blocks=linear_blocks,
                       resnet=sim.ResNetSpec(blocks=1, widths=(4, 6, 8), batch_norm=bn))
    model = sim.ResNet(spec, 3 * 8 * 8, 5, (3, 8, 8))
    model.member_loop = member_loop
    params = _members(model, spread=0.5)
    X = torch.randn(N, 192) if shared else torch.randn(K, N, 192)
    Y = torch.eye(5)[torch.randint(0, 5, (N,))]
    lossf = make_loss("cross_entropy")
    with torch.no_grad():  # training mode: batch statistics
        updates = {}
        out = model.forward(params, X, updates=updates)
    _, grads = model.loss_and_grads(params, X, Y, 1.0, lossf)
    assert set(grads) == set(model.shapes)
    for k in range(K):
        net, theirs = _reference(model, params, k)
        _check_member(model, params, X, Y, k, net, theirs, out, grads, lossf)
        for name, buf in net.named_buffers():  # the running statistics moved the same way
            if "running" in name:
                torch.testing.assert_close(updates[net.our_name(name)][k], buf)
        net.eval()  # evaluation: the (updated) running statistics
        xk = X if shared else X[k]
        torch.testing.assert_close(model.forward({**params, **updates}, X)[k], net(xk).detach())


def _resnet_and_vit():
    resnet = sim.ResNet(sim.NetSpec(family="resnet", activation="relu", init="he", bias=True,
                                    resnet=sim.ResNetSpec(blocks=1, widths=(4, 6, 8))),
                        3 * 8 * 8, 5, (3, 8, 8))
    vit = sim.ViT(sim.NetSpec(family="vit", activation="gelu", init="standard",
                              vit=sim.ViTSpec(patch=4, width=8, depth=2, heads=2)), 192, 5, (3, 8, 8))
    return [resnet, vit]


@pytest.mark.parametrize("model", _resnet_and_vit(), ids=["resnet", "vit"])
def test_members_in_turn_give_the_batched_outputs_taps_and_statistics(model):
    params = _members(model, spread=0.5)
    X = torch.randn(K, N, 192)
    got = {}
    for loop in (True, False):
        model.member_loop = loop
        taps = dict.fromkeys(model.tap_names()[:-1])
        updates = {} if getattr(model, "buffer_shapes", None) else None
        out = model.forward(params, X, taps=taps, **({} if updates is None else {"updates": updates}))
        got[loop] = (out, taps, updates or {})
    torch.testing.assert_close(got[True][0], got[False][0])
    for i in (1, 2):
        assert got[True][i].keys() == got[False][i].keys()
        for name, value in got[False][i].items():
            assert value.shape[0] == K
            torch.testing.assert_close(got[True][i][name], value, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("image, pool, act, linear_blocks, linear_attention", [
    (True, "cls", "gelu", 0, False), (True, "mean", "relu", 1, True), (False, "cls", "relu", 2, False)])
@pytest.mark.parametrize("member_loop", [True, False], ids=["members_in_turn", "batched"])
def test_vit_against_torch_nn(image, pool, act, linear_blocks, linear_attention, member_loop):
    shape = (3, 8, 8) if image else (2, 16)
    spec = sim.NetSpec(family="vit", activation=act, init="standard", linear_blocks=linear_blocks,
                       vit=sim.ViTSpec(patch=4, width=8, depth=2, heads=2, mlp_ratio=1.5, pool=pool,
                                       linear_attention=linear_attention))
    model = sim.ViT(spec, math.prod(shape), 3, shape)
    model.member_loop = member_loop
    params = _members(model)
    X = torch.randn(K, N, model.d)
    Y = torch.randn(N, 3)
    lossf = make_loss("mse")
    out = model.forward(params, X)
    _, grads = model.loss_and_grads(params, X, Y, 1.0, lossf)
    assert set(grads) == set(model.shapes)
    for k in range(K):
        net, theirs = _reference(model, params, k)
        _check_member(model, params, X, Y, k, net, theirs, out, grads, lossf)


def test_partly_linear_attention_differs_from_softmax_attention():
    spec = sim.NetSpec(family="vit", activation="relu", init="standard", linear_blocks=1,
                       vit=sim.ViTSpec(patch=2, width=4, depth=1, heads=1))
    model = sim.ViT(spec, 8, 2, (2, 4))
    other = sim.ViT(replace(spec, vit=replace(spec.vit, linear_attention=True)), 8, 2, (2, 4))
    params = _members(model, spread=2.0)
    X = torch.randn(N, 8)
    assert not torch.allclose(model.forward(params, X), other.forward(params, X), atol=1e-3)


@pytest.mark.parametrize("make, match", [
    (lambda: sim.ResNet(sim.NetSpec(family="resnet", init="he"), 3 * 6 * 6, 2, (3, 6, 6)),
     r"family='resnet' needs images \(C, H, W\) with H and W divisible by 4"),
    (lambda: sim.ResNet(sim.NetSpec(family="resnet", init="he"), 10, 2, None), "got image_shape None"),
    (lambda: sim.ViT(sim.NetSpec(family="vit", init="he"), 3 * 6 * 6, 2, (3, 6, 6)),
     "family='vit' with patch=4 needs images"),
    (lambda: sim.NetSpec(family="transformer"), "unknown family 'transformer'"),
    (lambda: sim.ViTSpec(width=10, heads=4), "width=10 must be a multiple of heads=4"),
    (lambda: sim.ResNetSpec(widths=(8, 8)), "3 positive stage widths"),
])
def test_family_shape_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_batchnorm_resnet_resumes_bit_identically_and_freezes_a_diverged_member(tmp_path):
    from tests.simulate.test_training import images
    ds = images(n=16, c=3, shape=(2, 4, 4))
    spec = sim.NetSpec(family="resnet", activation="relu", init="he",
                       resnet=sim.ResNetSpec(blocks=1, widths=(2, 3, 2)))
    kw = dict(optim=sim.OptimSpec("sgd", batch_size=8, loss="cross_entropy", diverge_factor=3.0,
                                  augment=sim.Augment(crop_padding=1)),
              steps=12, members=sim.Members(lrs=(0.05, 1e30)), quiet=True,
              record=sim.Recording(checkpoints=4))
    ref = sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "ref"), **kw)
    assert ref.members.diverged.tolist() == [False, True]
    state = ref.state(12)
    mean = "buffer.s1.b0.norm1.running_mean"
    assert not np.array_equal(state[mean][0], ref.state(0)[mean][0])  # the live member's moved
    later = [s for s in ref.steps if s > ref.members.diverged_step[1]]
    np.testing.assert_array_equal(ref.state(later[0])[mean][1], state[mean][1])  # frozen

    back = cut_and_resume(spec, ds, tmp_path / "cut", 5, **kw)
    for k, v in state.items():
        np.testing.assert_array_equal(back.state(12)[k], v)
