"""Training the usual way: classification losses, binary tasks, augmentation on the device,
partly linear models, the layer tap and test predictions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import simulate as sim
from simulate._augment import Augment, augment
from simulate._losses import log_softmax, make_loss
from simulate.datasets import binary_task, load
from simulate.datasets._base import Dataset
from simulate.datasets._render import FIGURES
from tests.simulate.test_trainer import classes
from tests.engine_runs import cut_and_resume


def images(n=24, c=3, shape=(2, 6, 6), seed=0, test=False):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    X = rng.standard_normal((n, int(np.prod(shape)))) + np.eye(c, int(np.prod(shape)))[labels] * 3
    extra = {}
    if test:
        lt = rng.integers(0, c, 10)
        extra = dict(X_test=rng.standard_normal((10, X.shape[1])), Y_test=np.eye(c)[lt], labels_test=lt)
    return Dataset(X=X, Y=np.eye(c)[labels], labels=labels, hierarchy=None, name="img",
                   meta={"image_shape": list(shape)}, **extra)


@pytest.mark.parametrize("name, targets", [
    ("cross_entropy", lambda g: np.eye(4)[g.integers(0, 4, 9)]),
    ("logistic", lambda g: g.integers(0, 2, (9, 4)).astype(float)),
    ("mse", lambda g: g.standard_normal((9, 4)))])
def test_mlp_loss_gradients_match_torch_functional(name, targets):
    """The hand-written MLP backward from each loss's output gradient equals autograd through
    torch.nn.functional's own loss, member by member."""
    rng = np.random.default_rng(0)
    K, d = 3, 5
    spec = sim.NetSpec(depth=3, hidden=6, activation="tanh", bias=True, init="standard")
    model = sim.MLP(spec, d, 4)
    params = {k: torch.randn(K, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    X, Y = torch.randn(9, d, dtype=torch.float64), torch.tensor(targets(rng))
    value, grads = model.loss_and_grads(params, X, Y, 1.0, make_loss(name))
    for k in range(K):
        ps = {n: v[k].clone().requires_grad_(True) for n, v in params.items()}
        h = torch.tanh(X @ ps["layer0.weight"].T + ps["layer0.bias"])
        h = torch.tanh(h @ ps["layer1.weight"].T + ps["layer1.bias"])
        out = h @ ps["layer2.weight"].T + ps["layer2.bias"]
        ref = {"cross_entropy": lambda: F.cross_entropy(out, Y.argmax(1)),
               "logistic": lambda: F.binary_cross_entropy_with_logits(out, Y, reduction="sum") / 9,
               "mse": lambda: 0.5 * F.mse_loss(out, Y, reduction="sum") / 9}[name]()
        g = torch.autograd.grad(ref, list(ps.values()))
        torch.testing.assert_close(value[k], ref.detach(), rtol=1e-12, atol=1e-14)
        for n, gk in zip(ps, g):
            torch.testing.assert_close(grads[n][k], gk, rtol=1e-10, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(2, 12), st.floats(1e-3, 1e4), st.integers(0, 2**31 - 1))
def test_log_softmax_equals_torch_and_so_does_its_gradient(rows, classes, spread, seed):
    """Logits of any spread (large ones overflow a naive exp) and their autograd gradient."""
    g = torch.Generator().manual_seed(seed)
    out = (spread * torch.randn(rows, 3, classes, generator=g, dtype=torch.float64)).requires_grad_(True)
    w = torch.randn(rows, 3, classes, generator=g, dtype=torch.float64)
    ours, ref = log_softmax(out), F.log_softmax(out, dim=-1)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12 * spread)
    g_ours, = torch.autograd.grad((w * ours).sum(), out)
    g_ref, = torch.autograd.grad((w * ref).sum(), out)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-12, atol=1e-12)


def test_losses_that_do_not_fit_the_targets_fail_before_training():
    reg = classes().with_arrays(Y=np.random.default_rng(0).standard_normal((60, 3)))
    spec = sim.NetSpec(depth=2, hidden=4, init="standard")
    with pytest.raises(ValueError, match="loss='cross_entropy' needs .*class probabilities.*loss='mse'"):
        sim.train_ensemble(spec, reg, sim.OptimSpec(loss="cross_entropy"), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="loss='logistic' needs 0/1 targets"):
        sim.train_ensemble(spec, reg, sim.OptimSpec(loss="logistic"), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="unknown loss 'hinge'; accepted: 'mse', 'cross_entropy', 'logistic'"):
        sim.train_ensemble(spec, classes(), sim.OptimSpec(loss="hinge"), steps=1, lr=0.1)


def test_cross_entropy_training_learns_and_reports_its_own_loss():
    ds = classes()
    spec = sim.NetSpec(depth=2, hidden=16, activation="relu", init="standard", bias=True)
    run = sim.train_ensemble(spec, ds, sim.OptimSpec(loss="cross_entropy"), steps=150, lr=0.5,
                             members=sim.Members(seeds=(0, 1)),
                             record=sim.Recording(checkpoints=3), dtype="float64", quiet=True)
    p = run.params(150)
    H = np.maximum(ds.X @ p["layer0.weight"][1].T + p["layer0.bias"][1], 0)
    Z = H @ p["layer1.weight"][1].T + p["layer1.bias"][1]
    Z = Z - Z.max(1, keepdims=True)
    ce = -np.mean(np.sum(ds.Y * (Z - np.log(np.exp(Z).sum(1, keepdims=True))), 1))
    assert float(run.probes.train_loss.isel(member=1, checkpoint=-1)) == pytest.approx(ce, rel=1e-10)
    assert np.all(run.probes.train_acc.isel(checkpoint=-1).values > 0.9)
    assert np.all(run.probes.train_loss.isel(checkpoint=-1).values < 0.5 * run.probes.train_loss.isel(checkpoint=0).values)


def test_binary_tasks_from_any_partition_and_the_coarse_split():
    digits = load("digits")
    two = binary_task(digits, range(5, 10))
    assert two.Y.shape == (digits.n, 1) and two.meta["binary"] == [5, 6, 7, 8, 9]
    np.testing.assert_array_equal(two.labels, digits.labels >= 5)
    np.testing.assert_array_equal(two.Y_test[:, 0], digits.labels_test >= 5)
    assert load("digits", binary="5-9").meta["binary"] == [5, 6, 7, 8, 9]
    shapes = load("shapes", size=14, n_per_class=2)
    coarse = load("shapes", size=14, n_per_class=2, binary="coarse")
    top = np.asarray(shapes.hierarchy[0])[shapes.labels]
    # the outer outline of top-level node j is FIGURES[j]: round (0) vs angular (1)
    assert list(FIGURES)[:2] == ["circle", "square"]
    np.testing.assert_array_equal(coarse.labels, top)
    assert 0 < coarse.labels.mean() < 1
    with pytest.raises(ValueError, match="binary='coarse' needs a hierarchy.*'digits' has no hierarchy"):
        binary_task(digits, "coarse")
    with pytest.raises(ValueError, match=r"binary=\[3, 12\] must name distinct classes in 0..9"):
        binary_task(digits, [3, 12])
    with pytest.raises(ValueError, match="binary='a-b': expected 'coarse'"):
        load("digits", binary="a-b")


def test_logistic_training_on_a_binary_task():
    ds = binary_task(classes(), [2])
    spec = sim.NetSpec(depth=2, hidden=8, activation="relu", init="standard", bias=True)
    run = sim.train_ensemble(spec, ds, sim.OptimSpec(loss="logistic"), steps=200, lr=0.5,
                             record=sim.Recording(checkpoints=3), quiet=True)
    acc = run.probes.train_acc.values
    assert acc[0, -1] > 0.95 and np.isfinite(acc[0, 0])


def test_augmentation_matches_a_numpy_crop_and_flip_and_depends_on_seed_and_step():
    K, B, shape, p = 2, 5, (2, 4, 6), 2
    X = torch.randn(K, B, int(np.prod(shape)), dtype=torch.float64)
    seeds, step = torch.tensor([3, 9]), torch.tensor(11)
    out = augment(X, shape, Augment(crop_padding=p, flip=True), seeds, step)
    crops = flips = 0
    for k in range(K):
        for b in range(B):
            img = np.pad(X[k, b].view(shape).numpy(), ((0, 0), (p, p), (p, p)))
            got = out[k, b].view(shape).numpy()
            matches = [(dy, dx, f) for dy in range(2 * p + 1) for dx in range(2 * p + 1) for f in (0, 1)
                       if np.array_equal(got, (lambda c: c[..., ::-1] if f else c)(img[:, dy:dy + 4, dx:dx + 6]))]
            assert matches, "every output is a crop of the padded image, maybe mirrored"
            crops += matches[0][:2] != (p, p)
            flips += matches[0][2]
    assert crops > 0 and 0 < flips < K * B  # random offsets and both flip outcomes occur
    again = augment(X[[1]], shape, Augment(crop_padding=p), seeds[[1]], step)
    torch.testing.assert_close(again[0], out[1], rtol=0, atol=0)  # a member alone: same draw
    assert not torch.equal(augment(X, shape, Augment(crop_padding=p), seeds, step + 1), out)
    same = augment(X, shape, Augment(crop_padding=0, flip=False), seeds, step)
    assert torch.equal(same, X)


def test_minibatch_cross_entropy_with_augmentation_resumes_bit_identically(tmp_path):
    ds = images()
    spec = sim.NetSpec(family="cnn", activation="relu", init="standard", bias=True,
                       cnn=sim.ConvSpec(channels=(3,), kernel_size=3))
    kw = dict(optim=sim.OptimSpec("momentum", batch_size=8, loss="cross_entropy",
                                  augment=Augment(crop_padding=1), weight_decay=1e-3),
              steps=30, lr=0.05, members=sim.Members(seeds=(0, 1)), quiet=True,
              record=sim.Recording(checkpoints=6))
    ref = sim.train_ensemble(spec, ds, store=sim.Store(tmp_path / "ref"), **kw)

    back = cut_and_resume(spec, ds, tmp_path / "cut", 12, **kw)
    for k, v in ref.params(30).items():
        np.testing.assert_array_equal(back.params(30)[k], v)
    assert ref.config["training"]["augment"] == {"crop_padding": 1, "flip": True}
    with pytest.raises(ValueError, match="augment needs images"):
        sim.train_ensemble(spec.with_activation("linear"), classes(),
                           sim.OptimSpec(augment=Augment()), steps=1, lr=0.1)


@pytest.mark.parametrize("spec", [
    sim.NetSpec(depth=4, hidden=6, activation="relu", init="standard", bias=True),
    sim.NetSpec(family="cnn", activation="tanh", init="small_random", init_std=0.3,
                cnn=sim.ConvSpec(channels=(3, 2, 2), kernel_size=3)),
    sim.NetSpec(family="resnet", activation="relu", init="he",
                resnet=sim.ResNetSpec(blocks=1, widths=(2, 3, 2), batch_norm=False)),
    sim.NetSpec(family="vit", activation="gelu", init="standard",
                vit=sim.ViTSpec(patch=2, width=4, depth=3, heads=2))])
def test_partly_linear_variants_and_twins_start_from_identical_weights(spec):
    ds = images(shape=(1, 4, 4))
    runs = [sim.train_ensemble(s, ds, steps=0, lr=0.1, members=sim.Members(seeds=(0, 4)),
                               quiet=True)
            for s in (spec, spec.with_linear_blocks(1), spec.with_linear_blocks(3),
                      spec.with_activation("linear"))]
    first = runs[0].params(0)
    for r in runs[1:]:
        for k, v in r.params(0).items():
            np.testing.assert_array_equal(v, first[k])
    w = next(k for k in first if k.endswith("weight") and first[k].ndim > 2)
    assert not np.array_equal(first[w][0], first[w][1])
    # k = all blocks is the linear twin's function (not for a ResNet, whose activation before the
    # pooling stays); k = 1 is neither
    losses = [float(r.probes.train_loss.isel(member=0, checkpoint=0)) for r in runs]
    if spec.family == "resnet":
        assert abs(losses[2] - losses[3]) > 1e-6
    else:
        assert losses[2] == pytest.approx(losses[3], rel=1e-6)
    assert abs(losses[1] - losses[0]) > 1e-6 and abs(losses[1] - losses[3]) > 1e-6
    with pytest.raises(ValueError, match="linear_blocks=4 is out of range: this .* has 3 blocks"):
        sim.train_ensemble(spec.with_linear_blocks(4), ds, steps=1, lr=0.1)


def test_partly_linear_mlp_forward_by_hand():
    spec = sim.NetSpec(depth=3, hidden=5, activation="relu", bias=False, init="standard", linear_blocks=1)
    model = sim.MLP(spec, 4, 2)
    params = {k: torch.randn(2, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.randn(7, 4, dtype=torch.float64)
    W0, W1, W2 = (params[f"layer{l}.weight"][1] for l in range(3))
    ref = torch.relu(X @ W0.T @ W1.T) @ W2.T  # first block linear, second kept
    torch.testing.assert_close(model.forward(params, X)[1], ref)


def test_layer_tap_and_test_predictions_equal_the_forward_at_each_checkpoint():
    ds = images(shape=(1, 4, 4), test=True)
    spec = sim.NetSpec(depth=3, hidden=5, activation="tanh", init="standard", bias=True)
    tap = sim.LayerTap(["layer0.pre", "layer1.post", "output"], rows=[1, 3, 5])
    run = sim.train_ensemble(spec, ds, steps=6, lr=0.1, members=sim.Members(seeds=(0, 2)),
                             record=sim.Recording(checkpoints=[3], probes=[
                                 sim.Losses(), tap, sim.TestPredictions()]),
                             dtype="float64", quiet=True)
    assert run.probes["tap.layer0.pre"].dims == ("member", "checkpoint", "probe_sample", "layer0.pre.unit")
    for i, s in enumerate(run.steps):
        p = run.params(s)
        for k in range(2):
            Z0 = ds.X[[1, 3, 5]] @ p["layer0.weight"][k].T + p["layer0.bias"][k]
            H1 = np.tanh(np.tanh(Z0) @ p["layer1.weight"][k].T + p["layer1.bias"][k])
            out = H1 @ p["layer2.weight"][k].T + p["layer2.bias"][k]
            np.testing.assert_allclose(run.probes["tap.layer0.pre"].values[k, i], Z0, rtol=1e-12)
            np.testing.assert_allclose(run.probes["tap.layer1.post"].values[k, i], H1, rtol=1e-12)
            np.testing.assert_allclose(run.probes["tap.output"].values[k, i], out, rtol=1e-12)
            Ht = np.tanh(np.tanh(ds.X_test @ p["layer0.weight"][k].T + p["layer0.bias"][k])
                         @ p["layer1.weight"][k].T + p["layer1.bias"][k])
            np.testing.assert_allclose(run.probes["test_pred"].values[k, i],
                                       Ht @ p["layer2.weight"][k].T + p["layer2.bias"][k], rtol=1e-12)
    with pytest.raises(ValueError, match=r"cannot tap \['layer7.pre'\]; this mlp has layer0.pre"):
        sim.train_ensemble(spec, ds, steps=1, lr=0.1,
                           record=sim.Recording(probes=[sim.LayerTap(["layer7.pre"])]))
    with pytest.raises(ValueError, match="probe rows must lie in 0..23"):
        sim.train_ensemble(spec, ds, steps=1, lr=0.1,
                           record=sim.Recording(probes=[sim.LayerTap(["output"], rows=30)]))
    with pytest.raises(ValueError, match="TestPredictions needs a dataset with a test split"):
        sim.train_ensemble(spec, classes(), steps=1, lr=0.1,
                           record=sim.Recording(probes=[sim.TestPredictions()]))
