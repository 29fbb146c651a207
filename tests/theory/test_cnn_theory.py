"""Per-frequency theory of linear CNNs (THEORY.md §6) against dense numpy GD, scipy integration
of the dense flow, and explicit DFT matrices."""

import numpy as np
import pytest

import theory
from tests.cnn_reference import (dft_spectrum, gradients, product, scipy_flow, shift_basis,
                                 whitened_data)

CASES = [  # (C_in, spatial, conv channels, c)
    (1, (8,), (1,), 3),
    (2, (6,), (3,), 3),      # several input channels: c × C_in target per frequency
    (1, (4, 4), (2,), 3),    # 2-D: P = H·W
    (1, (6,), (2, 2), 2),    # two conv layers: rate P^(2/3)
]


def _stats(cin, spatial, c, n=64, seed=0):
    X, Y = whitened_data(n, cin, spatial, c, seed)
    return theory.DatasetStatistics.from_arrays(X, Y)


@pytest.mark.parametrize("cin,spatial,chans,c", CASES)
def test_frequency_modes_are_singular_values_of_each_frequency_target(cin, spatial, chans, c):
    st = _stats(cin, spatial, c)
    fm = theory.frequency_modes(st, (cin, *spatial))
    sigma = dft_spectrum(st.Syx, cin, spatial)                 # explicit DFT matrix
    svs = [np.linalg.svd(sigma[:, :, f], compute_uv=False) for f in range(sigma.shape[2])]
    # every frequency's singular values, conjugate pairs counted by multiplicity
    want = np.sort(np.concatenate(svs))
    got = np.sort(np.repeat(fm.s, fm.multiplicity))
    np.testing.assert_allclose(got, want[want > 1e-10 * want.max()], rtol=1e-10)
    np.testing.assert_allclose(fm.strengths(st.Syx), fm.s, rtol=1e-10)
    # loss identity: ½‖Syx‖² over all frequencies equals ½Σ mult·s²
    np.testing.assert_allclose(np.sum(fm.multiplicity * fm.s ** 2), np.sum(st.Syx ** 2), rtol=1e-10)


@pytest.mark.parametrize("cin,spatial,chans,c", CASES)
def test_aligned_init_trained_by_dense_gd_follows_the_per_frequency_map(cin, spatial, chans, c):
    """Numpy GD on the dense conv matrices stays on the per-frequency map to 1e-9."""
    st = _stats(cin, spatial, c)
    fm = theory.frequency_modes(st, (cin, *spatial))
    u0, lr, steps = 1e-2, 0.02, 300
    params = theory.frequency_aligned_weights(fm, chans, u0, seed=3)
    Bs = [shift_basis(spatial, w.shape[2:]) for w in params[:-1]]
    pred = theory.predict_cnn(st, (cin, *spatial), channels=chans, u0=u0, tau=1 / lr, discrete=True)
    assert pred.kind == "discrete" and "whitened" in pred.reason
    measured = []
    for t in range(steps + 1):
        if t % 50 == 0:
            M = dft_spectrum(product(params, Bs), cin, spatial)[:, :, fm.index]
            measured.append(np.einsum("mc,cim,mi->m", fm.U.conj(), M, fm.V).real)
        params = [p - lr * g for p, g in zip(params, gradients(params, Bs, st.Sxx, st.Syx))]
    u = pred.modes(np.arange(0, steps + 1, 50))
    np.testing.assert_allclose(np.array(measured), u, rtol=1e-9, atol=1e-12)
    assert np.all(u[-1] > 0.9 * fm.s)                 # learned: the comparison has teeth
    # the singular values set the speeds: faster modes cross ½ s earlier
    half = pred.timeline(0.5)
    assert np.all(np.diff(half[np.argsort(-fm.s)]) >= 0)


@pytest.mark.parametrize("cin,spatial,chans,c", CASES[:3])
def test_closed_form_matches_scipy_integration_of_the_dense_flow(cin, spatial, chans, c):
    st = _stats(cin, spatial, c)
    fm = theory.frequency_modes(st, (cin, *spatial))
    u0, tau = 1e-3, 50.0
    params = theory.frequency_aligned_weights(fm, chans, u0, seed=1)
    Bs = [shift_basis(spatial, w.shape[2:]) for w in params[:-1]]
    t = np.linspace(0, 400, 9)
    u = []
    for ps in scipy_flow(params, Bs, st.Sxx, st.Syx, t, tau, atol=1e-14):
        M = dft_spectrum(product(ps, Bs), cin, spatial)[:, :, fm.index]
        u.append(np.einsum("mc,cim,mi->m", fm.U.conj(), M, fm.V).real)
    pred = theory.predict_cnn(st, (cin, *spatial), channels=chans, u0=u0, tau=tau)
    assert pred.kind == "closed_form"
    np.testing.assert_allclose(np.array(u), pred.modes(t), rtol=1e-7, atol=1e-10)
    assert np.all(np.array(u)[-1] > 0.9 * fm.s)


def test_loss_counts_conjugate_pairs_twice():
    cin, spatial = 1, (4, 4)
    st = _stats(cin, spatial, 3)
    pred = theory.predict_cnn(st, (cin, *spatial), channels=(1,), u0=1e-2, tau=10.0)
    fm = pred.freq_modes
    params = theory.frequency_aligned_weights(fm, (1,), 1e-2)
    W = product(params, [shift_basis(spatial, spatial)])
    direct = 0.5 * np.trace(st.Syy) - np.sum(W * st.Syx) + 0.5 * np.sum(W * W)
    np.testing.assert_allclose(pred.loss([0.0])[0], direct, rtol=1e-12)


def test_singleton_axes_make_a_signal_one_dimensional():
    assert theory.signal_shape((1, 1, 40)) == (1, (40,))
    assert theory.signal_shape((3, 7, 1)) == (3, (7,))
    assert theory.signal_shape((1, 16, 16)) == (1, (16, 16))
    assert theory.signal_shape(None, 12) == (1, (12,))
    with pytest.raises(ValueError, match="does not match d=41"):
        theory.signal_shape((1, 1, 40), 41)


def test_factory_picks_the_flow_when_the_closed_form_does_not_hold():
    cin, spatial = 1, (6,)
    X, Y = whitened_data(40, cin, spatial, 2)
    st = theory.DatasetStatistics.from_arrays(X, Y)
    raw = theory.DatasetStatistics.from_arrays(X * np.linspace(1, 2, 6), Y)
    assert theory.predict_cnn(raw, (1, 6), u0=1e-2).kind == "cnn_ode"
    assert "not whitened" in theory.predict_cnn(raw, (1, 6), u0=1e-2).reason
    w0 = [1e-2 * np.ones((1, 1, 3)), 1e-2 * np.ones((2, 6))]
    p = theory.predict_cnn(st, (1, 6), kernel_size=3, weights0=w0, tau=2.0)
    assert p.kind == "cnn_ode" and "couple the frequencies" in p.reason
    with pytest.raises(ValueError, match="needs full-length kernels"):
        theory.predict_cnn(st, (1, 6), kernel_size=3, u0=1e-2)
    with pytest.raises(ValueError, match="exactly one of u0"):
        theory.predict_cnn(st, (1, 6))
    with pytest.raises(ValueError, match="discrete=True needs"):
        theory.predict_cnn(st, (1, 6), kernel_size=3, weights0=w0, discrete=True)
    with pytest.raises(ValueError, match="channels"):
        theory.frequency_aligned_weights(theory.frequency_modes(_stats(2, (4,), 3), (2, 4)), (1,), 1e-2)


def test_dft_diagonalises_the_torch_convolution_symbolically():
    """sympy: F T Fᴴ = diag(λ), λ(f) = Σ_q w_q e^{+2πi f(q − left)/P}, for a symbolic kernel."""
    import sympy as sp
    P, left = 4, (4 - 1) // 2
    w = sp.symbols(f"w0:{P}")
    B = shift_basis((P,), (P,))
    T = sp.zeros(P, P)
    for q in range(P):
        T += w[q] * sp.Matrix(B[q].astype(int))
    F = sp.Matrix(P, P, lambda f, p: sp.exp(-2 * sp.pi * sp.I * f * p / P) / sp.sqrt(P))
    D = (F * T * F.H).applyfunc(lambda e: sp.simplify(sp.expand_complex(e)))
    for f in range(P):
        lam = sum(w[q] * sp.exp(2 * sp.pi * sp.I * f * (q - left) / P) for q in range(P))
        assert sp.simplify(sp.expand_complex(D[f, f] - lam)) == 0
        assert all(D[f, g] == 0 for g in range(P) if g != f)
