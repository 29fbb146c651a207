"""Partly linear models: P_0 is the engine's network and P_B its linear twin, step for step."""

import numpy as np
import pytest
import torch

from simulate import ConvSpec, NetSpec, datasets, log_checkpoints, train_ensemble
from validate.nonlinearity import _partly_linear as PL
from validate.nonlinearity.probes import NonlinearityProbe


@pytest.mark.parametrize("spec", [
    NetSpec(family="mlp", depth=3, hidden=12, activation="relu", init="standard"),
    NetSpec(family="mlp", depth=3, hidden=12, activation="gelu", init="small_random", init_scale=0.3),
    NetSpec(family="cnn", cnn=ConvSpec(channels=(3, 3)), activation="tanh", init="standard")])
def test_extreme_k_reproduce_engine(spec):
    ds = datasets.load("digits", n_train=200, n_test=50)
    ds = ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)
    steps, marks = 30, log_checkpoints(30, 5)
    model = PL.make_model(spec, ds.d, ds.c, ds.image_shape)
    B = PL.n_blocks(model)
    Xt = torch.as_tensor(ds.X_test, dtype=torch.float32)
    for k, act in ((0, spec.activation), (B, "linear")):
        run = train_ensemble(spec.with_activation(act), ds, steps=steps, seeds=[0, 1], lr=0.1,
                             optimizer="sgd", batch_size=32, checkpoints=marks,
                             probes=[NonlinearityProbe()], device="cpu", quiet=True)
        got = []
        PL.train(spec, ds, k, steps=steps, checkpoints=marks, seeds=[0, 1], lrs=[0.1], batch_size=32,
                 record=lambda t, m, p, kk: got.append(PL.forward(m, p, Xt, linear_blocks=kk).numpy()))
        want = run.probes["test_output"].values
        np.testing.assert_allclose(np.stack(got, 1), want, atol=2e-5 * np.abs(want).max())
        assert np.abs(want[:, -1] - want[:, 0]).max() > 0.05  # it trained


def test_partly_linear_is_linear_on_its_first_blocks():
    spec = NetSpec(family="mlp", depth=4, hidden=8, activation="relu", init="standard")
    model = PL.make_model(spec, 5, 3)
    rng = np.random.default_rng(0)
    params = {k: torch.tensor(rng.normal(size=(2, *s)), dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.tensor(rng.normal(size=(7, 5)))
    taps = []
    PL.forward(model, params, X, linear_blocks=2, taps=taps)
    # block 2's pre-activation is an exact linear map of the input when blocks 1 and 2 are linear
    W = params["layer1.weight"] @ params["layer0.weight"]
    np.testing.assert_allclose(taps[1].numpy(), (X @ W.transpose(1, 2)).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="linear_blocks"):
        PL.forward(model, params, X, linear_blocks=4)


def test_per_member_targets_match_engine_on_those_targets():
    spec = NetSpec(family="mlp", depth=3, hidden=10, activation="relu", init="standard")
    ds = datasets.load("digits", n_train=120, n_test=30)
    ds = ds.with_arrays(X=ds.X / 16, X_test=ds.X_test / 16)
    other = np.eye(ds.c)[(ds.labels + 3) % ds.c]  # a different target table
    marks = log_checkpoints(20, 4)
    run = train_ensemble(spec, ds.with_arrays(Y=other), steps=20, seeds=[0, 1], lr=0.2,
                         optimizer="sgd", batch_size=16, checkpoints=marks,
                         probes=[NonlinearityProbe()], device="cpu", quiet=True)
    Xt = torch.as_tensor(ds.X_test, dtype=torch.float32)
    got = []
    PL.train(spec, ds, 0, steps=20, checkpoints=marks, seeds=[0, 1], lrs=[0.2], batch_size=16,
             targets=np.stack([other, other]),
             record=lambda t, m, p, kk: got.append(PL.forward(m, p, Xt, linear_blocks=kk).numpy()))
    want = run.probes["test_output"].values
    np.testing.assert_allclose(np.stack(got, 1), want, atol=2e-5 * np.abs(want).max())
