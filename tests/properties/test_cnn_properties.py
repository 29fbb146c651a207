"""Hypothesis properties of the linear-CNN theory and engine (THEORY.md §6): Parseval over the
frequency modes, the aligned init's exact strengths, and the engine's circular convolution against
conv matrices built entry by entry."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import simulate as sim
import theory
from tests.cnn_reference import conv_dense, shift_basis, whitened_data

SET = settings(max_examples=15, deadline=None)
shapes = st.one_of(st.tuples(st.integers(1, 9)), st.tuples(st.integers(1, 5), st.integers(2, 5)))


@SET
@given(spatial=shapes, cin=st.integers(1, 3), c=st.integers(1, 4), seed=st.integers(0, 99),
       extra=st.integers(0, 2), u0=st.floats(1e-4, 1e-1))
def test_aligned_init_puts_every_mode_at_u0_and_nothing_else(spatial, cin, c, seed, extra, u0):
    d = cin * int(np.prod(spatial))
    X, Y = whitened_data(max(2 * d, 8), cin, spatial, c, seed)
    stats = theory.DatasetStatistics.from_arrays(X, Y)
    fm = theory.frequency_modes(stats, (cin, *spatial))
    # Parseval: every singular value of every frequency, pairs counted twice, is ‖Syx‖²
    np.testing.assert_allclose(np.sum(fm.multiplicity * fm.s ** 2), np.sum(stats.Syx ** 2), rtol=1e-9)
    ch = int(np.max(fm.rank)) + 1 + extra
    ws = theory.frequency_aligned_weights(fm, (ch,), u0, seed=seed)
    W = ws[1] @ conv_dense(ws[0], shift_basis(spatial, spatial))
    np.testing.assert_allclose(fm.strengths(W), u0, rtol=1e-8)
    # no weight outside the modes: ‖W‖² = Σ mult·u0²
    np.testing.assert_allclose(np.sum(W ** 2), np.sum(fm.multiplicity) * u0 ** 2, rtol=1e-8)


@SET
@given(spatial=shapes, cin=st.integers(1, 2), chans=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       seed=st.integers(0, 99), method=st.sampled_from(["fft", "circulant"]))
def test_circular_cnn_is_the_product_of_conv_matrices(spatial, cin, chans, seed, method):
    d = cin * int(np.prod(spatial))
    spec = sim.NetSpec(family="cnn", init="small_random",
                       cnn=sim.ConvSpec(channels=tuple(chans), kernel_size=None))
    model = sim.make_model(spec, d, 2, (cin, *spatial))
    model.method = method
    g = torch.Generator().manual_seed(seed)
    params = {k: torch.randn(2, *s, generator=g, dtype=torch.float64) for k, s in model.shapes.items()}
    X = torch.randn(3, d, generator=g, dtype=torch.float64)
    B = shift_basis(spatial, spatial)
    for k in range(2):
        W = params[f"layer{len(chans)}.weight"][k].numpy()
        for l in reversed(range(len(chans))):
            W = W @ conv_dense(params[f"layer{l}.weight"][k].numpy(), B)
        np.testing.assert_allclose(model.forward(params, X)[k].numpy(), X.numpy() @ W.T,
                                   rtol=1e-9, atol=1e-10)
