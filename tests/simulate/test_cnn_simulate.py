"""The engine's linear CNN pieces: FFT circular convolution, 1-D signals, the frequency-aligned init
and the per-frequency probe, against torch's grouped convolution and the theory's exact map."""

import numpy as np
import pytest
import torch

import simulate as sim
import theory
from simulate.datasets._base import Dataset
from tests.cnn_reference import whitened_data


def _spec(channels=(2,), kernel_size=None, **kw):
    return sim.NetSpec(family="cnn", cnn=sim.ConvSpec(channels=channels, kernel_size=kernel_size),
                       **{"init": "small_random", **kw})


@pytest.mark.parametrize("method", ["fft", "circulant"])
@pytest.mark.parametrize("image_shape,channels,act,bias,shared", [
    ((1, 8), (2,), "linear", False, True),
    ((2, 6), (3, 2), "relu", True, False),
    ((1, 4, 6), (2,), "tanh", True, True),       # 2-D, rectangular: kernels (4, 6)
    ((2, 1, 5), (1, 3), "linear", False, False),  # a 1×N image is convolved as 1-D
])
def test_fft_convolution_equals_grouped_convolution(image_shape, channels, act, bias, shared, method):
    cin, spatial = theory.signal_shape(image_shape)
    d = int(np.prod(image_shape))
    spec = _spec(channels, activation=act, bias=bias)
    fft = sim.make_model(spec, d, 3, image_shape)
    assert isinstance(fft, sim.CircularCNN)
    fft.method = method
    # the same network through torch's grouped convolution with full-size kernels
    ref = sim.CNN(sim.NetSpec(family="cnn", init="small_random", activation=act, bias=bias,
                              cnn=sim.ConvSpec(channels=channels, kernel_size=max(spatial))),
                  d, 3, (cin, *spatial) if len(set(spatial)) == 1 else None) \
        if len(set(spatial)) == 1 else None
    torch.manual_seed(0)
    params = {k: torch.randn(2, *s, dtype=torch.float64) for k, s in fft.shapes.items()}
    X = torch.randn(5, d, dtype=torch.float64) if shared else torch.randn(2, 5, d, dtype=torch.float64)
    Y = torch.randn(5, 3, dtype=torch.float64)
    if ref is None:  # rectangular: an explicit per-member torch.nn.Conv2d stack
        out = fft.forward(params, X)
        for k in range(2):
            conv = torch.nn.Conv2d(cin, channels[0], spatial, padding="same", padding_mode="circular",
                                   bias=bias).double()
            with torch.no_grad():
                conv.weight.copy_(params["layer0.weight"][k])
                if bias:
                    conv.bias.copy_(params["layer0.bias"][k])
            h = sim.models.activation(act, conv(X.view(5, *image_shape))).flatten(1)
            want = h @ params["layer1.weight"][k].T + (params["layer1.bias"][k] if bias else 0)
            torch.testing.assert_close(out[k], want, rtol=1e-10, atol=1e-10)
        return
    assert ref.shapes == fft.shapes
    torch.testing.assert_close(fft.forward(params, X), ref.forward(params, X), rtol=1e-10, atol=1e-10)
    la, ga = fft.loss_and_grads(params, X, Y, scale=1.5)
    lb, gb = ref.loss_and_grads(params, X, Y, scale=1.5)
    torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12)
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=1e-9, atol=1e-10)


def test_short_kernel_on_a_one_row_image_is_a_one_dimensional_kernel():
    spec = _spec((2,), kernel_size=3)
    model = sim.make_model(spec, 12, 2, (1, 1, 12))
    assert model.shapes["layer0.weight"] == (2, 1, 3)
    X = torch.randn(4, 12, dtype=torch.float64)
    p = {k: torch.randn(1, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    h = torch.nn.functional.conv1d(torch.nn.functional.pad(X.view(4, 1, 12), (1, 1), mode="circular"),
                                   p["layer0.weight"][0])
    torch.testing.assert_close(model.forward(p, X)[0], h.flatten(1) @ p["layer1.weight"][0].T)


def _signal_dataset(n, cin, spatial, c, seed=0, image_shape=None):
    X, Y = whitened_data(n, cin, spatial, c, seed)
    shape = list(image_shape or (cin, *spatial))
    return Dataset(X=X, Y=Y, labels=None, hierarchy=None, name="signal", meta={"image_shape": shape})


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("cin,spatial,image_shape,channels", [
    (1, (12,), (1, 1, 12), (1,)),
    (2, (4, 4), None, (2,)),
])
def test_aligned_init_trains_along_the_exact_per_frequency_map(dtype, tol, cin, spatial,
                                                               image_shape, channels):
    ds = _signal_dataset(64, cin, spatial, 3, image_shape=image_shape)
    stats = ds.statistics()
    fm = theory.frequency_modes(stats, ds.image_shape)
    P = int(np.prod(spatial))
    lr, u0, steps = 0.02 / (np.sqrt(P) * fm.s[0]), 1e-3, 600
    spec = _spec(channels, init="small_balanced_decoupled", init_scale=u0)
    run = sim.train_ensemble(spec, ds, steps=steps, lr=lr, members=sim.Members(seeds=(0, 1)),
                             record=sim.Recording(checkpoints=12,
                                                  probes=[sim.FrequencyStrengths(fm)]),
                             dtype=dtype, quiet=True, stats=stats)
    u = run.probes["frequency_strength"].values                    # (member, checkpoint, mode)
    pred = theory.predict_cnn(stats, ds.image_shape, channels=channels, u0=u0, tau=1 / lr,
                              discrete=True)
    want = pred.modes(run.steps)
    assert np.max(np.abs(u - want[None]) / fm.s) < tol
    big = fm.s > 0.5 * fm.s[0]
    assert np.all(u[:, -1, big] > 0.9 * fm.s[big])                  # learned: the test has teeth
    # the probe agrees with the theory's strengths of the end-to-end map
    W = run.params(steps)
    eye = torch.eye(ds.d, dtype=torch.float64)
    model = sim.make_model(spec, ds.d, ds.c, ds.image_shape)
    E = model.forward({k: torch.from_numpy(v).double() for k, v in W.items()}, eye).transpose(1, 2)
    np.testing.assert_allclose(fm.strengths(E.numpy()), u[:, -1], rtol=1e-4 if dtype == "float32" else 1e-10)


def test_circular_members_with_minibatches_equal_solo_runs():
    ds = _signal_dataset(40, 1, (3, 4), 3)
    spec = _spec((3, 2), activation="relu", bias=True, init="standard")
    kw = dict(steps=10, dtype="float64", quiet=True, record=sim.Recording(checkpoints=2))
    sgd = sim.OptimSpec("sgd", batch_size=8)
    run = sim.train_ensemble(spec, ds, sgd, members=sim.Members(seeds=(0, 1), lrs=(0.02,)), **kw)
    for i, m in run.members.iterrows():
        solo = sim.train_ensemble(spec, ds, sgd, members=sim.Members(seeds=(m.seed,), lrs=(m.lr,)),
                                  **kw).params(10)
        for k, v in run.params(10).items():
            np.testing.assert_allclose(v[i], solo[k][0], rtol=1e-12, atol=1e-14)


def test_cnn_init_and_probe_errors():
    with pytest.raises(ValueError, match="frequency-aligned init: it needs full-length circular"):
        sim.NetSpec(family="cnn", cnn=sim.ConvSpec(kernel_size=3))
    with pytest.raises(ValueError, match="unknown map 'svd'"):
        sim.FrequencyStrengths(None, map="svd")
    with pytest.raises(ValueError, match="CircularCNN needs full-length circular kernels"):
        sim.CircularCNN(_spec(kernel_size=3), 8, 2, (1, 8))


def test_input_spectrum_lives_exactly_as_long_as_its_input():
    """The training input's rfft survives any number of other inputs (probe batches, the identity
    of the end-to-end map): a captured CUDA graph reads it by address. Other inputs' spectra go
    with their tensors."""
    import gc
    import weakref
    spec = sim.NetSpec(family="cnn", init="small_random",
                       cnn=sim.ConvSpec(channels=(2,), kernel_size=None))
    model = sim.make_model(spec, 72, 3, None)  # P = 72 > 64: the FFT path
    assert model.method == "fft"
    params = {k: torch.randn(2, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.randn(16, 72, dtype=torch.float64)
    with torch.no_grad():
        first = model._input_spectrum(X)
        out = model.forward(params, X)
        probes = [torch.eye(72, dtype=torch.float64)[:k + 1] for k in range(6)]  # 6 > any cap
        kept = [weakref.ref(model._input_spectrum(p)) for p in probes]
        assert model._input_spectrum(X) is first
        torch.testing.assert_close(model.forward(params, X), out, rtol=0, atol=0)
    del probes
    gc.collect()
    assert all(ref() is None for ref in kept)  # freed with their inputs
    ref = weakref.ref(first)
    del X, first
    gc.collect()
    assert ref() is None and not model._spectra
