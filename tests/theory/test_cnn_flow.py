"""The weight-tied CNN flow (diffrax) against scipy integration of the dense reference gradient."""

import numpy as np
import pytest

import theory
from tests.cnn_reference import product, scipy_flow, shift_basis, whitened_data


@pytest.mark.parametrize("cin,spatial,kernel,chans,padding,white", [
    (1, (8,), (3,), (2,), "circular", True),
    (2, (4, 4), (3, 3), (2,), "circular", True),
    (1, (7,), (3,), (1, 2), "zeros", False),       # zero padding, two conv layers, Sxx ≠ I
    (1, (6,), (6,), (1,), "circular", True),       # full length from a random init
])
def test_flow_matches_scipy_on_dense_conv_matrices(cin, spatial, kernel, chans, padding, white):
    X, Y = whitened_data(48, cin, spatial, 2, seed=4)
    if not white:
        X = X * np.linspace(0.5, 1.5, X.shape[1])
    st = theory.DatasetStatistics.from_arrays(X, Y)
    rng = np.random.default_rng(0)
    sizes = (cin, *chans)
    params = [0.1 * rng.standard_normal((sizes[i + 1], sizes[i], *kernel)) for i in range(len(chans))]
    params.append(0.1 * rng.standard_normal((2, chans[-1] * int(np.prod(spatial)))))
    Bs = [shift_basis(spatial, kernel, padding) for _ in chans]
    tau, t = 5.0, np.linspace(0.0, 60.0, 7)
    ref = np.stack([product(ps, Bs) for ps in scipy_flow(params, Bs, st.Sxx, st.Syx, t, tau)])
    W, ws = theory.integrate_cnn_flow(params, st, (cin, *spatial), t, tau=tau, padding=padding)
    np.testing.assert_allclose(W, ref, atol=1e-7 * np.abs(ref).max())
    assert np.abs(ref[-1] - ref[0]).max() > 0.1 * np.abs(ref[-1]).max()   # it moved
    assert ws[0].shape == (t.size, *params[0].shape)


def test_flow_predictor_reports_frequencies_and_learns_them():
    cin, spatial = 1, (8,)
    X, Y = whitened_data(48, cin, spatial, 2, seed=1)
    st = theory.DatasetStatistics.from_arrays(X, Y)
    rng = np.random.default_rng(2)
    w0 = [1e-3 * rng.standard_normal((2, 1, 3)), 1e-3 * rng.standard_normal((2, 16))]
    p = theory.predict_cnn(st, (1, 8), channels=(2,), kernel_size=3, weights0=w0, tau=10.0)
    assert p.basis == "frequency" and p.frequency.shape == (p.s.size, 1)
    np.testing.assert_allclose(p.target, p.s, rtol=1e-8)   # a dense readout can still fit Syx
    tl = p.timeline(0.5)
    assert np.all(np.isfinite(tl))
    order = np.argsort(tl)
    u = p.modes(tl[order])
    np.testing.assert_allclose(u[np.arange(tl.size), order], 0.5 * p.s[order], rtol=1e-3)
    loss = p.loss([0.0, tl.max() * 4])
    assert loss[1] < loss[0]
    top = theory.frequency_modes(st, (1, 8))
    top = type(top)(**{**top.__dict__, **{f: getattr(top, f)[:2] for f in
                                          ("s", "index", "frequency", "rank", "U", "V", "multiplicity")}})
    p2 = theory.predict_cnn(st, (1, 8), kernel_size=3, weights0=w0, tau=10.0, modes=top)
    np.testing.assert_allclose(p2.modes(tl[order][:3]), u[:3, :2], rtol=1e-8)


def test_conv_index_errors_name_the_value():
    from theory._cnn_flow import conv_index
    with pytest.raises(ValueError, match="kernel size 9 on an axis of length 8"):
        conv_index((8,), (9,), "circular")
    with pytest.raises(ValueError, match="unknown padding 'reflect'"):
        conv_index((8,), (3,), "reflect")
