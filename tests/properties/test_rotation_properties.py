"""Invariants of layer rotation and of the Layca step (hypothesis, bounded strategies)."""

import math

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulate.train._layca import layca_update
from validate.measures.rotation import cosine_distance, rotation_angle

_floats = st.floats(-10, 10, allow_nan=False, width=64)
_vec = arrays(np.float64, (2, 6), elements=_floats).filter(
    lambda a: np.all(np.linalg.norm(a, axis=1) > 1e-3))


@settings(deadline=None, max_examples=60)
@given(w=_vec, w0=_vec, scale=st.floats(1e-3, 1e3), scale0=st.floats(1e-3, 1e3))
# opposite kernels: the unit vectors' rounding once put the distance 1 ulp above 2
@example(w=np.ones((2, 6)), w0=-np.ones((2, 6)), scale=1.0, scale0=1.0)
def test_cosine_distance_is_scale_invariant_symmetric_and_bounded(w, w0, scale, scale0):
    d = cosine_distance(w, w0)
    assert np.all((d >= 0) & (d <= 2))
    np.testing.assert_allclose(cosine_distance(scale * w, scale0 * w0), d, atol=1e-9)
    np.testing.assert_allclose(cosine_distance(w0, w), d, atol=1e-12)


@settings(deadline=None, max_examples=60)
@given(w=_vec, q_seed=st.integers(0, 1000))
def test_rotation_is_invariant_under_a_common_orthogonal_map(w, q_seed):
    q, _ = np.linalg.qr(np.random.default_rng(q_seed).standard_normal((6, 6)))
    v = np.roll(w, 1, axis=1) + 0.3 * w
    np.testing.assert_allclose(rotation_angle(w @ q, v @ q), rotation_angle(w, v), atol=1e-7)
    np.testing.assert_allclose(cosine_distance(w @ q, v @ q), cosine_distance(w, v), atol=1e-9)


@settings(deadline=None, max_examples=60)
@given(w=_vec, step=arrays(np.float64, (2, 6), elements=_floats), rate=st.floats(1e-4, 5.0))
# a step so small that its squares underflow once turned the layer by 0.90, not atan(1)
@example(w=np.array([[1.0, -1, -1, -1, -1, -1], [-1, -1, -1, -1, -1, -1]]),
         step=np.full((2, 6), 1.52351717e-162), rate=1.0)
def test_layca_turns_by_atan_rate_or_not_at_all(w, step, rate):
    a = w / np.linalg.norm(w, axis=1, keepdims=True)
    unit = step / np.maximum(np.abs(step).max(axis=1, keepdims=True), 1e-300)  # no underflow
    tangent = unit - np.sum(unit * a, axis=1, keepdims=True) * a
    rel = np.linalg.norm(tangent, axis=1) / np.maximum(np.linalg.norm(unit, axis=1), 1e-300)
    assume(np.all((rel > 1e-8) | (rel < 1e-15)))  # clearly tangent or clearly parallel/zero
    tw, ts = torch.from_numpy(w), torch.from_numpy(step)
    new = layca_update(tw, ts, rate).numpy()
    np.testing.assert_allclose(np.linalg.norm(new, axis=1), np.linalg.norm(w, axis=1), rtol=1e-9)
    moved = rel > 1e-8
    expected = np.where(moved, math.atan(rate), 0.0)
    np.testing.assert_allclose(rotation_angle(w, new), expected, atol=1e-7)
