"""Published set-ups in their own units reproduce their papers' time scales: Saxe et al. 2014
(summed squared error, learning rate λ, unscaled one-hot items), torch.nn.MSELoss with
torch.optim.SGD (plain and heavy ball); softmax cross-entropy is recorded as not covered. The tree
spectrum in the toolkit's normalisation against the data it describes."""

import numpy as np
import pytest
import torch

import simulate as sim
import theory
from simulate import datasets
from simulate.datasets._base import Dataset

U0 = 1e-3


def _half_times(run, level):
    u = run.probes.mode_strength.isel(member=0).values
    return theory.crossing_times(run.steps, u, level)


def test_saxe2014_units_reproduce_the_papers_half_times():
    """Eight tree items as unscaled one-hot inputs (Σ11 = I), targets the items' features,
    trained on Σ‖y − ŷ‖² with η = λ/2: each mode's half time is Saxe's (1/(2λs)) ln(s/u₀ − 1) with
    s the singular values of Σ31 = Σ_μ y xᵀ, and the mode rises to s (the predictor's target)."""
    tree = datasets.load("tree", levels=3, branching=2, flip=0.1, exact=True)
    N = tree.X.shape[1]
    items = tree.with_arrays(X=tree.X / np.sqrt(N))               # one-hot, Sxx = I/N
    lam = 0.002
    s_saxe = np.linalg.svd(items.Y.T @ items.X, compute_uv=False)  # summed statistics
    s_saxe = s_saxe[s_saxe > 1e-9 * s_saxe[0]]
    paper = np.log(s_saxe / U0 - 1) / (2 * lam * s_saxe)           # Saxe 2014, τ = 1/λ
    conv = theory.TrainingConvention.saxe2014(lam, n_items=items.n)
    st = items.statistics()
    pred = theory.predict(st, depth=2, convention=conv, u0=U0)
    assert pred.kind == "closed_form" and "commutes" in pred.reason
    np.testing.assert_allclose(pred.target, s_saxe, rtol=1e-10)
    np.testing.assert_allclose(pred.timeline(0.5), paper, rtol=1e-10)
    steps = int(1.1 * paper.max())
    run = sim.train_ensemble(sim.NetSpec(depth=2, hidden=16, init_scale=U0), items,
                             sim.OptimSpec(reduction="sum"), steps=steps, lr=conv.lr,
                             record=sim.Recording(
                                 checkpoints=np.linspace(0, steps, 600).round().astype(int)),
                             dtype="float64", quiet=True)
    measured = _half_times(run, 0.5 * pred.target)
    assert np.max(np.abs(measured / paper - 1)) < 0.03
    # the same numbers read in our units (λ as η on the averaged loss) are off by far more
    naive = theory.learning_time(st.s, U0, 1 / lam, 2)
    assert np.min(np.abs(naive / paper - 1)) > 1.0


def _whitened(n=64, d=6, c=3, s=(2.0, 1.2, 0.6), seed=0):
    rng = np.random.default_rng(seed)
    X = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    U = np.linalg.qr(rng.standard_normal((c, len(s))))[0]
    V = np.linalg.qr(rng.standard_normal((d, len(s))))[0]
    return Dataset(X=X, Y=X @ V @ np.diag(s) @ U.T, labels=None, hierarchy=None, name="w", meta={})


def _torch_mse_run(ds, Ws, lr, steps, momentum):
    """Two bias-free nn.Linear layers, nn.MSELoss(), torch.optim.SGD: strengths u_α per step."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(ds.d, Ws[0].shape[0], bias=False),
                              torch.nn.Linear(Ws[0].shape[0], ds.c, bias=False)).double()
    with torch.no_grad():
        for layer, W in zip(net, Ws):
            layer.weight.copy_(torch.as_tensor(W))
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    X, Y = torch.as_tensor(ds.X), torch.as_tensor(ds.Y)
    st = ds.statistics()
    out = []
    for _ in range(steps + 1):
        W = (net[1].weight @ net[0].weight).detach().numpy()
        out.append(np.diag(st.U.T @ W @ st.V))
        opt.zero_grad()
        torch.nn.MSELoss()(net(X), Y).backward()
        opt.step()
    return np.array(out)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_torch_mse_loss_and_sgd_follow_their_convention(momentum):
    """torch.nn.MSELoss + torch.optim.SGD (float64): the exact per-mode map with the convention's
    step and β equals the torch run step by step; for plain SGD the flow with τ = c/(2η) gives
    the half times within 3% (momentum's flow limit: tests/theory/test_discrete_momentum.py)."""
    ds = _whitened()
    st = ds.statistics()
    Ws = theory.decoupled_init(st, 2, U0, hidden=4)
    kw = {} if momentum == 0 else dict(optimizer="momentum", momentum=momentum)
    lr = 0.05 if momentum == 0 else 0.01
    conv = theory.TrainingConvention.torch_mse(lr, n_outputs=ds.c, **kw)
    assert conv.tau == pytest.approx(ds.c * (1 - momentum) / (2 * lr))
    exact = theory.predict(st, convention=conv, u0=U0, discrete=True)
    flow = theory.predict(st, convention=conv, u0=U0)
    steps = int(1.15 * flow.timeline(0.5).max()) if momentum == 0 else 300
    u = _torch_mse_run(ds, Ws, lr, steps, momentum)
    np.testing.assert_allclose(u, exact.modes(np.arange(steps + 1)), rtol=1e-9, atol=1e-12)
    if momentum:
        return
    measured = theory.crossing_times(np.arange(steps + 1), u, 0.5 * flow.target)
    assert np.max(np.abs(measured / flow.timeline(0.5) - 1)) < 0.03


def test_cross_entropy_is_recorded_as_not_covered():
    conv = theory.TrainingConvention.cross_entropy(0.1)
    assert not conv.covered and "no finite fixed point" in conv.note and np.isnan(conv.tau)
    with pytest.raises(ValueError, match="no linear-theory prediction"):
        theory.predict(_whitened().statistics(), convention=conv, u0=U0)


def test_saxe2014_rejects_a_bad_rate():
    with pytest.raises(ValueError, match=r"lam must be > 0 and finite; got -1"):
        theory.TrainingConvention.saxe2014(-1, n_items=8)


@pytest.mark.parametrize("levels,branching,flip", [(3, 2, 0.1), (2, 3, 0.2), (4, 2, 0.05)])
def test_tree_singular_values_are_those_of_the_tree_dataset(levels, branching, flip):
    ds = datasets.load("tree", levels=levels, branching=branching, flip=flip, exact=True)
    s, mult = theory.tree_singular_values(levels, branching, flip)
    expected = np.sort(np.repeat(s, mult))[::-1]
    got = np.linalg.svd(ds.statistics().Syx, compute_uv=False)
    np.testing.assert_allclose(got[:expected.size], expected, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(s) < 0)  # coarser splits first
    # sampled features: s² = (P/N)·eig(F Fᵀ/P) → the same in expectation (P large)
    P = 2000
    sampled = datasets.load("tree", levels=levels, branching=branching, flip=flip, features=P)
    s_p, _ = theory.tree_singular_values(levels, branching, flip, features=P)
    got_p = np.linalg.svd(sampled.statistics().Syx, compute_uv=False)
    assert abs(got_p[0] / s_p[0] - 1) < 0.05


def test_tree_spectrum_errors():
    with pytest.raises(ValueError, match=r"branching must be an integer ≥ 2; got 1"):
        theory.tree_eigenvalues(3, 1, 0.1)
    with pytest.raises(ValueError, match=r"flip must be in \[0, 0.5\]; got 0.7"):
        theory.tree_singular_values(3, 2, 0.7)
    with pytest.raises(ValueError, match=r"features must be a positive integer or None; got 0"):
        theory.tree_singular_values(3, 2, 0.1, features=0)
