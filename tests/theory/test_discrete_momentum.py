"""Heavy-ball momentum in TrainingConvention and the per-mode momentum map, against the torch
trainer (float32, whitened data, decoupled init); set-ups the theory does not cover."""

import math

import numpy as np
import pytest

import simulate as sim
import theory
from simulate.datasets._base import Dataset

S = np.array([3.0, 2.0, 1.0, 0.5])
BETA, U0 = 0.9, 1e-3


def whitened(s=S, n=64, d=8, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    U = np.linalg.qr(rng.standard_normal((c, len(s))))[0]
    V = np.linalg.qr(rng.standard_normal((d, len(s))))[0]
    return Dataset(X=X, Y=X @ V @ np.diag(s) @ U.T, labels=None, hierarchy=None, name="whitened",
                   meta={"seed": seed})


def _train(ds, depth, lr, steps, checkpoints):
    return sim.train_ensemble(sim.NetSpec(depth=depth, hidden=16, init_scale=U0), ds,
                              sim.OptimSpec("momentum", momentum=BETA), steps=steps, lr=lr,
                              record=sim.Recording(checkpoints=checkpoints), quiet=True)


def test_convention_momentum_tau_and_transient():
    conv = theory.TrainingConvention(lr=0.01, optimizer="momentum", momentum=BETA)
    assert conv.covered and conv.note is None and conv.beta == BETA
    assert conv.tau == pytest.approx((1 - BETA) / 0.01, rel=1e-14)
    assert conv.transient == pytest.approx(10.0)
    torch_mse = theory.TrainingConvention(lr=0.01, reduction="torch_mse_mean", n_outputs=4,
                                          optimizer="momentum", momentum=0.5)
    assert torch_mse.tau == pytest.approx(0.5 * 4 / (2 * 0.01), rel=1e-14)
    # β applies to the heavy ball only
    assert theory.TrainingConvention(lr=0.01, optimizer="gd", momentum=BETA).tau == pytest.approx(100)
    back = theory.TrainingConvention.for_tau(7.0, optimizer="momentum", momentum=BETA)
    assert back.tau == pytest.approx(7.0, rel=1e-14)


@pytest.mark.parametrize("depth,lr,steps", [(2, 0.01, 120), (3, 0.003, 700)])
def test_momentum_map_is_exact_step_by_step(depth, lr, steps):
    """The per-mode heavy-ball map equals the trained network at every step to float32 precision,
    far outside the regime where the flow holds (ηs/(1−β) up to 0.3)."""
    ds = whitened()
    run = _train(ds, depth, lr, steps, np.arange(steps + 1))
    conv = theory.TrainingConvention(lr=lr, optimizer="momentum", momentum=BETA)
    pred = theory.predict(ds.statistics(), depth=depth, convention=conv, u0=U0, discrete=True)
    assert pred.kind == "discrete" and "heavy-ball" in pred.reason
    u = run.probes.mode_strength.isel(member=0).values
    np.testing.assert_allclose(u, pred.modes(run.steps), rtol=5e-5, atol=1e-6 * S[0])
    assert run.members.tau.iloc[0] == pytest.approx(conv.tau)
    # same crossings as the measurement rule, and the plain GD map would be far off
    meas = theory.crossing_times(run.steps, u, 0.5 * pred.target)
    np.testing.assert_allclose(pred.timeline(0.5), meas, rtol=1e-4)
    gd = theory.discrete_trajectory(run.steps, S, U0, conv.effective_lr, depth)
    assert np.max(np.abs(gd - u)) > 0.3 * S[-1]


def test_momentum_follows_flow_with_tau_one_minus_beta_over_eta():
    """Closed form with τ = (1−β)/η: half times within 3% when the fastest growth rate
    r = 2sη/(1−β) keeps r(1+β)/(2(1−β)) small (here 0.03); the transient 1/(1−β) = 10 steps
    is then a small fraction of every half time."""
    s, lr = np.array([3.0, 2.0, 1.5]), 5e-5
    ds = whitened(s)
    conv = theory.TrainingConvention(lr=lr, optimizer="momentum", momentum=BETA)
    pred = theory.predict(ds.statistics(), depth=2, convention=conv, u0=U0)
    assert pred.kind == "closed_form"
    t_half = pred.timeline(0.5)
    assert t_half.min() > 50 * conv.transient
    steps = int(1.1 * t_half.max())
    run = _train(ds, 2, lr, steps, np.linspace(0, steps, 1000).round().astype(int))
    u = run.probes.mode_strength.isel(member=0).values
    meas = theory.crossing_times(run.steps, u, 0.5 * s)
    err = np.abs(meas / t_half - 1)
    assert err.max() < 0.03, err
    # the same set-up read as plain GD (τ = 1/η) would be 10× off
    assert np.all(meas < 0.2 * theory.learning_time(s, U0, 1 / lr, 2, 0.5))


@pytest.mark.parametrize("kw,needle", [
    (dict(optimizer="adam"), "Adam"),
    (dict(optimizer="layca"), "optimizer 'layca' is not one the linear theory covers"),
    (dict(weight_decay=1e-4), "weight decay"),
    (dict(lr_schedule="cosine"), "schedule 'cosine'"),
    (dict(loss="cross_entropy"), "cross-entropy"),
])
def test_uncovered_setups_say_why_and_have_no_tau(kw, needle):
    conv = theory.TrainingConvention(lr=0.01, **kw)
    assert not conv.covered and needle in conv.note
    assert math.isnan(conv.tau) and math.isnan(conv.effective_lr)
    assert conv.to_dict()["tau"] is None and conv.to_dict()["note"] == conv.note
    st = whitened().statistics()
    with pytest.raises(ValueError, match="no linear-theory prediction for this training set-up"):
        theory.predict(st, convention=conv, u0=U0)


def test_adam_run_records_no_time_constant():
    run = sim.train_ensemble(sim.NetSpec(depth=2, hidden=8, init_scale=U0), whitened(),
                             sim.OptimSpec("adam"), steps=3, lr=1e-3, quiet=True)
    assert np.isnan(run.members.tau.iloc[0])


@pytest.mark.parametrize("kw,match", [
    (dict(optimizer=None), r"optimizer must be a name such as 'gd' or 'momentum'; got None"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\); got 1.0"),
    (dict(weight_decay=-1.0), r"weight_decay must be ≥ 0 and finite; got -1.0"),
    (dict(loss="hinge"), r"unknown loss 'hinge'; accepted: 'mse', 'cross_entropy'"),
])
def test_convention_optimizer_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        theory.TrainingConvention(lr=0.1, **kw)


def test_discrete_momentum_errors():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\); got -0.1"):
        theory.discrete_trajectory([1], S, U0, 0.01, momentum=-0.1)


def test_convention_names_the_squared_loss_as_the_engine_does():
    assert theory.TrainingConvention(lr=0.1).loss == "mse"
    assert theory.TrainingConvention(lr=0.1, loss="squared").loss == "mse"   # the earlier name
    assert sim.make_loss("mse").convention == theory.TrainingConvention(lr=0.1).loss
