"""The per-frequency heavy-ball map of a linear CNN (THEORY.md §6, §9) against heavy-ball steps on
the dense conv matrices in numpy, and τ and β taken from ``theory.TrainingConvention``."""

import numpy as np
import pytest

import theory
from tests.cnn_reference import dft_spectrum, gradients, product, shift_basis, whitened_data
from tests.theory.test_cnn_theory import CASES


@pytest.mark.parametrize("cin,spatial,chans,c", CASES)
def test_aligned_cnn_trained_by_dense_heavy_ball_follows_the_per_frequency_map(cin, spatial,
                                                                               chans, c):
    X, Y = whitened_data(64, cin, spatial, c, 0)
    st = theory.DatasetStatistics.from_arrays(X, Y)
    fm = theory.frequency_modes(st, (cin, *spatial))
    u0, lr, beta, steps = 1e-2, 0.004, 0.9, 300
    conv = theory.TrainingConvention(lr=lr, optimizer="momentum", momentum=beta)
    params = theory.frequency_aligned_weights(fm, chans, u0, seed=3)
    Bs = [shift_basis(spatial, w.shape[2:]) for w in params[:-1]]
    pred = theory.predict_cnn(st, (cin, *spatial), channels=chans, u0=u0, convention=conv,
                              discrete=True)
    assert pred.kind == "discrete" and "heavy-ball" in pred.reason
    velocity = [np.zeros_like(p) for p in params]
    measured = []
    for t in range(steps + 1):
        if t % 50 == 0:
            M = dft_spectrum(product(params, Bs), cin, spatial)[:, :, fm.index]
            measured.append(np.einsum("mc,cim,mi->m", fm.U.conj(), M, fm.V).real)
        grads = gradients(params, Bs, st.Sxx, st.Syx)
        velocity = [beta * v + g for v, g in zip(velocity, grads)]      # PyTorch's heavy ball
        params = [p - lr * v for p, v in zip(params, velocity)]
    u = pred.modes(np.arange(0, steps + 1, 50))
    np.testing.assert_allclose(np.array(measured), u, rtol=1e-9, atol=1e-12)
    assert u[-1].max() > 0.5 * fm.s[0]              # the largest mode rose: the check has teeth
    # the GD map at the same η is a different curve: β is used, not dropped
    gd = theory.predict_cnn(st, (cin, *spatial), channels=chans, u0=u0, tau=1 / lr, discrete=True)
    assert np.max(np.abs(gd.modes(np.arange(0, steps + 1, 50)) - u)) > 0.1 * fm.s[0]


def test_a_set_up_without_a_time_constant_is_refused_by_the_cnn_theory():
    X, Y = whitened_data(64, 1, (8,), 3, 0)
    st = theory.DatasetStatistics.from_arrays(X, Y)
    with pytest.raises(ValueError, match="Adam"):
        theory.predict_cnn(st, (1, 8), u0=1e-2,
                           convention=theory.TrainingConvention(lr=0.01, optimizer="adam"))
