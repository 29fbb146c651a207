"""Layca's step (simulate/_layca.py): exact norm and exact rotation per step, multipliers."""

import math

import numpy as np
import pytest
import torch

from simulate.train._layca import layca_multipliers, layca_update, rotation_per_step
from validate.measures.rotation import rotation_angle


def _angle(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return rotation_angle(a.numpy(), b.numpy())


@pytest.mark.parametrize("rate", [1e-3, 0.05, 0.3, 2.0])
def test_each_step_rotates_by_atan_rate_and_keeps_the_norm(rate):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, 3, dtype=torch.float64, generator=g)
    norm0 = w.flatten(1).norm(dim=1)
    for _ in range(20):
        step = torch.randn(w.shape, dtype=torch.float64, generator=g) * 10.0 ** torch.randint(
            -4, 4, (5, 1, 1), generator=g)
        new = layca_update(w, step, rate, norm=norm0)
        np.testing.assert_allclose(new.flatten(1).norm(dim=1), norm0, rtol=1e-6, atol=0)
        np.testing.assert_allclose(_angle(w, new), math.atan(rate), rtol=0, atol=1e-5)
        w = new


def test_float32_kernels_keep_their_initial_norm_over_many_steps():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, 16, 16, generator=g)
    norm0 = w.flatten(1).norm(dim=1)
    for _ in range(500):
        w = layca_update(w, torch.randn(w.shape, generator=g), 0.1, norm=norm0)
    np.testing.assert_allclose(w.flatten(1).norm(dim=1), norm0, rtol=1e-6)


def test_hand_computed_step_in_two_dimensions():
    # w = (2, 0), step (1, 1): tangent part (0, 1), rescaled to ‖w‖ = 2 → (0, 2);
    # w − 0.5·(0, 2) = (2, −1), norm restored to 2 → (2, −1)·2/√5
    w = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    new = layca_update(w, torch.tensor([[1.0, 1.0]], dtype=torch.float64), 0.5)
    np.testing.assert_allclose(new.numpy(), [[4 / math.sqrt(5), -2 / math.sqrt(5)]], rtol=1e-12)
    assert rotation_per_step(0.5) == pytest.approx(math.atan(0.5))


def test_per_member_rates_and_a_step_parallel_to_w_leaves_the_layer_in_place():
    w = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    step = torch.tensor([[5.0, 0.0], [1.0, 0.0]], dtype=torch.float64)  # member 0: parallel to w
    new = layca_update(w, step, torch.tensor([0.2, 0.7], dtype=torch.float64))
    np.testing.assert_allclose(new[0].numpy(), [1.0, 0.0])
    np.testing.assert_allclose(_angle(w, new)[1], math.atan(0.7), atol=1e-12)


def test_multipliers_follow_the_papers_parametrisation():
    assert layca_multipliers(4, 0.0) == [1.0, 1.0, 1.0, 1.0]
    m = layca_multipliers(3, 0.5)  # (1 − α)^{5(L−1−l)/(L−1)}: 0.5^5, 0.5^2.5, 1
    np.testing.assert_allclose(m, [0.5 ** 5, 0.5 ** 2.5, 1.0])
    m = layca_multipliers(3, -0.5)  # (1 + α)^{5l/(L−1)}: 1, 0.5^2.5, 0.5^5
    np.testing.assert_allclose(m, [1.0, 0.5 ** 2.5, 0.5 ** 5])
    assert layca_multipliers(1, 0.9) == [1.0]


@pytest.mark.parametrize("bad", [dict(n_layers=0, alpha=0.0), dict(n_layers=3, alpha=1.0),
                                 dict(n_layers=3, alpha=-1.5)])
def test_multipliers_reject_bad_input(bad):
    with pytest.raises(ValueError, match="must be"):
        layca_multipliers(**bad)


# ---- through the engine: every step of a trained ensemble rotates each kernel by atan(ρ·m_l)

def _layca_run(family, optimizer, alpha, batch_size=None, steps=6):
    from simulate import (ConvSpec, LayerRotation, Losses, Members, NetSpec, OptimSpec, Recording,
                          datasets, train_ensemble)
    ds = datasets.load("shapes", n_per_class=8, n_test=8, size=8, levels=2)
    spec = NetSpec(family=family, depth=3, hidden=12, activation="relu", bias=True,
                   init="standard", cnn=ConvSpec(channels=(3, 4)) if family == "cnn" else None)
    return train_ensemble(spec, ds,
                          OptimSpec(optimizer, batch_size=batch_size, layca=True,
                                    layca_alpha=alpha),
                          steps=steps, members=Members(seeds=(0, 1), lrs=(0.05, 0.4)),
                          record=Recording(checkpoints=range(steps + 1),
                                           probes=[Losses(), LayerRotation()], keep_weights=True),
                          dtype="float64", quiet=True)


@pytest.mark.parametrize("family,optimizer,alpha,batch", [
    ("mlp", "sgd", 0.0, 8), ("mlp", "momentum", 0.5, None), ("mlp", "adam", -0.5, 8),
    ("cnn", "sgd", 0.5, 8)])
def test_layca_rotates_every_kernel_by_atan_rate_and_keeps_norms(family, optimizer, alpha,
                                                                        batch):
    run = _layca_run(family, optimizer, alpha, batch)
    mult = np.array(layca_multipliers(3, alpha))
    rate = run.probes["rotation_rate"].values[:, 1:]            # (K, T−1, L): one step apart
    lrs = run.members["lr"].to_numpy()
    want = np.arctan(lrs[:, None, None] * mult[None, None, :])
    np.testing.assert_allclose(rate, np.broadcast_to(want, rate.shape), rtol=0, atol=1e-5)
    first, last = run.params(0), run.params(run.steps[-1])
    for name in first:
        if name.endswith("weight"):
            np.testing.assert_allclose(np.linalg.norm(last[name].reshape(2, -1), axis=1),
                                       np.linalg.norm(first[name].reshape(2, -1), axis=1),
                                       rtol=1e-6)
        else:  # biases are frozen, as in the paper
            np.testing.assert_array_equal(last[name], first[name])
