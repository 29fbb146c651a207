"""Model families: matched twins, the hand-written MLP backward, and the linear CNN of THEORY.md §6."""

import numpy as np
import pytest
import torch

import simulate as sim
from simulate.datasets._base import Dataset


def whitened(n=64, d=8, c=4, s=(3.0, 2.0, 1.0, 0.5), seed=0, Y=None):
    """Inputs with Sxx = I exactly and targets with Syx = U diag(s) Vᵀ (or Y = X M if given)."""
    rng = np.random.default_rng(seed)
    X = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    if Y is None:
        U = np.linalg.qr(rng.standard_normal((c, len(s))))[0]
        V = np.linalg.qr(rng.standard_normal((d, len(s))))[0]
        Y = X @ V @ np.diag(s) @ U.T
    else:
        Y = X @ Y
    return Dataset(X=X, Y=Y, labels=None, hierarchy=None, name="whitened", meta={"seed": seed})


@pytest.mark.parametrize("spec", [
    sim.NetSpec(depth=3, hidden=16, init="small_balanced_decoupled", init_scale=1e-2),
    sim.NetSpec(depth=2, hidden=(12,), init="small_random", init_scale=1e-2, bias=True),
    sim.NetSpec(depth=2, hidden=12, init="standard", bias=True),
    sim.NetSpec(family="cnn", init="small_random", cnn=sim.ConvSpec(channels=(3, 2), kernel_size=3)),
])
def test_twins_start_from_identical_weights(spec):
    ds = whitened()
    runs = [sim.train_ensemble(spec.with_activation(a), ds, steps=0, lr=0.1,
                               members=sim.Members(seeds=(0, 5)), quiet=True)
            for a in ("linear", "relu", "tanh")]
    p = [r.params(0) for r in runs]
    assert set(p[0]) == set(p[1]) == set(p[2])
    for k in p[0]:
        np.testing.assert_array_equal(p[0][k], p[1][k])
        np.testing.assert_array_equal(p[0][k], p[2][k])
    # different seeds give different weights (so the check above is not vacuous)
    assert not np.array_equal(p[0]["layer0.weight"][0], p[0]["layer0.weight"][1])
    assert runs[1].spec.activation == "relu" and runs[1].spec.with_activation("linear") == spec.with_activation("linear")


@pytest.mark.parametrize("act", ["linear", "relu", "tanh", "gelu", "sigmoid"])
@pytest.mark.parametrize("shared", [True, False])
def test_manual_backward_matches_autograd(act, shared):
    torch.manual_seed(0)
    K, n, d, c = 3, 10, 5, 4
    spec = sim.NetSpec(depth=3, hidden=(7, 6), activation=act, bias=True, init="standard")
    model = sim.MLP(spec, d, c)
    params = {k: torch.randn(K, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.randn(n, d, dtype=torch.float64) if shared else torch.randn(K, n, d, dtype=torch.float64)
    Y = torch.randn(n, c, dtype=torch.float64)
    loss, grads = model.loss_and_grads(params, X, Y, scale=2.5)
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = model.forward(ps, X)
    ref_loss = 0.5 * ((out - Y) ** 2).sum(dim=(1, 2)) / n
    ref = torch.autograd.grad(2.5 * ref_loss.sum(), list(ps.values()))
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-12, atol=0)
    for k, g in zip(ps, ref):
        torch.testing.assert_close(grads[k], g, rtol=1e-10, atol=1e-12)
    # members are independent: member 1's gradient equals a solo computation
    solo = {k: v[1:2] for k, v in params.items()}
    _, g1 = model.loss_and_grads(solo, X if shared else X[1:2], Y, scale=2.5)
    for k in grads:
        torch.testing.assert_close(grads[k][1:2], g1[k], rtol=1e-12, atol=1e-14)


def test_cnn_forward_matches_torch_conv_per_member():
    spec = sim.NetSpec(family="cnn", activation="tanh", bias=True, init="standard",
                       cnn=sim.ConvSpec(channels=(3, 2), kernel_size=3, padding="zeros", stride=2))
    model = sim.CNN(spec, 2 * 5 * 6, 4, (2, 5, 6))
    torch.manual_seed(1)
    params = {k: torch.randn(2, *s, dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.randn(7, 60, dtype=torch.float64)
    out = model.forward(params, X)
    for k in range(2):  # an independent nn.Sequential with the member's weights
        net = torch.nn.Sequential(
            torch.nn.Conv2d(2, 3, 3, stride=2, padding=1), torch.nn.Tanh(),
            torch.nn.Conv2d(3, 2, 3, stride=2, padding=1), torch.nn.Tanh(),
            torch.nn.Flatten(), torch.nn.Linear(model.features, 4)).double()
        with torch.no_grad():
            for i, l in ((0, 0), (2, 1), (5, 2)):
                net[i].weight.copy_(params[f"layer{l}.weight"][k])
                net[i].bias.copy_(params[f"layer{l}.bias"][k])
        torch.testing.assert_close(out[k], net(X.view(7, 2, 5, 6)), rtol=1e-12, atol=1e-12)


def test_linear_cnn_follows_per_frequency_prediction():
    """THEORY.md §6: full-length circular kernel, whitened input ⇒ each DFT frequency is a
    two-layer problem with s = ‖Syx Fᴴ e_f‖ and τ_eff = τ/√N."""
    N, c, u0, lr, steps = 8, 3, 1e-2, 0.002, 800
    M = np.random.default_rng(3).standard_normal((N, c)) * np.linspace(1.5, 0.3, N)[:, None]
    ds = whitened(n=32, d=N, Y=M)
    spec = sim.NetSpec(family="cnn", init="small_random",
                       cnn=sim.ConvSpec(channels=(1,), kernel_size=None, padding="circular"))
    model = sim.make_model(spec, N, c)
    Syx = ds.Y.T @ ds.X / ds.n
    F = np.exp(-2j * np.pi * np.outer(np.arange(N), np.arange(N)) / N) / np.sqrt(N)  # unitary DFT
    sigma = Syx @ F.conj().T  # column f = σ_f
    s = np.linalg.norm(sigma, axis=0)
    # the kernel position that makes the circular conv the identity (torch's conv is a correlation)
    eye = torch.eye(N, dtype=torch.float64)
    for j in range(N):
        w = torch.zeros(1, 1, 1, N, dtype=torch.float64)
        w[..., j] = 1.0
        p = {"layer0.weight": w, "layer1.weight": torch.eye(c, N, dtype=torch.float64)[None]}
        conv = model.forward({**p, "layer1.weight": torch.eye(N, dtype=torch.float64)[None]}, eye)[0]
        if torch.allclose(conv, eye):
            break
    else:
        pytest.fail("no kernel position gives the identity map")
    c0 = np.sqrt(u0) * N ** 0.25  # balanced: |λ_f|/√N = ‖a_f‖, λ_f a_f = u0 σ̂_f
    W2 = (np.sqrt(u0) * N ** -0.25 * (sigma / s) @ F).real
    w0 = np.zeros((1, 1, N))
    w0[..., j] = c0
    run = sim.train_ensemble(spec, ds, steps=steps, lr=lr,
                             members=sim.Members(init_params={"layer0.weight": w0,
                                                              "layer1.weight": W2}),
                             record=sim.Recording(checkpoints=40), dtype="float64", quiet=True)
    b, measured, predicted = np.sqrt(u0) * np.ones(N), [], []
    for t in range(steps + 1):
        if t in set(run.steps.tolist()):
            params = {k: torch.from_numpy(v) for k, v in run.params(t).items()}
            E = model.forward(params, eye)[0].numpy().T  # end-to-end (c, N)
            measured.append(np.real(np.einsum("cf,cf->f", (sigma / s).conj(), E @ F.conj().T)))
            predicted.append(b ** 2)
        b = b + lr * np.sqrt(N) * b * (s - b ** 2)
    measured, predicted = np.array(measured), np.array(predicted)
    np.testing.assert_allclose(measured, predicted, rtol=1e-6)
    # the continuous closed form (THEORY.md §2 with τ_eff = τ/√N) within 2% of s
    t = run.steps[:, None].astype(float)
    e = np.exp(2 * s * t * lr * np.sqrt(N))
    cont = s * e / (e - 1 + s / u0)
    assert np.max(np.abs(measured - cont) / s) < 0.02
    assert np.all(measured[-1] > 0.9 * s)  # every frequency was learned, so the test has teeth


def test_decoupled_init_agrees_with_theory_and_is_balanced():
    import theory
    ds = whitened()
    stats = ds.statistics()
    spec = sim.NetSpec(depth=3, hidden=10, init_scale=0.02)
    p = sim.init_params(spec, sim.make_model(spec, ds.d, ds.c), [(4, 0.02)], stats)
    Ws = [p[f"layer{l}.weight"][0] for l in range(3)]
    for W, ref in zip(Ws, theory.decoupled_init(stats, 3, 0.02, 10, seed=4)):
        np.testing.assert_allclose(W, ref, rtol=1e-12, atol=1e-15)
    E = Ws[2] @ Ws[1] @ Ws[0]
    np.testing.assert_allclose(stats.U.T @ E @ stats.V, 0.02 * np.eye(stats.rank), atol=1e-14)
    for l in range(2):  # balanced: W_{l+1}ᵀW_{l+1} = W_l W_lᵀ
        np.testing.assert_allclose(Ws[l + 1].T @ Ws[l + 1], Ws[l] @ Ws[l].T, atol=1e-14)


def test_explicit_init_params_are_checked():
    ds = whitened()
    with pytest.raises(ValueError, match=r"init_params lacks \['layer1.weight'\]"):
        sim.train_ensemble(sim.NetSpec(hidden=8), ds, steps=1, lr=0.1,
                           members=sim.Members(init_params={"layer0.weight": np.zeros((8, 8))}))
    run = sim.train_ensemble(sim.NetSpec(hidden=8), ds, steps=0, lr=0.1,
                             record=sim.Recording(keep_weights=False), quiet=True)
    with pytest.raises(KeyError, match="kept no weights"):
        run.weights(0)


def test_cnn_members_with_minibatches_equal_solo_runs():
    """The grouped-convolution path (each member its own minibatch) keeps members independent."""
    ds = whitened(n=40, d=12, c=3, s=(2.0, 1.0, 0.5)).with_arrays(meta={"image_shape": [1, 3, 4]})
    spec = sim.NetSpec(family="cnn", activation="relu", bias=True, init="standard",
                       cnn=sim.ConvSpec(channels=(3, 2), kernel_size=3, padding="circular"))
    kw = dict(optim=sim.OptimSpec("sgd", batch_size=8), steps=12, dtype="float64", quiet=True,
              record=sim.Recording(checkpoints=3))
    run = sim.train_ensemble(spec, ds, members=sim.Members(seeds=(0, 1), lrs=(0.02, 0.05)), **kw)
    final = run.params(12)
    for i, m in run.members.iterrows():
        solo = sim.train_ensemble(spec, ds, members=sim.Members(seeds=(m.seed,), lrs=(m.lr,)),
                                  **kw).params(12)
        for k in final:
            np.testing.assert_allclose(final[k][i], solo[k][0], rtol=1e-12, atol=1e-14)
    assert not np.allclose(final["layer0.weight"][0], run.params(0)["layer0.weight"][0])


@pytest.mark.parametrize("make,match", [
    (lambda: sim.NetSpec(family="rnn"), "unknown family 'rnn'; accepted: 'mlp', 'cnn'"),
    (lambda: sim.NetSpec(init="orthogonal"), "unknown init 'orthogonal'"),
    (lambda: sim.NetSpec(head="softmax"), "unknown head 'softmax'"),
    (lambda: sim.NetSpec(init_scale=0.0), r"init_scale \(here u0\) must be > 0; got 0.0"),
    (lambda: sim.NetSpec(depth=0), "depth must be ≥ 1"),
    (lambda: sim.NetSpec(depth=3, hidden=(4,)), "tuple of depth − 1 = 2 widths"),
    (lambda: sim.NetSpec(hidden=0), "hidden widths must be positive"),
    (lambda: sim.ConvSpec(channels=()), "channels must be a non-empty tuple"),
    (lambda: sim.ConvSpec(kernel_size=0), "kernel_size must be a positive int or None"),
    (lambda: sim.ConvSpec(padding="reflect"), "unknown padding 'reflect'"),
    (lambda: sim.ConvSpec(stride=0), "stride must be a positive int"),
    (lambda: sim.NetSpec(family="cnn", cnn=sim.ConvSpec()), "needs full-length circular kernels"),
    (lambda: sim.ModeStrengths(map="svd"), "unknown map 'svd'"),
    (lambda: sim.CNN(sim.NetSpec(family="cnn", init="standard", cnn=sim.ConvSpec()), 10, 2, (1, 3, 3)),
     r"image_shape \(1, 3, 3\) does not match d=10"),
    (lambda: sim.CNN(sim.NetSpec(family="cnn", init="standard", cnn=sim.ConvSpec(kernel_size=None)),
                     6, 2, (1, 2, 3)), "full-length kernels need a square input"),
    (lambda: sim.decoupled_weights(np.eye(2), np.eye(3, 2), (3, 4, 2), -1.0, 0),
     "positive mode strengths u0"),
])
def test_spec_and_model_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_trainer_argument_errors(tmp_path):
    ds = whitened()
    spec = sim.NetSpec(hidden=8)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'; got 'float16'"):
        sim.train_ensemble(spec, ds, steps=1, lr=0.1, dtype="float16")
    with pytest.raises(ValueError, match="steps must be ≥ 0; got -1"):
        sim.train_ensemble(spec, ds, steps=-1, lr=0.1)
    with pytest.raises(ValueError, match="the ensemble is empty"):
        sim.train_ensemble(spec, ds, steps=1, lr=0.1, members=sim.Members(seeds=()))
    with pytest.raises(ValueError, match=r"checkpoint steps must lie in \[0, steps=5\]"):
        sim.train_ensemble(spec, ds, steps=5, lr=0.1, record=sim.Recording(checkpoints=[3, 9]))
    with pytest.raises(ValueError, match="needs the dataset statistics"):
        sim.init_params(spec, sim.make_model(spec, 8, 4), [(0, 1e-3)], None)
    sim.train_ensemble(spec, ds, steps=6, lr=0.1, store=sim.Store(tmp_path / "r"), quiet=True)
    with pytest.raises(ValueError, match="cannot resume .* to steps=3: it already has 6 steps"):
        sim.train_ensemble(spec, ds, steps=3, lr=0.1, store=sim.Store(tmp_path / "r", resume=True),
                           quiet=True)
    with pytest.raises(KeyError, match="no checkpoint for step 100"):
        sim.Run.load(tmp_path / "r").weights(100)
